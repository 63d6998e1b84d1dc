import * as tf from "@tensorflow/tfjs";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  FUSION_METRICS,
  getLoss,
  LOSS_NAMES,
  resolveLossConfig,
  softplus,
  softplusTensor,
  TRL_METRICS,
  type LossConfig,
  type LossInputs,
  type ResponseScores,
} from "../lib/losses";
import { oracleFuse, oracleLoss } from "./oracle/infifpo64";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** Plain-number view of one response slot for a batch: policy/ref sums & means, sources [B][N]. */
interface Slot {
  pSum: number[];
  pMean: number[];
  rSum: number[];
  rMean: number[];
  sSum: number[][];
  sMean: number[][];
}

function slotTensors(s: Slot): ResponseScores {
  return {
    policy: { sum: tf.tensor1d(s.pSum), mean: tf.tensor1d(s.pMean) },
    ref: { sum: tf.tensor1d(s.rSum), mean: tf.tensor1d(s.rMean) },
    sources: { sum: tf.tensor2d(s.sSum), mean: tf.tensor2d(s.sMean) },
  };
}

function disposeInputs(x: LossInputs) {
  for (const r of [x.chosen, x.rejected, x.sourceChosen]) {
    if (!r) continue;
    tf.dispose([r.policy.sum, r.policy.mean, r.ref?.sum, r.ref?.mean, r.sources?.sum, r.sources?.mean].filter(Boolean) as tf.Tensor[]);
  }
}

/** Float64 oracle for any registered loss, per pair, from the spec's one-line definitions. */
function oraclePerPair(name: string, cfg: LossConfig, w: Slot, l: Slot, ws: Slot, b: number, progress: number): number {
  const ln = cfg.lengthNorm;
  const pol = (s: Slot) => (ln ? s.pMean[b] : s.pSum[b]);
  const piv = (s: Slot) => (ln ? s.rMean[b] : s.rSum[b]);
  const src = (s: Slot) => (ln ? s.sMean[b] : s.sSum[b]);
  const fused = name.startsWith("infifpo");
  const ref = (s: Slot, chosen: boolean) => (fused ? oracleFuse(chosen, piv(s), src(s), { ...cfg.fusion, lengthNorm: ln, beta: cfg.beta }, pol(s)).value : piv(s));
  const r = (s: Slot, chosen: boolean) => pol(s) - ref(s, chosen);
  const h = r(w, true) - r(l, false);
  switch (name) {
    case "dpo":
    case "infifpo":
      return oracleLoss.sigmoid(cfg.beta, h);
    case "ipo":
    case "infifpo-ipo":
      return oracleLoss.ipo(cfg.beta, h);
    case "hinge":
      return oracleLoss.hinge(cfg.beta, h);
    case "simpo":
      return oracleLoss.simpo(cfg.beta, cfg.simpoGamma, w.pMean[b], l.pMean[b]);
    case "wrpo":
    case "infifpo-wrpo":
      return oracleLoss.wrpo(cfg.beta, cfg.wrpoAlphaMax * progress, r(ws, true), r(w, true), r(l, false));
    case "sft":
      return NaN; // batch-level: see below
    default:
      throw new Error(name);
  }
}

const grid = (lo: number, hi: number) => fc.integer({ min: Math.round(lo * 1024), max: Math.round(hi * 1024) }).map((k) => k / 1024);
function slotArb(B: number, N: number) {
  const col = (lo: number, hi: number) => fc.array(grid(lo, hi), { minLength: B, maxLength: B });
  const mat = (lo: number, hi: number) => fc.array(fc.array(grid(lo, hi), { minLength: N, maxLength: N }), { minLength: B, maxLength: B });
  return fc.record({ pSum: col(-60, -1), pMean: col(-3, -0.05), rSum: col(-60, -1), rMean: col(-3, -0.05), sSum: mat(-60, -1), sMean: mat(-3, -0.05) });
}
const batchArb = fc
  .record({ B: fc.integer({ min: 1, max: 6 }), N: fc.integer({ min: 1, max: 4 }) })
  .chain(({ B, N }) => fc.record({ w: slotArb(B, N), l: slotArb(B, N), ws: slotArb(B, N), progress: fc.double({ min: 0, max: 1, noNaN: true }) }));

function run(name: string, cfg: LossConfig, w: Slot, l: Slot, ws: Slot, progress: number) {
  const inputs: LossInputs = { chosen: slotTensors(w), rejected: slotTensors(l), sourceChosen: slotTensors(ws), progress };
  const out = getLoss(name).compute(inputs, cfg);
  const loss = out.loss.arraySync() as number;
  const metrics = Object.fromEntries(Object.entries(out.metrics).map(([k, v]) => [k, v.arraySync() as number]));
  tf.dispose([out.loss, ...Object.values(out.metrics)]);
  disposeInputs(inputs);
  return { loss, metrics };
}

describe("loss registry", () => {
  it("has every loss the spec lists; unknown names list the valid ones", () => {
    expect(LOSS_NAMES).toEqual(["infifpo", "dpo", "ipo", "hinge", "simpo", "wrpo", "rpo", "sft", "infifpo-ipo", "infifpo-wrpo"]);
    expect(() => getLoss("orpo")).toThrow(/unknown loss "orpo"; valid: infifpo, dpo, ipo/);
    expect(Object.isFrozen(getLoss("dpo"))).toBe(true);
  });
  it("config: per-loss defaults, strict overrides, β 0.1 when InfiFPO's length-norm is turned off", () => {
    expect(resolveLossConfig(getLoss("infifpo")).beta).toBe(2.5);
    expect(resolveLossConfig(getLoss("infifpo")).lengthNorm).toBe(true);
    expect(resolveLossConfig(getLoss("infifpo"), { lengthNorm: false }).beta).toBe(0.1);
    expect(resolveLossConfig(getLoss("infifpo"), { lengthNorm: false, beta: 0.5 }).beta).toBe(0.5);
    expect(resolveLossConfig(getLoss("dpo")).beta).toBe(0.1);
    expect(resolveLossConfig(getLoss("wrpo")).beta).toBe(0.01);
    expect(() => resolveLossConfig(getLoss("dpo"), { betta: 1 } as never)).toThrow(/unknown loss option "betta"/);
    expect(() => resolveLossConfig(getLoss("dpo"), { beta: -1 })).toThrow(/beta/);
  });
});

describe("every loss agrees with the float64 oracle", () => {
  for (const name of LOSS_NAMES.filter((n) => n !== "sft" && n !== "rpo")) {
    it(name, () => {
      fc.assert(
        fc.property(batchArb, fc.constantFrom("mean", "confidence", "max-margin" as const), fc.boolean(), fc.boolean(), fc.constantFrom("pivot", "policy" as const), ({ w, l, ws, progress }, strategy, clip, lengthNorm, marginTo) => {
          const cfg = resolveLossConfig(getLoss(name), { lengthNorm, fusion: { strategy, clip, marginTo } });
          const { loss } = run(name, cfg, w, l, ws, progress);
          const B = w.pSum.length;
          let want = 0;
          for (let b = 0; b < B; b++) want += oraclePerPair(name, cfg, w, l, ws, b, progress);
          want /= B;
          return Math.abs(loss - want) <= 2e-5 * (1 + Math.abs(want));
        }),
        { numRuns: 80 },
      );
    });
  }
  it("rpo: DPO's loss + α · token-averaged NLL of the chosen response (hand-computed and oracle)", () => {
    // chosen sums [-6, -2] over [3, 2] tokens → NLL 8/5; ref sums chosen [-5, -2], rejected [-4, -3]; policy rejected [-5, -1]
    const inputs = (): LossInputs => ({
      chosen: { policy: { sum: tf.tensor1d([-6, -2]), mean: tf.tensor1d([-2, -1]), count: tf.tensor1d([3, 2]) }, ref: { sum: tf.tensor1d([-5, -2]), mean: tf.tensor1d([-1, -1]) } },
      rejected: { policy: { sum: tf.tensor1d([-5, -1]), mean: tf.tensor1d([-1, -1]), count: tf.tensor1d([5, 1]) }, ref: { sum: tf.tensor1d([-4, -3]), mean: tf.tensor1d([-1, -1]) } },
    });
    const h = [(-6 + 5) - (-5 + 4), (-2 + 2) - (-1 + 3)]; // [0, -2]
    for (const alpha of [1, 0.5]) {
      const x = inputs();
      const cfg = resolveLossConfig(getLoss("rpo"), { rpoAlpha: alpha });
      expect(cfg.beta).toBe(0.1);
      const out = getLoss("rpo").compute(x, cfg);
      const dpo = (oracleLoss.sigmoid(0.1, h[0]) + oracleLoss.sigmoid(0.1, h[1])) / 2;
      expect(out.loss.arraySync()).toBeCloseTo(dpo + alpha * (8 / 5), 6);
      expect(out.metrics["rpo/nll"].arraySync()).toBeCloseTo(8 / 5, 6);
      tf.dispose([out.loss, ...Object.values(out.metrics)]);
      disposeInputs(x);
      tf.dispose([x.chosen.policy.count!, x.rejected.policy.count!]);
    }
  });
  it("sft: token-averaged NLL of the chosen response", () => {
    const inputs: LossInputs = {
      chosen: { policy: { sum: tf.tensor1d([-6, -2]), mean: tf.tensor1d([-2, -1]), count: tf.tensor1d([3, 2]) } },
      rejected: { policy: { sum: tf.tensor1d([-1, -1]), mean: tf.tensor1d([-1, -1]) } },
    };
    const out = getLoss("sft").compute(inputs, resolveLossConfig(getLoss("sft")));
    expect(out.loss.arraySync()).toBeCloseTo(8 / 5, 6);
    tf.dispose([out.loss, ...Object.values(out.metrics), inputs.chosen.policy.sum, inputs.chosen.policy.mean, inputs.chosen.policy.count!, inputs.rejected.policy.sum, inputs.rejected.policy.mean]);
  });
});

describe("InfiFPO reduces to DPO", () => {
  it("with one source equal to the pivot, for every strategy and clip setting", () => {
    fc.assert(
      fc.property(batchArb, fc.constantFrom("mean", "confidence", "max-margin" as const), fc.boolean(), fc.boolean(), ({ w, l, ws }, strategy, clip, lengthNorm) => {
        const asPivot = (s: Slot): Slot => ({ ...s, sSum: s.rSum.map((v) => [v]), sMean: s.rMean.map((v) => [v]) });
        const overrides = { beta: 0.7, lengthNorm, fusion: { strategy, clip } };
        const a = run("infifpo", resolveLossConfig(getLoss("infifpo"), overrides), asPivot(w), asPivot(l), ws, 0);
        const b = run("dpo", resolveLossConfig(getLoss("dpo"), overrides), w, l, ws, 0);
        // Exact for mean and max-margin; confidence's Σ(w·c)/Σw rounds in float32: its error is relative to the
        // inputs (sums reach −60 nats), not to the result (a margin near 0), so it is bounded by β · eps32 · |c|
        const scale = Math.max(...[w, l].flatMap((s) => (lengthNorm ? s.rMean : s.rSum)).map(Math.abs));
        const slack = strategy === "confidence" ? 8 * 1.2e-7 * 0.7 * scale : 0;
        const close = (x: number, y: number) => Math.abs(x - y) <= 1e-6 * (1 + Math.abs(y)) + slack;
        return close(a.loss, b.loss) && close(a.metrics["rewards/margins"], b.metrics["rewards/margins"]);
      }),
      { numRuns: 60 },
    );
  });
  it("loss = ln 2 and disparity weight 0.5 when the policy equals the reference", () => {
    const s: Slot = { pSum: [-10, -20], pMean: [-1, -2], rSum: [-10, -20], rMean: [-1, -2], sSum: [[-10], [-20]], sMean: [[-1], [-2]] };
    for (const name of ["dpo", "infifpo"]) {
      const { loss, metrics } = run(name, resolveLossConfig(getLoss(name)), s, s, s, 0);
      expect(loss).toBeCloseTo(Math.LN2, 6);
      expect(metrics["fusion/disparity_weight"]).toBeCloseTo(0.5, 6);
      expect(metrics["rewards/accuracies"]).toBe(0);
    }
  });
});

describe("metrics", () => {
  it("carry TRL's names and the fusion extras", () => {
    const arb = fc.sample(batchArb, { numRuns: 1, seed: 7 })[0];
    const { metrics } = run("infifpo", resolveLossConfig(getLoss("infifpo")), arb.w, arb.l, arb.ws, 0);
    for (const k of TRL_METRICS.filter((m) => m.startsWith("rewards/") || m.startsWith("logps/"))) expect(metrics).toHaveProperty([k]);
    for (const k of FUSION_METRICS) expect(metrics).toHaveProperty([k]);
    const N = arb.w.sSum[0].length;
    const B = arb.w.sSum.length;
    let sel = 0;
    for (let i = 0; i < N; i++) sel += metrics[`fusion/selected_chosen/${i}`];
    expect(sel).toBe(B);
  });
});

describe("numerical stability", () => {
  it("scalar softplus is exact-ish and finite everywhere", () => {
    expect(softplus(0)).toBe(Math.LN2);
    expect(softplus(1e4)).toBe(1e4);
    expect(softplus(-1e4)).toBe(0);
    expect(softplus(30)).toBeCloseTo(30 + Math.exp(-30), 12);
  });
  it("every loss and its gradient stay finite for |z| up to 1e4", () => {
    for (const name of LOSS_NAMES) {
      for (const gap of [1e4, -1e4, 4e3, -4e3]) {
        const big: Slot = { pSum: [gap], pMean: [gap], rSum: [0], rMean: [0], sSum: [[0]], sMean: [[0]] };
        const zero: Slot = { pSum: [0], pMean: [0], rSum: [0], rMean: [0], sSum: [[0]], sMean: [[0]] };
        const cfg = resolveLossConfig(getLoss(name), { beta: 1 });
        const g = tf.grads((pw: tf.Tensor, pl: tf.Tensor) => {
          const inputs: LossInputs = {
            chosen: { ...slotTensors(big), policy: { sum: pw as tf.Tensor1D, mean: pw as tf.Tensor1D, count: tf.tensor1d([1]) } },
            rejected: { ...slotTensors(zero), policy: { sum: pl as tf.Tensor1D, mean: pl as tf.Tensor1D } },
            sourceChosen: slotTensors(zero),
            progress: 0.5,
          };
          const out = getLoss(name).compute(inputs, cfg);
          tf.dispose(Object.values(out.metrics));
          return tf.add(out.loss, tf.mul(0, tf.add(tf.sum(pw), tf.sum(pl)))) as tf.Scalar; // 0·x: tf.grads refuses unused inputs
        });
        const [dw, dl] = tf.tidy(() => g([tf.tensor1d([gap]), tf.tensor1d([0])]).map((t) => t.arraySync() as number[]));
        const value = tf.tidy(() => {
          const inputs: LossInputs = { chosen: slotTensors(big), rejected: slotTensors(zero), sourceChosen: slotTensors(zero), progress: 0.5 };
          inputs.chosen.policy.count = tf.tensor1d([1]);
          const out = getLoss(name).compute(inputs, cfg);
          return out.loss.arraySync() as number;
        });
        expect(Number.isFinite(value), `${name} loss at gap ${gap}`).toBe(true);
        expect(Number.isFinite(dw[0]) && Number.isFinite(dl[0]), `${name} grad at gap ${gap}`).toBe(true);
      }
    }
  });
  it("tensor softplus has gradient σ(x), 0.5 at 0", () => {
    const g = tf.grad((x: tf.Tensor) => tf.sum(softplusTensor(x)));
    const got = tf.tidy(() => g(tf.tensor1d([0, 3, -3, 1e4, -1e4])).arraySync() as number[]);
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    [0, 3, -3, 1e4, -1e4].forEach((x, i) => expect(got[i]).toBeCloseTo(sig(x), 6));
  });
});

describe("gradients match finite differences of the float64 oracle", () => {
  // d loss / d (policy chosen, policy rejected, policy source-chosen) for one pair, by central differences.
  const cases: [string, string, Record<string, unknown>][] = [
    ...LOSS_NAMES.map((n): [string, string, Record<string, unknown>] => [n, n, {}]),
    // the selection then depends on θ: it must be a constant of the gradient, not a tape error
    ["infifpo (max-margin to the live policy)", "infifpo", { fusion: { strategy: "max-margin", marginTo: "policy" } }],
  ];
  for (const [label, name, options] of cases) {
    it(label, () => {
      const w: Slot = { pSum: [-12.5], pMean: [-0.9], rSum: [-11], rMean: [-0.8], sSum: [[-9, -14]], sMean: [[-0.7, -1.1]] };
      const l: Slot = { pSum: [-13], pMean: [-1.0], rSum: [-12], rMean: [-0.95], sSum: [[-10, -16]], sMean: [[-0.75, -1.3]] };
      const ws: Slot = { pSum: [-15], pMean: [-1.2], rSum: [-14], rMean: [-1.1], sSum: [[-8, -13]], sMean: [[-0.6, -1.0]] };
      const cfg = resolveLossConfig(getLoss(name), options);
      const progress = 0.6;
      const count = 5;
      const f64 = (w2: Slot, l2: Slot, ws2: Slot) =>
        name === "sft" ? -w2.pSum[0] / count
        : name === "rpo" ? oraclePerPair("dpo", cfg, w2, l2, ws2, 0, progress) + cfg.rpoAlpha * (-w2.pSum[0] / count)
        : oraclePerPair(name, cfg, w2, l2, ws2, 0, progress);
      const field = cfg.lengthNorm || name === "simpo" ? "pMean" : "pSum";
      const bump = (s: Slot, d: number): Slot => ({ ...s, [field]: [s[field][0] + d], ...(name === "sft" ? { pSum: [s.pSum[0] + d] } : {}) });
      const h = 1e-5;
      const fd = [
        (f64(bump(w, h), l, ws) - f64(bump(w, -h), l, ws)) / (2 * h),
        (f64(w, bump(l, h), ws) - f64(w, bump(l, -h), ws)) / (2 * h),
        (f64(w, l, bump(ws, h)) - f64(w, l, bump(ws, -h))) / (2 * h),
      ];
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
        const mk = (s: Slot, x: tf.Tensor): ResponseScores => {
          const t = slotTensors(s);
          return { ...t, policy: name === "sft" || field === "pSum" ? { sum: x as tf.Tensor1D, mean: t.policy.mean, count: tf.tensor1d([count]) } : { sum: t.policy.sum, mean: x as tf.Tensor1D } };
        };
        const out = getLoss(name).compute({ chosen: mk(w, a), rejected: mk(l, b), sourceChosen: mk(ws, c), progress }, cfg);
        tf.dispose(Object.values(out.metrics));
        return tf.add(out.loss, tf.mul(0, tf.sum(tf.concat([a, b, c])))) as tf.Scalar; // 0·x: tf.grads refuses unused inputs
      });
      const start = (s: Slot) => tf.tensor1d(name === "sft" ? s.pSum : s[field]);
      const got = tf.tidy(() => g([start(w), start(l), start(ws)]).map((t) => (t.arraySync() as number[])[0]));
      for (let i = 0; i < 3; i++) expect(got[i], `${name} d/d input ${i}`).toBeCloseTo(fd[i], 4);
      expect(got.some((x) => Math.abs(x) > 1e-3), `${name}: some gradient is non-zero`).toBe(true);
    });
  }
});

describe("memory", () => {
  it("a loss call leaks no tensors", () => {
    const arb = fc.sample(batchArb, { numRuns: 1, seed: 3 })[0];
    for (const name of LOSS_NAMES) {
      const before = tf.memory().numTensors;
      run(name, resolveLossConfig(getLoss(name)), arb.w, arb.l, arb.ws, 0.3);
      expect(tf.memory().numTensors, name).toBe(before);
    }
  });
});

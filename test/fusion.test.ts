import * as tf from "@tensorflow/tfjs";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  clampToOffset,
  clipToPivot,
  confidenceWeights,
  DEFAULT_FUSION_OPTIONS,
  FUSION_STRATEGIES,
  fuseConfidence,
  fuseMean,
  fusePair,
  fuseSide,
  fuseSideTensor,
  lengthNormalize,
  maxMarginIndex,
  resolveFusionOptions,
  type FusionOptions,
  type FusionStrategy,
} from "../lib/fusion";
import { disparityWeight, preferenceLogit, sigmoidLoss } from "../lib/losses";
import { oracleFuse } from "./oracle/infifpo64";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

// infifpo.md, "Worked example".
const EX = {
  pivotChosen: -0.06975,
  pivotRejected: -0.13945,
  sourceChosen: [-0.23788, -0.26215, -0.36793],
  sourceRejected: [-0.25559, -0.26779, -0.33685],
};
const BETA = 2.5;

describe("fusion formulas: hand-computed values", () => {
  it("length normalisation divides by the model's own token count", () => {
    expect(lengthNormalize(-6, 4)).toBe(-1.5);
    expect(() => lengthNormalize(-6, 0)).toThrow(/token count/);
  });
  it("clipping: max on chosen, min on rejected", () => {
    expect(clipToPivot("chosen", -0.3, -0.1)).toBe(-0.1);
    expect(clipToPivot("chosen", -0.05, -0.1)).toBe(-0.05);
    expect(clipToPivot("rejected", -0.3, -0.1)).toBe(-0.3);
    expect(clipToPivot("rejected", -0.05, -0.1)).toBe(-0.1);
  });
  it("mean, confidence, max-margin, offset clamp", () => {
    expect(fuseMean([-1, -3])).toBe(-2);
    expect(confidenceWeights([-1, -3], 0)).toEqual([0.75, 0.25]);
    expect(fuseConfidence([-1, -3], 0)).toBe(-1.5);
    expect(maxMarginIndex([-0.2, -0.5, -0.5], -0.1)).toBe(1);
    expect(maxMarginIndex([0, -0.2, 0], -0.1)).toBe(0); // ties (0.1) → lowest index
    expect(clampToOffset(-9, -1, 5)).toBe(-6);
    expect(clampToOffset(3, -1, 2)).toBe(1);
    expect(clampToOffset(-2, -1, 5)).toBe(-2);
  });
  it("options: defaults are the paper's, unknown keys and strategies are rejected", () => {
    expect(resolveFusionOptions()).toEqual({ strategy: "max-margin", clip: true, includePivot: false, refOffset: null, epsilon: 1e-8, marginTo: "pivot" });
    expect(() => resolveFusionOptions({ marginTo: "live" as "policy" })).toThrow(/valid: pivot, policy/);
    expect(() => resolveFusionOptions({ strategy: "median" as FusionStrategy })).toThrow(/valid: mean, confidence, max-margin/);
    expect(() => resolveFusionOptions({ clipp: true } as Partial<FusionOptions>)).toThrow(/unknown fusion option "clipp"/);
    expect(() => resolveFusionOptions({ refOffset: -1 })).toThrow(/refOffset/);
  });
});

describe("the spec's worked example, every row", () => {
  const rows: [string, Partial<FusionOptions>, number, number, number, number][] = [
    ["clip + max-margin", { clip: true, strategy: "max-margin" }, -0.06975, -0.33685, 0.97, 0.621],
    ["clip + mean", { clip: true, strategy: "mean" }, -0.06975, -0.28674, 0.894, 0.591],
    ["no clip + max-margin", { clip: false, strategy: "max-margin" }, -0.36793, -0.33685, 0.575, 0.437],
    ["no clip + mean", { clip: false, strategy: "mean" }, -0.28932, -0.28674, 0.607, 0.455],
  ];
  for (const [name, o, fw, fl, loss, w] of rows) {
    it(name, () => {
      const f = fusePair(EX, resolveFusionOptions(o));
      expect(f.chosen.value).toBeCloseTo(fw, 5);
      expect(f.rejected.value).toBeCloseTo(fl, 5);
      const z = preferenceLogit(BETA, EX.pivotChosen, f.chosen.value, EX.pivotRejected, f.rejected.value);
      expect(sigmoidLoss(z)).toBeCloseTo(loss, 3);
      expect(disparityWeight(z)).toBeCloseTo(w, 3);
    });
  }
  it("DPO (ref = pivot): loss ln 2, weight 0.5", () => {
    const z = preferenceLogit(BETA, EX.pivotChosen, EX.pivotChosen, EX.pivotRejected, EX.pivotRejected);
    expect(sigmoidLoss(z)).toBeCloseTo(Math.LN2, 12);
    expect(disparityWeight(z)).toBe(0.5);
  });
  it("records what clipping and max-margin decided", () => {
    const f = fusePair(EX, DEFAULT_FUSION_OPTIONS);
    expect(f.chosen.clipped).toEqual([true, true, true]);
    expect(f.rejected.clipped).toEqual([false, false, false]);
    expect(f.chosen.selected).toBe(0); // all clipped to the pivot: distances tie at 0 → lowest index
    expect(f.rejected.selected).toBe(2);
    expect(fusePair(EX, resolveFusionOptions({ strategy: "mean" })).chosen.selected).toBeNull();
  });
  it("with clipping, max-margin equals max(ℓ_p0, max_i ℓ_i) on chosen and min(ℓ_p0, min_i ℓ_i) on rejected", () => {
    const f = fusePair(EX, DEFAULT_FUSION_OPTIONS);
    expect(f.chosen.value).toBe(Math.max(EX.pivotChosen, ...EX.sourceChosen));
    expect(f.rejected.value).toBe(Math.min(EX.pivotRejected, ...EX.sourceRejected));
  });
});

// Random sequence-level values: log-probs ≤ 0, per-token means in a realistic range, 1–6 sources.
const logp = fc.double({ min: -8, max: 0, noNaN: true, noDefaultInfinity: true });
const pairArb = fc.integer({ min: 1, max: 6 }).chain((n) =>
  fc.record({
    pivotChosen: logp,
    pivotRejected: logp,
    sourceChosen: fc.array(logp, { minLength: n, maxLength: n }),
    sourceRejected: fc.array(logp, { minLength: n, maxLength: n }),
  }),
);
const optsArb = fc.record({
  strategy: fc.constantFrom(...FUSION_STRATEGIES),
  clip: fc.boolean(),
  includePivot: fc.boolean(),
  refOffset: fc.option(fc.double({ min: 0, max: 5, noNaN: true }), { nil: null }),
  epsilon: fc.constant(1e-8),
  marginTo: fc.constant("pivot" as const),
});

// The same, with max-margin's distance measured to the live policy; pairs then carry policy values.
const liveOptsArb = optsArb.map((o) => ({ ...o, strategy: "max-margin" as const, marginTo: "policy" as const }));
const livePairArb = fc.tuple(pairArb, logp, logp).map(([p, pw, pl]) => ({ ...p, policyChosen: pw, policyRejected: pl }));

describe("fusion properties", () => {
  it("with clipping, the fused margin is ≥ the pivot margin for every strategy", () => {
    fc.assert(
      fc.property(pairArb, fc.constantFrom(...FUSION_STRATEGIES), fc.boolean(), (p, strategy, includePivot) => {
        const f = fusePair(p, resolveFusionOptions({ strategy, clip: true, includePivot }));
        const fusedMargin = f.chosen.value - f.rejected.value;
        const pivotMargin = p.pivotChosen - p.pivotRejected;
        return fusedMargin >= pivotMargin - 1e-12 * (1 + Math.abs(pivotMargin));
      }),
      { numRuns: 2000 },
    );
  });
  it("max-margin picks a source at maximal distance from the pivot", () => {
    fc.assert(
      fc.property(pairArb, fc.boolean(), (p, clip) => {
        const opts = resolveFusionOptions({ strategy: "max-margin", clip });
        const f = fuseSide("rejected", p.pivotRejected, p.sourceRejected, opts);
        const c = p.sourceRejected.map((v) => (clip ? Math.min(v, p.pivotRejected) : v));
        const dist = c.map((v) => Math.abs(v - p.pivotRejected));
        const i = f.selected as number;
        return dist[i] === Math.max(...dist) && dist.slice(0, i).every((d) => d < dist[i]) && f.value === c[i];
      }),
      { numRuns: 2000 },
    );
  });
  it("results do not depend on the order of the sources (except max-margin's index under ties)", () => {
    fc.assert(
      fc.property(pairArb, optsArb, fc.integer({ min: 0, max: 1000 }), (p, o, seed) => {
        const n = p.sourceChosen.length;
        const perm = Array.from({ length: n }, (_, i) => i).sort((a, b) => ((a * 7919 + seed) % 101) - ((b * 7919 + seed) % 101));
        const q = { ...p, sourceChosen: perm.map((i) => p.sourceChosen[i]), sourceRejected: perm.map((i) => p.sourceRejected[i]) };
        const a = fusePair(p, o);
        const b = fusePair(q, o);
        const close = (x: number, y: number) => Math.abs(x - y) <= 1e-12 * (1 + Math.abs(x));
        return (
          close(a.chosen.value, b.chosen.value) &&
          close(a.rejected.value, b.rejected.value) &&
          a.chosen.clipped.filter(Boolean).length === b.chosen.clipped.filter(Boolean).length &&
          a.rejected.clipped.filter(Boolean).length === b.rejected.clipped.filter(Boolean).length
        );
      }),
      { numRuns: 2000 },
    );
  });
  it("agrees with the independent float64 oracle", () => {
    fc.assert(
      fc.property(pairArb, optsArb, (p, o) => {
        for (const side of ["chosen", "rejected"] as const) {
          const pivot = side === "chosen" ? p.pivotChosen : p.pivotRejected;
          const src = side === "chosen" ? p.sourceChosen : p.sourceRejected;
          const got = fuseSide(side, pivot, src, o);
          const want = oracleFuse(side === "chosen", pivot, src, { ...o, lengthNorm: true, beta: 1 });
          if (Math.abs(got.value - want.value) > 1e-12 * (1 + Math.abs(want.value))) return false;
          if (got.selected !== want.index) return false;
        }
        return true;
      }),
      { numRuns: 2000 },
    );
  });
  it("a single source equal to the pivot gives back the pivot (InfiFPO reduces to DPO)", () => {
    fc.assert(
      fc.property(logp, logp, optsArb, (pw, pl, o) => {
        const f = fusePair({ pivotChosen: pw, pivotRejected: pl, sourceChosen: [pw], sourceRejected: [pl] }, o);
        return Math.abs(f.chosen.value - pw) < 1e-12 && Math.abs(f.rejected.value - pl) < 1e-12;
      }),
    );
  });
});

// Values on a 2^-16 grid are exact in float32 (see below).
const gridLogp = fc.integer({ min: -8 * 65536, max: 0 }).map((k) => k / 65536);

describe("max-margin against the live policy (marginTo: policy)", () => {
  it("hand-computed: the pick follows the policy, clipping still uses the pivot", () => {
    // chosen side, pivot -1, sources clipped to [-1, -0.5, -0.2]; static picks -0.2 (farthest from -1);
    // a policy at -0.3 is farthest from -1 → picks -1 (index 0).
    const o = { ...DEFAULT_FUSION_OPTIONS, marginTo: "policy" as const };
    expect(fuseSide("chosen", -1, [-3, -0.5, -0.2], DEFAULT_FUSION_OPTIONS).selected).toBe(2);
    const live = fuseSide("chosen", -1, [-3, -0.5, -0.2], o, -0.3);
    expect(live.selected).toBe(0);
    expect(live.value).toBe(-1);
    expect(live.clipped).toEqual([true, false, false]);
    expect(() => fuseSide("chosen", -1, [-0.5], o)).toThrow(/needs the policy/);
  });
  it("agrees with the float64 oracle; equals the static pick when the policy is the pivot", () => {
    fc.assert(
      fc.property(livePairArb, liveOptsArb, (p, o) => {
        const f = fusePair(p, o);
        const ow = oracleFuse(true, p.pivotChosen, p.sourceChosen, { ...o, lengthNorm: true, beta: 1 }, p.policyChosen);
        const ol = oracleFuse(false, p.pivotRejected, p.sourceRejected, { ...o, lengthNorm: true, beta: 1 }, p.policyRejected);
        const same = fusePair({ ...p, policyChosen: p.pivotChosen, policyRejected: p.pivotRejected }, o);
        const stat = fusePair(p, { ...o, marginTo: "pivot" });
        return f.chosen.value === ow.value && f.rejected.value === ol.value && f.chosen.selected === ow.index &&
          same.chosen.value === stat.chosen.value && same.rejected.value === stat.rejected.value;
      }),
      { numRuns: 2000 },
    );
  });
  it("with clipping the fused margin is still ≥ the pivot margin", () => {
    fc.assert(
      fc.property(livePairArb, liveOptsArb, (p, o) => {
        const f = fusePair(p, { ...o, clip: true, refOffset: null });
        return f.chosen.value - f.rejected.value >= p.pivotChosen - p.pivotRejected - 1e-12;
      }),
      { numRuns: 2000 },
    );
  });
  it("the tensor form picks the same source as the scalar form", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }).chain((n) =>
          fc.array(fc.record({ pivot: gridLogp, policy: gridLogp, src: fc.array(gridLogp, { minLength: n, maxLength: n }) }), { minLength: 1, maxLength: 10 }),
        ),
        liveOptsArb,
        fc.constantFrom("chosen" as const, "rejected" as const),
        (rows, o, side) => {
          const pivot = tf.tensor1d(rows.map((r) => r.pivot)), policy = tf.tensor1d(rows.map((r) => r.policy));
          const src = tf.tensor2d(rows.map((r) => r.src));
          const out = fuseSideTensor(side, pivot, src, o, policy);
          const sel = out.selected!.arraySync(), value = out.value.arraySync();
          [pivot, policy, src, out.value, out.clipped, out.selected].forEach((t) => t?.dispose());
          return rows.every((r, b) => {
            const want = fuseSide(side, r.pivot, r.src, o, r.policy);
            return sel[b] === want.selected && Math.abs(value[b] - want.value) <= 2e-6 * (1 + Math.abs(want.value));
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});

// Values on a 2^-16 grid are exact in float32 and so are their differences: both forms then see the same
// distances, and max-margin's tie-breaking is compared exactly.

describe("batched tensor form agrees with the scalar form", () => {
  it("on random batches, every strategy × clip × include-pivot × offset", () => {
    const logp = gridLogp;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }).chain((n) =>
          fc.array(fc.record({ pivot: logp, src: fc.array(logp, { minLength: n, maxLength: n }) }), { minLength: 1, maxLength: 12 }),
        ),
        optsArb,
        fc.constantFrom("chosen" as const, "rejected" as const),
        (rows, o, side) => {
          // Round inputs to float32 first so both forms see identical values.
          const f32 = (x: number) => Math.fround(x);
          const before = tf.memory().numTensors;
          const pivot = tf.tensor1d(rows.map((r) => f32(r.pivot)));
          const src = tf.tensor2d(rows.map((r) => r.src.map(f32)));
          const out = fuseSideTensor(side, pivot, src, o);
          const value = out.value.arraySync();
          const selected = out.selected?.arraySync() ?? null;
          const clipped = out.clipped.arraySync();
          [pivot, src, out.value, out.clipped, out.selected].forEach((t) => t?.dispose());
          if (tf.memory().numTensors !== before) return false;
          return rows.every((r, b) => {
            const want = fuseSide(side, f32(r.pivot), r.src.map(f32), o);
            const tol = 2e-6 * (1 + Math.abs(want.value));
            return (
              Math.abs(value[b] - want.value) <= tol &&
              (selected === null ? want.selected === null : selected[b] === want.selected) &&
              clipped[b].every((c, i) => Boolean(c) === want.clipped[i])
            );
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});

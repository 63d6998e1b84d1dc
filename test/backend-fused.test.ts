/**
 * Fused ops (native/fused_ops.cc via lib/backend/fused.ts): LayerNorm, GELU, the log-softmax at the targets and causal attention give the same function
 * and gradients as the plain tfjs formulations, op by op and inside a replayed graph; AdamW the same bits. Runs where `npm run native` built the library;
 * elsewhere every test is skipped and one placeholder says why. Under CI=true, when .ci/run installed the native backend
 * (INFIFPO_EXPECT_NATIVE=1) and built the library (INFIFPO_EXPECT_FUSED=1), their absence fails instead.
 */
import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { availableBackends, initBackend } from "../lib/backend";
import { fusedAdamW, fusedOpsAvailable, fusedOpsProblem } from "../lib/backend/fused";
import { CompiledSite } from "../lib/backend/compile";
import { causalAttentionFused, geluFused, layerNormFused, targetLogProbsFused } from "../lib/backend/fused";
import "../lib/model"; // defines the ops' plain references (lib/model/layers.ts)
import { kernelFor, referenceKernel, runReference } from "../lib/seam";
import { causalMask, maxRelDiff, rng, withGrad } from "./fused-fixtures";

// the plain references the fused ops must equal
const [layerNormPlain, geluPlain, targetLogProbsPlain, causalAttention] = [
  referenceKernel("layerNorm"), referenceKernel("gelu"), referenceKernel("targetLogProbs"), referenceKernel("causalAttention"),
];

const native = (await availableBackends()).includes("tensorflow");
if (native) await initBackend({ backend: "tensorflow", quiet: true });
const ready = native && fusedOpsAvailable();
const why = !native ? "the native TensorFlow backend is not installed (npm run native)" : `the fused ops are unavailable (${fusedOpsProblem() ?? "not built"}; npm run native builds them with a C++ compiler)`;
const ci = !!process.env.CI && process.env.CI !== "false" && process.env.CI !== "0";
const itFused = it.skipIf(!ready);
beforeAll(async () => {
  if (native) await initBackend({ backend: "tensorflow", quiet: true });
});

describe("fused ops are where .ci/run put them", () => {
  if (!ready) it.skip(`SKIPPED (every fused-op test): ${why}`, () => {});
  it.runIf(ci && process.env.INFIFPO_EXPECT_NATIVE === "1")("the native backend loads (required: INFIFPO_EXPECT_NATIVE=1)", () => expect(native).toBe(true));
  it.runIf(ci && process.env.INFIFPO_EXPECT_FUSED === "1")("the fused ops load (required: INFIFPO_EXPECT_FUSED=1)", () => expect(ready, why).toBe(true));
});

/**
 * `make()` op by op, then as a replayed graph (trace + one replay, checked): both results; the site is freed.
 * `make` must return new tensors each call (the caller disposes both results).
 */
function opByOpAndGraph(name: string, make: () => tf.Tensor[]): [tf.Tensor[], tf.Tensor[]] {
  const eager = make();
  const site = new CompiledSite(name);
  const graphed = [site.run(make), site.run(make)];
  expect(site.stats).toMatchObject({ traces: 1, replays: 1 });
  tf.dispose(graphed[0]);
  site.dispose();
  return [eager, graphed[1]];
}

describe("fused LayerNorm", () => {
  let N = 37, D = 24;
  const x = () => tf.tensor2d(rng(N * D, 1), [N, D]);
  const g = () => tf.tensor1d(rng(D, 2));
  const b = () => tf.tensor1d(rng(D, 3));
  const w = () => tf.tensor2d(rng(N * D, 4), [N, D]);

  // [37, 24]: one thread, whole vectors; [6001, 27]: rows split over two threads, a 3-wide tail per row
  itFused.each([[37, 24], [6001, 27]])("matches the plain formulation on [%i, %i]: values and all three gradients, op by op and as a graph", (n, d) => {
    [N, D] = [n, d];
    const [X, G, B, W] = [x(), g(), b(), w()];
    const grads = (ln: typeof layerNormPlain) => () =>
      tf.tidy(() => {
        const f = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(ln(xi as tf.Tensor2D, gi as tf.Tensor1D, bi as tf.Tensor1D, 1e-5), W));
        const { value, grads: gs } = tf.valueAndGrads(f)([X, G, B]);
        return [ln(X, G, B, 1e-5), value, ...gs];
      });
    const ref = grads(layerNormPlain)();
    const [fused, graphed] = opByOpAndGraph(`test-fused-ln-${n}`, grads(layerNormFused));
    ref.forEach((r, i) => {
      expect(maxRelDiff(fused[i], r, 1e-2), `output ${i}`).toBeLessThan(1e-4);
      expect(maxRelDiff(graphed[i], r, 1e-2), `graph output ${i}`).toBeLessThan(1e-4);
    });
    tf.dispose([...ref, ...fused, ...graphed, X, G, B, W]);
  });

  itFused("rejects bad shapes with TensorFlow's error, naming the op", () => {
    [N, D] = [37, 24];
    expect(() => layerNormFused(x(), tf.tensor1d([1, 2, 3]), b(), 1e-5)).toThrow(/InfLayerNorm: x must be float32 \[N, D\], g and b float32 \[D\]/);
  });
});

describe("fused GELU", () => {
  // [333, 7]: one thread and a 3-element tail; [300, 257]: two threads, the split at a multiple of 8
  itFused.each([[333, 7], [300, 257]])("matches the plain formulation on [%i, %i]: value and gradient, op by op and as a graph", (n, m) => {
    const X = tf.tensor2d(rng(n * m, 7), [n, m]);
    const W = tf.tensor2d(rng(n * m, 8), [n, m]);
    const run = (g: typeof geluPlain) => () => withGrad((x) => g(x as tf.Tensor2D), X, W);
    const ref = run(geluPlain)();
    const [fused, graphed] = opByOpAndGraph(`test-fused-gelu-${m}`, run(geluFused));
    ref.forEach((r, i) => {
      // float32 with cancellation in 1 + erf for negative x (both forms); FMAs round differently
      expect(maxRelDiff(fused[i], r, 1e-2), `output ${i}`).toBeLessThan(1e-4);
      expect(maxRelDiff(graphed[i], r, 1e-2), `graph output ${i}`).toBeLessThan(1e-4);
    });
    tf.dispose([...ref, ...fused, ...graphed, X, W]);
  });
});

describe("fused squared norm", () => {
  itFused("gives the global gradient norm of many tensors (one thread and two) as the plain sum does", async () => {
    const { globalNorm } = await import("../lib/train/clip");
    for (const shapes of [[[7, 5], [5], [3, 4, 2]], [[300, 257], [17], [129, 3]]]) {
      const ts = shapes.map((sh, i) => tf.tensor(rng(sh.reduce((a, b) => a * b, 1), 20 + i), sh));
      const fused = globalNorm(ts);
      const want = Math.sqrt(ts.reduce((acc, t) => acc + Array.from(t.dataSync()).reduce((a, v) => a + v * v, 0), 0)); // float64
      expect(Math.abs(fused.dataSync()[0] - want) / want).toBeLessThan(1e-6);
      tf.dispose([...ts, fused]);
    }
  });
});

describe("fused log-softmax at the targets", () => {
  // V = 37: a 5-wide tail per row, one thread; [3000, 64]: rows split over two threads
  itFused.each([[19, 37], [3000, 64]])("matches the plain formulation on [%i, %i]: values and gradient, op by op and as a graph", (n, V) => {
    const X = tf.tensor2d(rng(n * V, 9), [n, V]);
    const T = tf.tensor1d(Int32Array.from({ length: n }, (_, i) => (i * 7919) % V), "int32");
    const W = tf.tensor1d(rng(n, 10));
    const run = (f: typeof targetLogProbsPlain) => () => withGrad((x) => f(x as tf.Tensor2D, T), X, W);
    const ref = run(targetLogProbsPlain)();
    const [fused, graphed] = opByOpAndGraph(`test-fused-tlp-${V}`, run(targetLogProbsFused));
    ref.forEach((r, i) => {
      expect(maxRelDiff(fused[i], r, 1e-2), `output ${i}`).toBeLessThan(1e-5);
      expect(maxRelDiff(graphed[i], r, 1e-2), `graph output ${i}`).toBeLessThan(1e-5);
    });
    tf.dispose([...ref, ...fused, ...graphed, X, T, W]);
  });

  itFused("rejects a target id outside the vocabulary, naming the op", () => {
    expect(() => targetLogProbsFused(tf.zeros([2, 5]) as tf.Tensor2D, tf.tensor1d([1, 5], "int32"))).toThrow(/InfTargetLogProb: a target id is outside \[0, V\)/);
  });
});

/** float64 oracle of causal attention and of the gradient of Σ y ⊙ W with respect to qkv (row-major arrays). */
function attentionOracle(qkv: Float32Array, W: Float32Array, B: number, T: number, H: number, d: number) {
  const D = H * d, C = 3 * D, scale = 1 / Math.sqrt(d);
  const y = new Float64Array(B * T * D), dqkv = new Float64Array(B * T * C);
  const at = (b: number, t: number, part: number, h: number, j: number) => (b * T + t) * C + part * D + h * d + j;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const P: number[][] = [];
      for (let i = 0; i < T; i++) {
        const s = Array.from({ length: i + 1 }, (_, j) => {
          let dot = 0;
          for (let t = 0; t < d; t++) dot += qkv[at(b, i, 0, h, t)] * scale * qkv[at(b, j, 1, h, t)];
          return dot;
        });
        const m = Math.max(...s);
        const e = s.map((v) => Math.exp(v - m));
        const z = e.reduce((a, v) => a + v, 0);
        P.push(e.map((v) => v / z));
        for (let t = 0; t < d; t++) {
          let o = 0;
          for (let j = 0; j <= i; j++) o += P[i][j] * qkv[at(b, j, 2, h, t)];
          y[(b * T + i) * D + h * d + t] = o;
        }
      }
      for (let i = 0; i < T; i++) {
        const dY = (t: number) => W[(b * T + i) * D + h * d + t];
        const dP = P[i].map((_, j) => {
          let v = 0;
          for (let t = 0; t < d; t++) v += dY(t) * qkv[at(b, j, 2, h, t)];
          return v;
        });
        const Di = P[i].reduce((a, p, j) => a + p * dP[j], 0);
        P[i].forEach((p, j) => {
          const ds = p * (dP[j] - Di);
          for (let t = 0; t < d; t++) {
            dqkv[at(b, i, 0, h, t)] += ds * qkv[at(b, j, 1, h, t)] * scale;
            dqkv[at(b, j, 1, h, t)] += ds * qkv[at(b, i, 0, h, t)] * scale;
            dqkv[at(b, j, 2, h, t)] += p * dY(t);
          }
        });
      }
    }
  return { y, dqkv };
}

/** max |a − b| / max(floor, |b|) against float64 values. */
function errVs(a: tf.Tensor, ref: Float64Array, floor = 1e-2): number {
  const x = a.dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - ref[i]) / Math.max(floor, Math.abs(ref[i])));
  return m;
}

describe("fused causal attention", () => {
  // [B, T, H, d]: odd lengths and a head width with a scalar tail on one thread; a two-thread split; bench-like;
  // head widths 8 and 64 (the other register layouts of the backward key sums)
  itFused.each([[3, 13, 2, 6], [4, 70, 4, 16], [2, 128, 4, 32], [2, 33, 3, 8], [1, 40, 2, 64]])(
    "matches a float64 oracle as well as the masked formulation does, B=%i T=%i H=%i d=%i: output and gradient, op by op and as a graph",
    (B, T, H, d) => {
      const D = H * d;
      const qkv = tf.tensor2d(rng(B * T * 3 * D, 5).map((v) => v * 0.4), [B * T, 3 * D]); // scores of a few units
      const W = tf.tensor2d(rng(B * T * D, 6), [B * T, D]);
      const mask = causalMask(T);
      const ref = withGrad((x) => causalAttention(x as tf.Tensor2D, mask, B, T, H), qkv, W);
      const [fused, graphed] = opByOpAndGraph(`test-fused-attn-${T}`, () => withGrad((x) => causalAttentionFused(x as tf.Tensor2D, mask, B, T, H), qkv, W));
      // against a float64 oracle: within a small factor of the masked float32 formulation's error (a different
      // summation order, probabilities recomputed from the log-normaliser), and below 1e-3 (relative, floor 0.01)
      const oracle = attentionOracle(qkv.dataSync() as Float32Array, W.dataSync() as Float32Array, B, T, H, d);
      for (const [i, want] of [[0, oracle.y], [2, oracle.dqkv]] as const) {
        const bound = Math.max(1e-5, 4 * errVs(ref[i], want));
        expect(errVs(fused[i], want), `output ${i}`).toBeLessThanOrEqual(bound);
        expect(errVs(graphed[i], want), `graph output ${i}`).toBeLessThanOrEqual(bound);
        expect(errVs(fused[i], want)).toBeLessThan(1e-3);
      }
      expect(maxRelDiff(fused[1], ref[1])).toBeLessThan(1e-5); // the loss
      tf.dispose([...ref, ...fused, ...graphed, qkv, W, mask]);
    },
  );

  itFused("rejects a qkv whose width does not split into heads, naming the op", () => {
    expect(() => causalAttentionFused(tf.zeros([8, 30]) as tf.Tensor2D, causalMask(4), 2, 4, 4)).toThrow(/InfCausalAttention: qkv must be float32 \[B·T, 3D\]/);
  });
});

describe("fused ops: the baseline (non-AVX2) copy of the kernels", () => {
  itFused("gives the plain formulations' numbers too (forced with INFIFPO_FUSED_BASELINE=1, in a child process)", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "test/fused-child.ts"], {
      encoding: "utf8",
      env: { ...process.env, INFIFPO_FUSED_BASELINE: "1" },
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
    const res = JSON.parse(line ?? "{}") as Record<string, number>;
    expect(Object.keys(res).sort()).toEqual(["attention", "gelu", "layerNorm", "targetLogProbs"]);
    for (const [op, d] of Object.entries(res)) expect(d, op).toBeLessThan(op === "attention" ? 1e-3 : 1e-4);
  }, 150_000);
});

describe("fused AdamW", () => {
  itFused("gives the same bits as the plain update over several steps (decay mask, clipping scale, as a replayed graph)", async () => {
    const { AdamW } = await import("../lib/train/optim");
    const shapes = [[7, 5], [5], [3, 4, 2], [9], [300, 257]]; // the last one makes the op split over two threads
    const init = (seed: number) => shapes.map((s, i) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, j) => Math.sin(seed + i * 31 + j * 0.7)));
    const make = (tag: string) => init(1).map((v, i) => tf.variable(tf.tensor(v, shapes[i]), true, `${tag}${i}`));
    const a = make("fusedA"), b = make("plainB");
    const oa = new AdamW(a, { weightDecay: 0.1 });
    const ob = new AdamW(b, { weightDecay: 0.1 });
    expect(kernelFor("adamW")).toBe(fusedAdamW); // the fused op is what the first optimizer runs
    for (let step = 0; step < 5; step++) {
      const g = init(10 + step);
      const scale = step % 2 === 0 ? 1 : 0.37;
      oa.apply(Object.fromEntries(a.map((p, i) => [p.name, tf.tensor(g[i], shapes[i])])), 1e-2 * (step + 1), scale);
      runReference(() => ob.apply(Object.fromEntries(b.map((p, i) => [p.name, tf.tensor(g[i], shapes[i])])), 1e-2 * (step + 1), scale));
    }
    a.forEach((p, i) => expect(Array.from(p.dataSync())).toEqual(Array.from(b[i].dataSync())));
    const [sa, sb] = [oa.state(), ob.state()];
    sa.m.forEach((m, i) => expect(Array.from(m)).toEqual(Array.from(sb.m[i])));
    sa.v.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(sb.v[i])));
    oa.dispose();
    ob.dispose();
    tf.dispose([...a, ...b]);
  });
});

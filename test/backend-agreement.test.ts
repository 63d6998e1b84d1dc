// Every backend present here (cpu, wasm, and tensorflow when `npm run native` was run) computes the same
// small graph as a float64 oracle written in plain JS, forward and backward, within float32 tolerance.
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { availableBackends, initBackend, requestFor } from "../lib/backend";

const present = await availableBackends();

/** Deterministic uniform values in [-1, 1) (LCG, seed fixed). */
function rand(n: number, seed: number): number[] {
  let s = seed >>> 0;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push((s / 2 ** 32) * 2 - 1);
  }
  // Round to float32 so oracle and backends start from identical inputs.
  return Array.from(Float32Array.from(out));
}

const N = 8, K = 16, M = 12;
const A = rand(N * K, 1), B = rand(K * M, 2).map((x) => 2 * x);
const Y = Array.from({ length: N }, (_, i) => (i * 5) % M);

/** float64 oracle: logits = A·B, softmax, logSumExp, cross-entropy L = Σ_i (lse_i − logits[i, y_i]) and its grads. */
function oracle() {
  const logits = new Array(N * M).fill(0);
  for (let i = 0; i < N; i++) for (let j = 0; j < M; j++) for (let k = 0; k < K; k++) logits[i * M + j] += A[i * K + k] * B[k * M + j];
  const lse: number[] = [], soft: number[] = [];
  let loss = 0;
  for (let i = 0; i < N; i++) {
    const row = logits.slice(i * M, (i + 1) * M);
    const mx = Math.max(...row);
    const l = mx + Math.log(row.reduce((s, x) => s + Math.exp(x - mx), 0));
    lse.push(l);
    for (const x of row) soft.push(Math.exp(x - l));
    loss += l - row[Y[i]];
  }
  const G = soft.map((p, idx) => p - (idx % M === Y[Math.floor(idx / M)] ? 1 : 0)); // dL/dlogits
  const dA = new Array(N * K).fill(0), dB = new Array(K * M).fill(0);
  for (let i = 0; i < N; i++)
    for (let k = 0; k < K; k++)
      for (let j = 0; j < M; j++) {
        dA[i * K + k] += G[i * M + j] * B[k * M + j];
        dB[k * M + j] += A[i * K + k] * G[i * M + j];
      }
  return { logits, soft, lse, loss, dA, dB };
}
const want = oracle();

function expectClose(got: ArrayLike<number>, exp: ArrayLike<number>, atol: number, what: string) {
  expect(got.length, what).toBe(exp.length);
  let worst = 0;
  for (let i = 0; i < exp.length; i++) worst = Math.max(worst, Math.abs(got[i] - exp[i]) / (atol + 1e-4 * Math.abs(exp[i])));
  expect(worst, `${what}: worst error / tolerance`).toBeLessThan(1);
}

describe("backend agreement", () => {
  it("finds at least cpu and wasm", () => {
    expect(present).toContain("cpu");
    expect(present).toContain("wasm");
  });

  describe.each(present)("%s", (cand) => {
    it("matMul → softmax → logSumExp → cross-entropy and its gradients match the float64 oracle", async () => {
      await initBackend({ backend: requestFor(cand), quiet: true });
      const before = tf.memory().numTensors;
      const a = tf.tensor2d(A, [N, K]), b = tf.tensor2d(B, [K, M]);
      const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Y, "int32"), M));
      const logits = tf.matMul(a, b);
      const [soft, lse] = tf.tidy(() => [tf.softmax(logits), tf.logSumExp(logits, 1)]);
      const loss = (a_: tf.Tensor, b_: tf.Tensor) => {
        const z = tf.matMul(a_ as tf.Tensor2D, b_ as tf.Tensor2D);
        return tf.sub(tf.logSumExp(z, 1), tf.sum(tf.mul(z, y), 1)).sum();
      };
      const { value, grads } = tf.valueAndGrads(loss)([a, b]);
      expectClose(await logits.data(), want.logits, 1e-5, "logits");
      expectClose(await soft.data(), want.soft, 1e-6, "softmax");
      expectClose(await lse.data(), want.lse, 1e-5, "logSumExp");
      expectClose(await value.data(), [want.loss], 1e-4, "loss");
      expectClose(await grads[0].data(), want.dA, 1e-5, "dL/dA");
      expectClose(await grads[1].data(), want.dB, 1e-5, "dL/dB");
      tf.dispose([a, b, y, logits, soft, lse, value, ...grads]);
      expect(tf.memory().numTensors).toBe(before);
    });

    it("batched attention-shaped matMul, layer-norm moments and a one-hot embedding gradient agree with cpu", async () => {
      const run = () =>
        tf.tidy(() => {
          const q = tf.tensor4d(rand(2 * 3 * 4 * 5, 3), [2, 3, 4, 5]);
          const k = tf.tensor4d(rand(2 * 3 * 4 * 5, 4), [2, 3, 4, 5]);
          const att = tf.softmax(tf.div(tf.matMul(q, k, false, true), Math.sqrt(5))); // [B, H, T, T]
          const { mean, variance } = tf.moments(q, -1, true);
          const ln = tf.div(tf.sub(q, mean), tf.sqrt(tf.add(variance, 1e-5)));
          // Embedding as oneHot·E: differentiable on every backend (wasm lacks the gather gradient).
          const E = tf.tensor2d(rand(7 * 3, 5), [7, 3]);
          const ids = tf.tensor1d([1, 4, 4, 6, 0], "int32");
          const gE = tf.grad((e: tf.Tensor) => tf.matMul(tf.oneHot(ids, 7), e as tf.Tensor2D).square().sum())(E);
          const fwdGather = tf.gather(E, ids); // forward gather is fine everywhere
          return [att, ln, gE, fwdGather].map((t) => Array.from(t.dataSync()));
        });
      await initBackend({ backend: "cpu", quiet: true });
      const ref = run();
      await initBackend({ backend: requestFor(cand), quiet: true });
      const got = run();
      ["attention", "layer norm", "embedding grad", "gather"].forEach((what, i) => expectClose(got[i], ref[i], 1e-5, what));
    });
  });

  it.runIf(present.includes("wasm"))("wasm has the tf.gather gradient once initBackend ran (tfjs-backend-wasm lacks UnsortedSegmentSum; lib/backend/wasm.ts adds it)", async () => {
    await initBackend({ backend: "wasm", quiet: true });
    const E = tf.ones([4, 2]);
    const g = tf.grad((e: tf.Tensor) => tf.gather(e, tf.tensor1d([1, 2, 2], "int32")).sum())(E);
    expect(Array.from(g.dataSync())).toEqual([0, 0, 1, 1, 2, 2, 0, 0]);
    tf.dispose([E, g]);
  });

  it.runIf(present.includes("tensorflow"))("tfjs-node registers on the same tfjs-core as @tensorflow/tfjs", async () => {
    const info = await initBackend({ backend: "tensorflow-cpu", quiet: true });
    expect(tf.getBackend()).toBe("tensorflow");
    expect(info.kind).toBe("native");
    expect(info.version).toMatch(/TensorFlow \d+\.\d+/);
  });
});

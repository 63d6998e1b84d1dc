/**
 * Every fast kernel of the execution seam (lib/seam.ts, registered by lib/backend/kernels.ts) against its plain
 * reference (lib/model/layers.ts, lib/train), on every backend this machine has: values and gradients with respect
 * to every float input, within float32 tolerance (AdamW: the same bits). The table of which kernel runs where is
 * checked too, so a kernel that silently stops being registered fails here. llm.c's dev/cuda habit: each kernel
 * validated against the CPU reference.
 */
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { availableBackends, initBackend, requestFor } from "../lib/backend";
import { fusedOpsAvailable } from "../lib/backend/fused";
import "../lib/model"; // defines the model's ops
import "../lib/train"; // and the optimizer's
import { kernelFor, kernelTable, referenceKernel, type KernelName } from "../lib/seam";
import { causalMask, maxRelDiff, rng } from "./fused-fixtures";

const backends = (await availableBackends()).filter((c) => c !== "tensorflow-gpu");
const native = backends.includes("tensorflow");
const fused = native && (await initBackend({ backend: "tensorflow", quiet: true }), fusedOpsAvailable());

/** Inputs of each op: the arguments, and which of them are differentiated (float tensors). */
const CASES: Record<Exclude<KernelName, "adamW" | "squaredNorm">, { args: () => unknown[]; diff: number[] }[]> = {
  layerNorm: [{ args: () => [tf.tensor2d(rng(37 * 24, 1), [37, 24]), tf.tensor1d(rng(24, 2)), tf.tensor1d(rng(24, 3)), 1e-5], diff: [0, 1, 2] }],
  gelu: [{ args: () => [tf.tensor2d(rng(33 * 17, 4), [33, 17])], diff: [0] }],
  linear: [
    { args: () => [tf.tensor2d(rng(13 * 8, 5), [13, 8]), tf.tensor2d(rng(8 * 6, 6, 0.3), [8, 6]), tf.tensor1d(rng(6, 7)), false], diff: [0, 1, 2] },
    { args: () => [tf.tensor2d(rng(13 * 8, 5), [13, 8]), tf.tensor2d(rng(6 * 8, 6, 0.3), [6, 8]), null, true], diff: [0, 1] },
  ],
  causalAttention: [
    { args: () => [tf.tensor2d(rng(2 * 7 * 3 * 8, 8, 0.4), [14, 24]), causalMask(7), 2, 7, 2], diff: [0] },
    { args: () => [tf.tensor2d(rng(3 * 1 * 3 * 8, 9, 0.4), [3, 24]), causalMask(1), 3, 1, 4], diff: [0] },
  ],
  targetLogProbs: [{ args: () => [tf.tensor2d(rng(12 * 17, 10), [12, 17]), tf.tensor1d([0, 3, 16, 5, 5, 9, 1, 2, 8, 13, 11, 4], "int32")], diff: [0] }],
};

/** The op's output and the gradients of Σ output ⊙ w with respect to the `diff` arguments. */
function valueAndGrads(op: (...a: unknown[]) => tf.Tensor, args: unknown[], diff: number[]): tf.Tensor[] {
  return tf.tidy(() => {
    const y = op(...args);
    const w = tf.tensor(rng(y.size, 11), y.shape);
    const f = (...xs: tf.Tensor[]) => {
      const a = [...args];
      diff.forEach((p, i) => (a[p] = xs[i]));
      return tf.sum(tf.mul(op(...a), w)) as tf.Scalar;
    };
    const { grads } = tf.valueAndGrads(f)(diff.map((p) => args[p] as tf.Tensor));
    return [y, ...grads];
  });
}

/** What kernels/kernels.ts promises per backend (the rest run their reference). */
function expectedTable(backend: string): Record<string, string> {
  const any = { layerNorm: "*", gelu: "*", targetLogProbs: "*", causalAttention: "*", linear: "reference", squaredNorm: "reference", adamW: "reference" };
  if (backend === "wasm") return { ...any, layerNorm: "wasm", causalAttention: "wasm", linear: "wasm" };
  if (backend === "tensorflow" && fused) {
    return { ...any, layerNorm: "tensorflow", gelu: "tensorflow", targetLogProbs: "tensorflow", causalAttention: "tensorflow", squaredNorm: "tensorflow", adamW: "tensorflow" };
  }
  return any;
}

describe.each(backends)("kernels on %s", (cand) => {
  const use = () => initBackend({ backend: requestFor(cand), quiet: true });

  it("the table of kernels is the documented one (lib/backend/kernels.ts)", async () => {
    const info = await use();
    expect(kernelTable()).toEqual(expectedTable(info.name));
  });

  it.each(Object.keys(CASES) as (keyof typeof CASES)[])("%s: the backend's kernel gives the reference's values and gradients", async (name) => {
    await use();
    for (const c of CASES[name]) {
      const args = c.args();
      const fast = valueAndGrads(kernelFor(name) as (...a: unknown[]) => tf.Tensor, args, c.diff);
      const ref = valueAndGrads(referenceKernel(name) as (...a: unknown[]) => tf.Tensor, args, c.diff);
      expect(fast.map((t) => t.shape)).toEqual(ref.map((t) => t.shape));
      ref.forEach((r, i) => expect(maxRelDiff(fast[i], r, 1e-2), `${name} output ${i}`).toBeLessThan(1e-4));
      tf.dispose([...fast, ...ref, ...args.filter((a): a is tf.Tensor => a instanceof tf.Tensor)]);
    }
  });

  it("squaredNorm: the backend's kernel gives the reference's value", async () => {
    await use();
    const xs = [[7, 5], [5], [300, 257]].map((s, i) => tf.tensor(rng(s.reduce((a, b) => a * b, 1), 20 + i), s));
    const [fast, ref] = [kernelFor("squaredNorm")(xs), referenceKernel("squaredNorm")(xs)];
    expect(maxRelDiff(fast, ref)).toBeLessThan(1e-6);
    tf.dispose([...xs, fast, ref]);
  });

  it("adamW: the backend's kernel gives the reference's bits (decay mask, gradient scale)", async () => {
    await use();
    const shapes = [[7, 5], [5], [3, 4, 2], [300, 257]];
    const make = (seed: number, scale = 1) => shapes.map((s, i) => tf.tensor(rng(s.reduce((a, b) => a * b, 1), seed + i, scale), s));
    const [p, g, m] = [make(30), make(40), make(50, 0.1)];
    const v = make(60, 0.1).map((t) => tf.square(t));
    const h = tf.tensor1d([0.9, 1 - 0.9, 0.95, 1 - 0.95, 1e-8, Math.sqrt(1 - 0.95 ** 3), 1e-2 / (1 - 0.9 ** 3), 1 - 1e-2 * 0.1, 0.37]);
    const decay = [true, false, true, true];
    const fast = kernelFor("adamW")(p, g, m, v, h, decay).flat();
    const ref = referenceKernel("adamW")(p, g, m, v, h, decay).flat();
    fast.forEach((t, i) => expect(Array.from(t.dataSync()), `output ${i}`).toEqual(Array.from(ref[i].dataSync())));
    tf.dispose([...p, ...g, ...m, ...v, h, ...fast, ...ref]);
  });
});

describe("wasm's UnsortedSegmentSum (lib/backend/wasm.ts), the gradient of tf.gather", () => {
  it.runIf(backends.includes("wasm"))("gives the cpu backend's sums, and an embedding gradient through tf.gather", async () => {
    const x = rng(9 * 5, 12);
    const ids = [3, 0, 3, 7, 1, 9, -1, 3, 0]; // 9 and -1 are outside [0, 8): dropped, as TensorFlow does
    const run = () =>
      tf.tidy(() => {
        const s = tf.unsortedSegmentSum(tf.tensor2d(x, [9, 5]), tf.tensor1d(ids, "int32"), 8);
        const w = tf.tensor2d(rng(8 * 4, 13), [8, 4]);
        const g = tf.grad((e: tf.Tensor) => tf.sum(tf.mul(tf.gather(e, tf.tensor1d([2, 2, 5, 0], "int32")), tf.tensor2d(rng(16, 14), [4, 4]))))(w);
        return [Array.from(s.dataSync()), Array.from(g.dataSync())];
      });
    await initBackend({ backend: "wasm", quiet: true });
    const onWasm = run();
    await initBackend({ backend: "cpu", quiet: true });
    const onCpu = run();
    onCpu.forEach((want, k) => want.forEach((v, i) => expect(onWasm[k][i]).toBeCloseTo(v, 5)));
    expect(onCpu[0].slice(0, 5).some((v) => v !== 0)).toBe(true);
  });
});

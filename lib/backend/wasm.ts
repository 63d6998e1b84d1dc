/**
 * Workarounds for tfjs-backend-wasm 4.22 (single-threaded XNNPACK under Node), registered for the "wasm" backend
 * only. XNNPACK runs plain 2-D matMuls fast, but a matMul with a transposed operand (what tfjs's own matMul
 * gradient uses) and a batched matMul fall back to scalar loops 30–50x slower, and an axis-0 reduction
 * transposes first. So on wasm:
 * - `linear` runs XNNPACK's fused matMul + bias and writes its gradient with explicit transposes;
 * - the written-out LayerNorm and attention gradients (./gradients.ts) use `WASM` products: batched matMuls as
 *   2-D ones, Σ_rows as ones · x;
 * - UnsortedSegmentSum (the gradient of tf.gather, so of an embedding lookup) has no wasm kernel at all: a JS one
 *   is registered with tfjs.
 * Each is tested equal to the plain code (test/backend-kernels.test.ts).
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelSignatures } from "../seam";
import type { Primitives } from "./gradients";

/** Measured: 1024×256ᵀ · 1024×64 takes 106 ms with a transpose flag, 3.6 ms with an explicit transpose. */
function transposeLast(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i);
  [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
  return tf.transpose(t, perm);
}

/**
 * Batched matMul [B, H, m, k] · [B, H, k, n] → [B, H, m, n]: BatchMatMul with a batch dimension runs a scalar
 * loop on wasm (35 ms for 64 × 128×128·128×32) while a 2-D matMul uses XNNPACK (64 of them: ~7 ms), and slicing
 * the batch apart with tfjs ops costs more than that (tf.split into 64: 137 ms); so the operands are read back
 * (wasm memory, synchronous), multiplied as 2-D products and written back. Not differentiable by itself: only for
 * use inside a written-out gradient. 2-D operands go straight to XNNPACK.
 */
function bmm(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (a.rank === 2) return tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);
  const [B, H, m, k] = a.shape as [number, number, number, number];
  const n = b.shape[3] as number;
  const ad = a.dataSync() as Float32Array;
  const bd = b.dataSync() as Float32Array;
  const out = new Float32Array(B * H * m * n);
  for (let i = 0; i < B * H; i++) {
    const r = tf.tidy(() =>
      tf.matMul(tf.tensor2d(ad.subarray(i * m * k, (i + 1) * m * k), [m, k]), tf.tensor2d(bd.subarray(i * k * n, (i + 1) * k * n), [k, n])),
    );
    out.set(r.dataSync() as Float32Array, i * m * n);
    r.dispose();
  }
  return tf.tensor4d(out, [B, H, m, n]);
}

export const WASM: Primitives = {
  matMul: (a, b, tA = false, tB = false) => bmm(tA ? transposeLast(a) : a, tB ? transposeLast(b) : b),
  sumRows: (x) => {
    const [N, O] = x.shape as [number, number];
    return tf.reshape(tf.matMul(tf.ones([1, N]), x as tf.Tensor2D), [O]) as tf.Tensor1D;
  },
};

/** Dense layer with XNNPACK's fused matMul + bias forward and the gradient dx = dy · Wᵀ, dW = xᵀ · dy, db = Σ_rows dy. */
export const linear: KernelSignatures["linear"] = (x, w0, b, transposeW) => {
  const w = transposeW ? (tf.transpose(w0) as tf.Tensor2D) : w0; // differentiable: its gradient transposes back
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, wi] = args as tf.Tensor2D[];
    (args[args.length - 1] as tf.GradSaveFunc)([xi, wi]);
    const value = b ? (tf.fused.matMul({ a: xi, b: wi, bias: args[2] as tf.Tensor1D }) as tf.Tensor2D) : tf.matMul(xi, wi);
    return {
      value,
      gradFunc: (dy: tf.Tensor, [xs, ws]: tf.Tensor[]) => {
        const d = dy as tf.Tensor2D;
        const dx = tf.matMul(d, tf.transpose(ws as tf.Tensor2D)); // [N, I]
        const dw = tf.matMul(tf.transpose(xs as tf.Tensor2D), d); // [I, O]
        return b ? [dx, dw, WASM.sumRows(d)] : [dx, dw];
      },
    };
  });
  return (b ? f(x, w, b) : f(x, w)) as tf.Tensor2D;
};

interface WasmBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array;
}

let segmentSumRegistered = false;
/**
 * UnsortedSegmentSum for wasm, in JS on the wasm heap: out[s] = Σ_{i: ids[i] = s} x[i] (rows of x; ids outside
 * [0, numSegments) are dropped, as TensorFlow does). It makes tfjs's gradient of tf.gather work on wasm.
 */
export function registerWasmSegmentSum(): void {
  if (segmentSumRegistered || tf.getKernel("UnsortedSegmentSum", "wasm")) return;
  segmentSumRegistered = true;
  tf.registerKernel({
    kernelName: "UnsortedSegmentSum",
    backendName: "wasm",
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = (attrs as { numSegments: number }).numSegments;
      const be = backend as unknown as WasmBackendLike;
      const rows = segmentIds.shape.reduce((a, c) => a * c, 1);
      if (x.shape[0] !== rows || segmentIds.shape.length !== 1) {
        throw new Error(`UnsortedSegmentSum (wasm): segmentIds must be [${x.shape[0]}], got [${segmentIds.shape}]`);
      }
      const inner = x.shape.slice(1).reduce((a, c) => a * c, 1);
      const xs = be.readSync(x.dataId);
      const ids = be.readSync(segmentIds.dataId);
      const out = be.makeOutput([numSegments, ...x.shape.slice(1)], x.dtype);
      const o = be.typedArrayFromHeap(out);
      o.fill(0);
      for (let i = 0; i < rows; i++) {
        const s = ids[i];
        if (s < 0 || s >= numSegments) continue;
        for (let j = 0, src = i * inner, dst = s * inner; j < inner; j++) o[dst + j] += xs[src + j];
      }
      return out;
    },
  });
}

/**
 * Fused TensorFlow ops for the native backend (native/fused_ops.cc, built by `npm run native` into
 * node_modules/.infifpo/fused_ops.node): one op for a LayerNorm forward pass and one for its backward pass
 * (instead of ~9 and ~11 element-wise ops), one each way for the exact GELU (instead of 5 and 7), one each way
 * for the log-softmax at the target tokens (instead of a one-hot and ~10 ops), one for the squared global norm of all
 * gradients (instead of a square and a sum per parameter), one each way for causal self-attention (instead of transposes, two
 * batched matMuls, mask and softmax forward and ~12 ops backward; keys after the query are skipped, not masked,
 * so it does half the multiply-adds), and one for a whole AdamW update of every parameter (instead of
 * concat → ~12 element-wise ops → split, with the same float32 rounding step by step). They run op by op and inside replayed graphs (lib/backend/compile.ts)
 * alike. `registerFusedKernels` makes them the "tensorflow" backend's kernels of the execution seam (lib/seam.ts)
 * when the library was built and loads on the native CPU backend; `INFIFPO_FUSED=0` turns them off. Elsewhere the
 * written-out kernels (./gradients.ts) or lib/model's plain references run (the same functions to float32 rounding).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { registerKernel, type KernelSignatures } from "../seam";
import { causalAttention as writtenOutAttention, PLAIN } from "./gradients";
import { nativePackageDir } from "./packages";

interface NodeBackendLike {
  binding: { TF_ATTR_FLOAT: number; TF_ATTR_INT: number };
  isUsingGpuDevice?: boolean;
  executeMultipleOutputs(name: string, attrs: { name: string; type: number; value: unknown }[], inputs: tf.Tensor[], n: number): tf.Tensor[];
}

let loaded: boolean | undefined;
let loadError: string | null = null;

/** Where `npm run native` puts the built library: node_modules/.infifpo/fused_ops.node, next to tfjs-node. */
export function fusedOpsPath(): string | undefined {
  const dir = nativePackageDir(); // …/node_modules/@tensorflow/tfjs-node
  return dir ? path.resolve(dir, "..", "..", ".infifpo", "fused_ops.node") : undefined;
}

/** Why the fused ops are not in use (null when they are, or when the backend is not native). */
export function fusedOpsProblem(): string | null {
  return loadError;
}

/** True when the fused ops can be used now: native CPU backend, library built and loaded, not turned off. */
export function fusedOpsAvailable(): boolean {
  if (process.env.INFIFPO_FUSED === "0" || tf.getBackend() !== "tensorflow") return false;
  if ((tf.backend() as unknown as NodeBackendLike).isUsingGpuDevice) return false; // CPU kernels only
  if (loaded === undefined) {
    const file = fusedOpsPath();
    loaded = false;
    if (!file || !fs.existsSync(file)) {
      loadError = `${file ? path.relative(process.cwd(), file) : "node_modules/.infifpo/fused_ops.node"} not built (npm run native builds it)`;
    } else {
      try {
        process.dlopen({ exports: {} } as NodeJS.Module, file);
        // the ops must also run (registration could have failed against another TensorFlow build)
        tf.tidy(() => {
          const one = tf.ones([1, 2]) as tf.Tensor2D;
          fusedLayerNorm(one, tf.ones([2]) as tf.Tensor1D, tf.zeros([2]) as tf.Tensor1D, 1e-5);
          fusedAdamW([one], [one], [one], [one], tf.ones([9]) as tf.Tensor1D, [true]);
          fusedGeluGrad(fusedGelu(one), one);
          fusedSquaredNorm([one, one]);
          const ids = tf.zeros([1], "int32") as tf.Tensor1D;
          const [lp, norm] = fusedTargetLogProb(one, ids);
          fusedTargetLogProbGrad(lp, one, ids, norm);
          const qkv = tf.ones([2, 6]) as tf.Tensor2D;
          const [y, lse] = fusedCausalAttention(qkv, 2, 1);
          fusedCausalAttentionGrad(y, qkv, y, lse, 2, 1);
        });
        loaded = true;
      } catch (e) {
        loadError = `${file} does not load or run: ${(e as Error).message.split("\n")[0]}`;
      }
    }
  }
  return loaded;
}

function run(op: string, attrs: { name: string; type: number; value: unknown }[], inputs: tf.Tensor[], n: number): tf.Tensor[] {
  return (tf.backend() as unknown as NodeBackendLike).executeMultipleOutputs(op, attrs, inputs, n);
}

/** InfLayerNorm: x [N, D], g [D], b [D] → y = x̂·g + b, x̂ [N, D], r = 1/√(σ² + ε) [N]. Needs `fusedOpsAvailable()`. */
export function fusedLayerNorm(x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, eps: number): [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D] {
  const be = tf.backend() as unknown as NodeBackendLike;
  return run("InfLayerNorm", [{ name: "eps", type: be.binding.TF_ATTR_FLOAT, value: eps }], [x, g, b], 3) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
}

/** InfLayerNormGrad: dy, x̂ [N, D], r [N], g [D] → dx [N, D], dg [D], db [D]. Needs `fusedOpsAvailable()`. */
export function fusedLayerNormGrad(dy: tf.Tensor2D, xhat: tf.Tensor2D, rstd: tf.Tensor1D, g: tf.Tensor1D): [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D] {
  return run("InfLayerNormGrad", [], [dy, xhat, rstd, g], 3) as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
}

/** InfSquaredNorm: Σ_k ‖x_k‖² over N float tensors (a scalar). Needs `fusedOpsAvailable()`. */
export function fusedSquaredNorm(xs: tf.Tensor[]): tf.Scalar {
  const be = tf.backend() as unknown as NodeBackendLike;
  return run("InfSquaredNorm", [{ name: "N", type: be.binding.TF_ATTR_INT, value: xs.length }], xs, 1)[0] as tf.Scalar;
}

/** InfTargetLogProb: logits [N, V], targets [N] (int32) → log softmax(logits)[target] [N] and lse [N]. Needs `fusedOpsAvailable()`. */
export function fusedTargetLogProb(logits: tf.Tensor2D, targets: tf.Tensor1D): [tf.Tensor1D, tf.Tensor1D] {
  return run("InfTargetLogProb", [], [logits, targets], 2) as [tf.Tensor1D, tf.Tensor1D];
}

/** InfTargetLogProbGrad: dlp [N], logits, targets, lse → dlogits = dlp·(onehot(target) − softmax(logits)). Needs `fusedOpsAvailable()`. */
export function fusedTargetLogProbGrad(dlp: tf.Tensor1D, logits: tf.Tensor2D, targets: tf.Tensor1D, lse: tf.Tensor1D): tf.Tensor2D {
  return run("InfTargetLogProbGrad", [], [dlp, logits, targets, lse], 1)[0] as tf.Tensor2D;
}

/** InfGelu: x → x·Φ(x) (exact GELU), any shape. Needs `fusedOpsAvailable()`. */
export function fusedGelu<T extends tf.Tensor>(x: T): T {
  return run("InfGelu", [], [x], 1)[0] as T;
}

/** InfGeluGrad: dy, x → dy·(Φ(x) + x·φ(x)). Needs `fusedOpsAvailable()`. */
export function fusedGeluGrad<T extends tf.Tensor>(dy: T, x: T): T {
  return run("InfGeluGrad", [], [dy, x], 1)[0] as T;
}

/**
 * InfCausalAttention: qkv [B·T, 3D] (columns q | k | v, head-major) → y [B·T, D] (heads concatenated) and the
 * softmax log-normaliser lse [B·H·T] that the backward pass needs. Needs `fusedOpsAvailable()`.
 */
export function fusedCausalAttention(qkv: tf.Tensor2D, T: number, H: number): [tf.Tensor2D, tf.Tensor1D] {
  return run("InfCausalAttention", attnAttrs(T, H), [qkv], 2) as [tf.Tensor2D, tf.Tensor1D];
}

/** InfCausalAttentionGrad: dy [B·T, D], qkv, y, lse (the forward's) → dqkv [B·T, 3D]. Needs `fusedOpsAvailable()`. */
export function fusedCausalAttentionGrad(dy: tf.Tensor2D, qkv: tf.Tensor2D, y: tf.Tensor2D, lse: tf.Tensor1D, T: number, H: number): tf.Tensor2D {
  return run("InfCausalAttentionGrad", attnAttrs(T, H), [dy, qkv, y, lse], 1)[0] as tf.Tensor2D;
}

function attnAttrs(T: number, H: number) {
  const be = tf.backend() as unknown as NodeBackendLike;
  return [
    { name: "T", type: be.binding.TF_ATTR_INT, value: T },
    { name: "H", type: be.binding.TF_ATTR_INT, value: H },
  ];
}

/**
 * InfAdamW: one AdamW update of N parameters. h = [β1, 1−β1, β2, 1−β2, ε, √(1−β2^t), η/(1−β1^t), 1−ηλ, gradient
 * scale] (float32 [9]); `decay[i]` whether parameter i decays. Returns [p', m', v'] (N tensors each).
 * Needs `fusedOpsAvailable()`.
 */
export function fusedAdamW(
  p: tf.Tensor[], g: tf.Tensor[], m: tf.Tensor[], v: tf.Tensor[], h: tf.Tensor1D, decay: boolean[],
): [tf.Tensor[], tf.Tensor[], tf.Tensor[]] {
  const be = tf.backend() as unknown as NodeBackendLike;
  const N = p.length;
  const out = run(
    "InfAdamW",
    [
      { name: "N", type: be.binding.TF_ATTR_INT, value: N },
      { name: "decay", type: be.binding.TF_ATTR_INT, value: decay.map((d) => (d ? 1 : 0)) },
    ],
    [...p, ...g, ...m, ...v, h],
    3 * N,
  );
  return [out.slice(0, N), out.slice(N, 2 * N), out.slice(2 * N)];
}

// ---------------------------------------------------------------------------------------------------------
// The fused ops as the seam's kernels, each a customGrad whose backward is the op's gradient op

type Saver = tf.GradSaveFunc;

/** LayerNorm as two fused ops: the same formulas as ./gradients.ts, one pass each way instead of ~20 element-wise ops. */
export const layerNormFused: KernelSignatures["layerNorm"] = (x, g, b, eps) => {
  const f = tf.customGrad((...args: (tf.Tensor | Saver)[]) => {
    const [xi, gi, bi] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
    const [y, xhat, rstd] = fusedLayerNorm(xi, gi, bi, eps);
    (args[3] as Saver)([xhat, rstd, gi]);
    return { value: y, gradFunc: (dy: tf.Tensor, [xh, rs, gs]: tf.Tensor[]) => fusedLayerNormGrad(dy as tf.Tensor2D, xh as tf.Tensor2D, rs as tf.Tensor1D, gs as tf.Tensor1D) };
  });
  return f(x, g, b) as tf.Tensor2D;
};

/** GELU as two fused ops: one pass each way. */
export const geluFused: KernelSignatures["gelu"] = (x) => {
  const f = tf.customGrad((...args: (tf.Tensor | Saver)[]) => {
    const xi = args[0] as tf.Tensor2D;
    (args[1] as Saver)([xi]);
    return { value: fusedGelu(xi), gradFunc: (dy: tf.Tensor, [xs]: tf.Tensor[]) => [fusedGeluGrad(dy as tf.Tensor2D, xs as tf.Tensor2D)] };
  });
  return f(x) as tf.Tensor2D;
};

/** The log-softmax at the targets as two fused ops: one pass over the logits each way, no one-hot; an out-of-range target fails with the op's message. */
export const targetLogProbsFused: KernelSignatures["targetLogProbs"] = (logits, targets) => {
  const t = targets.dtype === "int32" ? targets : (tf.cast(targets, "int32") as tf.Tensor1D);
  const f = tf.customGrad((...args: (tf.Tensor | Saver)[]) => {
    const x = args[0] as tf.Tensor2D;
    const [lp, lse] = fusedTargetLogProb(x, t);
    (args[1] as Saver)([x, lse, t]);
    return { value: lp, gradFunc: (dy: tf.Tensor, [xs, ls, ts]: tf.Tensor[]) => [fusedTargetLogProbGrad(dy as tf.Tensor1D, xs as tf.Tensor2D, ts as tf.Tensor1D, ls as tf.Tensor1D)] };
  });
  return f(logits) as tf.Tensor1D;
};

const attentionFallback = writtenOutAttention(PLAIN);
/**
 * Causal attention as two fused ops for the causal mask of positions 0..T−1 (keys after the query are skipped
 * rather than masked, which gives the same probabilities: e^(−1e9) is 0 in float32); the backward pass
 * recomputes the probabilities from the saved log-normaliser instead of keeping [B, H, T, T]. The op takes head
 * widths ≤ 256; wider heads run the written-out kernel.
 */
export const causalAttentionFused: KernelSignatures["causalAttention"] = (qkv, mask, B, T, H) => {
  if (qkv.shape[1] / (3 * H) > 256) return attentionFallback(qkv, mask, B, T, H);
  const f = tf.customGrad((...args: (tf.Tensor | Saver)[]) => {
    const x = args[0] as tf.Tensor2D;
    const [y, lse] = fusedCausalAttention(x, T, H);
    (args[1] as Saver)([x, y, lse]);
    return { value: y, gradFunc: (dy: tf.Tensor, [xs, ys, ls]: tf.Tensor[]) => [fusedCausalAttentionGrad(dy as tf.Tensor2D, xs as tf.Tensor2D, ys as tf.Tensor2D, ls as tf.Tensor1D, T, H)] };
  });
  return f(qkv) as tf.Tensor2D;
};

/** Σ‖x‖² over every tensor in one op (float32 only: other dtypes take a square and a sum each). */
const squaredNormFused: KernelSignatures["squaredNorm"] = (xs) =>
  xs.every((x) => x.dtype === "float32") ? fusedSquaredNorm(xs) : (tf.addN(xs.map((x) => tf.sum(tf.square(x)))) as tf.Scalar);

let unregister: (() => void)[] | null = null;
/**
 * Makes the fused ops the "tensorflow" backend's kernels (lib/seam.ts) when they can run here (see
 * `fusedOpsAvailable`); otherwise removes them. Returns whether they are registered.
 */
export function registerFusedKernels(): boolean {
  const ok = fusedOpsAvailable();
  if (ok && unregister === null) {
    unregister = [
      registerKernel("layerNorm", "tensorflow", layerNormFused),
      registerKernel("gelu", "tensorflow", geluFused),
      registerKernel("targetLogProbs", "tensorflow", targetLogProbsFused),
      registerKernel("causalAttention", "tensorflow", causalAttentionFused),
      registerKernel("squaredNorm", "tensorflow", squaredNormFused),
      registerKernel("adamW", "tensorflow", fusedAdamW),
    ];
  } else if (!ok && unregister !== null) {
    unregister.forEach((u) => u());
    unregister = null;
  }
  return ok;
}

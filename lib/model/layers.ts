/**
 * The transformer's layers, each the plainest tfjs formulation, differentiated by tfjs's autodiff: the reference
 * (nanoGPT's `model.py`; llm.c's `train_gpt2.c`). Each is an op of the execution seam (lib/seam.ts): lib/backend
 * may run a faster implementation of it — written-out gradients, fused C++ ops on native TensorFlow, wasm
 * workarounds — each tested equal to the function here (test/backend-kernels.test.ts).
 *
 * Shapes: N rows, D width, B batch, T positions, H heads, d = D/H head width, V vocabulary.
 */
import * as tf from "@tensorflow/tfjs";
import { defineKernel } from "../seam";

/** LayerNorm over the last axis (biased variance, as PyTorch): (x − μ) / √(σ² + ε) · g + b. [N, D] → [N, D]. */
export const layerNorm = defineKernel("layerNorm", function layerNorm(x, g, b, eps) {
  const mean = tf.mean(x, -1, true); // [N, 1]
  const xc = tf.sub(x, mean); // [N, D]
  const variance = tf.mean(tf.square(xc), -1, true); // [N, 1]
  return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, eps))), g), b);
});

/** Exact (erf) GELU, PyTorch's `nn.GELU()` default: x · Φ(x), Φ(x) = ½(1 + erf(x/√2)). */
export const gelu = defineKernel("gelu", function gelu(x) {
  return tf.mul(x, tf.add(0.5, tf.mul(0.5, tf.erf(tf.mul(x, Math.SQRT1_2)))));
});

/** Dense layer: x · W + b, or x · Wᵀ + b with `transposeW` (a tied output head): [N, I] → [N, O]. */
export const linear = defineKernel("linear", function linear(x, w, b, transposeW) {
  const y = tf.matMul(x, w, false, transposeW) as tf.Tensor2D;
  return b ? (tf.add(y, b) as tf.Tensor2D) : y;
});

/**
 * Attention per head: softmax(q·kᵀ/√d + mask) · v. q [B, H, T, d], k and v [B, H, S, d] (S keys), an additive
 * mask [T, S] (0 where a query may look, −1e9 where not) or null → [B, H, T, d].
 */
export function attend(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor2D | null): tf.Tensor4D {
  const d = q.shape[3];
  let scores = tf.matMul(tf.mul(q, 1 / Math.sqrt(d)), k, false, true); // [B, H, T, S]
  if (mask) scores = tf.add(scores, mask);
  return tf.matMul(tf.softmax(scores), v);
}

/**
 * [B·T, 3D] → q, k, v, each [B, H, T, d] (columns q | k | v, each head-major: h·d + j). With one position
 * (decoding) the transpose moves no memory, so it is a reshape.
 */
export function splitHeads(qkv: tf.Tensor2D, B: number, T: number, H: number): [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] {
  const d = qkv.shape[1] / (3 * H);
  const heads = T === 1 ? tf.reshape(qkv, [B, 3 * H, 1, d]) : tf.transpose(tf.reshape(qkv, [B, T, 3 * H, d]), [0, 2, 1, 3]); // [B, 3H, T, d]
  return tf.split(heads, 3, 1) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
}

/** [B, H, T, d] → [B·T, D], heads concatenated (one position: a reshape, as in `splitHeads`). */
export function mergeHeads(y: tf.Tensor4D): tf.Tensor2D {
  const [B, H, T, d] = y.shape;
  return tf.reshape(T === 1 ? y : tf.transpose(y, [0, 2, 1, 3]), [B * T, H * d]);
}

/**
 * Causal self-attention of whole sequences (training, scoring): qkv [B·T, 3D] and the causal mask [T, T] →
 * [B·T, D]. Decoding with a KV cache calls `attend` itself (lib/model/transformer.ts `trunk`).
 */
export const causalAttention = defineKernel("causalAttention", function causalAttention(qkv, mask, B, T, H) {
  const [q, k, v] = splitHeads(qkv, B, T, H);
  return mergeHeads(attend(q, k, v, mask));
});

/**
 * log softmax(logits)[target] per row, logit[target] − logsumexp(logits): logits [N, V], targets [N] (int32) → [N].
 */
export const targetLogProbs = defineKernel("targetLogProbs", function targetLogProbs(logits, targets) {
  const oh = oneHotFloat(targets, logits.shape[1]); // [N, V]
  return tf.sub(tf.sum(tf.mul(logits, oh), -1), tf.logSumExp(logits, -1));
});

/**
 * One-hot rows as float32: [N] → [N, depth]. Made as int32 and cast: tfjs-backend-wasm 4.22's OneHot kernel
 * ignores a float32 dtype and writes integer bit patterns (1 reads as 1.4e-45).
 */
export function oneHotFloat(ids: tf.Tensor1D, depth: number): tf.Tensor2D {
  return tf.cast(tf.oneHot(ids, depth), "float32") as tf.Tensor2D;
}

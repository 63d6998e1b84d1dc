import * as tf from "@tensorflow/tfjs";
import { defineKernel } from "../seam";

/** Σ_k ‖x_k‖²: a square and a sum per tensor (the reference; on native TensorFlow one fused op, lib/backend). */
const squaredNorm = defineKernel("squaredNorm", function squaredNorm(xs) {
  return tf.addN(xs.map((g) => tf.sum(tf.square(g)))) as tf.Scalar;
});

/** ‖g‖ = √(Σ_i Σ g_i²) over every gradient tensor — `torch.nn.utils.clip_grad_norm_`'s total norm. */
export function globalNorm(grads: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => (grads.length === 0 ? tf.scalar(0) : tf.sqrt(squaredNorm(grads))));
}

/**
 * Clip coefficient as PyTorch computes it: min(1, max_norm / (‖g‖ + 1e-6)).
 * Returns 1 when clipping is off (`maxNorm` null or ≤ 0). The Trainer hands it to `AdamW.apply` as the gradient
 * scale and reports ‖g‖ before clipping as `grad_norm`, as TRL/transformers do.
 */
export function clipCoefficient(norm: number, maxNorm: number | null): number {
  if (maxNorm == null || !(maxNorm > 0)) return 1;
  return Math.min(1, maxNorm / (norm + 1e-6));
}

import * as tf from "@tensorflow/tfjs";

/** ‖g‖ = √(Σ_i Σ g_i²) over every gradient tensor — `torch.nn.utils.clip_grad_norm_`'s total norm. */
export function globalNorm(grads: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => {
    if (grads.length === 0) return tf.scalar(0);
    return tf.addN(grads.map((g) => g.square().sum())).sqrt() as tf.Scalar;
  });
}

/**
 * Clip coefficient as PyTorch computes it: min(1, max_norm / (‖g‖ + 1e-6)).
 * Returns 1 when clipping is off (`maxNorm` null or ≤ 0).
 */
export function clipCoefficient(norm: number, maxNorm: number | null): number {
  if (maxNorm == null || !(maxNorm > 0)) return 1;
  return Math.min(1, maxNorm / (norm + 1e-6));
}

/**
 * Scales every gradient by `clipCoefficient(norm, maxNorm)`; gradients passed in are disposed when replaced.
 * The caller reports `norm` (before clipping) as `grad_norm`, as TRL/transformers do.
 */
export function clipByGlobalNorm(
  grads: Record<string, tf.Tensor>,
  norm: number,
  maxNorm: number | null,
): Record<string, tf.Tensor> {
  const c = clipCoefficient(norm, maxNorm);
  if (c >= 1) return grads;
  const out: Record<string, tf.Tensor> = {};
  for (const [k, g] of Object.entries(grads)) {
    out[k] = tf.tidy(() => g.mul(c));
    g.dispose();
  }
  return out;
}

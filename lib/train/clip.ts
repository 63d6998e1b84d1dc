import * as tf from "@tensorflow/tfjs";
import { fusedOpsAvailable, fusedSquaredNorm } from "../backend/fused";

/**
 * ‖g‖ = √(Σ_i Σ g_i²) over every gradient tensor — `torch.nn.utils.clip_grad_norm_`'s total norm. One fused op
 * for all tensors on the native CPU backend (lib/backend/fused.ts), a square and a sum per tensor elsewhere.
 */
export function globalNorm(grads: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => {
    if (grads.length === 0) return tf.scalar(0);
    if (fusedOpsAvailable() && grads.every((g) => g.dtype === "float32")) return tf.sqrt(fusedSquaredNorm(grads)) as tf.Scalar;
    return tf.addN(grads.map((g) => g.square().sum())).sqrt() as tf.Scalar;
  });
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

/**
 * Batched tfjs form of the fusion formulas in ./scalar.ts (same symbols, same choices), for training.
 * A test pins it to the scalar form on random inputs. The fused reference is a constant for the gradient:
 * it depends only on the frozen pivot and sources.
 */
import * as tf from "@tensorflow/tfjs";
import type { FusionOptions, Side } from "./options";

export interface FusedSideTensor {
  /** ℓ_fu(y): [B] */
  value: tf.Tensor1D;
  /** max-margin's pick per row: [B] int32; null for other strategies. */
  selected: tf.Tensor1D | null;
  /** Whether clipping changed each source value: [B, N] bool (all false when clipping is off). */
  clipped: tf.Tensor2D;
}

/**
 * ℓ_fu for a batch of one side's responses.
 * @param pivot   ℓ_p0(y): [B]
 * @param sources ℓ_i(y): [B, N]
 * @param policy  ℓ_θ(y): [B], read only by max-margin with `marginTo: "policy"` (it only decides the pick: argmax has no gradient)
 */
export function fuseSideTensor(side: Side, pivot: tf.Tensor1D, sources: tf.Tensor2D, opts: FusionOptions, policy?: tf.Tensor1D): FusedSideTensor {
  if (opts.strategy === "max-margin" && opts.marginTo === "policy" && !policy) throw new Error('max-margin with marginTo "policy" needs the policy\'s log-probs');
  const out = tf.tidy(() => {
    const p = pivot.expandDims(1) as tf.Tensor2D; // [B, 1]
    const clipped = (opts.clip
      ? side === "chosen" ? tf.less(sources, p) : tf.greater(sources, p)
      : tf.zerosLike(sources).cast("bool")) as tf.Tensor2D; // [B, N]
    let c = opts.clip ? (side === "chosen" ? tf.maximum(sources, p) : tf.minimum(sources, p)) : sources; // [B, N]
    if (opts.includePivot) c = tf.concat([c, p], 1); // [B, N+1], pivot last
    const n = c.shape[1] as number;

    let value: tf.Tensor1D;
    let selected: tf.Tensor1D | null = null;
    switch (opts.strategy) {
      case "mean":
        value = c.mean(1);
        break;
      case "confidence": {
        const w = tf.div(1, tf.add(tf.neg(c), opts.epsilon)); // [B, N]
        value = tf.div(tf.sum(tf.mul(w, c), 1), tf.sum(w, 1));
        break;
      }
      case "max-margin": {
        if (opts.marginTo === "policy") {
          // The selection is a constant of the loss (the reference is never differentiated): computed inside a
          // customGrad with zero gradients, so the tape never reaches the non-differentiable argmax/equal ops
          // that now depend on θ through the policy's log-probs.
          const select = tf.customGrad(((cc: tf.Tensor2D, anchor: tf.Tensor1D) => ({
            value: indicator(selectMaxMargin(cc, anchor.expandDims(1) as tf.Tensor2D), n),
            gradFunc: () => [tf.zerosLike(cc), tf.zerosLike(anchor)],
          })) as never) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;
          const ind = select(c, policy!) as tf.Tensor2D;
          selected = tf.argMax(ind, 1) as tf.Tensor1D;
          value = tf.sum(tf.mul(ind, c), 1);
        } else {
          selected = selectMaxMargin(c as tf.Tensor2D, p);
          value = tf.sum(tf.mul(indicator(selected, n), c), 1);
        }
        break;
      }
    }
    if (opts.refOffset !== null) value = tf.minimum(tf.maximum(value, tf.sub(pivot, opts.refOffset)), tf.add(pivot, opts.refOffset));
    return selected ? { value, selected, clipped } : { value, clipped };
  }) as { value: tf.Tensor1D; selected?: tf.Tensor1D; clipped: tf.Tensor2D };
  return { value: out.value, selected: out.selected ?? null, clipped: out.clipped };
}

/** Index of the value farthest from `anchor` ([B, 1]) in each row of `c` ([B, N]); ties → lowest index. */
function selectMaxMargin(c: tf.Tensor2D, anchor: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const n = c.shape[1] as number;
    const d = tf.abs(tf.sub(c, anchor)); // [B, N]
    const isMax = tf.equal(d, tf.max(d, 1, true)); // [B, N]
    // Ties → lowest index: among maximal entries pick the one with the largest (N − j).
    const rank = tf.sub(tf.scalar(n, "int32"), tf.range(0, n, 1, "int32")); // [N]
    return tf.argMax(tf.where(isMax, rank.expandDims(0).tile([c.shape[0] as number, 1]), tf.zerosLike(d).cast("int32")), 1) as tf.Tensor1D;
  });
}

/** One-hot rows as float32 [B, n] for int32 indices [B] (tf.oneHot refuses depth 1, a legitimate single source). */
export function indicator(index: tf.Tensor1D, n: number): tf.Tensor2D {
  return tf.tidy(() => tf.equal(index.expandDims(1), tf.range(0, n, 1, "int32").expandDims(0)).cast("float32") as tf.Tensor2D);
}

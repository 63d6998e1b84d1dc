/** Numerically stable tfjs building blocks for the losses (see ./math.ts for the scalar twins). */
import * as tf from "@tensorflow/tfjs";

type Saver = (tensors: tf.Tensor[]) => void;

/**
 * softplus(x) = max(x, 0) + log(1 + e^−|x|), with the exact gradient σ(x) supplied by hand: built from primitive ops
 * that every backend has (wasm included), finite for |x| up to float32's range, and with d/dx = 0.5 at x = 0
 * (the naive composition of relu and |x| would give 0 there).
 */
export const softplus = tf.customGrad(((x: tf.Tensor, save: Saver) => {
  save([x]);
  const value = tf.add(tf.relu(x), tf.log(tf.add(1, tf.exp(tf.neg(tf.abs(x))))));
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, tf.sigmoid(saved[0]))],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;

/** −log σ(z) = softplus(−z), elementwise. */
export function sigmoidLoss(z: tf.Tensor): tf.Tensor {
  return softplus(tf.neg(z));
}

// Shared by test/backend-fused.test.ts and its child process test/fused-child.ts: deterministic inputs, the
// comparison measure, and "value and gradient" runs of an op.
import * as tf from "@tensorflow/tfjs";

/** n deterministic values of both signs (≈ ±3.6), `scale`d; a different sequence per seed. */
export const rng = (n: number, seed: number, scale = 1) =>
  Float32Array.from({ length: n }, (_, i) => (Math.sin(seed * 12.9898 + i * 78.233) * 3 + (i % 7) * 0.1) * scale);

/** max |a − b| / max(floor, |b|): relative error, absolute below `floor`. */
export function maxRelDiff(a: tf.Tensor, b: tf.Tensor, floor = 1e-3): number {
  const x = a.dataSync(), y = b.dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]) / Math.max(floor, Math.abs(y[i])));
  return m;
}

/** [f(x), Σ f(x) ⊙ w, its gradient with respect to x], made in one tidy. */
export function withGrad(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, w: tf.Tensor): tf.Tensor[] {
  return tf.tidy(() => {
    const { value, grads } = tf.valueAndGrads((xi: tf.Tensor) => tf.sum(tf.mul(f(xi), w)))([x]);
    return [f(x), value, grads[0]];
  });
}

/** The additive causal mask [T, T] the plain attention takes: 0 where key ≤ query, −1e9 above the diagonal. */
export function causalMask(T: number): tf.Tensor2D {
  return tf.tensor2d(Float32Array.from({ length: T * T }, (_, i) => (i % T > Math.floor(i / T) ? -1e9 : 0)), [T, T]);
}

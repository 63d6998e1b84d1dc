/**
 * Kernels with written-out gradients, for every backend: the layers of lib/model/layers.ts with the same forward
 * formulas and a backward pass written by hand (llm.c `layernorm_backward`), one tape node each instead of tfjs's
 * autodiff through every element-wise op — about half the ops on a training step. Registered for "*" (any backend
 * without its own kernel) and, built on wasm's fast primitives, for wasm (./wasm.ts). Tested equal to the references
 * (test/backend-kernels.test.ts).
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelSignatures } from "../seam";

/** The two products the backward passes need, per backend (wasm has its own: ./wasm.ts). */
export interface Primitives {
  /** Batched a·b [.., m, k]·[.., k, n] with transpose flags (as tf.matMul); used only inside gradient code. */
  matMul(a: tf.Tensor, b: tf.Tensor, transposeA?: boolean, transposeB?: boolean): tf.Tensor;
  /** Σ over rows: [N, O] → [O]. */
  sumRows(x: tf.Tensor): tf.Tensor1D;
}

export const PLAIN: Primitives = {
  matMul: (a, b, tA = false, tB = false) => tf.matMul(a, b, tA, tB),
  sumRows: (x) => tf.sum(x, 0) as tf.Tensor1D,
};

type Saver = tf.GradSaveFunc;

/**
 * LayerNorm, y = x̂ · g + b with x̂ = (x − μ) · r, r = 1/√(σ² + ε), and its gradient
 *   dx̂ = dy · g;  dx = r · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂));  dg = Σ_rows dy · x̂;  db = Σ_rows dy.
 */
export function layerNorm(p: Primitives): KernelSignatures["layerNorm"] {
  return (x, g, b, eps) => {
    const f = tf.customGrad((...args: (tf.Tensor | Saver)[]) => {
      const [xi, gi, bi] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
      const mean = tf.mean(xi, -1, true); // [N, 1]
      const xc = tf.sub(xi, mean); // [N, D]
      const r = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps)); // [N, 1]
      const xhat = tf.mul(xc, r); // [N, D]
      (args[3] as Saver)([xhat, r, gi]);
      return {
        value: tf.add(tf.mul(xhat, gi), bi),
        gradFunc: (dy: tf.Tensor, [xh, rs, gs]: tf.Tensor[]) => {
          const dxhat = tf.mul(dy, gs); // [N, D]
          const inner = tf.sub(tf.sub(dxhat, tf.mean(dxhat, -1, true)), tf.mul(xh, tf.mean(tf.mul(dxhat, xh), -1, true)));
          return [tf.mul(inner, rs), p.sumRows(tf.mul(dy, xh)), p.sumRows(dy)];
        },
      };
    });
    return f(x, g, b) as tf.Tensor2D;
  };
}

/** Exact GELU, y = x · Φ(x), with its gradient dy · (Φ(x) + x · φ(x)), φ(x) = exp(−x²/2)/√(2π). */
export const gelu: KernelSignatures["gelu"] = (x) => {
  const f = tf.customGrad((...args: (tf.Tensor | Saver)[]) => {
    const xi = args[0] as tf.Tensor2D;
    const phi = tf.add(0.5, tf.mul(0.5, tf.erf(tf.mul(xi, Math.SQRT1_2)))); // Φ(x)
    (args[1] as Saver)([xi, phi]);
    return {
      value: tf.mul(xi, phi),
      gradFunc: (dy: tf.Tensor, [xs, ph]: tf.Tensor[]) => {
        const density = tf.mul(tf.exp(tf.mul(tf.square(xs), -0.5)), 1 / Math.sqrt(2 * Math.PI)); // φ(x)
        return [tf.mul(dy, tf.add(ph, tf.mul(xs, density)))];
      },
    };
  });
  return f(x) as tf.Tensor2D;
};

/**
 * log softmax(logits)[target] as logit[target] − (m + log Σ exp(logit − m)), m the row max (tfjs's logSumExp, op
 * for op), with the gradient dlogits = dlp · (onehot(target) − softmax): the backward never differentiates the max
 * (on wasm its Equal-mask gradient alone cost ~130 ms per bench-small step) nor the one-hot product.
 */
export const targetLogProbs: KernelSignatures["targetLogProbs"] = (logits, targets) => {
  const [N, V] = logits.shape;
  const oh = tf.cast(tf.oneHot(targets, V), "float32"); // [N, V] (int32 cast: see lib/model/layers.ts oneHotFloat)
  const f = tf.customGrad((...args: (tf.Tensor | Saver)[]) => {
    const x = args[0] as tf.Tensor2D;
    const m = tf.max(x, -1, true); // [N, 1]
    const e = tf.exp(tf.sub(x, m)); // [N, V]
    const s = tf.sum(e, -1, true); // [N, 1]
    const lse = tf.add(tf.log(s), m); // [N, 1]
    (args[1] as Saver)([e, s, oh]);
    return {
      value: tf.reshape(tf.sub(tf.sum(tf.mul(x, oh), -1, true), lse), [N]),
      gradFunc: (dy: tf.Tensor, [es, ss, ohs]: tf.Tensor[]) => [tf.mul(tf.sub(ohs, tf.div(es, ss)), tf.reshape(dy, [N, 1]))],
    };
  });
  return f(logits) as tf.Tensor1D;
};

/**
 * Causal self-attention, y = softmax(q·kᵀ/√d + mask) · v per head, with the gradient written out. With
 * P = softmax(S), S = (q/√d)·kᵀ + mask, dY the upstream gradient:
 *   dVᵀ = dYᵀ·P;  dP = dY·vᵀ;  dS' = P ⊙ (dP − Σ_keys dP ⊙ P);  dQ = dS'·k / √d;  dKᵀ = qᵀ·dS' / √d.
 * Every product transposes only a thin [.., T, d] operand (natively a matMul flag: vᵀ·P with a flag measured
 * 2.2 ms vs 1.6 ms for an explicit transpose alone). The mask is a constant (no gradient).
 */
export function causalAttention(p: Primitives): KernelSignatures["causalAttention"] {
  return (qkv, mask, B, T, H) => {
    const D = qkv.shape[1] / 3;
    const d = D / H;
    const scale = 1 / Math.sqrt(d);
    const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [B, T, H, d]), [0, 2, 1, 3]); // [B·T, D] → [B, H, T, d]
    const f = tf.customGrad((...args: (tf.Tensor | Saver)[]) => {
      const x = args[0] as tf.Tensor2D;
      const [q, k, v] = tf.split(x, 3, 1).map(heads); // each [B, H, T, d] (a 2-D split: a 5-D slice is slow on wasm)
      const prob = tf.softmax(tf.add(p.matMul(tf.mul(q, scale), k, false, true), mask)); // [B, H, T, T]
      const y = p.matMul(prob, v); // [B, H, T, d]
      (args[1] as Saver)([q, k, v, prob]);
      return {
        value: tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B * T, D]),
        gradFunc: (dy: tf.Tensor, [qs, ks, vs, ps]: tf.Tensor[]) => {
          const dY = heads(dy); // [B, H, T, d]
          const dVT = p.matMul(dY, ps, true); // [B, H, d, T]
          const dP = p.matMul(dY, vs, false, true); // [B, H, T, T]
          // dS without its 1/√d: the scale is applied to the thin dQ and dKᵀ instead of the [T, T] maps
          const dS = tf.mul(ps, tf.sub(dP, tf.sum(tf.mul(dP, ps), -1, true))); // [B, H, T, T]
          const dQ = tf.mul(p.matMul(dS, ks), scale); // [B, H, T, d]
          const dKT = tf.mul(p.matMul(qs, dS, true), scale); // [B, H, d, T]
          const back = (t: tf.Tensor, perm: number[]) => tf.reshape(tf.transpose(t, perm), [B * T, D]);
          return [tf.concat([back(dQ, [0, 2, 1, 3]), back(dKT, [0, 3, 1, 2]), back(dVT, [0, 3, 1, 2])], 1)]; // [B·T, 3D]
        },
      };
    });
    return f(qkv) as tf.Tensor2D;
  };
}

/** Every kernel of this file, built on `p`. */
export function writtenOutKernels(p: Primitives) {
  return { layerNorm: layerNorm(p), gelu, targetLogProbs, causalAttention: causalAttention(p) };
}

/**
 * A GPT-style causal transformer in raw tfjs ops with explicit `tf.Variable`s (nanoGPT's `model.py`, minus
 * dropout): token embedding + learned positions → L × [x + attn(LN(x)); x + mlp(LN(x))] → LN → head.
 *
 * Conventions: B batch, T positions in this call, P positions already in a KV cache, C context length,
 * D width, H heads, d = D/H head width, V vocabulary, M = mlpRatio·D. Activations are kept 2-D as [B·T, D]
 * between blocks so every dense layer is one `linear` (matMul + bias, no per-layer reshapes).
 */
import * as tf from "@tensorflow/tfjs";
import { countParameters, resolveModelConfig, type ModelConfig, type ResolvedModelConfig } from "./config";
import { normalArray } from "./random";
import {
  fusedCausalAttention, fusedCausalAttentionGrad, fusedGelu, fusedGeluGrad, fusedLayerNorm, fusedLayerNormGrad, fusedOpsAvailable,
} from "../backend/fused";

export interface BlockParams {
  ln1G: tf.Variable; // [D]
  ln1B: tf.Variable; // [D]
  qkvW: tf.Variable; // [D, 3D]  columns: q | k | v, each head-major (h·d + j)
  qkvB: tf.Variable; // [3D]
  projW: tf.Variable; // [D, D]
  projB: tf.Variable; // [D]
  ln2G: tf.Variable; // [D]
  ln2B: tf.Variable; // [D]
  fcW: tf.Variable; // [D, M]
  fcB: tf.Variable; // [M]
  outW: tf.Variable; // [M, D]
  outB: tf.Variable; // [D]
}

export interface ModelParams {
  wte: tf.Variable; // [V, D]
  wpe: tf.Variable; // [C, D]
  blocks: BlockParams[];
  lnfG: tf.Variable; // [D]
  lnfB: tf.Variable; // [D]
  /** [D, V]; null when `tieEmbeddings` (then logits = h · wteᵀ). */
  head: tf.Variable | null;
}

/** A model: its resolved config, its variables, and a precomputed causal mask. Free it with `disposeModel`. */
export interface Model {
  readonly config: ResolvedModelConfig;
  readonly params: ModelParams;
  /** Whether the variables are trainable (a frozen reference or source model has `false`). */
  readonly trainable: boolean;
  /** [C, C] additive mask: 0 where key ≤ query, −1e9 above the diagonal. Not a parameter. */
  readonly causalBias: tf.Tensor2D;
}

/** Per-layer keys and values of the positions seen so far (for incremental decoding). */
export type LayerCache = {
  k: tf.Tensor4D; // [B, H, P, d]
  v: tf.Tensor4D; // [B, H, P, d]
}; // a type alias (not an interface) so a cache can be returned from tf.tidy

const BLOCK_KEYS: readonly (keyof BlockParams)[] = [
  "ln1G", "ln1B", "qkvW", "qkvB", "projW", "projB", "ln2G", "ln2B", "fcW", "fcB", "outW", "outB",
];
const BLOCK_NAMES: Record<keyof BlockParams, string> = {
  ln1G: "ln1.g", ln1B: "ln1.b", qkvW: "attn.qkv.w", qkvB: "attn.qkv.b", projW: "attn.proj.w", projB: "attn.proj.b",
  ln2G: "ln2.g", ln2B: "ln2.b", fcW: "mlp.fc.w", fcB: "mlp.fc.b", outW: "mlp.proj.w", outB: "mlp.proj.b",
};

/** Shapes of every parameter, by stable name, in the fixed order used by save/load. */
export function parameterShapes(config: ResolvedModelConfig): [string, number[]][] {
  const { vocabSize: V, contextLength: C, dModel: D, nLayers: L } = config;
  const M = config.mlpRatio * D;
  const out: [string, number[]][] = [["wte", [V, D]], ["wpe", [C, D]]];
  const blockShapes: Record<keyof BlockParams, number[]> = {
    ln1G: [D], ln1B: [D], qkvW: [D, 3 * D], qkvB: [3 * D], projW: [D, D], projB: [D],
    ln2G: [D], ln2B: [D], fcW: [D, M], fcB: [M], outW: [M, D], outB: [D],
  };
  for (let i = 0; i < L; i++) for (const k of BLOCK_KEYS) out.push([`h.${i}.${BLOCK_NAMES[k]}`, blockShapes[k]]);
  out.push(["lnf.g", [D]], ["lnf.b", [D]]);
  if (!config.tieEmbeddings) out.push(["head", [D, V]]);
  return out;
}

/**
 * GPT-2 initial value of one parameter (nanoGPT `_init_weights`): weights N(0, 0.02), the two residual
 * output projections N(0, 0.02/√(2L)), biases 0, LayerNorm gains 1. Drawn in JS from the stream keyed by
 * (seed, name), so it is the same on every backend and independent of creation order.
 */
export function initialValue(config: ResolvedModelConfig, name: string, shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  if (name.endsWith(".g")) return new Float32Array(n).fill(1);
  if (name.endsWith(".b")) return new Float32Array(n);
  const residual = name.endsWith("attn.proj.w") || name.endsWith("mlp.proj.w");
  const std = residual ? 0.02 / Math.sqrt(2 * config.nLayers) : 0.02;
  return normalArray(config.seed, name, n, std);
}

/** Builds the variables from `values(name, shape)` (initialiser or loaded file). */
export function buildModel(
  config: ResolvedModelConfig,
  values: (name: string, shape: number[]) => Float32Array,
  trainable = true,
): Model {
  const shapes = parameterShapes(config);
  const vars = new Map<string, tf.Variable>();
  try {
    for (const [name, shape] of shapes) {
      vars.set(name, tf.tidy(() => tf.variable(tf.tensor(values(name, shape), shape, "float32"), trainable)));
    }
  } catch (e) {
    for (const v of vars.values()) v.dispose();
    throw e;
  }
  const get = (n: string) => vars.get(n)!;
  const blocks: BlockParams[] = [];
  for (let i = 0; i < config.nLayers; i++) {
    const b = {} as BlockParams;
    for (const k of BLOCK_KEYS) b[k] = get(`h.${i}.${BLOCK_NAMES[k]}`);
    blocks.push(b);
  }
  const params: ModelParams = {
    wte: get("wte"),
    wpe: get("wpe"),
    blocks,
    lnfG: get("lnf.g"),
    lnfB: get("lnf.b"),
    head: config.tieEmbeddings ? null : get("head"),
  };
  const C = config.contextLength;
  const mask = new Float32Array(C * C);
  for (let q = 0; q < C; q++) for (let k = q + 1; k < C; k++) mask[q * C + k] = -1e9;
  return { config, params, trainable, causalBias: tf.tensor2d(mask, [C, C]) };
}

/**
 * A new model with GPT-2 initial weights from `config.seed` (same config ⇒ bit-identical weights).
 *
 * @example
 * const model = createModel(resolveModelConfig("lab", { vocabSize: tok.vocabSize, seed: 1 }));
 * console.log(describeModel(model)); // "gpt d64 L2 H4 ctx64 vocab…: 111,232 parameters …"
 */
export function createModel(config: ModelConfig, opts: { trainable?: boolean } = {}): Model {
  const c = resolveModelConfig(config);
  return buildModel(c, (name, shape) => initialValue(c, name, shape), opts.trainable ?? true);
}

/** Every parameter by stable name, in save/load order. */
export function namedParameters(model: Model): [string, tf.Variable][] {
  const p = model.params;
  const out: [string, tf.Variable][] = [["wte", p.wte], ["wpe", p.wpe]];
  p.blocks.forEach((b, i) => {
    for (const k of BLOCK_KEYS) out.push([`h.${i}.${BLOCK_NAMES[k]}`, b[k]]);
  });
  out.push(["lnf.g", p.lnfG], ["lnf.b", p.lnfB]);
  if (p.head) out.push(["head", p.head]);
  return out;
}

/** The variables to hand to an optimiser (`tf.variableGrads(f, modelVariables(model))`). */
export function modelVariables(model: Model): tf.Variable[] {
  return namedParameters(model).map(([, v]) => v);
}

/** An independent copy (new variables), e.g. the frozen reference M^p_0: `cloneModel(policy, {trainable:false})`. */
export function cloneModel(model: Model, opts: { trainable?: boolean } = {}): Model {
  const data = new Map(namedParameters(model).map(([n, v]) => [n, v.dataSync() as Float32Array]));
  return buildModel(model.config, (n) => data.get(n)!.slice(), opts.trainable ?? model.trainable);
}

const disposeHooks = new WeakMap<Model, (() => void)[]>();
/** Registers cleanup to run when the model is disposed (e.g. graphs compiled for it). */
export function onDisposeModel(model: Model, fn: () => void): void {
  const hooks = disposeHooks.get(model) ?? [];
  hooks.push(fn);
  disposeHooks.set(model, hooks);
}

/** Frees every tensor the model holds (and graphs compiled for it). */
export function disposeModel(model: Model): void {
  for (const fn of disposeHooks.get(model) ?? []) fn();
  disposeHooks.delete(model);
  for (const [, v] of namedParameters(model)) v.dispose();
  model.causalBias.dispose();
}

/**
 * One line: shape and parameter count, e.g.
 * "gpt vocab 55, d64, L2, H4, ctx 64, mlp 4x, untied: 111,232 parameters (embeddings 7,616; blocks 99,968; head 3,648)".
 */
export function describeModel(model: Model | ModelConfig): string {
  const c = resolveModelConfig("config" in model ? model.config : model);
  const total = countParameters(c);
  const D = c.dModel;
  const emb = c.vocabSize * D + c.contextLength * D;
  const head = 2 * D + (c.tieEmbeddings ? 0 : c.vocabSize * D);
  const fmt = (n: number) => n.toLocaleString("en-US");
  return (
    `gpt vocab ${c.vocabSize}, d${D}, L${c.nLayers}, H${c.nHeads}, ctx ${c.contextLength}, mlp ${c.mlpRatio}x, ` +
    `${c.tieEmbeddings ? "tied" : "untied"}: ${fmt(total)} parameters ` +
    `(embeddings ${fmt(emb)}; blocks ${fmt(total - emb - head)}; final LN + head ${fmt(head)})`
  );
}

// ---------------------------------------------------------------------------------------------------------
// Forward pass

/**
 * LayerNorm over the last axis (biased variance, as PyTorch): y = x̂ · g + b, x̂ = (x − μ) · r, r = 1/√(σ² + ε).
 * The gradient is written out (llm.c `layernorm_backward`), about half the ops of tfjs's autodiff here:
 *   dx̂ = dy · g;  dx = r · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂));  dg = Σ_rows dy · x̂;  db = Σ_rows dy.
 * `layerNormPlain` is the autodiff version (tests compare them).
 */
export function layerNorm(x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, eps: number): tf.Tensor2D {
  if (fusedOpsAvailable()) return layerNormFused(x, g, b, eps);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, gi, bi] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
    const mean = tf.mean(xi, -1, true); // [N, 1]
    const xc = tf.sub(xi, mean); // [N, D]
    const r = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps)); // [N, 1]
    const xhat = tf.mul(xc, r); // [N, D]
    (args[3] as tf.GradSaveFunc)([xhat, r, gi]);
    return {
      value: tf.add(tf.mul(xhat, gi), bi),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, rs, gs] = saved;
        const dxhat = tf.mul(dy, gs); // [N, D]
        const inner = tf.sub(tf.sub(dxhat, tf.mean(dxhat, -1, true)), tf.mul(xh, tf.mean(tf.mul(dxhat, xh), -1, true)));
        return [tf.mul(inner, rs), sumRows(tf.mul(dy, xh)), sumRows(dy)];
      },
    };
  });
  return f(x, g, b) as tf.Tensor2D;
}

/**
 * `layerNorm` as two fused TensorFlow ops (native CPU backend with `npm run native`'s build; lib/backend/fused.ts):
 * the same formulas, one pass each way instead of ~20 element-wise ops.
 */
export function layerNormFused(x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, eps: number): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, gi, bi] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
    const [y, xhat, rstd] = fusedLayerNorm(xi, gi, bi, eps);
    (args[3] as tf.GradSaveFunc)([xhat, rstd, gi]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, rs, gs] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
        return fusedLayerNormGrad(dy as tf.Tensor2D, xh, rs, gs);
      },
    };
  });
  return f(x, g, b) as tf.Tensor2D;
}

/** LayerNorm by plain tfjs autodiff (the reference for `layerNorm`'s written-out gradient). */
export function layerNormPlain(x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, eps: number): tf.Tensor2D {
  const mean = tf.mean(x, -1, true); // [N, 1]
  const xc = tf.sub(x, mean); // [N, D]
  const variance = tf.mean(tf.square(xc), -1, true); // [N, 1]
  return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, eps))), g), b);
}

/**
 * Exact (erf) GELU, PyTorch's `nn.GELU()` default: y = x · Φ(x), Φ(x) = ½(1 + erf(x/√2)), with the gradient
 * written out: dy · (Φ(x) + x · φ(x)), φ(x) = exp(−x²/2)/√(2π). `geluPlain` is the autodiff version.
 */
export function gelu(x: tf.Tensor2D): tf.Tensor2D {
  if (fusedOpsAvailable()) return geluFused(x);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xi = args[0] as tf.Tensor2D;
    const phi = tf.add(0.5, tf.mul(0.5, tf.erf(tf.mul(xi, Math.SQRT1_2)))); // Φ(x)
    (args[1] as tf.GradSaveFunc)([xi, phi]);
    return {
      value: tf.mul(xi, phi),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ph] = saved;
        const density = tf.mul(tf.exp(tf.mul(tf.square(xs), -0.5)), 1 / Math.sqrt(2 * Math.PI)); // φ(x)
        return [tf.mul(dy, tf.add(ph, tf.mul(xs, density)))];
      },
    };
  });
  return f(x) as tf.Tensor2D;
}

/** `gelu` as two fused TensorFlow ops (native CPU backend with `npm run native`'s build): one pass each way. */
export function geluFused(x: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xi = args[0] as tf.Tensor2D;
    (args[1] as tf.GradSaveFunc)([xi]);
    return { value: fusedGelu(xi), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [fusedGeluGrad(dy as tf.Tensor2D, saved[0] as tf.Tensor2D)] };
  });
  return f(x) as tf.Tensor2D;
}

/** GELU by plain tfjs autodiff (the reference for `gelu`'s written-out gradient). */
export function geluPlain(x: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(x, tf.add(0.5, tf.mul(0.5, tf.erf(tf.mul(x, Math.SQRT1_2)))));
}

/**
 * Token-embedding lookup E[ids], differentiable on every backend. Backends with an UnsortedSegmentSum kernel
 * (native, cpu) use plain `tf.gather`; elsewhere (wasm has no such kernel) the gradient is written out as
 * onehot(ids)ᵀ · dy, while the forward stays a gather. `mode` forces one path (tests compare them).
 */
export function embedTokens(
  wte: tf.Tensor2D,
  ids: tf.Tensor1D,
  mode: "auto" | "gather" | "onehot-grad" = "auto",
): tf.Tensor2D {
  if (mode === "gather" || (mode === "auto" && hasSegmentSum())) return tf.gather(wte, ids); // [N, D]
  const V = wte.shape[0];
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const w = args[0] as tf.Tensor2D;
    (args[1] as tf.GradSaveFunc)([ids]);
    return {
      value: tf.gather(w, ids), // [N, D]
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const oh = oneHotFloat(saved[0] as tf.Tensor1D, V); // [N, V]
        return [tf.matMul(tf.transpose(oh), dy as tf.Tensor2D)]; // [V, D] (explicit transpose: see `linear`)
      },
    };
  });
  return f(wte) as tf.Tensor2D;
}

/**
 * One-hot rows as float32: [N] → [N, depth]. Built as int32 then cast, because tfjs-backend-wasm 4.22's OneHot
 * kernel ignores a float32 dtype and writes integer bit patterns (1 reads as 1.4e-45).
 */
export function oneHotFloat(ids: tf.Tensor1D, depth: number): tf.Tensor2D {
  return tf.cast(tf.oneHot(ids, depth), "float32") as tf.Tensor2D;
}

/**
 * Dense layer x · W (+ b): [N, I] · [I, O] → [N, O]. On wasm, a matMul with a transposed operand (what
 * tfjs's own matMul gradient uses) falls off XNNPACK onto a scalar loop 30–50x slower (measured: 1024×256ᵀ ·
 * 1024×64 takes 106 ms vs 3.6 ms with an explicit transpose), so there the gradient is written out with
 * explicit transposes: dx = dy · Wᵀ, dW = xᵀ · dy, db = Σ_rows dy, and the forward is XNNPACK's fused
 * matMul + bias. Elsewhere (native BLAS, cpu) it is matMul + add with tfjs's own gradient. `mode` forces one
 * path (tests compare them).
 */
export function linear(
  x: tf.Tensor2D,
  w: tf.Tensor2D,
  b: tf.Tensor1D | null,
  mode: "auto" | "plain" | "fused" | "explicit-grad" = KERNELS.linear,
): tf.Tensor2D {
  if (mode === "fused") return b ? (tf.fused.matMul({ a: x, b: w, bias: b }) as tf.Tensor2D) : tf.matMul(x, w);
  if (mode === "plain" || (mode === "auto" && !slowTransposes())) {
    // Not fused.matMul: its bias path wraps the op in a customGrad and reshapes, which on the native backend
    // measured slower than matMul + add (0.20 vs 0.38 ms at 125×64·64×192; equal at 2048×128·128×512).
    return b ? tf.add(tf.matMul(x, w), b) : tf.matMul(x, w);
  }
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, wi] = args as tf.Tensor2D[];
    (args[args.length - 1] as tf.GradSaveFunc)([xi, wi]);
    const value = b ? (tf.fused.matMul({ a: xi, b: wi, bias: args[2] as tf.Tensor1D }) as tf.Tensor2D) : tf.matMul(xi, wi);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as tf.Tensor2D[];
        const d = dy as tf.Tensor2D;
        const dx = tf.matMul(d, tf.transpose(ws)); // [N, I]
        const dw = tf.matMul(tf.transpose(xs), d); // [I, O]
        return b ? [dx, dw, sumRows(d)] : [dx, dw];
      },
    };
  });
  return (b ? f(x, w, b) : f(x, w)) as tf.Tensor2D;
}

/**
 * Causal self-attention of a whole sequence (no KV cache): qkv [B·T, 3D] (columns q | k | v, head-major) and
 * the additive mask [T, T] → y [B·T, D], y = softmax(q·kᵀ/√d + mask) · v per head, heads concatenated.
 * The gradient is written out (one tape node instead of ~15). With P = softmax(S), S = (q/√d)·kᵀ + mask,
 * dY the upstream gradient:
 *   dVᵀ = dYᵀ·P;  dP = dY·vᵀ;  dS' = P ⊙ (dP − Σ_keys dP ⊙ P);  dQ = dS'·k / √d;  dKᵀ = qᵀ·dS' / √d.
 * Every product transposes only a thin [.., T, d] operand: natively as a matMul flag (native measured
 * vᵀ·P with a flag at 2.2 ms vs an explicit transpose alone at 1.6 ms), on wasm explicitly (see `bmm`).
 * The mask is a constant (no gradient).
 */
export function causalAttention(qkv: tf.Tensor2D, mask: tf.Tensor2D, B: number, T: number, H: number): tf.Tensor2D {
  const D = qkv.shape[1] / 3;
  const d = D / H;
  const scale = 1 / Math.sqrt(d);
  const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [B, T, H, d]), [0, 2, 1, 3]); // [B·T, D] → [B, H, T, d]
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor2D;
    const [q, k, v] = tf.split(x, 3, 1).map(heads); // each [B, H, T, d] (a 2-D split: a 5-D slice is slow on wasm)
    const p = tf.softmax(tf.add(mm(tf.mul(q, scale), k, false, true), mask)); // [B, H, T, T]
    const y = mm(p, v); // [B, H, T, d]
    (args[1] as tf.GradSaveFunc)([q, k, v, p]);
    return {
      value: tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B * T, D]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [qs, ks, vs, ps] = saved;
        const dY = heads(dy); // [B, H, T, d]
        const dVT = mm(dY, ps, true); // [B, H, d, T]
        const dP = mm(dY, vs, false, true); // [B, H, T, T]
        // dS without its 1/√d: the scale is applied to the thin dQ and dKᵀ instead of the [T, T] maps
        const dS = tf.mul(ps, tf.sub(dP, tf.sum(tf.mul(dP, ps), -1, true))); // [B, H, T, T]
        const dQ = tf.mul(mm(dS, ks), scale); // [B, H, T, d]
        const dKT = tf.mul(mm(qs, dS, true), scale); // [B, H, d, T]
        const back = (t: tf.Tensor, perm: number[]) => tf.reshape(tf.transpose(t, perm), [B * T, D]);
        return [tf.concat([back(dQ, [0, 2, 1, 3]), back(dKT, [0, 3, 1, 2]), back(dVT, [0, 3, 1, 2])], 1)]; // [B·T, 3D]
      },
    };
  });
  return f(qkv) as tf.Tensor2D;
}

/**
 * `causalAttention` as two fused TensorFlow ops (native CPU backend with `npm run native`'s build;
 * lib/backend/fused.ts): the same function for the causal mask of positions 0..T−1 (keys after the query
 * are skipped rather than masked, which gives the same probabilities: e^(−1e9) is 0 in float32); the
 * backward pass recomputes the probabilities from the saved log-normaliser instead of keeping [B, H, T, T].
 */
export function causalAttentionFused(qkv: tf.Tensor2D, T: number, H: number): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor2D;
    const [y, lse] = fusedCausalAttention(x, T, H);
    (args[1] as tf.GradSaveFunc)([x, y, lse]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys, ls] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
        return [fusedCausalAttentionGrad(dy as tf.Tensor2D, xs, ys, ls, T, H)];
      },
    };
  });
  return f(qkv) as tf.Tensor2D;
}

/** Batched a·b with transpose flags; on wasm the flagged operands are transposed explicitly for `bmm`. */
function mm(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor4D {
  if (!slowTransposes()) return tf.matMul(a, b, transposeA, transposeB) as tf.Tensor4D;
  return bmm(transposeA ? tf.transpose(a, [0, 1, 3, 2]) : a, transposeB ? tf.transpose(b, [0, 1, 3, 2]) : b);
}

/**
 * Batched matMul [B, H, m, k] · [B, H, k, n] → [B, H, m, n], no transposes. On wasm, BatchMatMul with a batch
 * dimension runs a scalar loop (35 ms for 64 × 128×128·128×32) while a 2-D matMul uses XNNPACK (64 of them:
 * ~7 ms), and slicing the batch apart with tfjs ops costs more than that (tf.split into 64: 137 ms); so there
 * the operands are read back (wasm memory, synchronous), multiplied as 2-D products and written back. Not
 * differentiable by itself: only for use inside a customGrad (`causalAttention`). Wasm only.
 */
function bmm(a: tf.Tensor, b: tf.Tensor): tf.Tensor4D {
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

/**
 * Σ over rows: [N, O] → [O]. On wasm an axis-0 reduction transposes first (~2 ms for 2048×128, every bias
 * and LayerNorm gradient), so there it is the XNNPACK product ones[1, N] · x; elsewhere tf.sum(x, 0).
 */
function sumRows(x: tf.Tensor): tf.Tensor1D {
  if (!slowTransposes()) return tf.sum(x, 0) as tf.Tensor1D;
  const [N, O] = x.shape as [number, number];
  return tf.reshape(tf.matMul(tf.ones([1, N]), x as tf.Tensor2D), [O]) as tf.Tensor1D;
}

/** True on backends whose transposed matMul is slow (wasm: only the plain 2-D case uses XNNPACK). */
function slowTransposes(): boolean {
  return tf.getBackend() === "wasm";
}

let segmentSumCache: { backend: string; has: boolean } | null = null;
/** Whether the active backend has an UnsortedSegmentSum kernel (the gradient of tf.gather): native and cpu, not wasm. */
export function hasSegmentSum(): boolean {
  const backend = tf.getBackend();
  if (segmentSumCache?.backend !== backend) {
    segmentSumCache = { backend, has: tf.getKernel("UnsortedSegmentSum", backend) !== undefined };
  }
  return segmentSumCache.has;
}

/**
 * Which implementation of each piece the forward pass uses. The defaults are the measured-fastest ones; the
 * alternatives compute the same function and exist for A/B benchmarks (bench/model.ts) and tests.
 */
export interface KernelChoices {
  /** "custom": written-out gradient (default); "plain": tfjs autodiff. */
  layerNorm: "custom" | "plain";
  gelu: "custom" | "plain";
  /** "auto": per backend (see `linear`); "plain": matMul + add; "fused": tf.fused.matMul; "explicit-grad". */
  linear: "auto" | "plain" | "fused" | "explicit-grad";
  /**
   * "custom": `causalAttentionFused` where the fused ops run (native CPU), else `causalAttention` (written-out
   * gradient, no transposed matMuls); "plain": tfjs autodiff.
   */
  attention: "custom" | "plain";
}
const KERNELS: KernelChoices = { layerNorm: "custom", gelu: "custom", linear: "auto", attention: "custom" };

/** Changes kernel choices process-wide (benchmarks); returns the previous choices. */
export function setKernelChoices(choices: Partial<KernelChoices>): KernelChoices {
  const before = { ...KERNELS };
  Object.assign(KERNELS, choices);
  return before;
}

const LN = (x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, eps: number) =>
  KERNELS.layerNorm === "plain" ? layerNormPlain(x, g, b, eps) : layerNorm(x, g, b, eps);
const GELU = (x: tf.Tensor2D) => (KERNELS.gelu === "plain" ? geluPlain(x) : gelu(x));

/**
 * The transformer trunk for ids [B, T] at positions P..P+T−1, attending to `past` (a KV cache of P
 * positions, default none) and to itself causally. Returns the final-LayerNorm hidden states [B·T, D] and,
 * when `past` is given or `keepCache` is set, the cache extended to P+T positions (the caller owns and
 * disposes both; the old cache is not disposed).
 */
export function trunk(
  model: Model,
  ids: tf.Tensor2D,
  opts: { past?: LayerCache[] | null; keepCache?: boolean } = {},
): { h: tf.Tensor2D; cache: LayerCache[] | null } {
  const cache = opts.past ?? null;
  const { dModel: D, nHeads: H, contextLength: C, layerNormEps: eps } = model.config;
  const d = D / H;
  const [B, T] = ids.shape;
  const P = cache ? cache[0].k.shape[2] : 0;
  if (P + T > C) throw new RangeError(`sequence of ${P + T} positions exceeds the context length ${C}`);
  const p = model.params;
  const newCache: LayerCache[] | null = cache || opts.keepCache ? [] : null;

  const tokE = embedTokens(p.wte as tf.Tensor2D, tf.reshape(ids, [B * T]) as tf.Tensor1D); // [B·T, D]
  const posE = tf.slice(p.wpe, [P, 0], [T, D]); // [T, D]
  let x = tf.reshape(tf.add(tf.reshape(tokE, [B, T, D]), posE), [B * T, D]) as tf.Tensor2D; // [B·T, D]
  // Additive causal mask rows P..P+T−1 over keys 0..P+T−1; one new position sees all past keys (no mask).
  const bias = T > 1 ? tf.slice(model.causalBias, [P, 0], [T, P + T]) : null; // [T, P+T]
  const scale = 1 / Math.sqrt(d);

  for (let l = 0; l < p.blocks.length; l++) {
    const b = p.blocks[l];
    // --- attention
    const a = LN(x, b.ln1G as tf.Tensor1D, b.ln1B as tf.Tensor1D, eps); // [B·T, D]
    const qkv = linear(a, b.qkvW as tf.Tensor2D, b.qkvB as tf.Tensor1D); // [B·T, 3D]
    if (!newCache && bias && KERNELS.attention === "custom") {
      // Training and scoring: one op with a written-out gradient (see `causalAttention`), or the fused op.
      const y = fusedOpsAvailable() && d <= 256 ? causalAttentionFused(qkv, T, H) : causalAttention(qkv, bias, B, T, H); // [B·T, D] (the op takes head widths ≤ 256)
      x = tf.add(x, linear(y, b.projW as tf.Tensor2D, b.projB as tf.Tensor1D));
    } else {
    // [B, T, 3H, d] → [B, 3H, T, d]; with one position the transpose is a no-op on memory, so just reshape.
    const heads = T === 1 ? tf.reshape(qkv, [B, 3 * H, 1, d]) : tf.transpose(tf.reshape(qkv, [B, T, 3 * H, d]), [0, 2, 1, 3]);
    let [q, k, v] = tf.split(heads, 3, 1) as tf.Tensor4D[]; // each [B, H, T, d]
    if (cache) {
      k = tf.concat([cache[l].k, k], 2); // [B, H, P+T, d]
      v = tf.concat([cache[l].v, v], 2);
    }
    newCache?.push({ k, v });
    let att = tf.matMul(tf.mul(q, scale), k, false, true); // [B, H, T, P+T]
    if (bias) att = tf.add(att, bias);
    att = tf.softmax(att); // [B, H, T, P+T]
    const yh = tf.matMul(att, v); // [B, H, T, d]
    const y = tf.reshape(T === 1 ? yh : tf.transpose(yh, [0, 2, 1, 3]), [B * T, D]); // [B·T, D]
    x = tf.add(x, linear(y as tf.Tensor2D, b.projW as tf.Tensor2D, b.projB as tf.Tensor1D)); // [B·T, D]
    }
    // --- MLP
    const m = LN(x, b.ln2G as tf.Tensor1D, b.ln2B as tf.Tensor1D, eps); // [B·T, D]
    const hdn = GELU(linear(m, b.fcW as tf.Tensor2D, b.fcB as tf.Tensor1D)); // [B·T, M]
    x = tf.add(x, linear(hdn, b.outW as tf.Tensor2D, b.outB as tf.Tensor1D)); // [B·T, D]
  }
  const h = LN(x, p.lnfG as tf.Tensor1D, p.lnfB as tf.Tensor1D, eps); // [B·T, D]
  return { h, cache: newCache };
}

/** Output head: [N, D] → logits [N, V]. */
export function head(model: Model, h: tf.Tensor2D): tf.Tensor2D {
  const p = model.params;
  if (p.head) return linear(h, p.head as tf.Tensor2D, null);
  return slowTransposes() ? linear(h, tf.transpose(p.wte as tf.Tensor2D), null) : tf.matMul(h, p.wte as tf.Tensor2D, false, true);
}

/**
 * Next-token logits for every position: ids [B, T] (int32, T ≤ C) → [B, T, V]. Position t sees ids[:, ≤t]
 * only. Differentiable with respect to the model's variables; call inside `tf.tidy` or dispose the result.
 *
 * @example
 * const logits = tf.tidy(() => forward(model, tf.tensor2d([[1, 5, 7]], [1, 3], "int32"))); // [1, 3, V]
 */
export function forward(model: Model, ids: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => {
    const [B, T] = ids.shape;
    const { h } = trunk(model, ids);
    return tf.reshape(head(model, h), [B, T, model.config.vocabSize]) as tf.Tensor3D;
  });
}

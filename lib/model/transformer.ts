/**
 * A GPT-style causal transformer in raw tfjs ops with explicit `tf.Variable`s (nanoGPT's `model.py`, minus
 * dropout): token embedding + learned positions → L × [x + attn(LN(x)); x + mlp(LN(x))] → LN → head.
 *
 * Conventions: B batch, T positions in this call, P positions already in a KV cache, C context length,
 * D width, H heads, d = D/H head width, V vocabulary, M = mlpRatio·D. Activations are kept 2-D as [B·T, D]
 * between blocks so every dense layer is one `linear` (matMul + bias, no per-layer reshapes). The layers
 * (./layers.ts) are plain tfjs; the backend's faster versions of them come through the execution seam.
 */
import * as tf from "@tensorflow/tfjs";
import { countParameters, resolveModelConfig, type ModelConfig, type ResolvedModelConfig } from "./config";
import { normalArray } from "./random";
import { attend, causalAttention, gelu, layerNorm, linear, mergeHeads, splitHeads } from "./layers";

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
 * The transformer trunk for ids [B, T] at positions P..P+T−1, attending to `past` (a KV cache of P positions,
 * default none) and to itself causally. Returns the final-LayerNorm hidden states [B·T, D] and, when `past` is
 * given or `keepCache` is set, the cache extended to P+T positions (the caller owns and disposes both; the old
 * cache is not disposed).
 */
export function trunk(
  model: Model,
  ids: tf.Tensor2D,
  opts: { past?: LayerCache[] | null; keepCache?: boolean } = {},
): { h: tf.Tensor2D; cache: LayerCache[] | null } {
  const past = opts.past ?? null;
  const { dModel: D, nHeads: H, contextLength: C, layerNormEps: eps } = model.config;
  const [B, T] = ids.shape;
  const P = past ? past[0].k.shape[2] : 0;
  if (P + T > C) throw new RangeError(`sequence of ${P + T} positions exceeds the context length ${C}`);
  const p = model.params;
  const cache: LayerCache[] | null = past || opts.keepCache ? [] : null;

  const tokE = tf.gather(p.wte, tf.reshape(ids, [B * T])); // [B·T, D]
  const posE = tf.slice(p.wpe, [P, 0], [T, D]); // [T, D]
  let x = tf.reshape(tf.add(tf.reshape(tokE, [B, T, D]), posE), [B * T, D]) as tf.Tensor2D; // [B·T, D]
  // Additive causal mask, rows P..P+T−1 over keys 0..P+T−1; one new position after a cache sees every key.
  const mask = T > 1 || !cache ? (tf.slice(model.causalBias, [P, 0], [T, P + T]) as tf.Tensor2D) : null; // [T, P+T]

  p.blocks.forEach((b, l) => {
    // --- attention
    const qkv = linear(layerNorm(x, b.ln1G as tf.Tensor1D, b.ln1B as tf.Tensor1D, eps), b.qkvW as tf.Tensor2D, b.qkvB as tf.Tensor1D, false); // [B·T, 3D]
    let y: tf.Tensor2D; // [B·T, D]
    if (cache) {
      const [q, k0, v0] = splitHeads(qkv, B, T, H); // each [B, H, T, d]
      const k = past ? (tf.concat([past[l].k, k0], 2) as tf.Tensor4D) : k0; // [B, H, P+T, d]
      const v = past ? (tf.concat([past[l].v, v0], 2) as tf.Tensor4D) : v0;
      cache.push({ k, v });
      y = mergeHeads(attend(q, k, v, mask));
    } else {
      y = causalAttention(qkv, mask!, B, T, H);
    }
    x = tf.add(x, linear(y, b.projW as tf.Tensor2D, b.projB as tf.Tensor1D, false));
    // --- MLP
    const m = layerNorm(x, b.ln2G as tf.Tensor1D, b.ln2B as tf.Tensor1D, eps); // [B·T, D]
    const hdn = gelu(linear(m, b.fcW as tf.Tensor2D, b.fcB as tf.Tensor1D, false)); // [B·T, M]
    x = tf.add(x, linear(hdn, b.outW as tf.Tensor2D, b.outB as tf.Tensor1D, false)); // [B·T, D]
  });
  const h = layerNorm(x, p.lnfG as tf.Tensor1D, p.lnfB as tf.Tensor1D, eps); // [B·T, D]
  return { h, cache };
}

/** Output head: [N, D] → logits [N, V] (with tied embeddings, h · wteᵀ). */
export function head(model: Model, h: tf.Tensor2D): tf.Tensor2D {
  const p = model.params;
  return p.head ? linear(h, p.head as tf.Tensor2D, null, false) : linear(h, p.wte as tf.Tensor2D, null, true);
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

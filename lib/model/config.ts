/**
 * Model configuration: one plain typed object, presets that state only what differs, strict overrides.
 * Shapes follow nanoGPT's GPT: learned positions, pre-LayerNorm blocks, fused QKV with bias, GELU MLP,
 * final LayerNorm, untied bias-free output head (lab-scale.md §1).
 */
import { UserError } from "../errors";

/** What a model is built from. `vocabSize` normally comes from the tokenizer (`tokenizer.vocabSize`). */
export interface ModelConfig {
  vocabSize: number;
  /** Width of the residual stream, D. Must be divisible by `nHeads`. */
  dModel: number;
  nHeads: number;
  nLayers: number;
  /** Largest number of input positions, C (size of the learned position table). */
  contextLength: number;
  /** MLP width = mlpRatio · D (default 4). */
  mlpRatio?: number;
  /** Use the token embedding as the output head (logits = h · Eᵀ); default false (untied, as in the lab). */
  tieEmbeddings?: boolean;
  /** LayerNorm epsilon (default 1e-5, PyTorch's). */
  layerNormEps?: number;
  /** Seed of the weight initialiser: the same config and seed give bit-identical weights on every backend. */
  seed: number;
}

/** A config with every optional field filled in. */
export type ResolvedModelConfig = Required<ModelConfig>;

export const MODEL_DEFAULTS = Object.freeze({ mlpRatio: 4, tieEmbeddings: false, layerNormEps: 1e-5 });

/**
 * Named starting points. `vocabSize` in `lab` is the lab's 55-id character set; pass the real tokenizer's
 * `vocabSize` as an override.
 * - `tiny`: for unit tests (≈ 9 k parameters).
 * - `lab`: d64 L2 H4, context 64 (lab-scale.md: 111,232 parameters at vocab 55).
 * - `bench-small`: vocab 512, d128 H4 L4, context 128 (stack.md's benchmark shape).
 */
export const MODEL_PRESETS: Readonly<Record<string, Readonly<ModelConfig>>> = Object.freeze({
  tiny: Object.freeze({ vocabSize: 32, dModel: 16, nHeads: 2, nLayers: 2, contextLength: 16, seed: 0 }),
  lab: Object.freeze({ vocabSize: 55, dModel: 64, nHeads: 4, nLayers: 2, contextLength: 64, seed: 0 }),
  "bench-small": Object.freeze({ vocabSize: 512, dModel: 128, nHeads: 4, nLayers: 4, contextLength: 128, seed: 0 }),
});

const KEYS: readonly (keyof ModelConfig)[] = [
  "vocabSize",
  "dModel",
  "nHeads",
  "nLayers",
  "contextLength",
  "mlpRatio",
  "tieEmbeddings",
  "layerNormEps",
  "seed",
];

/**
 * Resolves a preset name (or a full config) plus overrides into a checked config. Unknown keys, unknown
 * presets and impossible shapes throw a UserError naming the field.
 *
 * @example
 * resolveModelConfig("lab", { vocabSize: tok.vocabSize, seed: 3 })
 * // → { vocabSize: …, dModel: 64, nHeads: 4, nLayers: 2, contextLength: 64, mlpRatio: 4, tieEmbeddings: false, … }
 */
export function resolveModelConfig(
  base: string | ModelConfig,
  overrides: Partial<ModelConfig> = {},
): ResolvedModelConfig {
  let start: ModelConfig;
  if (typeof base === "string") {
    const p = MODEL_PRESETS[base];
    if (!p) throw new UserError(`unknown model preset "${base}"; valid: ${Object.keys(MODEL_PRESETS).join(", ")}`);
    start = p;
  } else {
    start = base;
  }
  for (const obj of [start, overrides]) {
    for (const k of Object.keys(obj)) {
      if (!(KEYS as readonly string[]).includes(k)) {
        throw new UserError(`unknown model config key "${k}"; valid: ${KEYS.join(", ")}`);
      }
    }
  }
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const c = { ...MODEL_DEFAULTS, ...start, ...defined } as ResolvedModelConfig;
  checkConfig(c);
  return c;
}

function checkConfig(c: ResolvedModelConfig): void {
  const posInt = (k: keyof ModelConfig) => {
    const v = c[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
      throw new UserError(`model config: ${k} must be a positive integer, got ${JSON.stringify(v)}`);
    }
  };
  for (const k of ["vocabSize", "dModel", "nHeads", "nLayers", "contextLength"] as const) posInt(k);
  if (c.dModel % c.nHeads !== 0) {
    throw new UserError(`model config: dModel (${c.dModel}) must be divisible by nHeads (${c.nHeads})`);
  }
  if (typeof c.mlpRatio !== "number" || !(c.mlpRatio > 0) || !Number.isInteger(c.mlpRatio * c.dModel)) {
    throw new UserError(`model config: mlpRatio · dModel must be a positive integer, got mlpRatio ${c.mlpRatio}`);
  }
  if (typeof c.tieEmbeddings !== "boolean") throw new UserError(`model config: tieEmbeddings must be a boolean`);
  if (typeof c.layerNormEps !== "number" || !(c.layerNormEps > 0)) {
    throw new UserError(`model config: layerNormEps must be > 0, got ${c.layerNormEps}`);
  }
  if (typeof c.seed !== "number" || !Number.isInteger(c.seed)) {
    throw new UserError(`model config: seed must be an integer, got ${JSON.stringify(c.seed)}`);
  }
}

/**
 * Parameter count by the hand formula (V vocab, C context, D width, L layers, M = mlpRatio·D):
 *   V·D (tokens) + C·D (positions)
 *   + L · [ 2·2D (two LayerNorms) + (D·3D + 3D) (QKV) + (D·D + D) (proj) + (D·M + M) + (M·D + D) (MLP) ]
 *   + 2D (final LayerNorm) + V·D (head, 0 when tied).
 *
 * @example
 * countParameters(resolveModelConfig("lab")) // → 111232
 */
export function countParameters(config: ModelConfig): number {
  const c = { ...MODEL_DEFAULTS, ...config };
  const V = c.vocabSize, C = c.contextLength, D = c.dModel, L = c.nLayers, M = c.mlpRatio * D;
  const block = 4 * D + (D * 3 * D + 3 * D) + (D * D + D) + (D * M + M) + (M * D + D);
  return V * D + C * D + L * block + 2 * D + (c.tieEmbeddings ? 0 : V * D);
}

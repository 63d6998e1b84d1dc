/**
 * The training run's config: typed defaults in one place, presets that change only what differs, strict
 * overrides that reject unknown keys (nanoGPT `config/` + `configurator.py`; minGPT `get_default_config`).
 * The resolved config is saved beside the outputs (`<outDir>/config.json`) and stored in every checkpoint.
 */
import { UserError } from "../errors";
import { strictMerge } from "../overrides";

export { parseSetting } from "../overrides";
import type { ProgressMode } from "./progress";
import type { LoopConfig } from "./trainer";

export interface TrainConfig {
  /** "preference": pairs with ref_/fuse_ columns and a loss from the registry; "sft": (prompt, response) NLL. */
  kind: "preference" | "sft";
  /** Where config.json, metrics.jsonl, checkpoints/, final/ and model/ go. */
  outDir: string;
  data: {
    /** JSONL file: the published record format (preference); for sft, prompt/completion or prompt/chosen records (trains on chosen). */
    train: string;
    /** Optional eval file, same format. */
    eval: string | null;
    /** Use only the first N training records (null = all). */
    maxExamples: number | null;
  };
  model: {
    /** Saved model directory to start from (the pivot at init / SFT checkpoint). null = fresh init (sft only). */
    init: string | null;
    /** For a fresh init: model preset name and overrides (see lib/model MODEL_PRESETS). */
    preset: string;
    overrides: Record<string, unknown>;
    /** Tokenizer JSON for a fresh init (a saved model brings its own). */
    tokenizer: string | null;
    /** Prompts too long for the context: drop their oldest tokens ("left") or fail ("error"). */
    truncate: "left" | "error";
  };
  loss: {
    /** A name from the loss registry (infifpo, dpo, ipo, hinge, simpo, wrpo, sft, infifpo-ipo, infifpo-wrpo). */
    name: string;
    /** Loss options (beta, lengthNorm, simpoGamma, wrpoAlphaMax, rpoAlpha, fusion: {...}); the loss's defaults fill the rest. */
    options: Record<string, unknown>;
  };
  optim: {
    lr: number;
    warmupSteps: number;
    schedule: "cosine" | "linear" | "constant";
    minLrRatio: number;
    beta1: number;
    beta2: number;
    eps: number;
    weightDecay: number;
  };
  /** The training loop's knobs (documented on `LoopConfig`), sized in epochs unless `maxSteps` is set. */
  loop: Pick<LoopConfig, "batchSize" | "gradAccumSteps" | "maxGradNorm" | "logEvery" | "evalEvery" | "checkpointEvery" | "keepCheckpoints" | "seed"> & {
    /** Optimizer steps; null = ceil(epochs · examples / batchSize). */
    maxSteps: number | null;
    epochs: number;
  };
  /** tfjs backend request: auto (INFIFPO_BACKEND if set, else auto), native, wasm, cpu (see lib/backend). */
  backend: string;
  progress: ProgressMode;
}

export const TRAIN_DEFAULTS: TrainConfig = Object.freeze({
  kind: "preference",
  outDir: "runs/train",
  data: { train: "", eval: null, maxExamples: null },
  model: { init: null, preset: "lab", overrides: {}, tokenizer: null, truncate: "left" },
  loss: { name: "infifpo", options: {} },
  optim: { lr: 5e-4, warmupSteps: 10, schedule: "cosine", minLrRatio: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.0 },
  loop: {
    maxSteps: null,
    epochs: 1,
    batchSize: 8,
    gradAccumSteps: 1,
    maxGradNorm: 1.0,
    logEvery: 1,
    evalEvery: 50,
    checkpointEvery: 100,
    keepCheckpoints: 2,
    seed: 0,
  },
  backend: "auto",
  progress: "auto",
}) as TrainConfig;

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends Record<string, unknown> | null ? DeepPartial<T[K]> | T[K] : T[K] };

/** Presets state only what differs from TRAIN_DEFAULTS. */
export const TRAIN_PRESETS: Readonly<Record<string, DeepPartial<TrainConfig>>> = Object.freeze({
  /** Seconds: a handful of steps, everything exercised (eval, checkpoint). */
  smoke: { optim: { warmupSteps: 0 }, loop: { maxSteps: 4, batchSize: 4, evalEvery: 2, checkpointEvery: 2 } },
  /** Minutes: one epoch. */
  quick: { loop: { epochs: 1, batchSize: 8, evalEvery: 25, checkpointEvery: 50 } },
  /** The lab's real runs: three epochs, warm-up, periodic eval. */
  full: { optim: { warmupSteps: 50 }, loop: { epochs: 3, batchSize: 16, evalEvery: 100, checkpointEvery: 200, logEvery: 5 } },
});

/** Keys whose values are free-form objects checked by their own resolver (model config, loss options), and keys that may be null. */
const RULES = {
  open: new Set(["model.overrides", "loss.options"]),
  nullable: { "data.eval": "string", "data.maxExamples": "number", "model.init": "string", "model.tokenizer": "string", "loop.maxSteps": "number", "loop.maxGradNorm": "number" },
};

/**
 * Defaults ← preset ← each override in turn. Every override is checked key by key; an unknown key or a
 * value of the wrong type is a UserError naming the key (and `where`, e.g. the config file).
 *
 * @example
 * resolveTrainConfig("smoke", [{ data: { train: "pairs.jsonl" }, loss: { name: "dpo" } }])
 * // → { kind: "preference", loop: { maxSteps: 4, batchSize: 4, ... }, loss: { name: "dpo", options: {} }, ... }
 */
export function resolveTrainConfig(preset: string | null, overrides: { where: string; values: unknown }[] = []): TrainConfig {
  let cfg = structuredClone(TRAIN_DEFAULTS) as unknown as Record<string, unknown>;
  if (preset) {
    const p = TRAIN_PRESETS[preset];
    if (!p) throw new UserError(`unknown preset "${preset}"; valid: ${Object.keys(TRAIN_PRESETS).join(", ")}`);
    cfg = strictMerge(cfg, p, `preset ${preset}`, RULES);
  }
  for (const o of overrides) cfg = strictMerge(cfg, o.values, o.where, RULES);
  const c = cfg as unknown as TrainConfig;
  checkTrainConfig(c);
  return c;
}

function checkTrainConfig(c: TrainConfig): void {
  const bad = (key: string, msg: string) => {
    throw new UserError(`config "${key}" ${msg}`);
  };
  if (c.kind !== "preference" && c.kind !== "sft") bad("kind", `must be "preference" or "sft", got ${JSON.stringify(c.kind)}`);
  if (!c.data.train) bad("data.train", "is required (a JSONL file)");
  if (!c.outDir) bad("outDir", "is required");
  const posInt = (key: string, v: number, min = 1) => {
    if (!Number.isInteger(v) || v < min) bad(key, `must be an integer ≥ ${min}, got ${v}`);
  };
  const L = c.loop;
  if (L.maxSteps !== null) posInt("loop.maxSteps", L.maxSteps);
  if (!(L.epochs > 0)) bad("loop.epochs", `must be > 0, got ${L.epochs}`);
  posInt("loop.batchSize", L.batchSize);
  posInt("loop.gradAccumSteps", L.gradAccumSteps);
  if (L.batchSize % L.gradAccumSteps !== 0) bad("loop.gradAccumSteps", `(${L.gradAccumSteps}) must divide loop.batchSize (${L.batchSize})`);
  posInt("loop.logEvery", L.logEvery);
  posInt("loop.evalEvery", L.evalEvery, 0);
  posInt("loop.checkpointEvery", L.checkpointEvery, 0);
  posInt("loop.keepCheckpoints", L.keepCheckpoints, 0);
  posInt("loop.seed", L.seed, 0);
  if (L.maxGradNorm !== null && !(L.maxGradNorm > 0)) bad("loop.maxGradNorm", `must be > 0 or null, got ${L.maxGradNorm}`);
  if (c.data.maxExamples !== null) posInt("data.maxExamples", c.data.maxExamples);
  const O = c.optim;
  if (!(O.lr >= 0 && Number.isFinite(O.lr))) bad("optim.lr", `must be a finite number ≥ 0, got ${O.lr}`);
  posInt("optim.warmupSteps", O.warmupSteps, 0);
  if (!["cosine", "linear", "constant"].includes(O.schedule)) bad("optim.schedule", `must be cosine, linear or constant, got ${JSON.stringify(O.schedule)}`);
  if (!(O.minLrRatio >= 0 && O.minLrRatio <= 1)) bad("optim.minLrRatio", `must be in [0, 1], got ${O.minLrRatio}`);
  for (const k of ["beta1", "beta2"] as const) if (!(O[k] >= 0 && O[k] < 1)) bad(`optim.${k}`, `must be in [0, 1), got ${O[k]}`);
  if (!(O.eps > 0)) bad("optim.eps", `must be > 0, got ${O.eps}`);
  if (!(O.weightDecay >= 0)) bad("optim.weightDecay", `must be ≥ 0, got ${O.weightDecay}`);
  if (!["auto", "bar", "lines", "none"].includes(c.progress)) bad("progress", `must be auto, bar, lines or none`);
  if (!["left", "error"].includes(c.model.truncate)) bad("model.truncate", `must be "left" or "error"`);
  if (c.kind === "preference" && c.model.init === null) bad("model.init", "is required for preference training (the SFT checkpoint = pivot at init)");
  if (c.model.init === null && c.model.tokenizer === null) bad("model.tokenizer", "is required when model.init is null (fresh model)");
}

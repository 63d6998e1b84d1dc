/**
 * The fusion lab's config: one typed object, three presets (smoke / quick / full) and strict `--set` overrides.
 * Every knob that changes a result is here — the trainers' schedules, optimiser settings and checkpoint cadence
 * included — and every stage's cache key is the SHA-256 of the parts it depends on (lib/lab/keys.ts), so
 * changing a knob re-runs exactly the stages it touches.
 */
import { createHash } from "node:crypto";
import { UserError } from "../errors";
import { strictMerge } from "../overrides";
import { CATEGORIES, TASK_NAMES, type Category } from "../tasks";
import type { TokenizerSpec } from "./models";
import { variantSpec } from "./variants";

/** One source model: a name, a specialty (one or two categories) and its own tokenizer. */
export interface SourceConfig {
  name: string;
  specialty: Category[];
  tokenizer: TokenizerSpec;
}

/** The optimiser, schedule and loop settings of one kind of training run (lib/train's TrainConfig fields). */
export interface TrainKnobs {
  batchSize: number;
  lr: number;
  /** Linear warm-up over this share of the run's steps (the paper: 10%). */
  warmupRatio: number;
  schedule: "cosine" | "linear" | "constant";
  /** Cosine / linear decay ends at lr · minLrRatio. */
  minLrRatio: number;
  beta1: number;
  beta2: number;
  weightDecay: number;
  /** Gradient clipping by global norm (null: none). */
  maxGradNorm: number | null;
  /** Steps between resumable checkpoints (0: none; results do not depend on it: resume is bit-identical). */
  checkpointEvery: number;
}

/** Hyper-parameters a method is trained with: a learning rate and a multiple of its loss's default β. */
export interface HyperParams {
  lr: number;
  betaScale: number;
}

export interface LabConfig {
  /**
   * The benchmarks: every family's held-out items are the first `excludeSize` distinct prompts drawn with `seed`;
   * training never sees them. The test set is the first `testSize`, the validation set (hyper-parameter
   * selection) the last `validationSize`, so the two never overlap and presets with other test sizes share
   * validation sets and models.
   */
  benchmarks: { seed: number; testSize: number; validationSize: number; excludeSize: number; families: string[]; levels: Record<string, number> };
  /** Shape of every lab model (a lib/model preset and overrides; vocabSize comes from each tokenizer). */
  model: { preset: string; overrides: Record<string, unknown> };
  /** Training of the from-scratch models (sources and the initial pivot). */
  pretrain: TrainKnobs & { specialtyWeight: number; tokenizerCorpus: number; seed: number };
  sources: (SourceConfig & { steps: number })[];
  /**
   * The pivot: its own tokenizer, the general mix, its own budget. `weights`: each family's relative weight in
   * the pivot's general mix (a missing family weighs 1; {} = uniform).
   */
  pivot: { name: string; tokenizer: TokenizerSpec; steps: number; weights: Record<string, number> };
  /** Per-seed stages (prompts, samples, SFT, pairs, variants). */
  seeds: number[];
  /**
   * Preference data: `prompts` fresh training prompts per seed — the first half feeds SFT, the second half
   * preference training — and `k` samples per model and prompt (`sftK` on the SFT half, which only needs one
   * correct response), drawn at `temperature` among each step's `topK` most likely tokens (0 = all). `rejected`: "policy" = the worst of the SFT pivot's own samples (on-policy),
   * "pool" = the worst sample of any model.
   */
  data: { prompts: number; k: number; sftK: number; temperature: number; topK: number; rejected: "policy" | "pool" };
  /** SFT of the initial pivot on the best correct response of each SFT-half prompt. */
  sft: TrainKnobs & { epochs: number };
  /** Preference training (and the sft-cont control) from the SFT checkpoint; every method alike. */
  pref: TrainKnobs & { epochs: number };
  /**
   * Hyper-parameter selection on the validation set, the same grid for every method: each learning rate × each
   * multiple of the method's default β (methods without β: the learning rates), trained on the first seed's data
   * with the run's budget; the best validation accuracy wins and is used for every seed. null: no selection —
   * every method uses `hparams[method]` (default: pref.lr and β × 1).
   */
  selection: { lr: number[]; betaScale: number[] } | null;
  hparams: Record<string, HyperParams>;
  /** Variant names (lib/lab/variants.ts): methods, controls and ablations. */
  variants: string[];
  /** Bootstrap replicates for the CIs. */
  bootstrap: number;
  /** Where shipped source checkpoints live (a manifest.json with each model's key and checksum), or null. */
  shipped: string | null;
}

/**
 * The four sources of the quick and full presets: four tokenizer kinds (median characters per token on the lab's
 * worked answers: digit 1.0, word 1.43, BPE over whole strings with 44 merges 1.77, BPE with GPT-2's pre-tokenizer
 * 1.86; the pivot's characters 1.0), four specialties. Each is a generalist with a specialty — 60% of its 6000
 * steps on the uniform mix (about the pivot's own coverage of every family), 40% on its specialty — as the
 * paper's sources are strong general LLMs.
 */
const SOURCES: LabConfig["sources"] = [
  { name: "src-math", specialty: ["math"], tokenizer: { kind: "digit", options: { chunk: 1 } }, steps: 6000 },
  { name: "src-code", specialty: ["code"], tokenizer: { kind: "bpe", options: { vocabSize: 300, pretokenizer: "none" } }, steps: 6000 },
  { name: "src-reason", specialty: ["reasoning"], tokenizer: { kind: "word", options: { vocabSize: 1024 } }, steps: 6000 },
  { name: "src-know", specialty: ["instruction", "knowledge"], tokenizer: { kind: "bpe", options: { vocabSize: 512, pretokenizer: "gpt2" } }, steps: 6000 },
];

/** Every variant the lab knows, in report order: SFT and its controls, the baselines, InfiFPO, its ablations. */
export const ALL_VARIANTS = [
  "sft", "sft-all", "sft-cont", "dpo", "rpo", "ipo", "simpo", "wrpo", "infifpo",
  "infifpo-mean", "infifpo-confidence", "infifpo-noclip", "infifpo-noln", "infifpo-live",
  "infifpo-n1", "infifpo-n2", "infifpo-n3",
];

/**
 * `full`'s: every variant but two ablation arms, for the 90-minute budget (5 seeds × 17 variants: 89.8 min by the
 * stage times of a run, 2026-12-07): max-margin distances to the live policy (an option the spec allows, not a claim of the paper) and 3 of 4
 * sources (1, 2 and 4 remain). `--set variants=…` adds them back.
 */
export const FULL_VARIANTS = ALL_VARIANTS.filter((v) => v !== "infifpo-live" && v !== "infifpo-n3");

/** Training knobs shared by the presets. */
const PRETRAIN: LabConfig["pretrain"] = {
  batchSize: 64, lr: 1e-3, warmupRatio: 0.03, schedule: "constant", minLrRatio: 0.1, beta1: 0.9, beta2: 0.98, weightDecay: 0.01,
  maxGradNorm: 1, checkpointEvery: 500, specialtyWeight: 0.4, tokenizerCorpus: 20000, seed: 7,
};
const SFT: LabConfig["sft"] = {
  epochs: 3, batchSize: 32, lr: 1e-3, warmupRatio: 0.1, schedule: "cosine", minLrRatio: 0.1, beta1: 0.9, beta2: 0.98, weightDecay: 0.01,
  maxGradNorm: 1, checkpointEvery: 100,
};
/** The paper's protocol: one epoch, cosine with 10% warm-up; TRL's AdamW defaults (β2 0.999, no weight decay). */
const PREF: LabConfig["pref"] = {
  epochs: 1, batchSize: 32, lr: 1e-4, warmupRatio: 0.1, schedule: "cosine", minLrRatio: 0, beta1: 0.9, beta2: 0.999, weightDecay: 0,
  maxGradNorm: 1, checkpointEvery: 100,
};

const QUICK: LabConfig = {
  benchmarks: { seed: 1234, testSize: 200, validationSize: 100, excludeSize: 600, families: [...TASK_NAMES], levels: {} },
  // the longest prompt + worked answer + BOS/EOS is under 192 characters (tested for every family at every level)
  model: { preset: "lab", overrides: { contextLength: 192 } },
  pretrain: PRETRAIN,
  sources: SOURCES,
  // a generalist at 4000 steps is in the 20–80% band on 8 of 9 benchmarks (learning curve: 5 of 9 at 3000).
  // On the uniform mix the SFT pivot sat at the band's edges on four (five-seed means: chain 21, stack 18, dyck 83,
  // format 78), so one seed could fall to 6 of 9; its general mix leans toward chain and stack and away from dyck
  // and format, toward the middle of the band (docs/lab-regime.md, "The SFT pivot's band"). Sources: uniform.
  pivot: { name: "pivot", tokenizer: { kind: "char" }, steps: 4000, weights: { chain: 1.5, stack: 1.7, dyck: 0.55, format: 0.7 } },
  seeds: [1],
  // T 0.8 among the 4 likeliest tokens: the fused reference's median gap from the pivot at T 1 (all tokens) was
  // 1.07 nats/token, above the regime band (docs/lab-regime.md); the same data serve every method. k 3 (was 4):
  // sampling the preference half was the largest stage (full at k 4: 1 h 35 min, over its 90-minute budget)
  data: { prompts: 3000, k: 3, sftK: 2, temperature: 0.8, topK: 4, rejected: "policy" },
  sft: SFT,
  pref: PREF,
  selection: null,
  // selected on validation by the committed full run (data/results/results.json, its "selection")
  hparams: {
    "sft-cont": { lr: 1e-4, betaScale: 1 },
    dpo: { lr: 1e-5, betaScale: 2 },
    rpo: { lr: 1e-5, betaScale: 0.5 },
    ipo: { lr: 1e-5, betaScale: 0.5 },
    simpo: { lr: 1e-5, betaScale: 0.5 },
    wrpo: { lr: 1e-5, betaScale: 0.5 },
    infifpo: { lr: 3e-5, betaScale: 0.5 },
  },
  // what fits the 10-minute budget: SFT and its continued-SFT control, DPO and RPO (DPO + NLL), the fusion baseline
  // WRPO, InfiFPO; `full` adds sft-all, IPO, SimPO and the ablations
  variants: ["sft", "sft-cont", "dpo", "rpo", "wrpo", "infifpo"],
  bootstrap: 2000,
  shipped: "data/lab-models",
};

export const LAB_PRESETS: Readonly<Record<string, LabConfig>> = Object.freeze({
  /**
   * Tests: every stage, every kind of variant (SFT, both SFT controls, a reference-based and a reference-free pair
   * loss, WRPO's triples, InfiFPO on all and on fewer sources) and the selection on a two-point grid, two seeds, on
   * the shipped models (models trained from scratch for a few steps cannot finish a response, so they would yield
   * no preference pairs); tiny data, numbers mean little.
   */
  smoke: {
    ...QUICK,
    benchmarks: { ...QUICK.benchmarks, testSize: 12, validationSize: 8 },
    seeds: [1, 2],
    variants: ["sft", "sft-all", "sft-cont", "dpo", "rpo", "simpo", "wrpo", "infifpo", "infifpo-n1"],
    data: { ...QUICK.data, prompts: 64, k: 2, sftK: 2 },
    sft: { ...SFT, epochs: 1, batchSize: 16 },
    pref: { ...PREF, batchSize: 16 },
    selection: { lr: [1e-4], betaScale: [1, 2] },
    hparams: {},
    bootstrap: 200,
  },
  /** `npm start`: shipped models, one seed, the hyper-parameters the full preset selected. */
  quick: QUICK,
  /**
   * The README's numbers: five seeds, every variant, control and ablation, hyper-parameters selected on validation.
   * Its first seed's data, SFT and test set are quick's (a quick run after a full one is served from the cache).
   */
  full: {
    ...QUICK,
    seeds: [1, 2, 3, 4, 5],
    variants: FULL_VARIANTS,
    hparams: {},
    // at lr 1e-4 (one seed, T 1 data) every preference loss ended 6–17 pp below SFT; the grid reaches down to 1e-5.
    // β: × 0.5 and × 2 (the 3 × 3 grid of the k-4 run chose × 0.5 or × 2 for every method, never × 1, and cost 23 min)
    selection: { lr: [1e-5, 3e-5, 1e-4], betaScale: [0.5, 2] },
    bootstrap: 4000,
  },
});

/** JSON with object keys sorted at every level: the same value always gives the same bytes. */
export function canonicalJson(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonicalJson).join(",")}]`;
  if (x !== null && typeof x === "object") {
    return `{${Object.keys(x).sort().filter((k) => (x as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((x as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(x);
}

/** SHA-256 (hex) of the canonical JSON of `x`. */
export function configKey(x: unknown): string {
  return createHash("sha256").update(canonicalJson(x)).digest("hex");
}

export { parseSetting as parseLabSetting } from "../overrides";

/** Free-form objects (merged key by key, checked below) and keys that may be null. */
const RULES = {
  open: new Set(["model.overrides", "benchmarks.levels", "hparams", "pivot.tokenizer", "pivot.weights"]),
  nullable: { selection: "object", shipped: "string", "pretrain.maxGradNorm": "number", "sft.maxGradNorm": "number", "pref.maxGradNorm": "number" },
};

function checkKnobs(k: TrainKnobs, name: string, int: (x: number, name: string, min: number) => void): void {
  int(k.batchSize, `${name}.batchSize`, 1);
  int(k.checkpointEvery, `${name}.checkpointEvery`, 0);
  const bad = (key: string, msg: string) => {
    throw new UserError(`lab config "${name}.${key}" ${msg}`);
  };
  if (!(k.lr > 0 && Number.isFinite(k.lr))) bad("lr", `must be a finite number > 0, got ${k.lr}`);
  if (!(k.warmupRatio >= 0 && k.warmupRatio < 1)) bad("warmupRatio", `must be in [0, 1), got ${k.warmupRatio}`);
  if (!["cosine", "linear", "constant"].includes(k.schedule)) bad("schedule", `must be cosine, linear or constant, got ${JSON.stringify(k.schedule)}`);
  if (!(k.minLrRatio >= 0 && k.minLrRatio <= 1)) bad("minLrRatio", `must be in [0, 1], got ${k.minLrRatio}`);
  for (const b of ["beta1", "beta2"] as const) if (!(k[b] >= 0 && k[b] < 1)) bad(b, `must be in [0, 1), got ${k[b]}`);
  if (!(k.weightDecay >= 0)) bad("weightDecay", `must be ≥ 0, got ${k.weightDecay}`);
  if (k.maxGradNorm !== null && !(k.maxGradNorm > 0)) bad("maxGradNorm", `must be > 0 or null, got ${k.maxGradNorm}`);
}

/** Preset ← each override; checks every value the pipeline relies on. */
export function resolveLabConfig(preset: string, overrides: { where: string; values: Record<string, unknown> }[] = []): LabConfig {
  if (!Object.hasOwn(LAB_PRESETS, preset)) throw new UserError(`unknown lab preset "${preset}"; valid: ${Object.keys(LAB_PRESETS).join(", ")}`);
  let cfg = structuredClone(LAB_PRESETS[preset]) as LabConfig;
  for (const o of overrides) cfg = strictMerge(cfg, o.values, o.where, RULES);
  const int = (x: number, name: string, min: number) => {
    if (!Number.isInteger(x) || x < min) throw new UserError(`lab config "${name}" must be an integer ≥ ${min}, got ${x}`);
  };
  const B = cfg.benchmarks;
  int(B.testSize, "benchmarks.testSize", 1);
  int(B.validationSize, "benchmarks.validationSize", 1);
  if (B.testSize + B.validationSize > B.excludeSize)
    throw new UserError(`lab config: "benchmarks.testSize" (${B.testSize}) + "benchmarks.validationSize" (${B.validationSize}) must be ≤ "benchmarks.excludeSize" (${B.excludeSize}): test and validation items come from the excluded prompts and must not overlap`);
  int(cfg.data.prompts, "data.prompts", 2);
  int(cfg.data.k, "data.k", 1);
  int(cfg.data.sftK, "data.sftK", 1);
  if (!(cfg.data.temperature > 0)) throw new UserError(`lab config "data.temperature" must be > 0, got ${cfg.data.temperature}`);
  int(cfg.data.topK, "data.topK", 0);
  if (!["policy", "pool"].includes(cfg.data.rejected)) throw new UserError(`lab config "data.rejected" must be "policy" or "pool", got ${JSON.stringify(cfg.data.rejected)}`);
  if (cfg.seeds.length === 0) throw new UserError(`lab config "seeds" must list at least one seed`);
  cfg.seeds.forEach((s, i) => int(s, `seeds[${i}]`, 0));
  if (new Set(cfg.seeds).size !== cfg.seeds.length) throw new UserError(`lab config "seeds" has duplicates: ${cfg.seeds.join(", ")}`);
  if (cfg.sources.length < 1) throw new UserError(`lab config "sources" must list at least one source`);
  for (const f of B.families) if (!TASK_NAMES.includes(f)) throw new UserError(`lab config "benchmarks.families": unknown family "${f}"; valid: ${TASK_NAMES.join(", ")}`);
  cfg.sources.forEach((s, i) => {
    int(s.steps, `sources[${i}].steps`, 1);
    for (const c of s.specialty) if (!(CATEGORIES as readonly string[]).includes(c)) throw new UserError(`lab config "sources[${i}].specialty": unknown category "${c}"; valid: ${CATEGORIES.join(", ")}`);
  });
  int(cfg.pivot.steps, "pivot.steps", 1);
  for (const [f, w] of Object.entries(cfg.pivot.weights)) {
    if (!B.families.includes(f)) throw new UserError(`lab config "pivot.weights": unknown family "${f}"; valid: ${B.families.join(", ")}`);
    if (!(typeof w === "number" && w > 0 && Number.isFinite(w))) throw new UserError(`lab config "pivot.weights.${f}" must be a finite number > 0, got ${JSON.stringify(w)}`);
  }
  if (new Set([...cfg.sources.map((s) => s.name), cfg.pivot.name]).size !== cfg.sources.length + 1) throw new UserError(`lab config: model names must be distinct`);
  checkKnobs(cfg.pretrain, "pretrain", int);
  checkKnobs(cfg.sft, "sft", int);
  checkKnobs(cfg.pref, "pref", int);
  for (const k of ["sft", "pref"] as const) if (!(cfg[k].epochs > 0)) throw new UserError(`lab config "${k}.epochs" must be > 0, got ${cfg[k].epochs}`);
  if (new Set(cfg.variants).size !== cfg.variants.length) throw new UserError(`lab config "variants" has duplicates`);
  for (const v of cfg.variants) variantSpec(v, cfg.sources.length); // an unknown name throws with the valid ones
  if (cfg.selection) {
    const sel = cfg.selection;
    if (!Array.isArray(sel.lr) || !Array.isArray(sel.betaScale) || sel.lr.length === 0 || sel.betaScale.length === 0)
      throw new UserError(`lab config "selection" needs non-empty lists "lr" and "betaScale", got ${JSON.stringify(sel)}`);
    for (const x of [...sel.lr, ...sel.betaScale]) if (!(typeof x === "number" && x > 0 && Number.isFinite(x))) throw new UserError(`lab config "selection": every value must be a number > 0, got ${JSON.stringify(x)}`);
  }
  for (const [name, hp] of Object.entries(cfg.hparams)) {
    variantSpec(name, cfg.sources.length);
    if (!(hp && hp.lr > 0 && hp.betaScale > 0)) throw new UserError(`lab config "hparams.${name}" must be { "lr": > 0, "betaScale": > 0 }, got ${JSON.stringify(hp)}`);
  }
  return cfg;
}

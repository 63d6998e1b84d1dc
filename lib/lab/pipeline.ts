/**
 * The fusion lab, end to end, in pipeline order (nanoGPT's train.py: read it top to bottom):
 *
 *   runLab
 *   1. baseModels        the initial pivot and the sources (shipped checkpoints, or trained from scratch)
 *   2. evaluateBase      every base model on the test set
 *      per seed:
 *   3. drawPrompts       fresh training prompts: the first half for SFT, the second for preference training
 *   4. sampleSftData     k samples per SFT prompt from the initial pivot and the sources; the best correct one
 *   5. trainSft          SFT of the initial pivot → the SFT pivot, the start of every variant
 *   6. samplePairs       k samples per preference prompt from the SFT pivot and the sources; chosen / rejected
 *   7. scorePairs        every response scored by the SFT pivot (ref_*) and each source (fuse_*), own tokenizers;
 *                        the regime measured on the pairs (lengths, token counts, the fused reference's gap)
 *   8. selectHyperParams (first seed, when the config has a grid) each method's lr (and β) on validation
 *   9. trainVariant      every variant and control from the same start with its hyper-parameters; test evaluation
 *
 * Every stage is cached under its key (lib/lab/keys.ts) by one wrapper, `Lab.stage`, which also times it. What is
 * seeded by what: the benchmarks by `benchmarks.seed`; the base models by `pretrain.seed` (trained once, shared
 * by every seed, so that checkpoints can be shipped); everything after — prompts, sampling, SFT and the variants'
 * data order — by the run seed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../errors";
import { initBackend } from "../backend";
import { loadModel, disposeModel, sequenceLogProbs } from "../model";
import { TASKS, TaskStream, testSet, type TaskFamily, type TaskItem } from "../tasks";
import { getLoss, resolveLossConfig, type LossOverrides } from "../losses";
import { writeFileAtomic } from "../train/checkpoint";
import { createProgress, type ProgressMode } from "../train/progress";
import { DEFAULT_FLOAT_FIELDS, recordSerializer } from "../data/write";
import { logpColumns, logpPairColumns } from "../data/columns";
import { recordValidator, readJsonl } from "../data/jsonl";
import type { PreferenceRecord } from "../data/types";
import { cachedStage } from "./cache";
import type { HyperParams, LabConfig, TrainKnobs } from "./config";
import { evaluateModel, overallAccuracy, type Benchmark, type ItemResult } from "./evaluate";
import { evalKey, scratchModelKey, seedKeys, testKey, validationKey, type SeedKeys } from "./keys";
import { mixWeights } from "./mix";
import { trainScratchModel, type ScratchModelSpec } from "./models";
import { buildPair, sftExample, wrpoTriple, type Sample } from "./pairs";
import { answerAlphabet, fusedGapStats, lengthStats, logpsDrift, nonsenseRate, tokenStats, type Drift, type FusedGapStats, type LengthStats, type TokenStats } from "./regime";
import { sampleResponses, type SampleStats } from "./sampling";
import { fileSha256, readManifest } from "./shipped";
import { labTrainConfig, trainLabRun } from "./training";
import { selectedWith, tunedKnobs, variantSpec, type VariantSpec } from "./variants";

export interface LabRunOptions {
  /** Stage cache shared between runs (default runs/lab-cache). */
  cacheDir: string;
  backend?: string;
  progress?: ProgressMode;
  log?: (line: string) => void;
  /** Re-train the sources and pivot even when shipped checkpoints match. */
  retrain?: boolean;
}

/** Per-item outcomes of one model on every benchmark. */
export type EvalResult = Record<string, ItemResult[]>;

export interface PairStats {
  prompts: number;
  /** SFT examples (the SFT half's prompts with a correct response) and which model wrote them. */
  sft: number;
  sftBy: Record<string, number>;
  pairs: number;
  dropped: { tie: number; "too-few": number };
  /** Which model produced the chosen / rejected responses (counts by model name). */
  chosenBy: Record<string, number>;
  rejectedBy: Record<string, number>;
  meanRewardChosen: number;
  meanRewardRejected: number;
  /**
   * The verifier re-run on the written pairs file: the share of its records whose chosen response scores
   * strictly higher than its rejected one, with both rewards equal to the ones the file states.
   */
  verified: number;
  /** Per model: share of samples that finished, and their mean reward — SFT half (base models) and preference half. */
  sftSamples: SampleStats;
  samples: SampleStats;
}

/** The regime as measured on one seed's pairs (lib/lab/regime.ts). */
export interface SeedRegime {
  lengths: LengthStats;
  /** Token counts of the chosen responses under the five tokenizers (pivot first). */
  tokens: TokenStats;
  /** The fused reference at step 0 (InfiFPO's defaults). */
  fused: FusedGapStats;
}

export interface SeedOutputs {
  seed: number;
  pairsFile: string;
  pairStats: PairStats;
  regime: SeedRegime;
  sftModel: string;
  /** variant name → its model file. */
  models: Record<string, string>;
  /** variant name → test evaluation. */
  evals: Record<string, EvalResult>;
  /** variant name → its metrics.jsonl (null for sft: its own log is `metrics.sft`). */
  metrics: Record<string, string | null>;
  /** variant name → share of its greedy test outputs with a character no reference answer has. */
  nonsense: Record<string, number>;
  /** variant name → drift of logps/chosen over its training (trained variants). */
  drift: Record<string, Drift | null>;
}

/** Hyper-parameter selection on the validation set (first seed). */
export interface SelectionReport {
  seed: number;
  grid: { lr: number[]; betaScale: number[] };
  /** Per tuned variant: every candidate's validation accuracy (overall), and the winner. */
  variants: Record<string, { candidates: (HyperParams & { validation: number })[]; chosen: HyperParams }>;
}

export interface LabOutputs {
  config: LabConfig;
  backend: string;
  benchmarks: { family: string; category: string; items: number; validationItems: number; eval: string }[];
  models: { name: string; role: "pivot" | "source"; specialty: string[]; tokenizer: string; vocabSize: number; file: string; shipped: boolean }[];
  /** Evaluations of the initial pivot and of the sources (seed-independent), and their nonsense-output rates. */
  baseEvals: Record<string, EvalResult>;
  baseNonsense: Record<string, number>;
  seeds: SeedOutputs[];
  variants: VariantSpec[];
  /** The hyper-parameters every variant was trained with, and where they come from. */
  hparams: Record<string, HyperParams & { source: "selected" | "config" | "default" | "sft" | "infifpo's" }>;
  selection: SelectionReport | null;
  /** Wall seconds of each stage in this invocation (≈0 when served from the cache). */
  timings: Record<string, number>;
  /** Seconds each stage took when it was computed, also when this invocation took it from the cache. */
  stageSeconds: Record<string, number>;
}

// ---- the run's context: config, cache, logging, one stage wrapper ------------------------------------------

interface Lab {
  cfg: LabConfig;
  opts: LabRunOptions;
  log: (line: string) => void;
  progress: ProgressMode;
  timings: Record<string, number>;
  stageSeconds: Record<string, number>;
  /** Backend and progress of every training run. */
  trainEnv: { backend?: string; progress: ProgressMode };
  /** Runs (or takes from the cache) one stage and records its time under `label`. */
  stage<T>(label: string, name: string, key: string, fn: (dir: string) => Promise<T>): Promise<{ result: T; cached: boolean }>;
  /** Evaluates a model file on the test or validation set (cached by the file's checksum). */
  evaluate(label: string, file: string, set: "test" | "validation"): Promise<EvalResult>;
}

function openLab(cfg: LabConfig, opts: LabRunOptions, bench: Benchmarks): Lab {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  const progress = opts.progress ?? "auto";
  const timings: Record<string, number> = {};
  const stageSeconds: Record<string, number> = {};
  const memo = new Map<string, EvalResult>();
  const lab: Lab = {
    cfg, opts, log, progress, timings, stageSeconds, trainEnv: { backend: opts.backend, progress },
    async stage(label, name, key, fn) {
      const t0 = performance.now();
      const st = await cachedStage(opts.cacheDir, name, key, fn, { log });
      timings[label] = (timings[label] ?? 0) + (performance.now() - t0) / 1000;
      stageSeconds[label] = (stageSeconds[label] ?? 0) + st.seconds;
      return { result: st.result, cached: st.cached };
    },
    async evaluate(label, file, set) {
      const key = evalKey(fileSha256(file), set === "test" ? testKey(cfg) : validationKey(cfg));
      const hit = memo.get(key);
      if (hit) return hit;
      const sets = set === "test" ? bench.test : bench.validation;
      const total = sets.reduce((s, b) => s + b.items.length, 0);
      const { result } = await lab.stage(`eval.${label}${set === "validation" ? ".validation" : ""}`, set === "test" ? "eval" : "eval-val", key, async () => {
        const bar = createProgress(`eval ${label}${set === "validation" ? " (validation)" : ""}`, progress, { plain: true, minIntervalMs: 15_000 });
        const { model, tokenizer } = loadModel(file);
        try {
          bar.start(total, 0);
          const r = await evaluateModel(model, tokenizer, sets, { onProgress: (d) => bar.update(d, {}) });
          bar.stop();
          return r;
        } finally {
          disposeModel(model);
        }
      });
      memo.set(key, result);
      return result;
    },
  };
  return lab;
}

// ---- benchmarks ------------------------------------------------------------------------------------------

export interface Benchmarks {
  test: Benchmark[];
  validation: Benchmark[];
  /** Every held-out prompt (test, validation and the rest of the excluded prefix): training never sees them. */
  exclude: Set<string>;
}

/** Every family's held-out items: the first `excludeSize` of its seeded test stream; test = the first, validation = the last. */
export function labBenchmarks(cfg: LabConfig): Benchmarks {
  const { seed, testSize, validationSize, excludeSize, families, levels } = cfg.benchmarks;
  const held = families.map((name) => ({ family: TASKS[name], all: testSet(TASKS[name], { seed, size: excludeSize, level: levels[name] }) }));
  for (const h of held)
    if (h.all.length < testSize + validationSize) throw new UserError(`benchmark "${h.family.name}": only ${h.all.length} distinct prompts at this level; lower benchmarks.testSize / validationSize`);
  return {
    test: held.map(({ family, all }) => ({ family, items: all.slice(0, testSize) })),
    validation: held.map(({ family, all }) => ({ family, items: all.slice(all.length - validationSize) })),
    exclude: new Set(held.flatMap((h) => h.all.map((it) => it.prompt))),
  };
}

// ---- 1. base models ----------------------------------------------------------------------------------------

/** The from-scratch spec of every lab model: the pivot first, then the sources in config order. */
export function modelSpecs(cfg: LabConfig): (ScratchModelSpec & { role: "pivot" | "source"; specialty: string[] })[] {
  const families = cfg.benchmarks.families.map((f) => TASKS[f]);
  const { specialtyWeight, tokenizerCorpus, seed, ...train } = cfg.pretrain;
  const common = { train, model: cfg.model, seed, tokenizerCorpus };
  const mix = (specialty: string[], general: Record<string, number> = {}) =>
    mixWeights(specialty as never, specialtyWeight, families, cfg.benchmarks.levels, general).map((p) => ({ family: p.family.name, weight: p.weight, level: p.level }));
  return [
    { ...common, name: cfg.pivot.name, role: "pivot", specialty: [], tokenizer: cfg.pivot.tokenizer, steps: cfg.pivot.steps, mix: mix([], cfg.pivot.weights) },
    ...cfg.sources.map((s) => ({ ...common, name: s.name, role: "source" as const, specialty: s.specialty, tokenizer: s.tokenizer, steps: s.steps, mix: mix(s.specialty) })),
  ];
}

/** A from-scratch model's cache key: its spec and the prompts it must not see. */
export function modelKey(spec: ScratchModelSpec, cfg: LabConfig): string {
  return scratchModelKey(spec, cfg);
}

interface BaseModels {
  names: string[];
  files: string[];
  /** Keys that identify each model downstream: `sha256:<file>` for a shipped checkpoint, else its config key. */
  keys: string[];
  out: LabOutputs["models"];
}

/** Stage 1: the initial pivot and the sources — shipped checkpoints when their key and checksum match, else trained (cached). */
export async function labModels(cfg: LabConfig, opts: LabRunOptions, exclude: ReadonlySet<string> = labBenchmarks(cfg).exclude): Promise<{ specs: ReturnType<typeof modelSpecs>; files: string[]; models: LabOutputs["models"] }> {
  const lab = openLab(cfg, opts, { test: [], validation: [], exclude: new Set(exclude) });
  const base = await baseModels(lab, exclude);
  return { specs: modelSpecs(cfg), files: base.files, models: base.out };
}

async function baseModels(lab: Lab, exclude: ReadonlySet<string>): Promise<BaseModels> {
  const { cfg, log } = lab;
  const manifest = cfg.shipped && !lab.opts.retrain ? readManifest(cfg.shipped) : null;
  const specs = modelSpecs(cfg);
  const files: string[] = [], keys: string[] = [], out: LabOutputs["models"] = [];
  for (const [i, spec] of specs.entries()) {
    const key = modelKey(spec, cfg);
    const shipped = manifest?.models[spec.name];
    let file: string;
    if (shipped && shipped.key === key) {
      file = path.join(cfg.shipped!, shipped.file);
      const sum = fileSha256(file);
      if (sum !== shipped.sha256) throw new UserError(`${file}: checksum ${sum} does not match the manifest's ${shipped.sha256}; re-train with --retrain`);
      log(`[lab] model ${i + 1}/${specs.length} ${spec.name}: shipped checkpoint ${file} (sha256 ok)`);
    } else {
      if (shipped) log(`[lab] model ${spec.name}: the shipped checkpoint was trained with another config; training it (${spec.steps} steps)`);
      log(`[lab] model ${i + 1}/${specs.length} ${spec.name} (${spec.role}, ${spec.tokenizer.kind} tokenizer${spec.specialty.length ? `, specialty ${spec.specialty.join("+")}` : ", general mix"}): ${spec.steps} steps`);
      const st = await lab.stage(`model.${spec.name}`, `model-${spec.name}`, key, async (dir) => ({
        modelFile: await trainScratchModel(spec, spec.mix.map((m) => ({ family: TASKS[m.family], weight: m.weight, level: m.level })), exclude, dir, { log, backend: lab.opts.backend, progress: lab.progress }),
      }));
      if (st.cached) log(`[lab]   cached: ${st.result.modelFile}`);
      file = st.result.modelFile;
    }
    const { model, tokenizer } = loadModel(file);
    out.push({ name: spec.name, role: spec.role, specialty: spec.specialty, tokenizer: tokenizer.kind, vocabSize: tokenizer.vocabSize, file, shipped: file !== undefined && shipped?.key === key });
    disposeModel(model);
    files.push(file);
    keys.push(out[i].shipped ? `sha256:${fileSha256(file)}` : key);
  }
  return { names: specs.map((s) => s.name), files, keys, out };
}

// ---- 2. base evaluations -------------------------------------------------------------------------------------

async function evaluateBase(lab: Lab, base: BaseModels): Promise<Record<string, EvalResult>> {
  const evals: Record<string, EvalResult> = {};
  for (const [i, n] of base.names.entries()) {
    lab.log(`[lab] evaluating ${n} on the test set`);
    evals[n] = await lab.evaluate(n, base.files[i], "test");
  }
  return evals;
}

// ---- 3–7. one seed's data ------------------------------------------------------------------------------------

/** Rewards are floats too (partial credit): written with a fraction so Arrow infers one type per column. */
const serialize = recordSerializer({ floatFields: [...DEFAULT_FLOAT_FIELDS, "reward_chosen", "reward_rejected"] });

function writeJsonl(file: string, rows: readonly object[]): void {
  writeFileAtomic(file, rows.map(serialize).join("\n") + (rows.length ? "\n" : ""));
}

/** Stage 3: `data.prompts` distinct training prompts (never a held-out one); first half SFT, second half preference. */
export function drawPrompts(cfg: LabConfig, seed: number, exclude: ReadonlySet<string>): { sft: TaskItem[]; pref: TaskItem[] } {
  const families: TaskFamily[] = cfg.benchmarks.families.map((f) => TASKS[f]);
  const stream = new TaskStream(families.map((f) => ({ family: f, weight: 1, level: cfg.benchmarks.levels[f.name] })), { seed, name: "lab-prompts", exclude });
  // distinct prompts (a repeated prompt would put the same pair in both halves)
  const items: TaskItem[] = [];
  const seen = new Set<string>();
  for (let tries = 0; items.length < cfg.data.prompts && tries < cfg.data.prompts * 50; tries++) {
    const it = stream.next();
    if (!seen.has(it.prompt)) (seen.add(it.prompt), items.push(it));
  }
  const half = Math.floor(items.length / 2);
  return { sft: items.slice(0, half), pref: items.slice(half) };
}

interface SftData {
  file: string;
  examples: number;
  by: Record<string, number>;
  samples: SampleStats;
}

/** Stage 4: sample the SFT half (`data.sftK` per model) from the initial pivot and the sources; keep each prompt's best response if correct. */
async function sampleSftData(lab: Lab, base: BaseModels, seed: number, items: TaskItem[], keys: SeedKeys): Promise<SftData> {
  const { result } = await lab.stage(`seed${seed}.sft-data`, "sft-data", keys.sftData, async (dir) => {
    const models = base.names.map((name, i) => ({ name, file: base.files[i] }));
    const bar = createProgress(`sample SFT half, seed ${seed}`, lab.progress, { plain: true, minIntervalMs: 15_000 });
    const { samples, stats } = await sampleResponses(models, items, { k: lab.cfg.data.sftK, temperature: lab.cfg.data.temperature, topK: lab.cfg.data.topK, seed: seed * 1000, bar });
    const rows: object[] = [];
    const by: Record<string, number> = {};
    items.forEach((it, i) => {
      const best = sftExample(samples[i]);
      if (!best) return;
      rows.push({ prompt: it.prompt, completion: best.text, family: it.family });
      by[base.names[best.model]] = (by[base.names[best.model]] ?? 0) + 1;
    });
    if (rows.length === 0) throw new UserError(`lab seed ${seed}: no SFT prompt got a correct response from any model (data.prompts=${lab.cfg.data.prompts})`);
    const file = path.join(dir, "sft.jsonl");
    writeJsonl(file, rows);
    return { file, examples: rows.length, by, samples: stats };
  });
  lab.log(`[lab] seed ${seed}: ${items.length} SFT prompts → ${result.examples} SFT examples (a correct response from some model)`);
  return result;
}

/** Stage 5: SFT of the initial pivot. */
async function trainSft(lab: Lab, base: BaseModels, seed: number, data: SftData, keys: SeedKeys): Promise<{ modelFile: string; metrics: string }> {
  const { result } = await lab.stage(`seed${seed}.sft`, "sft", keys.sft, async (dir) =>
    trainLabRun(labTrainConfig(lab.cfg.sft, { kind: "sft", outDir: path.join(dir, "train"), train: data.file, examples: data.examples, init: base.files[0], seed, budget: { epochs: lab.cfg.sft.epochs } }, lab.trainEnv), { log: lab.log }),
  );
  return result;
}

interface RawPair {
  family: string;
  prompt: string;
  answer: string;
  chosen: Sample;
  rejected: Sample;
  sourceChosen: Sample;
  wrpoChosen: Sample;
}

interface PairData {
  rawFile: string;
  /** The best correct response of every preference prompt (sft-all's share of the preference half). */
  sftFile: string;
  sftExamples: number;
  stats: Omit<PairStats, "verified" | "sft" | "sftBy" | "sftSamples">;
}

/** Stage 6: sample the preference half from the SFT pivot and the sources; chosen = best, rejected = the worst of `data.rejected`. */
async function samplePairs(lab: Lab, base: BaseModels, seed: number, items: TaskItem[], sftModel: string, keys: SeedKeys): Promise<PairData> {
  const { result } = await lab.stage(`seed${seed}.pairs`, "pairs", keys.pairs, async (dir) => {
    const names = base.names.map((n, i) => (i === 0 ? `${n} (SFT)` : n));
    const models = names.map((name, i) => ({ name, file: i === 0 ? sftModel : base.files[i] }));
    const bar = createProgress(`sample preference half, seed ${seed}`, lab.progress, { plain: true, minIntervalMs: 15_000 });
    const { samples, stats } = await sampleResponses(models, items, { k: lab.cfg.data.k, temperature: lab.cfg.data.temperature, topK: lab.cfg.data.topK, seed: seed * 1000 + 500, bar });
    const raw: RawPair[] = [];
    const sftRows: object[] = [];
    const st: PairData["stats"] = { prompts: items.length, pairs: 0, dropped: { tie: 0, "too-few": 0 }, chosenBy: {}, rejectedBy: {}, meanRewardChosen: 0, meanRewardRejected: 0, samples: stats };
    items.forEach((it, i) => {
      const best = sftExample(samples[i]);
      if (best) sftRows.push({ prompt: it.prompt, completion: best.text, family: it.family });
      const o = buildPair(samples[i], lab.cfg.data.rejected);
      if ("dropped" in o) return void st.dropped[o.dropped]++;
      const w = wrpoTriple(samples[i], o.pair);
      raw.push({ family: it.family, prompt: it.prompt, answer: it.answer, chosen: o.pair.chosen, rejected: o.pair.rejected, sourceChosen: w.sourceChosen, wrpoChosen: w.chosen });
    });
    if (raw.length === 0) throw new UserError(`lab seed ${seed}: no preference prompt gave a pair (every one a tie); raise data.k or data.prompts`);
    st.pairs = raw.length;
    for (const p of raw) {
      st.chosenBy[names[p.chosen.model]] = (st.chosenBy[names[p.chosen.model]] ?? 0) + 1;
      st.rejectedBy[names[p.rejected.model]] = (st.rejectedBy[names[p.rejected.model]] ?? 0) + 1;
      st.meanRewardChosen += p.chosen.reward / raw.length;
      st.meanRewardRejected += p.rejected.reward / raw.length;
    }
    const rawFile = path.join(dir, "raw-pairs.json");
    writeFileAtomic(rawFile, JSON.stringify({ names, pairs: raw }) + "\n");
    const sftFile = path.join(dir, "pref-half-sft.jsonl");
    writeJsonl(sftFile, sftRows);
    return { rawFile, sftFile, sftExamples: sftRows.length, stats: st };
  });
  const s = result.stats;
  lab.log(`[lab] seed ${seed}: ${s.prompts} preference prompts → ${s.pairs} pairs (rejected: ${lab.cfg.data.rejected}; ${s.dropped.tie} ties, ${s.dropped["too-few"]} with too few finished responses dropped)`);
  return result;
}

interface Scored {
  files: Record<string, string>;
  /** The verifier re-run on the written pairs file (PairStats.verified). */
  verified: number;
  regime: SeedRegime;
}

/** Stage 7: the published-format files (pairs.jsonl, pairs-wrpo.jsonl, pairs-n1..), the verifier re-run, the regime. */
async function scorePairs(lab: Lab, base: BaseModels, seed: number, pairs: PairData, sftModel: string, keys: SeedKeys): Promise<Scored> {
  const { result } = await lab.stage(`seed${seed}.score`, "scored", keys.scored, async (dir) => {
    const { pairs: raw } = JSON.parse(fs.readFileSync(pairs.rawFile, "utf8")) as { pairs: RawPair[] };
    const slots = ["chosen", "rejected", "sourceChosen", "wrpoChosen"] as const;
    const rows = raw.flatMap((p) => slots.map((s) => ({ prompt: p.prompt, response: p[s].text })));
    const files = [sftModel, ...base.files.slice(1)];
    lab.log(`[lab] scoring ${rows.length} responses with the SFT pivot and ${files.length - 1} sources (each with its own tokenizer)`);
    const scores: Awaited<ReturnType<typeof sequenceLogProbs>>[] = [];
    for (const f of files) {
      const { model, tokenizer } = loadModel(f);
      try {
        scores.push(await sequenceLogProbs(model, tokenizer, rows, { batchSize: 256 }));
      } finally {
        disposeModel(model);
      }
    }
    const [ref, ...src] = scores;
    const at = (i: number, s: number) => i * slots.length + s;
    // slot s of pair i with the first n sources (the number-of-sources ablation reads files with fewer sources)
    const slot = (i: number, s: number, n = src.length) => ({ pivot: ref[at(i, s)], sources: src.slice(0, n).map((r) => r[at(i, s)]) });
    const meta = (p: RawPair) => ({ family: p.family, answer: p.answer, reward_chosen: p.chosen.reward, reward_rejected: p.rejected.reward, model_chosen: base.names[p.chosen.model], model_rejected: base.names[p.rejected.model] });
    const main = (n: number) => raw.map((p, i) => ({ prompt: p.prompt, chosen: p.chosen.text, rejected: p.rejected.text, ...logpPairColumns(slot(i, 0, n), slot(i, 1, n)), ...meta(p) }));
    const N = src.length;
    const out: Record<string, string> = { pairs: path.join(dir, "pairs.jsonl"), wrpo: path.join(dir, "pairs-wrpo.jsonl"), chosenSft: path.join(dir, "chosen-sft.jsonl") };
    writeJsonl(out.pairs, main(N));
    writeJsonl(out.wrpo, raw.map((p, i) => ({
      prompt: p.prompt, chosen: p.wrpoChosen.text, rejected: p.rejected.text, source_chosen: p.sourceChosen.text,
      ...logpPairColumns(slot(i, 3), slot(i, 1)), ...logpColumns("source_chosen", slot(i, 2).pivot, slot(i, 2).sources), ...meta(p),
    })));
    // sft-cont trains on exactly the pairs' chosen responses, in the pairs' order
    writeJsonl(out.chosenSft, raw.map((p) => ({ prompt: p.prompt, completion: p.chosen.text, family: p.family })));
    for (let n = 1; n < N; n++) writeJsonl((out[`n${n}`] = path.join(dir, `pairs-n${n}.jsonl`)), main(n));
    // the published format: the file must validate as the core CLI reads it; the verifier re-run on what was written
    const written: PreferenceRecord[] = [];
    let verified = 0;
    for await (const { record } of readJsonl(out.pairs, recordValidator(N))) {
      written.push(record);
      const r = record as PreferenceRecord & { family: string; reward_chosen: number; reward_rejected: number };
      const item = { family: r.family, prompt: r.prompt as string, answer: "" };
      const rc = TASKS[r.family].score(item, r.chosen as string), rr = TASKS[r.family].score(item, r.rejected as string);
      if (rc > rr && rc === r.reward_chosen && rr === r.reward_rejected) verified++;
    }
    const regime: SeedRegime = {
      lengths: lengthStats(raw.map((p) => ({ chosen: p.chosen.text, rejected: p.rejected.text }))),
      tokens: tokenStats(raw.map((_, i) => scores.map((s) => s[at(i, 0)].count - 1)), base.names),
      fused: fusedGapStats(written),
    };
    return { files: out, verified: written.length ? verified / written.length : NaN, regime };
  });
  return result;
}

// ---- 8. hyper-parameters ----------------------------------------------------------------------------------

/** The hyper-parameters a variant trains with when nothing is selected: the config's table, else pref.lr and β × 1. */
function configHyperParams(cfg: LabConfig, v: VariantSpec): HyperParams & { source: LabOutputs["hparams"][string]["source"] } {
  if (tunedKnobs(v) === "none") return { lr: cfg.sft.lr, betaScale: 1, source: "sft" };
  const hp = cfg.hparams[v.name];
  return hp ? { ...hp, source: "config" } : { lr: cfg.pref.lr, betaScale: 1, source: "default" };
}

/** The grid a variant is selected over (empty when nothing is tuned). */
export function selectionGrid(grid: { lr: number[]; betaScale: number[] }, v: VariantSpec): HyperParams[] {
  const t = tunedKnobs(v);
  if (t === "none") return [];
  return grid.lr.flatMap((lr) => (t === "lr" ? [{ lr, betaScale: 1 }] : grid.betaScale.map((betaScale) => ({ lr, betaScale }))));
}

/**
 * Stage 8: every tuned variant trained at every grid point on the first seed's data, scored on the validation
 * set; the best overall validation accuracy wins (ties: the earlier grid point). InfiFPO's ablations take
 * InfiFPO's choice (`selectedWith`).
 */
async function selectHyperParams(lab: Lab, bench: Benchmarks, run: SeedRun, variants: VariantSpec[]): Promise<SelectionReport> {
  const grid = lab.cfg.selection!;
  const report: SelectionReport = { seed: run.seed, grid, variants: {} };
  const names = variants.map((v) => v.name);
  for (const v of variants) {
    const cands = selectionGrid(grid, v);
    if (cands.length === 0 || selectedWith(v, names) !== null) continue;
    const scored: SelectionReport["variants"][string]["candidates"] = [];
    for (const [ci, hp] of cands.entries()) {
      lab.log(`[lab] selection · ${v.name} ${ci + 1}/${cands.length}: lr ${hp.lr}${tunedKnobs(v) === "lr+beta" ? `, β × ${hp.betaScale}` : ""}`);
      const t = await trainVariant(lab, run, v, hp, `select.${v.name}`);
      const ev = await lab.evaluate(`${v.name} lr ${hp.lr} β×${hp.betaScale}`, t.modelFile, "validation");
      scored.push({ ...hp, validation: overallAccuracy(ev, bench.validation) });
    }
    const best = scored.reduce((a, b) => (b.validation > a.validation ? b : a));
    report.variants[v.name] = { candidates: scored, chosen: { lr: best.lr, betaScale: best.betaScale } };
    lab.log(`[lab] selection · ${v.name}: lr ${best.lr}, β × ${best.betaScale} (validation ${(100 * best.validation).toFixed(1)}%)`);
  }
  return report;
}

// ---- 9. variants -----------------------------------------------------------------------------------------------

/** Everything of one seed that the variants train from. */
interface SeedRun {
  seed: number;
  keys: SeedKeys;
  base: BaseModels;
  sftData: SftData;
  sft: { modelFile: string; metrics: string };
  pairs: PairData;
  scored: Scored;
}

/** The training records of a metrics.jsonl (eval lines and unparsable lines skipped). */
export function readMetrics(file: string): Record<string, number>[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, number>).filter((r) => typeof r.loss === "number" && typeof r.step === "number");
}

/** The β a preference variant's loss uses by default with its options (the grid scales it). */
function defaultBeta(v: VariantSpec): number {
  return resolveLossConfig(getLoss(v.loss!), v.options as LossOverrides).beta;
}

/** The training file a variant reads. */
function variantFile(run: SeedRun, v: VariantSpec): string {
  const f = run.scored.files;
  if (v.kind === "sft-cont") return f.chosenSft;
  if (v.data.kind === "wrpo") return f.wrpo;
  if (v.data.kind === "sources" && f[`n${v.data.n}`]) return f[`n${v.data.n}`];
  return f.pairs;
}

/** Stage 9: one variant trained with `hp` (the SFT checkpoint itself for "sft"). */
async function trainVariant(lab: Lab, run: SeedRun, v: VariantSpec, hp: HyperParams, label: string): Promise<{ modelFile: string; metrics: string | null }> {
  const { cfg } = lab;
  if (v.kind === "sft") return { modelFile: run.sft.modelFile, metrics: null };
  const key = run.keys.variant(v, hp)!;
  const seed = run.seed;
  const { result } = await lab.stage(`seed${seed}.${label}`, `variant-${v.name}`, key, async (dir) => {
    const outDir = path.join(dir, "train");
    if (v.kind === "sft-all") {
      const file = path.join(dir, "sft-all.jsonl");
      writeFileAtomic(file, fs.readFileSync(run.sftData.file, "utf8") + fs.readFileSync(run.pairs.sftFile, "utf8"));
      const examples = run.sftData.examples + run.pairs.sftExamples;
      return trainLabRun(labTrainConfig(cfg.sft, { kind: "sft", outDir, train: file, examples, init: run.base.files[0], seed, budget: { epochs: cfg.sft.epochs } }, lab.trainEnv), { log: lab.log });
    }
    const knobs: TrainKnobs = { ...cfg.pref, lr: hp.lr };
    // sft-cont: the pairs' chosen responses, as many steps as a preference run over the pairs
    const budget = { epochs: cfg.pref.epochs };
    const examples = run.pairs.stats.pairs;
    if (v.kind === "sft-cont") return trainLabRun(labTrainConfig(knobs, { kind: "sft", outDir, train: variantFile(run, v), examples, init: run.sft.modelFile, seed, budget }, lab.trainEnv), { log: lab.log });
    const options = { ...v.options, beta: hp.betaScale * defaultBeta(v) };
    return trainLabRun(labTrainConfig(knobs, { kind: "preference", outDir, train: variantFile(run, v), examples, init: run.sft.modelFile, loss: { name: v.loss!, options }, seed, budget }, lab.trainEnv), { log: lab.log });
  });
  return result;
}

// ---- the whole run ---------------------------------------------------------------------------------------------

/** Runs the lab: base models, then per seed data, SFT, pairs, scores, (selection), variants and evaluations. */
export async function runLab(cfg: LabConfig, opts: LabRunOptions): Promise<LabOutputs> {
  const backend = await initBackend({ backend: opts.backend, log: opts.log });
  // every stage runs on the backend the lab started on (INFIFPO_BACKEND must not switch it half-way)
  opts = { ...opts, backend: backend.name };
  const bench = labBenchmarks(cfg);
  const lab = openLab(cfg, opts, bench);
  const variants = cfg.variants.map((n) => variantSpec(n, cfg.sources.length));

  const base = await baseModels(lab, bench.exclude); // 1
  const baseEvals = await evaluateBase(lab, base); // 2
  // what sensible outputs are made of: every character of every reference answer of the benchmarks
  const alphabet = answerAlphabet([...bench.test, ...bench.validation].flatMap((b) => b.items.map((it) => it.answer)));
  const nonsense = (e: EvalResult) => nonsenseRate(Object.values(e).flatMap((rs) => rs.flatMap((r) => (r.response === undefined ? [] : [r.response]))), alphabet);

  const hparams: LabOutputs["hparams"] = Object.fromEntries(variants.map((v) => [v.name, configHyperParams(cfg, v)]));
  let selection: SelectionReport | null = null;
  const seeds: SeedOutputs[] = [];
  for (const seed of cfg.seeds) {
    lab.log(`[lab] ── seed ${seed} ──`);
    const keys = seedKeys(cfg, seed, base.keys);
    const prompts = drawPrompts(cfg, seed, bench.exclude); // 3
    const sftData = await sampleSftData(lab, base, seed, prompts.sft, keys); // 4
    const sft = await trainSft(lab, base, seed, sftData, keys); // 5
    const pairs = await samplePairs(lab, base, seed, prompts.pref, sft.modelFile, keys); // 6
    const scored = await scorePairs(lab, base, seed, pairs, sft.modelFile, keys); // 7
    const run: SeedRun = { seed, keys, base, sftData, sft, pairs, scored };
    if (cfg.selection && selection === null) {
      selection = await selectHyperParams(lab, bench, run, variants); // 8
      for (const [name, s] of Object.entries(selection.variants)) hparams[name] = { ...s.chosen, source: "selected" };
      for (const v of variants) {
        const w = selectedWith(v, cfg.variants);
        if (w !== null && selection.variants[w]) hparams[v.name] = { ...selection.variants[w].chosen, source: "infifpo's" };
      }
    }
    const out: SeedOutputs = {
      seed, pairsFile: scored.files.pairs, sftModel: sft.modelFile, models: {}, evals: {}, metrics: { sft: sft.metrics }, nonsense: {}, drift: {}, regime: scored.regime,
      pairStats: { ...pairs.stats, sft: sftData.examples, sftBy: sftData.by, sftSamples: sftData.samples, verified: scored.verified },
    };
    for (const [vi, v] of variants.entries()) {
      lab.log(`[lab] seed ${seed} · variant ${vi + 1}/${variants.length} ${v.name}`);
      const t = await trainVariant(lab, run, v, hparams[v.name], `train.${v.name}`); // 9
      out.models[v.name] = t.modelFile;
      if (v.kind !== "sft") out.metrics[v.name] = t.metrics;
      out.evals[v.name] = await lab.evaluate(`${v.name} (seed ${seed})`, t.modelFile, "test");
      out.nonsense[v.name] = nonsense(out.evals[v.name]);
      out.drift[v.name] = t.metrics ? logpsDrift(readMetrics(t.metrics)) : null;
    }
    seeds.push(out);
  }

  return {
    config: cfg,
    backend: backend.name,
    benchmarks: bench.test.map((b, i) => ({ family: b.family.name, category: b.family.category, items: b.items.length, validationItems: bench.validation[i].items.length, eval: b.family.eval })),
    models: base.out,
    baseEvals,
    baseNonsense: Object.fromEntries(Object.entries(baseEvals).map(([n, e]) => [n, nonsense(e)])),
    seeds,
    variants,
    hparams,
    selection,
    timings: lab.timings,
    stageSeconds: lab.stageSeconds,
  };
}

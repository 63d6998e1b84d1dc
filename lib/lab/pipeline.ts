/**
 * The fusion lab, end to end (issue 9): build heterogeneous sources and a pivot, sample and verify responses,
 * build preference pairs, SFT the pivot, score every response with the SFT pivot and every source (each with its
 * own tokenizer), train every variant from the SFT checkpoint on the same data order, evaluate everything on
 * the held-out benchmarks, repeat over seeds. Each stage is cached under its config key (lib/lab/cache.ts).
 *
 * What is seeded by what: the benchmarks by `benchmarks.seed`; the source and pivot models by
 * `pretrain.seed` (trained once, shared by every seed: so that checkpoints can be shipped); everything after —
 * training prompts, sampling, SFT and variant data order — by the run seed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../errors";
import { initBackend } from "../backend";
import { loadModel, disposeModel, generate, sequenceLogProbs, type Model } from "../model";
import type { Tokenizer } from "../tokenizers/types";
import { TASKS, TaskStream, testSet, type TaskFamily, type TaskItem } from "../tasks";
import { resolveTrainConfig } from "../train/config";
import { runTraining } from "../train/run";
import { writeFileAtomic } from "../train/checkpoint";
import { createProgress, type ProgressMode } from "../train/progress";
import { DEFAULT_FLOAT_FIELDS, recordSerializer } from "../data/write";
import { recordValidator, readJsonl } from "../data/jsonl";
import { cachedStage } from "./cache";
import { configKey, type LabConfig } from "./config";
import { evaluateModel, type Benchmark, type ItemResult } from "./evaluate";
import { mixWeights } from "./mix";
import { trainScratchModel, type ScratchModelSpec } from "./models";
import { buildPair, wrpoTriple, type Sample } from "./pairs";
import { variantSpec, type VariantSpec } from "./variants";
import { fileSha256, readManifest } from "./shipped";

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
  sft: number;
  pairs: number;
  dropped: { tie: number; "too-few": number };
  /** Which model produced the chosen / rejected responses (counts by model name). */
  chosenBy: Record<string, number>;
  rejectedBy: Record<string, number>;
  meanRewardChosen: number;
  meanRewardRejected: number;
  /** Fraction of pairs whose chosen reward is strictly higher (1 by construction; a pipeline check). */
  chosenBeatsRejected: number;
  /** Per model: fraction of samples that ended with EOS, and mean reward of those. */
  samples: Record<string, { finished: number; meanReward: number }>;
}

export interface SeedOutputs {
  seed: number;
  pairsFile: string;
  pairStats: PairStats;
  sftModel: string;
  /** variant name → its model file. */
  models: Record<string, string>;
  /** variant name → evaluation. */
  evals: Record<string, EvalResult>;
  /** variant name → its metrics.jsonl (null for sft-only). */
  metrics: Record<string, string | null>;
}

export interface LabOutputs {
  config: LabConfig;
  backend: string;
  benchmarks: { family: string; category: string; items: number; eval: string }[];
  models: { name: string; role: "pivot" | "source"; specialty: string[]; tokenizer: string; vocabSize: number; file: string; shipped: boolean }[];
  /** Evaluations of the initial pivot and of the sources (seed-independent). */
  baseEvals: Record<string, EvalResult>;
  seeds: SeedOutputs[];
  variants: VariantSpec[];
  /** Wall seconds of each stage in this invocation (≈0 when served from the cache). */
  timings: Record<string, number>;
  /** Seconds each stage took when it was computed, also when this invocation took it from the cache. */
  stageSeconds: Record<string, number>;
}

type Loaded = { model: Model; tokenizer: Tokenizer };

/** Benchmarks: every family's fixed test set, and the set of test prompts training must never use. */
export function labBenchmarks(cfg: LabConfig): { benchmarks: Benchmark[]; exclude: Set<string> } {
  const benchmarks = cfg.benchmarks.families.map((name) => {
    const family = TASKS[name];
    // testSet's items are a prefix of one seeded sequence: the first testSize of the excludeSize excluded ones
    const all = testSet(family, { seed: cfg.benchmarks.seed, size: cfg.benchmarks.excludeSize, level: cfg.benchmarks.levels[name] });
    return { family, items: all.slice(0, cfg.benchmarks.testSize), excluded: all };
  });
  return {
    benchmarks: benchmarks.map(({ family, items }) => ({ family, items })),
    exclude: new Set(benchmarks.flatMap((b) => b.excluded.map((it) => it.prompt))),
  };
}

/** The from-scratch spec of every lab model: the pivot first, then the sources in config order. */
export function modelSpecs(cfg: LabConfig): (ScratchModelSpec & { role: "pivot" | "source"; specialty: string[] })[] {
  const families = cfg.benchmarks.families.map((f) => TASKS[f]);
  const P = cfg.pretrain;
  const common = { batchSize: P.batchSize, lr: P.lr, warmupSteps: P.warmupSteps, model: cfg.model, seed: P.seed, tokenizerCorpus: P.tokenizerCorpus };
  const mix = (specialty: string[]) =>
    mixWeights(specialty as never, P.specialtyWeight, families, cfg.benchmarks.levels).map((p) => ({ family: p.family.name, weight: p.weight, level: p.level }));
  return [
    { ...common, name: cfg.pivot.name, role: "pivot", specialty: [], tokenizer: cfg.pivot.tokenizer, steps: cfg.pivot.steps, mix: mix([]) },
    ...cfg.sources.map((s) => ({ ...common, name: s.name, role: "source" as const, specialty: s.specialty, tokenizer: s.tokenizer, steps: s.steps, mix: mix(s.specialty) })),
  ];
}

/** A from-scratch model's cache key: its spec and the benchmarks it must not see. */
export function modelKey(spec: ScratchModelSpec, cfg: LabConfig): string {
  const { testSize: _, ...b } = cfg.benchmarks;
  return configKey({ spec, benchmarks: b, version: 1 });
}

function timer(): () => number {
  const t0 = performance.now();
  return () => (performance.now() - t0) / 1000;
}

async function loadAll(files: readonly string[]): Promise<Loaded[]> {
  return files.map((f) => {
    const { model, tokenizer } = loadModel(f);
    return { model, tokenizer };
  });
}

function disposeAll(ms: Loaded[]): void {
  for (const m of ms) disposeModel(m.model);
}

/** Rewards are floats too (partial credit): written with a fraction so Arrow infers one type per column. */
const serialize = recordSerializer({ floatFields: [...DEFAULT_FLOAT_FIELDS, "reward_chosen", "reward_rejected"] });

function writeJsonl(file: string, rows: readonly object[]): void {
  writeFileAtomic(file, rows.map(serialize).join("\n") + (rows.length ? "\n" : ""));
}

/** Stage 1: the initial pivot and the sources — shipped checkpoints when their key and checksum match, else trained (cached). */
export async function labModels(
  cfg: LabConfig,
  opts: LabRunOptions,
  exclude: ReadonlySet<string> = labBenchmarks(cfg).exclude,
): Promise<{ specs: ReturnType<typeof modelSpecs>; files: string[]; models: LabOutputs["models"] }> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  const progress = opts.progress ?? "auto";
  const root = opts.cacheDir;
  const manifest = cfg.shipped && !opts.retrain ? readManifest(cfg.shipped) : null;
  const specs = modelSpecs(cfg);
  const modelFiles: string[] = [];
  const modelsOut: LabOutputs["models"] = [];
  for (const [i, spec] of specs.entries()) {
    const key = modelKey(spec, cfg);
    const shipped = manifest?.models[spec.name];
    let file: string;
    let fromShipped = false;
    if (shipped && shipped.key === key) {
      file = path.join(cfg.shipped!, shipped.file);
      const sum = fileSha256(file);
      if (sum !== shipped.sha256) throw new UserError(`${file}: checksum ${sum} does not match the manifest's ${shipped.sha256}; re-train with --retrain`);
      fromShipped = true;
      log(`[lab] model ${i + 1}/${specs.length} ${spec.name}: shipped checkpoint ${file} (sha256 ok)`);
    } else {
      if (shipped) log(`[lab] model ${spec.name}: the shipped checkpoint was trained with another config; training it (${spec.steps} steps)`);
      log(`[lab] model ${i + 1}/${specs.length} ${spec.name} (${spec.role}, ${spec.tokenizer.kind} tokenizer${spec.specialty.length ? `, specialty ${spec.specialty.join("+")}` : ", general mix"}): ${spec.steps} steps`);
      const st = await cachedStage(root, `model-${spec.name}`, key, async (dir) => ({
        modelFile: await trainScratchModel(spec, spec.mix.map((m) => ({ family: TASKS[m.family], weight: m.weight, level: m.level })), exclude, dir, { log, backend: opts.backend, progress }),
      }));
      if (st.cached) log(`[lab]   cached: ${st.result.modelFile}`);
      file = st.result.modelFile;
    }
    modelFiles.push(file);
    const lm = loadModel(file);
    modelsOut.push({ name: spec.name, role: spec.role, specialty: spec.specialty, tokenizer: spec.tokenizer.kind, vocabSize: lm.tokenizer.vocabSize, file, shipped: fromShipped });
    disposeModel(lm.model);
  }
  return { specs, files: modelFiles, models: modelsOut };
}

/** Runs (or resumes) the whole lab; returns everything the report needs. */
export async function runLab(cfg: LabConfig, opts: LabRunOptions): Promise<LabOutputs> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  const progress = opts.progress ?? "auto";
  const backend = await initBackend({ backend: opts.backend, log });
  // every stage (source training, SFT, variants) runs on the backend chosen here
  opts = { ...opts, backend: backend.name };
  const timings: Record<string, number> = {};
  const stageSeconds: Record<string, number> = {};
  const root = opts.cacheDir;
  const { benchmarks, exclude } = labBenchmarks(cfg);
  const benchKey = configKey(cfg.benchmarks);
  const families = cfg.benchmarks.families.map((f) => TASKS[f]);
  const variants = cfg.variants.map((v) => variantSpec(v, cfg.sources.length));

  // ---- 1. the pivot at init and the sources -------------------------------------------------------------
  let t = timer();
  const { specs, files: modelFiles, models: modelsOut } = await labModels(cfg, { ...opts, log, progress }, exclude);
  timings.models = t();
  const names = specs.map((s) => s.name);

  // ---- evaluation, cached per (model file checksum, benchmarks) -----------------------------------------
  const evalCache = new Map<string, { result: EvalResult; seconds: number }>();
  const evaluateFile = async (label: string, file: string): Promise<{ result: EvalResult; seconds: number }> => {
    const key = configKey({ model: fileSha256(file), benchmarks: benchKey, version: 1 });
    if (evalCache.has(key)) return evalCache.get(key)!;
    const total = benchmarks.reduce((s, b) => s + b.items.length, 0);
    const st = await cachedStage(root, "eval", key, async () => {
      const bar = createProgress(`eval ${label}`, progress, { plain: true });
      const [m] = await loadAll([file]);
      try {
        bar.start(total, 0);
        const r = await evaluateModel(m.model, m.tokenizer, benchmarks, { onProgress: (d) => bar.update(d, {}) });
        bar.stop();
        return r;
      } finally {
        disposeAll([m]);
      }
    });
    const r = { result: st.result, seconds: st.seconds };
    evalCache.set(key, r);
    return r;
  };

  t = timer();
  const baseEvals: Record<string, EvalResult> = {};
  for (const [i, n] of names.entries()) {
    log(`[lab] evaluating ${n} on ${benchmarks.length} benchmarks × ≤${cfg.benchmarks.testSize} items`);
    const e = await evaluateFile(n, modelFiles[i]);
    baseEvals[n] = e.result;
    stageSeconds[`eval.${n}`] = e.seconds;
  }
  timings.evalBase = t();

  // ---- 2–5. per seed ------------------------------------------------------------------------------------
  const seeds: SeedOutputs[] = [];
  const modelKeys = specs.map((s, i) => (modelsOut[i].shipped ? `sha256:${fileSha256(modelFiles[i])}` : modelKey(s, cfg)));
  for (const seed of cfg.seeds) {
    log(`[lab] ── seed ${seed} ──`);
    // 2. sample k responses per prompt from every model; the verifier rewards them; pairs
    t = timer();
    const dataKey = configKey({ models: modelKeys, data: cfg.data, seed, families: cfg.benchmarks.families, levels: cfg.benchmarks.levels, benchKey, version: 1 });
    const data = await cachedStage(root, "pairs", dataKey, async (dir) => samplePairs(cfg, seed, names, modelFiles, families, exclude, dir, progress));
    const ps = data.result.stats;
    log(`[lab] seed ${seed}: ${ps.prompts} prompts → ${ps.sft} SFT examples, ${ps.pairs} preference pairs (${ps.dropped.tie} ties, ${ps.dropped["too-few"]} with < 2 finished responses dropped)${data.cached ? " (cached)" : ""}`);
    timings[`seed${seed}.sample`] = t();
    stageSeconds[`seed${seed}.sample`] = data.seconds;

    // 3. SFT of the pivot on the chosen responses of the SFT half
    t = timer();
    const sftKey = configKey({ dataKey, sft: cfg.sft, pivot: modelKeys[0], version: 1 });
    const sft = await cachedStage(root, "sft", sftKey, async (dir) => {
      const c = resolveTrainConfig(null, [{
        where: "lab sft",
        values: {
          kind: "sft", outDir: path.join(dir, "train"), data: { train: data.result.sftFile },
          model: { init: modelFiles[0] },
          optim: { lr: cfg.sft.lr, warmupSteps: cfg.sft.warmupSteps, schedule: "constant", beta2: 0.98, weightDecay: 0.01 },
          loop: { epochs: cfg.sft.epochs, batchSize: cfg.sft.batchSize, logEvery: 5, evalEvery: 0, checkpointEvery: 100, keepCheckpoints: 1, seed },
          backend: opts.backend ?? "auto", progress,
        },
      }]);
      const r = await runTraining(c, { resume: fs.existsSync(path.join(dir, "train", "checkpoints")), log });
      return { modelFile: r.modelFile, metrics: path.join(dir, "train", "metrics.jsonl") };
    });
    timings[`seed${seed}.sft`] = t();
    stageSeconds[`seed${seed}.sft`] = sft.seconds;

    // 4. score every response with the SFT pivot (ref_*) and every source (fuse_*)
    t = timer();
    const scoreKey = configKey({ dataKey, sftKey, sources: modelKeys.slice(1), version: 1 });
    const scored = await cachedStage(root, "scored", scoreKey, async (dir) => scorePairs(data.result.rawFile, sft.result.modelFile, modelFiles.slice(1), dir, cfg.sources.length, log));
    timings[`seed${seed}.score`] = t();
    stageSeconds[`seed${seed}.score`] = scored.seconds;

    // 5. variants from the SFT checkpoint, then evaluation
    const out: SeedOutputs = { seed, pairsFile: scored.result.files.pairs, pairStats: ps, sftModel: sft.result.modelFile, models: {}, evals: {}, metrics: {} };
    for (const [vi, v] of variants.entries()) {
      t = timer();
      if (v.loss === null) {
        out.models[v.name] = sft.result.modelFile;
        out.metrics[v.name] = null;
      } else {
        const d = v.data;
        const file = d.kind === "wrpo" ? scored.result.files.wrpo : d.kind === "sources" && d.n < cfg.sources.length ? scored.result.files[`n${d.n}`] : scored.result.files.pairs;
        if (!file) throw new Error(`lab: no pairs file for variant ${v.name}`);
        const vKey = configKey({ scoreKey, sftKey, pref: cfg.pref, loss: v.loss, options: v.options, data: v.data, seed, version: 1 });
        log(`[lab] seed ${seed} · variant ${vi + 1}/${variants.length} ${v.name}`);
        const tr = await cachedStage(root, `variant-${v.name}`, vKey, async (dir) => {
          const c = resolveTrainConfig(null, [{
            where: `lab variant ${v.name}`,
            values: {
              kind: "preference", outDir: path.join(dir, "train"), data: { train: file },
              model: { init: sft.result.modelFile }, loss: { name: v.loss!, options: v.options },
              optim: { lr: cfg.pref.lr, warmupSteps: cfg.pref.warmupSteps, schedule: "constant", beta2: 0.98, weightDecay: 0.0 },
              loop: { epochs: cfg.pref.epochs, batchSize: cfg.pref.batchSize, logEvery: 1, evalEvery: 0, checkpointEvery: 100, keepCheckpoints: 1, seed },
              backend: opts.backend ?? "auto", progress,
            },
          }]);
          const r = await runTraining(c, { resume: fs.existsSync(path.join(dir, "train", "checkpoints")), log });
          return { modelFile: r.modelFile, metrics: path.join(dir, "train", "metrics.jsonl") };
        });
        out.models[v.name] = tr.result.modelFile;
        out.metrics[v.name] = tr.result.metrics;
        stageSeconds[`seed${seed}.train.${v.name}`] = tr.seconds;
      }
      timings[`seed${seed}.train.${v.name}`] = t();
      t = timer();
      const e = await evaluateFile(`${v.name} (seed ${seed})`, out.models[v.name]);
      out.evals[v.name] = e.result;
      stageSeconds[`seed${seed}.eval.${v.name}`] = e.seconds;
      timings[`seed${seed}.eval.${v.name}`] = t();
    }
    out.metrics.sft = out.metrics.sft ?? sft.result.metrics;
    seeds.push(out);
  }

  return {
    config: cfg,
    backend: backend.name,
    benchmarks: benchmarks.map((b) => ({ family: b.family.name, category: b.family.category, items: b.items.length, eval: b.family.eval })),
    models: modelsOut,
    baseEvals,
    seeds,
    variants,
    timings,
    stageSeconds,
  };
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

/** Stage 2: prompts, samples, rewards, pairs. Writes sft.jsonl and raw-pairs.json. */
async function samplePairs(
  cfg: LabConfig,
  seed: number,
  names: string[],
  files: string[],
  families: TaskFamily[],
  exclude: ReadonlySet<string>,
  dir: string,
  progress: ProgressMode,
): Promise<{ sftFile: string; rawFile: string; stats: PairStats }> {
  const stream = new TaskStream(families.map((f) => ({ family: f, weight: 1, level: cfg.benchmarks.levels[f.name] })), { seed, name: "lab-prompts", exclude });
  // distinct prompts (a repeated prompt would put the same pair in both halves)
  const items: TaskItem[] = [];
  const seen = new Set<string>();
  for (let tries = 0; items.length < cfg.data.prompts && tries < cfg.data.prompts * 50; tries++) {
    const it = stream.next();
    if (!seen.has(it.prompt)) (seen.add(it.prompt), items.push(it));
  }
  const K = cfg.data.k;
  const budget = Math.max(...families.map((f) => f.maxAnswerChars)) + 1;
  const all: Sample[][] = items.map(() => []);
  const bar = createProgress(`sample seed ${seed}`, progress, { plain: true });
  bar.start(files.length * items.length * K, 0);
  const perModel: PairStats["samples"] = {};
  for (const [m, file] of files.entries()) {
    const [lm] = await loadAll([file]);
    try {
      const prompts = items.flatMap((it) => Array.from({ length: K }, () => it.prompt));
      const gens = await generate(lm.model, lm.tokenizer, prompts, { maxNewTokens: budget, temperature: cfg.data.temperature, seed: seed * 1000 + m, batchSize: 512 });
      let fin = 0, rew = 0;
      gens.forEach((g, j) => {
        const i = Math.floor(j / K), it = items[i];
        const fam = TASKS[it.family];
        const finished = g.finish === "stop";
        const reward = finished ? fam.score(it, g.text) : 0;
        if (finished) (fin++, (rew += reward));
        all[i].push({ model: m, text: g.text, finished, reward });
      });
      perModel[names[m]] = { finished: fin / gens.length, meanReward: fin ? rew / fin : 0 };
    } finally {
      disposeAll([lm]);
    }
    bar.update((m + 1) * items.length * K, {});
  }
  bar.stop();
  const half = Math.floor(items.length / 2);
  const sft: object[] = [];
  const raw: RawPair[] = [];
  const stats: PairStats = {
    prompts: items.length, sft: 0, pairs: 0, dropped: { tie: 0, "too-few": 0 }, chosenBy: {}, rejectedBy: {},
    meanRewardChosen: 0, meanRewardRejected: 0, chosenBeatsRejected: 0, samples: perModel,
  };
  items.forEach((it, i) => {
    const o = buildPair(all[i]);
    if (i < half) {
      // SFT half: the best finished response, if it earns any reward
      if ("pair" in o && o.pair.chosen.reward > 0) sft.push({ prompt: it.prompt, completion: o.pair.chosen.text, family: it.family });
      else if ("dropped" in o && o.dropped === "tie") {
        const best = all[i].find((s) => s.finished && s.reward > 0);
        if (best) sft.push({ prompt: it.prompt, completion: best.text, family: it.family });
      }
      return;
    }
    if ("dropped" in o) return void stats.dropped[o.dropped]++;
    const w = wrpoTriple(all[i], o.pair);
    raw.push({ family: it.family, prompt: it.prompt, answer: it.answer, chosen: o.pair.chosen, rejected: o.pair.rejected, sourceChosen: w.sourceChosen, wrpoChosen: w.chosen });
  });
  if (sft.length === 0) throw new UserError(`lab seed ${seed}: no SFT example earned any reward (the models are too weak for data.prompts=${cfg.data.prompts})`);
  if (raw.length === 0) throw new UserError(`lab seed ${seed}: every preference prompt was a tie; raise data.k or data.prompts`);
  stats.sft = sft.length;
  stats.pairs = raw.length;
  for (const p of raw) {
    stats.chosenBy[names[p.chosen.model]] = (stats.chosenBy[names[p.chosen.model]] ?? 0) + 1;
    stats.rejectedBy[names[p.rejected.model]] = (stats.rejectedBy[names[p.rejected.model]] ?? 0) + 1;
    stats.meanRewardChosen += p.chosen.reward / raw.length;
    stats.meanRewardRejected += p.rejected.reward / raw.length;
  }
  stats.chosenBeatsRejected = raw.filter((p) => p.chosen.reward > p.rejected.reward).length / raw.length;
  const sftFile = path.join(dir, "sft.jsonl");
  writeJsonl(sftFile, sft);
  const rawFile = path.join(dir, "raw-pairs.json");
  writeFileAtomic(rawFile, JSON.stringify({ names, pairs: raw }) + "\n");
  return { sftFile, rawFile, stats };
}

/** Stage 4: the published-format files (pairs.jsonl, pairs-wrpo.jsonl, pairs-n1..). */
async function scorePairs(rawFile: string, sftModel: string, sourceFiles: string[], dir: string, N: number, log: (l: string) => void): Promise<{ files: Record<string, string> }> {
  const { names, pairs } = JSON.parse(fs.readFileSync(rawFile, "utf8")) as { names: string[]; pairs: RawPair[] };
  const slots = ["chosen", "rejected", "sourceChosen", "wrpoChosen"] as const;
  const rows = pairs.flatMap((p) => slots.map((s) => ({ prompt: p.prompt, response: p[s].text })));
  const score = async (file: string) => {
    const [m] = await loadAll([file]);
    try {
      return await sequenceLogProbs(m.model, m.tokenizer, rows, { batchSize: 256 });
    } finally {
      disposeAll([m]);
    }
  };
  log(`[lab] scoring ${rows.length} responses with the SFT pivot and ${sourceFiles.length} sources (each with its own tokenizer)`);
  const ref = await score(sftModel);
  const src: Awaited<ReturnType<typeof score>>[] = [];
  for (const f of sourceFiles) src.push(await score(f));
  const at = (i: number, s: number) => i * slots.length + s;
  const records = pairs.map((p, i) => {
    const col = (s: number) => ({
      sum: ref[at(i, s)].sum, mean: ref[at(i, s)].mean,
      fsum: src.map((r) => r[at(i, s)].sum), fmean: src.map((r) => r[at(i, s)].mean),
    });
    const c = col(0), r = col(1), sc = col(2), wc = col(3);
    const meta = { family: p.family, answer: p.answer, reward_chosen: p.chosen.reward, reward_rejected: p.rejected.reward, model_chosen: names[p.chosen.model], model_rejected: names[p.rejected.model] };
    const main = {
      prompt: p.prompt, chosen: p.chosen.text, rejected: p.rejected.text,
      ref_chosen_logps: c.sum, ref_rejected_logps: r.sum, ref_mean_chosen_logps: c.mean, ref_mean_rejected_logps: r.mean,
      fuse_chosen_logps: c.fsum, fuse_rejected_logps: r.fsum, fuse_mean_chosen_logps: c.fmean, fuse_mean_rejected_logps: r.fmean,
      ...meta,
    };
    const wrpo = {
      prompt: p.prompt, chosen: p.wrpoChosen.text, rejected: p.rejected.text, source_chosen: p.sourceChosen.text,
      ref_chosen_logps: wc.sum, ref_rejected_logps: r.sum, ref_mean_chosen_logps: wc.mean, ref_mean_rejected_logps: r.mean,
      ref_source_chosen_logps: sc.sum, ref_mean_source_chosen_logps: sc.mean,
      fuse_chosen_logps: wc.fsum, fuse_rejected_logps: r.fsum, fuse_mean_chosen_logps: wc.fmean, fuse_mean_rejected_logps: r.fmean,
      fuse_source_chosen_logps: sc.fsum, fuse_mean_source_chosen_logps: sc.fmean,
      ...meta,
    };
    return { main, wrpo };
  });
  const files: Record<string, string> = { pairs: path.join(dir, "pairs.jsonl"), wrpo: path.join(dir, "pairs-wrpo.jsonl") };
  writeJsonl(files.pairs, records.map((r) => r.main));
  writeJsonl(files.wrpo, records.map((r) => r.wrpo));
  for (let n = 1; n < N; n++) {
    files[`n${n}`] = path.join(dir, `pairs-n${n}.jsonl`);
    const cut = (x: number[]) => x.slice(0, n);
    writeJsonl(files[`n${n}`], records.map(({ main: m }) => ({
      ...m, fuse_chosen_logps: cut(m.fuse_chosen_logps), fuse_rejected_logps: cut(m.fuse_rejected_logps),
      fuse_mean_chosen_logps: cut(m.fuse_mean_chosen_logps), fuse_mean_rejected_logps: cut(m.fuse_mean_rejected_logps),
    })));
  }
  // the published format: the file must validate as the core CLI reads it
  for await (const _ of readJsonl(files.pairs, recordValidator(N))) void _;
  return { files };
}

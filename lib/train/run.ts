/**
 * `runTraining(config)`: the whole run from a resolved TrainConfig — backend, model, data, trainer,
 * outputs. Used by `infifpo train` and by notebooks. Outputs in `config.outDir`:
 *   config.json      the resolved config (written before the first step)
 *   metrics.jsonl    one line per logged step / eval (TRL names)
 *   checkpoints/     step-* directories (params, AdamW state, data position, config), newest `keepCheckpoints`
 *   final/           final parameters (same layout as a checkpoint, no optimizer state)
 *   model.infifpo    the trained model with its tokenizer (lib/model's format), for `infifpo score` etc.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../errors";
import { initBackend } from "../backend";
import { readJsonl, type Row } from "../data/jsonl";
import { validatePair, promptText, responseText } from "../data/trl";
import { recordValidator } from "../data/jsonl";
import type { PreferencePair } from "../data/types";
import { DataError } from "../data/errors";
import { getLoss, resolveLossConfig, type LossOverrides } from "../losses";
import { loadTokenizer } from "../tokenizers";
import type { Tokenizer } from "../tokenizers/types";
import { createModel, disposeModel, modelVariables, resolveModelConfig, encodePair, type Model, type ModelConfig } from "../model";
import { loadModel, resolveFile, saveModel } from "../model/io";
import { checkOutputs } from "../data/safe-output";
import { tryLock } from "../data/lock";
import { AdamW } from "./optim";
import { warmupCosine } from "./schedule";
import { Trainer, type LoopConfig, type TrainerOptions, type TrainResult } from "./trainer";
import { latestCheckpoint } from "./checkpoint";
import { writeFileAtomic } from "./checkpoint";
import type { TrainConfig } from "./config";
import { encodePreferenceExample, preferenceLossFn, preferenceTokens, type PreferenceExample } from "./preference";
import { sftLossFn, sftTokens } from "./sft";
import type { PairEncoding } from "../model/logprobs";

export interface RunOptions {
  /** Continue from the newest checkpoint in outDir (none there: start from scratch, with a note). */
  resume?: boolean;
  /** Where notes go (default stderr). */
  log?: (line: string) => void;
  /** Extra Trainer hooks (tests, notebooks). */
  onCheckpoint?: (dir: string, step: number) => void | Promise<void>;
  /** Called after every step with its metrics record (e.g. an outer progress bar). */
  onStep?: TrainerOptions<unknown>["onStep"];
}

export interface RunResult extends TrainResult {
  config: TrainConfig;
  modelFile: string;
  backend: string;
}

async function readAll<T>(file: string, validate: (o: unknown, loc: { file: string; line: number }) => T, max: number | null): Promise<Row<T>[]> {
  if (!fs.existsSync(file)) throw new UserError(`${file}: no such file`);
  const out: Row<T>[] = [];
  for await (const row of readJsonl(file, validate)) {
    out.push(row);
    if (max !== null && out.length >= max) break;
  }
  if (out.length === 0) throw new UserError(`${file}: no records`);
  return out;
}

/** SHA-256 of the training (and eval) file: stored in every checkpoint. */
async function dataFingerprint(c: TrainConfig): Promise<{ train: string; eval: string | null }> {
  const sha = async (file: string) => {
    const h = createHash("sha256");
    try {
      for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
    } catch (e) {
      throw new UserError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    return h.digest("hex");
  };
  return { train: await sha(c.data.train), eval: c.data.eval ? await sha(c.data.eval) : null };
}

/**
 * A resume continues on the same examples: the checkpoint's data fingerprint must match the files now (checkpoints
 * written before fingerprints existed carry none and are not checked).
 */
function checkSameData(checkpoint: string | null, now: { train: string; eval: string | null }): void {
  if (!checkpoint) return;
  let saved: { train?: string; eval?: string | null } | undefined;
  try {
    saved = (JSON.parse(fs.readFileSync(path.join(checkpoint, "state.json"), "utf8")) as { extra?: { data?: typeof saved } }).extra?.data;
  } catch {
    return; // resume() reports an unreadable checkpoint
  }
  if (!saved) return;
  for (const k of ["train", "eval"] as const) {
    if (saved[k] !== undefined && saved[k] !== now[k]) {
      throw new UserError(`data.${k}: the file has changed since ${checkpoint} was written (SHA-256 differs); a resume needs the same data — restore it, or start a new outDir`);
    }
  }
}

/**
 * SFT records: TRL's prompt/completion (strings), or any preference pair (trains on `chosen`).
 * Returns a pair-shaped record so the prompt/response helpers apply.
 */
export function validateSftRecord(obj: unknown, loc: { file: string; line: number }): PreferencePair {
  if (typeof obj === "object" && obj !== null && !Array.isArray(obj) && "completion" in obj) {
    const o = obj as Record<string, unknown>;
    if (typeof o.completion !== "string") throw new DataError(loc, "completion", `expected a string, got ${JSON.stringify(o.completion)}`);
    if (o.prompt !== undefined && typeof o.prompt !== "string") throw new DataError(loc, "prompt", `expected a string, got ${JSON.stringify(o.prompt)}`);
    return { prompt: o.prompt as string | undefined, chosen: o.completion, rejected: o.completion };
  }
  return validatePair(obj, loc);
}

function loadPolicy(c: TrainConfig): { model: Model; tokenizer: Tokenizer } {
  if (c.model.init) {
    const { model, tokenizer } = loadModel(c.model.init, { trainable: true });
    return { model, tokenizer };
  }
  const tokenizer = loadTokenizer(c.model.tokenizer!);
  const mc = resolveModelConfig(c.model.preset, { vocabSize: tokenizer.vocabSize, seed: c.loop.seed, ...(c.model.overrides as Partial<ModelConfig>) });
  return { model: createModel(mc), tokenizer };
}

/**
 * Trains as `config` says. Refuses to overwrite a run: an outDir that already has checkpoints needs `resume`.
 *
 * @example
 * const cfg = resolveTrainConfig("smoke", [{ where: "inline", values: { data: { train: "pairs.jsonl" }, model: { init: "sft.infifpo" } } }]);
 * const { history, modelFile } = await runTraining(cfg);
 */
export async function runTraining(config: TrainConfig, opts: RunOptions = {}): Promise<RunResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  // Nothing the run writes may be, or hold, one of its inputs (a model.init at outDir/model.infifpo would be replaced).
  checkOutputs(
    [
      { path: config.data.train, label: "data.train" },
      config.data.eval ? { path: config.data.eval, label: "data.eval" } : null,
      config.model.init ? { path: resolveFile(config.model.init), label: "model.init" } : null,
      config.model.tokenizer ? { path: config.model.tokenizer, label: "model.tokenizer" } : null,
    ],
    [
      { path: path.join(config.outDir, "config.json"), label: "the run's config" },
      { path: path.join(config.outDir, "metrics.jsonl"), label: "the run's metrics" },
      { path: path.join(config.outDir, "model.infifpo"), label: "the trained model" },
      { path: path.join(config.outDir, "checkpoints"), label: "the run's checkpoints", kind: "dir" },
      { path: path.join(config.outDir, "final"), label: "the run's final parameters", kind: "dir" },
    ],
  );
  // One process per outDir: two runs writing the same checkpoints and metrics would corrupt both.
  const release = lockOutDir(config.outDir, log);
  try {
    return await trainIn(config, opts, log);
  } finally {
    release();
  }
}

/** Takes `<outDir>/run.lock` (an orphan of a dead process is taken over) or says who trains there. */
function lockOutDir(outDir: string, log: (l: string) => void): () => void {
  const created = !fs.existsSync(outDir);
  fs.mkdirSync(outDir, { recursive: true });
  const lock = path.join(outDir, "run.lock");
  const got = tryLock(lock, "training", (orphan) => log(`[infifpo] taking over the lock ${lock} (${orphan})`));
  if ("heldBy" in got) throw new UserError(`${outDir} is being trained by ${got.heldBy}; wait for it or choose another outDir (if that process is gone, delete ${lock})`);
  return () => {
    got.release();
    if (created) {
      try {
        fs.rmdirSync(outDir); // only when the run left nothing (it failed before writing): no empty folder behind
      } catch {
        /* not empty: the run's outputs */
      }
    }
  };
}

async function trainIn(config: TrainConfig, opts: RunOptions, log: (l: string) => void): Promise<RunResult> {
  // "auto" in a config leaves the choice to INFIFPO_BACKEND (then auto), as the CLI help promises
  const backend = await initBackend({ backend: config.backend === "auto" ? undefined : config.backend, log });
  const ckRoot = path.join(config.outDir, "checkpoints");
  const existing = latestCheckpoint(ckRoot);
  if (existing && !opts.resume)
    throw new UserError(`${config.outDir} already holds checkpoints (newest ${existing}); pass --resume to continue, or choose another outDir`);

  const spec = getLoss(config.kind === "sft" ? "sft" : config.loss.name);
  let lossConfig;
  try {
    lossConfig = resolveLossConfig(spec, config.loss.options as LossOverrides);
  } catch (e) {
    throw new UserError(`config "loss.options": ${(e as Error).message}`);
  }
  const { model, tokenizer } = loadPolicy(config);
  try {
    const C = model.config.contextLength;
    const trunc = config.model.truncate;
    // Only the losses that read the sources need the full published record; the others (DPO, IPO, hinge, SimPO,
    // SFT) train from TRL's own shape, pairs with just the ref_* columns they read (checked per example).
    const needsSources = spec.requires.includes("sources");
    // the config sizes the run in epochs or steps; the trainer counts steps (set once the data is read)
    const { maxSteps, epochs, ...knobs } = config.loop;
    const loop: LoopConfig = { ...knobs, maxSteps: 0 };
    const stepsFor = (n: number) => maxSteps ?? Math.max(1, Math.ceil((epochs * n) / knobs.batchSize));
    const params = modelVariables(model);
    const O = config.optim;
    const optimizer = new AdamW(params, { beta1: O.beta1, beta2: O.beta2, eps: O.eps, weightDecay: O.weightDecay });
    const common = {
      params,
      optimizer,
      outDir: config.outDir,
      runConfig: { ...config, progress: undefined }, // how progress is shown does not change the run
      // the data's content, so a resume can tell that it continues on the same examples (the config holds only paths)
      extra: { model: model.config, data: await dataFingerprint(config) },
      progress: config.progress,
      onCheckpoint: opts.onCheckpoint,
      onStep: opts.onStep,
    };

    // Either kind: encode the train (and eval) file, size the run from the data, build the trainer.
    const makeTrainer = async <T>(
      encodeFile: (file: string) => Promise<T[]>,
      kind: Pick<TrainerOptions<T>, "lossFn" | "countTokens" | "label">,
    ): Promise<Trainer<T>> => {
      const train = await encodeFile(config.data.train);
      const evalData = config.data.eval ? await encodeFile(config.data.eval) : undefined;
      loop.maxSteps = stepsFor(train.length);
      const schedule = warmupCosine({ lr: O.lr, warmupSteps: O.warmupSteps, totalSteps: loop.maxSteps, kind: O.schedule, minLrRatio: O.minLrRatio });
      return new Trainer<T>({ ...common, data: train, evalData, schedule, loop, ...kind });
    };
    let trainer: Trainer<PreferenceExample> | Trainer<PairEncoding>;
    if (config.kind === "preference") {
      const full = recordValidator();
      const validate = needsSources
        ? (o: unknown, loc: { file: string; line: number }) => {
            try {
              return full(o, loc);
            } catch (e) {
              if (e instanceof DataError && e.field?.startsWith("fuse_")) throw new DataError(loc, e.field, `${e.reason} (loss ${spec.name} reads the sources' fuse_* columns)`);
              throw e;
            }
          }
        : validatePair;
      trainer = await makeTrainer(
        async (file) =>
          (await readAll<PreferencePair>(file, validate, file === config.data.train ? config.data.maxExamples : null)).map((r) =>
            encodePreferenceExample(r.record, { file, line: r.line }, spec, tokenizer, C, trunc),
          ),
        {
          lossFn: preferenceLossFn(model, tokenizer, spec, lossConfig, { progress: (s) => s / loop.maxSteps }),
          countTokens: preferenceTokens,
          label: `train ${spec.name}`,
        },
      );
    } else {
      trainer = await makeTrainer(
        async (file) =>
          (await readAll<PreferencePair>(file, validateSftRecord, file === config.data.train ? config.data.maxExamples : null)).map((r) => {
            try {
              return encodePair(tokenizer, promptText(r.record), responseText(r.record.chosen), C, trunc);
            } catch (e) {
              throw new DataError({ file, line: r.line }, "chosen", (e as Error).message);
            }
          }),
        { lossFn: sftLossFn(model, tokenizer), countTokens: sftTokens, label: "train sft" },
      );
    }
    const nTrain = trainer.opts.data.length;

    if (opts.resume) {
      checkSameData(latestCheckpoint(ckRoot), common.extra.data);
      const at = trainer.resume(); // refuses a checkpoint written with another config
      log(at ? `[infifpo] resumed from step ${at} (${latestCheckpoint(ckRoot)})` : `[infifpo] no checkpoint in ${ckRoot}: starting from step 0`);
    }
    writeFileAtomic(path.join(config.outDir, "config.json"), JSON.stringify(config, null, 2) + "\n");
    log(`[infifpo] ${config.kind} training, loss ${spec.name}: ${nTrain} examples, ${loop.maxSteps} steps of ${loop.batchSize} on ${backend.name}`);
    const result = await trainer.train();
    const modelFile = saveModel(path.join(config.outDir, "model.infifpo"), model, tokenizer, { step: result.step, loss: spec.name, kind: config.kind });
    optimizer.dispose();
    trainer.disposeGraphs();
    return { ...result, config, modelFile, backend: backend.name };
  } finally {
    disposeModel(model);
  }
}

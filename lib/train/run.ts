/**
 * `runTraining(config)`: the whole run from a resolved TrainConfig — backend, model, data, trainer,
 * outputs. Used by `infifpo train` and by notebooks. Outputs in `config.outDir`:
 *   config.json      the resolved config (written before the first step)
 *   metrics.jsonl    one line per logged step / eval (TRL names)
 *   checkpoints/     step-* directories (params, AdamW state, data position, config), newest `keepCheckpoints`
 *   final/           final parameters (same layout as a checkpoint, no optimizer state)
 *   model.infifpo    the trained model with its tokenizer (lib/model's format), for `infifpo score` etc.
 */
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
import { loadModel, saveModel } from "../model/io";
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
      extra: { model: model.config },
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
      const at = trainer.resume(); // refuses a checkpoint written with another config
      log(at ? `[infifpo] resumed from step ${at} (${latestCheckpoint(ckRoot)})` : `[infifpo] no checkpoint in ${ckRoot}: starting from step 0`);
    }
    fs.mkdirSync(config.outDir, { recursive: true });
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

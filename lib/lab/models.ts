/**
 * Training one of the lab's models from scratch — a source or the initial pivot — through the same path a
 * user takes on the command line: a corpus file of prompt/completion lines drawn from its task mix, a
 * tokenizer trained on that corpus (`infifpo tokenizer train`), and `runTraining` SFT from a fresh model
 * (`infifpo train` with model.init null). Every step is seeded; the same spec gives the same file.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { writeFileAtomic } from "../train/checkpoint";
import type { RunOptions } from "../train/run";
import { saveTokenizer, trainTokenizer, type TokenizerKind } from "../tokenizers";
import { TaskStream, type StreamPart } from "../tasks";
import type { ProgressMode } from "../train/progress";
import type { TrainKnobs } from "./config";
import { labTrainConfig, trainLabRun } from "./training";

/** How a lab model's tokenizer is built: a kind and its training options. */
export interface TokenizerSpec {
  kind: TokenizerKind;
  options?: Record<string, unknown>;
}

/** Everything that decides a from-scratch model (its cache key). */
export interface ScratchModelSpec {
  name: string;
  tokenizer: TokenizerSpec;
  /** The task mix (family weights and levels). */
  mix: { family: string; weight: number; level?: number }[];
  steps: number;
  /** Optimiser, schedule and loop settings (the lab's `pretrain` knobs). */
  train: TrainKnobs;
  /** Model shape: a preset name of lib/model and overrides (vocabSize comes from the tokenizer). */
  model: { preset: string; overrides: Record<string, unknown> };
  seed: number;
  /** Items used to train the tokenizer (prompts and answers as separate documents). */
  tokenizerCorpus: number;
}

/** Writes the corpus and trains the tokenizer, then the model; returns the model file. Resumes after a crash. */
export async function trainScratchModel(
  spec: ScratchModelSpec,
  parts: StreamPart[],
  exclude: ReadonlySet<string>,
  dir: string,
  opts: Pick<RunOptions, "log" | "onStep"> & { backend?: string; progress?: ProgressMode } = {},
): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const corpus = path.join(dir, "corpus.jsonl");
  const tokFile = path.join(dir, "tokenizer.json");
  if (!fs.existsSync(tokFile)) {
    const stream = new TaskStream(parts, { seed: spec.seed, name: spec.name, exclude });
    const n = spec.steps * spec.train.batchSize;
    const lines: string[] = new Array(n);
    const docs: string[] = [];
    for (let i = 0; i < n; i++) {
      const it = stream.next();
      lines[i] = JSON.stringify({ prompt: it.prompt, completion: it.answer });
      if (i < spec.tokenizerCorpus) docs.push(it.prompt, it.answer);
    }
    writeFileAtomic(corpus, lines.join("\n") + "\n");
    const tok = trainTokenizer(spec.tokenizer.kind, docs, spec.tokenizer.options as never);
    saveTokenizer(tokFile, tok); // atomic: an exclusive temporary file, then rename
  }
  const config = labTrainConfig(
    spec.train,
    {
      kind: "sft", outDir: path.join(dir, "train"), train: corpus, examples: spec.steps * spec.train.batchSize,
      init: { preset: spec.model.preset, overrides: spec.model.overrides, tokenizer: tokFile }, seed: spec.seed, budget: { steps: spec.steps },
    },
    { backend: opts.backend, progress: opts.progress, logEvery: 50 },
  );
  return (await trainLabRun(config, { log: opts.log ?? (() => {}), onStep: opts.onStep })).modelFile;
}

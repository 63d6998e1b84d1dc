/**
 * Training one of the lab's models from scratch — a source or the initial pivot — through the same path a
 * user takes on the command line: a corpus file of prompt/completion lines drawn from its task mix, a
 * tokenizer trained on that corpus (`infifpo tokenizer train`), and `runTraining` SFT from a fresh model
 * (`infifpo train` with model.init null). Every step is seeded; the same spec gives the same file.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { writeFileAtomic } from "../train/checkpoint";
import { resolveTrainConfig } from "../train/config";
import { runTraining, type RunOptions } from "../train/run";
import { saveTokenizer, trainTokenizer, type TokenizerKind } from "../tokenizers";
import { TaskStream, type StreamPart } from "../tasks";
import type { ProgressMode } from "../train/progress";

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
  batchSize: number;
  lr: number;
  warmupSteps: number;
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
    const n = spec.steps * spec.batchSize;
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
  const outDir = path.join(dir, "train");
  const config = resolveTrainConfig(null, [
    {
      where: `lab model ${spec.name}`,
      values: {
        kind: "sft",
        outDir,
        data: { train: corpus },
        model: { init: null, preset: spec.model.preset, overrides: spec.model.overrides, tokenizer: tokFile },
        optim: { lr: spec.lr, warmupSteps: spec.warmupSteps, schedule: "constant", beta2: 0.98, weightDecay: 0.01 },
        loop: { maxSteps: spec.steps, batchSize: spec.batchSize, logEvery: 50, evalEvery: 0, checkpointEvery: 500, keepCheckpoints: 1, seed: spec.seed },
        backend: opts.backend ?? "auto",
        progress: opts.progress ?? "none",
      },
    },
  ]);
  const resume = fs.existsSync(path.join(outDir, "checkpoints"));
  const r = await runTraining(config, { resume, log: opts.log ?? (() => {}), onStep: opts.onStep });
  return r.modelFile;
}

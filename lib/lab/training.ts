/**
 * Every training run of the lab — the from-scratch models, SFT, the preference variants and the SFT controls — is
 * one lib/train run whose config is built here, in one place, from the lab config's knobs (`TrainKnobs`): the
 * same optimiser, schedule and loop rules for every method, warm-up as a share of the run's own steps.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { resolveTrainConfig, type TrainConfig } from "../train/config";
import { runTraining, type RunOptions } from "../train/run";
import type { ProgressMode } from "../train/progress";
import type { TrainKnobs } from "./config";

/** What one run trains on and from. */
export interface RunSpec {
  kind: "sft" | "preference";
  outDir: string;
  /** The JSONL training file and its number of records (which sizes an epoch-budgeted run). */
  train: string;
  examples: number;
  /** The model file to start from, or a fresh model (a lib/model preset, overrides and a tokenizer file). */
  init: string | { preset: string; overrides: Record<string, unknown>; tokenizer: string };
  /** Preference runs: the loss and its options. */
  loss?: { name: string; options: Record<string, unknown> };
  /** The loop seed: data order (and a fresh model's initial weights). */
  seed: number;
  /** A run's length: `steps` optimiser steps, or `epochs` passes over the examples. */
  budget: { steps: number } | { epochs: number };
}

/** Optimiser steps of a run: its step budget, or ⌈epochs · examples / batch size⌉. */
export function runSteps(k: Pick<TrainKnobs, "batchSize">, spec: Pick<RunSpec, "budget" | "examples">): number {
  return "steps" in spec.budget ? spec.budget.steps : Math.max(1, Math.ceil((spec.budget.epochs * spec.examples) / k.batchSize));
}

/** lib/train's config for one lab run: `knobs` applied to `spec`, warm-up = round(warmupRatio · steps). */
export function labTrainConfig(knobs: TrainKnobs, spec: RunSpec, env: { backend?: string; progress?: ProgressMode; logEvery?: number } = {}): TrainConfig {
  const steps = runSteps(knobs, spec);
  const init = typeof spec.init === "string" ? { init: spec.init } : { init: null, preset: spec.init.preset, overrides: spec.init.overrides, tokenizer: spec.init.tokenizer };
  return resolveTrainConfig(null, [{
    where: `lab run ${spec.outDir}`,
    values: {
      kind: spec.kind,
      outDir: spec.outDir,
      data: { train: spec.train },
      model: init,
      ...(spec.loss ? { loss: spec.loss } : {}),
      optim: {
        lr: knobs.lr, warmupSteps: Math.round(knobs.warmupRatio * steps), schedule: knobs.schedule, minLrRatio: knobs.minLrRatio,
        beta1: knobs.beta1, beta2: knobs.beta2, weightDecay: knobs.weightDecay,
      },
      loop: {
        maxSteps: steps, batchSize: knobs.batchSize, maxGradNorm: knobs.maxGradNorm, logEvery: env.logEvery ?? 5, evalEvery: 0,
        checkpointEvery: knobs.checkpointEvery, keepCheckpoints: 1, seed: spec.seed,
      },
      backend: env.backend ?? "auto",
      progress: env.progress ?? "none",
    },
  }]);
}

/** Runs (or, after a crash, resumes) a lab training run; returns its model file and metrics log. */
export async function trainLabRun(config: TrainConfig, opts: Pick<RunOptions, "log" | "onStep"> = {}): Promise<{ modelFile: string; metrics: string }> {
  const r = await runTraining(config, { resume: fs.existsSync(path.join(config.outDir, "checkpoints")), ...opts });
  return { modelFile: r.modelFile, metrics: path.join(config.outDir, "metrics.jsonl") };
}

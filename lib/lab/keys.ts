/**
 * The lab's cache keys, in one place: each stage's key is the SHA-256 of its own knobs and its upstream stages'
 * keys, so a changed knob re-keys exactly the stages downstream of where it acts (tested knob by knob, and that
 * every knob of the config reaches some key). Pure: no I/O, no training.
 */
import type { HyperParams, LabConfig } from "./config";
import { configKey } from "./config";
import type { VariantSpec } from "./variants";

/** Bump to invalidate every cached stage after a change of what a stage computes. */
const VERSION = 2;

/** The held-out prompts of every benchmark (what training must never see). */
export function heldOutKey(cfg: LabConfig): string {
  const { seed, excludeSize, families, levels } = cfg.benchmarks;
  return configKey({ stage: "held-out", seed, excludeSize, families, levels, version: VERSION });
}

/** The test and validation sets (evaluation keys). */
export function testKey(cfg: LabConfig): string {
  return configKey({ stage: "test", held: heldOutKey(cfg), testSize: cfg.benchmarks.testSize, version: VERSION });
}
export function validationKey(cfg: LabConfig): string {
  return configKey({ stage: "validation", held: heldOutKey(cfg), validationSize: cfg.benchmarks.validationSize, version: VERSION });
}

/** One from-scratch model: its whole spec (tokenizer, mix, steps, pretrain knobs, shape, seed) and the held-out set. */
export function scratchModelKey(spec: unknown, cfg: LabConfig): string {
  return configKey({ stage: "model", spec, held: heldOutKey(cfg), version: VERSION });
}

/** Evaluation of a model file (by checksum) on a benchmark set. */
export function evalKey(modelSha256: string, setKey: string): string {
  return configKey({ stage: "eval", model: modelSha256, set: setKey, version: VERSION });
}

/** The keys of one seed's stages; `models` = [initial pivot, ...sources] keys. */
export interface SeedKeys {
  prompts: string;
  sftData: string;
  sft: string;
  pairs: string;
  scored: string;
  /** A trained variant at given hyper-parameters (null for "sft", which is the SFT checkpoint). */
  variant(v: VariantSpec, hp: HyperParams): string | null;
}

export function seedKeys(cfg: LabConfig, seed: number, models: readonly string[]): SeedKeys {
  const [pivot, ...sources] = models;
  const { prompts: n, k, sftK, temperature, topK, rejected } = cfg.data;
  const prompts = configKey({ stage: "prompts", held: heldOutKey(cfg), prompts: n, seed, version: VERSION });
  const sftData = configKey({ stage: "sft-data", prompts, models, k: sftK, temperature, topK, seed, version: VERSION });
  const sft = configKey({ stage: "sft", data: sftData, init: pivot, knobs: cfg.sft, seed, version: VERSION });
  const pairs = configKey({ stage: "pairs", prompts, sft, sources, k, temperature, topK, rejected, seed, version: VERSION });
  const scored = configKey({ stage: "scored", pairs, sft, sources, version: VERSION });
  return {
    prompts, sftData, sft, pairs, scored,
    variant(v, hp) {
      switch (v.kind) {
        case "sft":
          return null;
        case "sft-all":
          return configKey({ stage: "sft-all", sftData, pairs, init: pivot, knobs: cfg.sft, seed, version: VERSION });
        case "sft-cont":
          return configKey({ stage: "sft-cont", pairs, sft, knobs: { ...cfg.pref, lr: hp.lr }, seed, version: VERSION });
        case "pref":
          return configKey({ stage: "variant", scored, sft, knobs: { ...cfg.pref, lr: hp.lr }, loss: v.loss, options: v.options, data: v.data, betaScale: hp.betaScale, seed, version: VERSION });
      }
    },
  };
}

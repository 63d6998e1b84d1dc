/** Loss configuration: global defaults, per-loss defaults, strict overrides. */
import { resolveFusionOptions, type FusionOptions } from "../fusion/options";
import type { LossConfig, LossSpec } from "./types";

export const BASE_LOSS_CONFIG: Readonly<Omit<LossConfig, "fusion">> = Object.freeze({
  beta: 0.1,
  lengthNorm: false,
  simpoGamma: 1.0,
  wrpoAlphaMax: 0.1,
  rpoAlpha: 1.0,
});

export type LossOverrides = Partial<Omit<LossConfig, "fusion">> & { fusion?: Partial<FusionOptions> };

/**
 * Resolves a loss's config: base defaults ← the loss's defaults ← overrides. Unknown keys are rejected.
 * For the InfiFPO losses, turning length normalisation off without giving β drops β to 0.1 (sums are tens of nats).
 */
export function resolveLossConfig(spec: LossSpec, overrides: LossOverrides = {}): LossConfig {
  for (const key of Object.keys(overrides)) {
    if (key !== "fusion" && !(key in BASE_LOSS_CONFIG)) {
      throw new Error(`unknown loss option "${key}"; valid: ${[...Object.keys(BASE_LOSS_CONFIG), "fusion"].join(", ")}`);
    }
  }
  const { fusion, ...rest } = overrides;
  const defined = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
  const config: LossConfig = { ...BASE_LOSS_CONFIG, ...spec.defaults, ...defined, fusion: resolveFusionOptions(fusion) };
  if (spec.requires.includes("sources") && spec.defaults.lengthNorm === true && config.lengthNorm === false && defined.beta === undefined) {
    config.beta = 0.1;
  }
  if (!(Number.isFinite(config.beta) && config.beta > 0)) throw new Error(`beta must be a finite number > 0, got ${config.beta}`);
  return config;
}

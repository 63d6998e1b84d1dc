/** Settings of record-level fusion (`infifpo fuse`, `infifpo stats`, notebooks): fusion options + LN + β. */
import { resolveFusionOptions, type FusionOptions } from "../fusion/options";

export interface FuseSettings extends FusionOptions {
  /** Use the per-token mean columns (`*_mean_*`) instead of the sums. */
  lengthNorm: boolean;
  /** β of the preference logit. */
  beta: number;
}

/** β when none is given: 2.5 on per-token means, 0.1 on sums (infifpo.md, "Length normalisation"). */
export function defaultBeta(lengthNorm: boolean): number {
  return lengthNorm ? 2.5 : 0.1;
}

/**
 * The largest β accepted. With every log-prob ≥ LOGP_MIN (lib/data/validate.ts) it bounds |z| by 2·BETA_MAX·1e15,
 * so the logit, the loss and the weight of every valid record are finite (typical β: 0.01–10).
 */
export const BETA_MAX = 1e6;

export type FuseOverrides = Partial<FusionOptions> & { lengthNorm?: boolean; beta?: number };

/** Defaults: max-margin, clip on, LN on, β by LN; unknown keys and bad values are rejected. */
export function resolveFuseSettings(overrides: FuseOverrides = {}): FuseSettings {
  const { lengthNorm = true, beta, ...fusion } = overrides;
  const resolved = beta ?? defaultBeta(lengthNorm);
  if (!(Number.isFinite(resolved) && resolved > 0 && resolved <= BETA_MAX)) throw new Error(`beta must be a number > 0 and ≤ ${BETA_MAX}, got ${beta}`);
  return { ...resolveFusionOptions(fusion), lengthNorm, beta: resolved };
}

/** A short label such as "max-margin, clip, LN, β=2.5" for tables and plot legends. */
export function settingsLabel(s: FuseSettings): string {
  const parts = [s.strategy, s.clip ? "clip" : "no clip", s.lengthNorm ? "LN" : "no LN", `β=${s.beta}`];
  if (s.includePivot) parts.push("+pivot");
  if (s.refOffset !== null) parts.push(`offset ${s.refOffset}`);
  return parts.join(", ");
}

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

export type FuseOverrides = Partial<FusionOptions> & { lengthNorm?: boolean; beta?: number };

/** Defaults: max-margin, clip on, LN on, β by LN; unknown keys and bad values are rejected. */
export function resolveFuseSettings(overrides: FuseOverrides = {}): FuseSettings {
  const { lengthNorm = true, beta, ...fusion } = overrides;
  const resolved = beta ?? defaultBeta(lengthNorm);
  if (!(Number.isFinite(resolved) && resolved > 0)) throw new Error(`beta must be a finite number > 0, got ${beta}`);
  return { ...resolveFusionOptions(fusion), lengthNorm, beta: resolved };
}

/** A short label such as "max-margin, clip, LN, β=2.5" for tables and plot legends. */
export function settingsLabel(s: FuseSettings): string {
  const parts = [s.strategy, s.clip ? "clip" : "no clip", s.lengthNorm ? "LN" : "no LN", `β=${s.beta}`];
  if (s.includePivot) parts.push("+pivot");
  if (s.refOffset !== null) parts.push(`offset ${s.refOffset}`);
  return parts.join(", ");
}

/** Fusion options (infifpo.md, "The three add-ons"). One source of truth: the CLI's flags and help come from here. */

export const FUSION_STRATEGIES = ["mean", "confidence", "max-margin"] as const;
export type FusionStrategy = (typeof FUSION_STRATEGIES)[number];

/** Which response a value belongs to: clipping and selection treat the two sides differently. */
export type Side = "chosen" | "rejected";

/** What max-margin measures its distance |c_i − ·| to: the frozen pivot at init (static) or the live policy. */
export const MARGIN_ANCHORS = ["pivot", "policy"] as const;
export type MarginAnchor = (typeof MARGIN_ANCHORS)[number];

export interface FusionOptions {
  /** How the (possibly clipped) source values are combined into ℓ_fu. Paper default: max-margin. */
  strategy: FusionStrategy;
  /** Probability clipping against the frozen pivot M^p_0 (max on chosen, min on rejected). */
  clip: boolean;
  /** (choice, off by default) Add M^p_0 itself as one more member of the source set, placed last. */
  includePivot: boolean;
  /** (choice, off by default) Clamp ℓ_fu to [ℓ_p0 − offset, ℓ_p0 + offset]; null = no clamp. */
  refOffset: number | null;
  /** ε in the confidence weights w_i ∝ 1 / (−c_i + ε). */
  epsilon: number;
  /**
   * (choice, default "pivot") max-margin's distance anchor: i* = argmax_j |c_j − ℓ_p0(y)| (static: works on
   * precomputed data), or |c_j − ℓ_θ(y)| against the live policy (the spec's "legitimate option"; the selection is
   * discrete, so the fused reference stays a constant for the gradient). Clipping is always against ℓ_p0.
   */
  marginTo: MarginAnchor;
}

export const DEFAULT_FUSION_OPTIONS: Readonly<FusionOptions> = Object.freeze({
  strategy: "max-margin",
  clip: true,
  includePivot: false,
  refOffset: null,
  epsilon: 1e-8,
  marginTo: "pivot",
});

/** Fills defaults and rejects unknown keys or out-of-range values. */
export function resolveFusionOptions(overrides: Partial<FusionOptions> = {}): FusionOptions {
  for (const key of Object.keys(overrides)) {
    if (!(key in DEFAULT_FUSION_OPTIONS)) {
      throw new Error(`unknown fusion option "${key}"; valid: ${Object.keys(DEFAULT_FUSION_OPTIONS).join(", ")}`);
    }
  }
  const opts: FusionOptions = { ...DEFAULT_FUSION_OPTIONS, ...stripUndefined(overrides) };
  if (!(FUSION_STRATEGIES as readonly string[]).includes(opts.strategy)) {
    throw new Error(`unknown fusion strategy "${opts.strategy}"; valid: ${FUSION_STRATEGIES.join(", ")}`);
  }
  if (opts.refOffset !== null && !(Number.isFinite(opts.refOffset) && opts.refOffset >= 0)) {
    throw new Error(`refOffset must be a finite number ≥ 0 or null, got ${opts.refOffset}`);
  }
  if (!(MARGIN_ANCHORS as readonly string[]).includes(opts.marginTo)) {
    throw new Error(`unknown marginTo "${opts.marginTo}"; valid: ${MARGIN_ANCHORS.join(", ")}`);
  }
  if (!(Number.isFinite(opts.epsilon) && opts.epsilon > 0)) {
    throw new Error(`epsilon must be a finite number > 0, got ${opts.epsilon}`);
  }
  return opts;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

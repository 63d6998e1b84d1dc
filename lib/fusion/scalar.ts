/**
 * Sequence-level probability synthesis on plain numbers (float64): the canonical form of every fusion formula
 * (infifpo.md, "The three add-ons"). The batched tfjs form in ./tensor.ts is tested equal to this one.
 *
 * Symbols: ℓ_M(y) a sequence log-prob (sum over response tokens), \bar ℓ_M(y) = ℓ_M(y) / n_M(y) its per-token mean,
 * p0 the pivot at init (M^p_0), c_i the (possibly clipped) value of source i.
 */
import type { FusionOptions, Side } from "./options";

/** Length normalisation: \bar ℓ_M(y) = ℓ_M(y) / n_M(y), with n_M the token count under M's own tokenizer.
 *  lengthNormalize(-6, 4) === -1.5 */
export function lengthNormalize(sum: number, count: number): number {
  if (!(count > 0)) throw new RangeError(`token count must be > 0, got ${count}`);
  return sum / count;
}

/** Probability clipping against the pivot: c_i(y_w) = max(ℓ_i, ℓ_p0), c_i(y_l) = min(ℓ_i, ℓ_p0).
 *  clipToPivot("chosen", -0.3, -0.1) === -0.1; clipToPivot("rejected", -0.3, -0.1) === -0.3 */
export function clipToPivot(side: Side, value: number, pivot: number): number {
  return side === "chosen" ? Math.max(value, pivot) : Math.min(value, pivot);
}

/** True when clipping changes the value: a source thinks y_w less likely (or y_l more likely) than the pivot. */
export function isClipped(side: Side, value: number, pivot: number): boolean {
  return side === "chosen" ? value < pivot : value > pivot;
}

/** Mean fusion: γ_i = 1/N, ℓ_fu = Σ_i γ_i c_i.  fuseMean([-1, -3]) === -2 */
export function fuseMean(values: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s / values.length;
}

/** Confidence weights: w_i ∝ 1 / (−c_i + ε), normalised to Σ w_i = 1 (more likely sources weigh more).
 *  confidenceWeights([-1, -3], 0) → [0.75, 0.25] */
export function confidenceWeights(values: readonly number[], epsilon: number): number[] {
  const w = values.map((c) => 1 / (-c + epsilon));
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / total);
}

/** Confidence fusion: ℓ_fu = Σ_i w_i c_i with the confidence weights.  fuseConfidence([-1, -3], 0) === -1.5 */
export function fuseConfidence(values: readonly number[], epsilon: number): number {
  let total = 0;
  let weighted = 0;
  for (let i = 0; i < values.length; i++) {
    const w = 1 / (-values[i] + epsilon);
    total += w;
    weighted += w * values[i];
  }
  return weighted / total;
}

/** Max-margin selection: i* = argmax_j |c_j − a|, a = ℓ_p0 (or the live policy's ℓ_θ), ties → lowest index.
 *  maxMarginIndex([-0.2, -0.5, -0.5], -0.1) === 1 */
export function maxMarginIndex(values: readonly number[], anchor: number): number {
  let best = 0;
  let bestDist = -1;
  for (let j = 0; j < values.length; j++) {
    const d = Math.abs(values[j] - anchor);
    if (d > bestDist) {
      bestDist = d;
      best = j;
    }
  }
  return best;
}

/** Optional guard: clamp ℓ_fu to [ℓ_p0 − offset, ℓ_p0 + offset].  clampToOffset(-9, -1, 5) === -6 */
export function clampToOffset(value: number, pivot: number, offset: number): number {
  return Math.min(Math.max(value, pivot - offset), pivot + offset);
}

/** One side's fused reference with what was decided along the way. */
export interface FusedSide {
  /** ℓ_fu(y) for this side. */
  value: number;
  /** Source index picked by max-margin (always a real source: the pivot, placed last, never wins a tie); null otherwise. */
  selected: number | null;
  /** Per source: whether clipping changed its value (all false when clipping is off). */
  clipped: boolean[];
}

/**
 * ℓ_fu for one response: clip each source against the pivot (if on), optionally add the pivot as a member,
combine with the strategy, optionally clamp to the offset band. `policy` (the live ℓ_θ(y)) is needed only
 * when max-margin measures its distance to the policy (`marginTo: "policy"`).
 *   fuseSide("rejected", -0.13945, [-0.25559, -0.26779, -0.33685], DEFAULT_FUSION_OPTIONS).value === -0.33685
 */
export function fuseSide(side: Side, pivot: number, sources: readonly number[], opts: FusionOptions, policy?: number): FusedSide {
  if (sources.length === 0) throw new RangeError("at least one source value is required");
  const n = sources.length;
  const values = new Array<number>(opts.includePivot ? n + 1 : n);
  const clipped = new Array<boolean>(n);
  for (let i = 0; i < n; i++) {
    const v = sources[i];
    clipped[i] = opts.clip && isClipped(side, v, pivot);
    values[i] = opts.clip ? clipToPivot(side, v, pivot) : v;
  }
  if (opts.includePivot) values[n] = pivot;

  let value: number;
  let selected: number | null = null;
  switch (opts.strategy) {
    case "mean":
      value = fuseMean(values);
      break;
    case "confidence":
      value = fuseConfidence(values, opts.epsilon);
      break;
    case "max-margin":
      selected = maxMarginIndex(values, marginAnchor(pivot, opts, policy));
      value = values[selected];
      break;
  }
  if (opts.refOffset !== null) value = clampToOffset(value, pivot, opts.refOffset);
  return { value, selected, clipped };
}

/** max-margin's distance anchor: the pivot at init, or the live policy's value when `marginTo` is "policy". */
export function marginAnchor(pivot: number, opts: Pick<FusionOptions, "marginTo">, policy?: number): number {
  if (opts.marginTo !== "policy") return pivot;
  if (policy === undefined || !Number.isFinite(policy)) throw new RangeError("max-margin with marginTo \"policy\" needs the policy's log-prob");
  return policy;
}

/** The sequence-level numbers of one preference pair, already chosen as sums or per-token means. */
export interface PairScores {
  pivotChosen: number;
  pivotRejected: number;
  sourceChosen: readonly number[];
  sourceRejected: readonly number[];
  /** The live policy's values (only read by max-margin with `marginTo: "policy"`). */
  policyChosen?: number;
  policyRejected?: number;
}

export interface FusedPair {
  chosen: FusedSide;
  rejected: FusedSide;
}

/** Fused reference for a pair; chosen and rejected are fused independently. */
export function fusePair(scores: PairScores, opts: FusionOptions): FusedPair {
  return {
    chosen: fuseSide("chosen", scores.pivotChosen, scores.sourceChosen, opts, scores.policyChosen),
    rejected: fuseSide("rejected", scores.pivotRejected, scores.sourceRejected, opts, scores.policyRejected),
  };
}

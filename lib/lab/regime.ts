/**
 * The lab's regime, measured (issue 19 §1): the preconditions under which the paper's method can work or fail at
 * all. Pure functions over plain data — the pipeline gathers the numbers (pairs, token counts, evaluations,
 * training logs), this file turns them into figures, and lib/lab/gates.ts into pass / fail.
 *
 * - Response length: multi-token answers, so tokenizers and length normalisation can matter.
 * - Token-count heterogeneity: the same response cut by the five tokenizers (max ÷ min count per response).
 * - The fused reference's distance from the pivot: fused − pivot margin per token (max-margin + clip + LN), and
 *   InfiFPO's logit at step 0, z₀ = −β (m_fu − m_p0) with the policy at the pivot, and its weight σ(−z₀).
 * - Nonsense outputs: greedy outputs with characters that never occur in any reference answer (over-training).
 * - Drift of logps/chosen over preference training.
 */
import { annotateRecord } from "../records/annotate";
import { resolveFuseSettings, type FuseOverrides } from "../records/settings";
import type { PreferenceRecord } from "../data/types";
import { mean, quantileSorted } from "./stats";

/** The q-quantile of a list (linear interpolation, NumPy's default); NaN when empty. */
export function quantile(xs: readonly number[], q: number): number {
  return quantileSorted([...xs].sort((a, b) => a - b), q);
}

/** The median of a list (the mean of the two middle values for an even count). */
export const median = (xs: readonly number[]) => quantile(xs, 0.5);

/** Lengths (characters) of the chosen and rejected responses, and how they compare pair by pair. */
export interface LengthStats {
  chosenMedian: number;
  chosenP90: number;
  rejectedMedian: number;
  chosenMean: number;
  rejectedMean: number;
  /** Share of pairs whose chosen response is longer / shorter than the rejected one. */
  chosenLonger: number;
  chosenShorter: number;
}

/** @example lengthStats([{ chosen: "abcd", rejected: "ab" }]).chosenLonger // → 1 */
export function lengthStats(pairs: readonly { chosen: string; rejected: string }[]): LengthStats {
  const c = pairs.map((p) => p.chosen.length), r = pairs.map((p) => p.rejected.length);
  const n = Math.max(1, pairs.length);
  return {
    chosenMedian: median(c),
    chosenP90: quantile(c, 0.9),
    rejectedMedian: median(r),
    chosenMean: mean(c),
    rejectedMean: mean(r),
    chosenLonger: c.filter((x, i) => x > r[i]).length / n,
    chosenShorter: c.filter((x, i) => x < r[i]).length / n,
  };
}

/** Token counts of the same responses under several tokenizers. */
export interface TokenStats {
  /** Median over responses of max ÷ min token count across the models. */
  maxOverMinMedian: number;
  /** Per model (by name): median over responses of its count ÷ the first model's (the pivot's). */
  ratioToPivot: Record<string, number>;
  /** Per model: mean token count. */
  meanCount: Record<string, number>;
}

/**
 * `counts[r][m]` = tokens of response r under model m (m = 0 the pivot). Responses with a zero count anywhere
 * are skipped (an empty response has no ratio).
 * @example tokenStats([[10, 10, 4]], ["pivot", "a", "b"]).maxOverMinMedian // → 2.5
 */
export function tokenStats(counts: readonly (readonly number[])[], names: readonly string[]): TokenStats {
  const rows = counts.filter((r) => r.every((x) => x > 0));
  return {
    maxOverMinMedian: median(rows.map((r) => Math.max(...r) / Math.min(...r))),
    ratioToPivot: Object.fromEntries(names.map((n, m) => [n, median(rows.map((r) => r[m] / r[0]))])),
    meanCount: Object.fromEntries(names.map((n, m) => [n, mean(rows.map((r) => r[m]))])),
  };
}

/** Where the fused reference sits at the start of preference training. */
export interface FusedGapStats {
  /** The fusion settings measured (InfiFPO's defaults: max-margin, clip, LN, β 2.5). */
  settings: string;
  /** fused margin − pivot margin (per token with LN): median, 10th and 90th percentiles. */
  gapMedian: number;
  gapP10: number;
  gapP90: number;
  /** InfiFPO's logit at step 0 (policy = pivot): median and share below −5 (σ saturated). */
  z0Median: number;
  z0BelowMinus5: number;
  /** Mean of σ(−z₀), the preference-disparity weight (DPO's is 0.5). */
  disparityMean: number;
}

/**
 * Fuses every record as InfiFPO's loss does at step 0 (the policy is the pivot, so the record's ref columns).
 * @example fusedGapStats(records).gapMedian // median of (ℓ_fu(y_w) − ℓ_fu(y_l)) − (ℓ_p0(y_w) − ℓ_p0(y_l))
 */
export function fusedGapStats(records: readonly PreferenceRecord[], overrides: FuseOverrides = {}): FusedGapStats {
  const s = resolveFuseSettings(overrides);
  const gap: number[] = [], z: number[] = [], w: number[] = [];
  for (const r of records) {
    const a = annotateRecord(r, s);
    gap.push(a.columns.fused_chosen_logps - a.columns.fused_rejected_logps - (a.scores.pivotChosen - a.scores.pivotRejected));
    z.push(a.columns.logit);
    w.push(a.columns.disparity_weight);
  }
  return {
    settings: `${s.strategy}${s.clip ? " + clip" : ""}${s.lengthNorm ? " + LN" : ""}, β ${s.beta}`,
    gapMedian: median(gap),
    gapP10: quantile(gap, 0.1),
    gapP90: quantile(gap, 0.9),
    z0Median: median(z),
    z0BelowMinus5: z.filter((x) => x < -5).length / Math.max(1, z.length),
    disparityMean: mean(w),
  };
}

/** Every character of the reference answers: what a sensible output is made of. */
export function answerAlphabet(answers: Iterable<string>): Set<string> {
  const s = new Set<string>();
  for (const a of answers) for (const ch of a) s.add(ch);
  return s;
}

/**
 * Share of outputs that contain a character no reference answer ever has (greedy outputs filling with junk is
 * the signature of an over-trained preference stage).
 * @example nonsenseRate(["12", "1?"], new Set("0123456789")) // → 0.5
 */
export function nonsenseRate(outputs: readonly string[], alphabet: ReadonlySet<string>): number {
  if (outputs.length === 0) return NaN;
  return outputs.filter((o) => [...o].some((ch) => !alphabet.has(ch))).length / outputs.length;
}

/** How the policy's log-prob of the chosen responses moved over training (TRL's logps/chosen, sums). */
export interface Drift {
  start: number;
  end: number;
  /** end − start, nats (sums over the response). */
  change: number;
}

/**
 * logps/chosen at the start (mean of the first `window` logged steps) and at the end (mean of the last `window`).
 * @example logpsDrift([{ "logps/chosen": -8 }, { "logps/chosen": -9 }], 1) // → { start: -8, end: -9, change: -1 }
 */
export function logpsDrift(records: readonly Record<string, number>[], window = 5): Drift | null {
  const xs = records.map((r) => r["logps/chosen"]).filter((x): x is number => typeof x === "number" && Number.isFinite(x));
  if (xs.length === 0) return null;
  const w = Math.max(1, Math.min(window, Math.floor(xs.length / 2) || 1));
  const start = mean(xs.slice(0, w)), end = mean(xs.slice(-w));
  return { start, end, change: end - start };
}

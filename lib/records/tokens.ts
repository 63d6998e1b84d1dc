/**
 * Token counts recovered from the published format. A record carries, per model and response, the summed log-prob
 * ℓ = Σ_t log p(y_t) and the per-token mean \bar ℓ = ℓ / n (infifpo.md, "Data format"), so each model's token count
 * is n = ℓ / \bar ℓ — under that model's own tokenizer, which is why the sources' counts differ.
 *
 *   tokenCount(-12.6, -0.42)   // 30
 *   responseTokenCounts(records, "chosen").sources[0]   // source 0's token count of every chosen response
 */
import type { ScoreColumns } from "../data/types";
import { sourceCount } from "../data/validate";

/**
 * n = round(ℓ / \bar ℓ). Throws a RangeError when the pair does not determine a count (mean 0 or not finite, or a
 * ratio that is not a positive number).
 *   tokenCount(-12.6, -0.42) → 30
 */
export function tokenCount(sum: number, mean: number): number {
  const n = sum / mean;
  if (!Number.isFinite(sum) || !Number.isFinite(mean) || mean === 0 || !Number.isFinite(n) || n < 0.5) {
    throw new RangeError(`no token count from sum ${sum} and per-token mean ${mean}`);
  }
  return Math.round(n);
}

/** Token counts of one side's responses: the pivot's (from `ref_*`) and each source's (from `fuse_*`, file order). */
export interface ResponseTokenCounts {
  pivot: number[];
  /** [source][record]. */
  sources: number[][];
}

/**
 * Every record's token count of its chosen (or rejected) response, per model. The number of sources is read from
 * the records (the first record's `fuse_*` length; every record must match).
 *   responseTokenCounts([rec], "chosen") → { pivot: [31], sources: [[12], [9], …] }
 */
export function responseTokenCounts(records: readonly ScoreColumns[], side: "chosen" | "rejected"): ResponseTokenCounts {
  const nSources = records.length ? sourceCount(records[0]) : 0;
  const out: ResponseTokenCounts = { pivot: [], sources: Array.from({ length: nSources }, () => []) };
  records.forEach((r, i) => {
    const sums = side === "chosen" ? r.fuse_chosen_logps : r.fuse_rejected_logps;
    const means = side === "chosen" ? r.fuse_mean_chosen_logps : r.fuse_mean_rejected_logps;
    if (sums.length !== nSources || means.length !== nSources) {
      throw new RangeError(`record ${i}: ${sums.length} source(s) in fuse_${side}_logps, the first record has ${nSources}`);
    }
    const at = (what: string, f: () => number): number => {
      try {
        return f();
      } catch (e) {
        throw new RangeError(`record ${i}, ${what}: ${(e as Error).message}`);
      }
    };
    out.pivot.push(at(`ref_${side}_logps`, () => tokenCount(side === "chosen" ? r.ref_chosen_logps : r.ref_rejected_logps, side === "chosen" ? r.ref_mean_chosen_logps : r.ref_mean_rejected_logps)));
    for (let s = 0; s < nSources; s++) out.sources[s].push(at(`fuse_${side}_logps[${s}]`, () => tokenCount(sums[s], means[s])));
  });
  return out;
}

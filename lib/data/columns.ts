/**
 * The published format's log-prob columns of one response slot (infifpo.md, "Data format"): the pivot's
 * `ref_*` (sum and per-token mean) and the sources' `fuse_*` lists, in source order. One builder for every
 * writer of scored pairs.
 */

/** A model's sequence score of one response: ℓ (sum) and \bar ℓ (per-token mean). */
export interface LogpScore {
  sum: number;
  mean: number;
}

/**
 * @example logpColumns("chosen", { sum: -6, mean: -2 }, [{ sum: -9, mean: -1.5 }])
 * // → { ref_chosen_logps: -6, ref_mean_chosen_logps: -2, fuse_chosen_logps: [-9], fuse_mean_chosen_logps: [-1.5] }
 */
export function logpColumns(slot: "chosen" | "rejected" | "source_chosen", pivot: LogpScore, sources: readonly LogpScore[]): Record<string, number | number[]> {
  return {
    [`ref_${slot}_logps`]: pivot.sum,
    [`ref_mean_${slot}_logps`]: pivot.mean,
    [`fuse_${slot}_logps`]: sources.map((s) => s.sum),
    [`fuse_mean_${slot}_logps`]: sources.map((s) => s.mean),
  };
}

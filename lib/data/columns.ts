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

/** One response slot's scores: the pivot's and the sources', in source order. */
export interface SlotScores {
  pivot: LogpScore;
  sources: readonly LogpScore[];
}

/**
 * The eight columns of a scored pair in the published order, each column's chosen entry then its rejected one
 * (`ref_chosen_logps`, `ref_rejected_logps`, `ref_mean_chosen_logps`, …, as in infifpo.md and data/sample): the
 * logpColumns of the two slots, interleaved.
 *
 * @example Object.keys(logpPairColumns({ pivot: { sum: -6, mean: -2 }, sources: [] }, { pivot: { sum: -8, mean: -4 }, sources: [] })).slice(0, 3)
 * // → ["ref_chosen_logps", "ref_rejected_logps", "ref_mean_chosen_logps"]
 */
export function logpPairColumns(chosen: SlotScores, rejected: SlotScores): Record<string, number | number[]> {
  const c = Object.entries(logpColumns("chosen", chosen.pivot, chosen.sources));
  const r = Object.entries(logpColumns("rejected", rejected.pivot, rejected.sources));
  return Object.fromEntries(c.flatMap((col, i) => [col, r[i]]));
}

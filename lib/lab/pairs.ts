/**
 * Preference pairs from sampled responses (issue: "reward = the verifier; chosen = best, rejected = worst, ties
 * dropped"). Pure functions over plain data; the pipeline samples and scores.
 *
 * Choices: a response that did not end with the model's EOS within the budget is never used; among equal
 * rewards the earlier response wins (models in config order — pivot first, then the sources — then sample
 * index), so the result is deterministic. WRPO's triple is parallel to the pair (same prompts, same y_l): y_ws is
 * the best source response and y_wt the pivot's best, each replaced by the pair's chosen when it does not beat y_l.
 */

/** One sampled response with its verifier reward. */
export interface Sample {
  /** Index of the model in [pivot, ...sources]. */
  model: number;
  text: string;
  finished: boolean;
  reward: number;
}

export interface Pair {
  chosen: Sample;
  rejected: Sample;
}

export type PairOutcome = { pair: Pair } | { dropped: "tie" | "too-few" };

/** chosen = the best finished sample, rejected = the worst; dropped when all rewards are equal or < 2 finished. */
export function buildPair(samples: readonly Sample[]): PairOutcome {
  const ok = samples.filter((s) => s.finished);
  if (ok.length < 2) return { dropped: "too-few" };
  let best = ok[0], worst = ok[0];
  for (const s of ok) {
    if (s.reward > best.reward) best = s;
    if (s.reward < worst.reward) worst = s;
  }
  if (!(best.reward > worst.reward)) return { dropped: "tie" };
  return { pair: { chosen: best, rejected: worst } };
}

/** WRPO's (y_ws, y_wt, y_l) for a pair built from `samples` (model 0 = the pivot). */
export function wrpoTriple(samples: readonly Sample[], pair: Pair): { sourceChosen: Sample; chosen: Sample; rejected: Sample } {
  const bestOf = (pred: (s: Sample) => boolean): Sample => {
    let b: Sample | null = null;
    for (const s of samples) if (s.finished && pred(s) && (b === null || s.reward > b.reward)) b = s;
    return b !== null && b.reward > pair.rejected.reward ? b : pair.chosen;
  };
  return { sourceChosen: bestOf((s) => s.model > 0), chosen: bestOf((s) => s.model === 0), rejected: pair.rejected };
}

/**
 * SFT examples and preference pairs from sampled responses (reward = the verifier). Pure functions over plain
 * data; the pipeline samples and scores.
 *
 * Choices: a response that did not end with the model's EOS within the budget is never used; among equal
 * rewards the earlier response wins (models in config order — the pivot first, then the sources — then sample
 * index), so the result is deterministic. chosen = the best finished sample of any model; rejected = the worst
 * finished sample of the pivot (on-policy, "policy") or of any model ("pool"). WRPO's triple is parallel to the
 * pair (same prompt, same y_l): y_ws is the best source response and y_wt the pivot's best, each replaced by the
 * pair's chosen when it does not beat y_l.
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

/** The first sample with the highest (`best`) or lowest reward among those `keep` accepts; null if none. */
function extreme(samples: readonly Sample[], best: boolean, keep: (s: Sample) => boolean): Sample | null {
  let out: Sample | null = null;
  for (const s of samples) if (s.finished && keep(s) && (out === null || (best ? s.reward > out.reward : s.reward < out.reward))) out = s;
  return out;
}

/**
 * chosen = the best finished sample; rejected = the worst finished sample of the pivot (`"policy"`) or of any
 * model (`"pool"`); dropped when rejected does not score strictly lower, or when there are not two samples to pair.
 */
export function buildPair(samples: readonly Sample[], rejected: "policy" | "pool" = "pool"): PairOutcome {
  const fromPool = (s: Sample) => rejected === "pool" || s.model === 0;
  if (samples.filter((s) => s.finished).length < 2 || !samples.some((s) => s.finished && fromPool(s))) return { dropped: "too-few" };
  const chosen = extreme(samples, true, () => true)!;
  const worst = extreme(samples, false, fromPool)!;
  if (!(chosen.reward > worst.reward)) return { dropped: "tie" };
  return { pair: { chosen, rejected: worst } };
}

/** The SFT example of a prompt: its best finished sample when that one is correct (reward 1), else null. */
export function sftExample(samples: readonly Sample[]): Sample | null {
  const best = extreme(samples, true, () => true);
  return best !== null && best.reward === 1 ? best : null;
}

/** WRPO's (y_ws, y_wt, y_l) for a pair built from `samples` (model 0 = the pivot). */
export function wrpoTriple(samples: readonly Sample[], pair: Pair): { sourceChosen: Sample; chosen: Sample; rejected: Sample } {
  const bestOf = (pred: (s: Sample) => boolean): Sample => {
    const b = extreme(samples, true, pred);
    return b !== null && b.reward > pair.rejected.reward ? b : pair.chosen;
  };
  return { sourceChosen: bestOf((s) => s.model > 0), chosen: bestOf((s) => s.model === 0), rejected: pair.rejected };
}

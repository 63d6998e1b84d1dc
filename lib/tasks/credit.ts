/**
 * Partial credit shared by several verifiers. A fully correct response always scores 1 and is the only one
 * that does: partial credit is capped at `PARTIAL_MAX`, so "reward = 1" means "correct".
 */

/** The most a response that is not exactly right can score. */
export const PARTIAL_MAX = 0.5;

/** `x` in [0, 1] scaled into partial credit. */
export function partial(x: number): number {
  return PARTIAL_MAX * Math.max(0, Math.min(1, x));
}

const INTEGER = /^-?(0|[1-9][0-9]*)$/;

/**
 * An integer answer: 1 when equal; otherwise, for a well-formed integer of the same sign, partial credit for the
 * share of digits that match when both are right-aligned (a wrong carry costs one digit, not the answer).
 *
 * @example numberCredit("128", "128") // 1
 * @example numberCredit("128", "118") // 0.5 · 2/3
 */
export function numberCredit(answer: string, response: string): number {
  if (response === answer) return 1;
  if (!INTEGER.test(response)) return 0;
  const neg = (s: string) => s.startsWith("-");
  if (neg(answer) !== neg(response)) return 0;
  const a = answer.replace("-", ""), r = response.replace("-", "");
  const n = Math.max(a.length, r.length);
  let same = 0;
  for (let i = 1; i <= Math.min(a.length, r.length); i++) if (a[a.length - i] === r[r.length - i]) same++;
  return partial(same / n);
}

/** Share of positions where two equally long lists agree (0 when the lengths differ). */
export function positionalAgreement<T>(a: readonly T[], b: readonly T[]): number {
  if (a.length !== b.length || a.length === 0) return 0;
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

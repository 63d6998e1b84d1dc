/**
 * Worked answers: every generative family answers the way a person writes a solution out — the problem restated,
 * the steps of a canonical solution, then the final answer after a marker, as GSM8K answers end in `#### 85`:
 *
 *   `47+38=` → `47+38; 7+8=15 carry 1; 4+3+1=8; so the answer is #85`
 *
 * The steps give a small model a scratchpad and the verifier something to grade below "correct" (a response is
 * correct exactly when its final answer is). The restatement and the connecting words make responses multi-token
 * text in which tokenizers differ, and most of its tokens are ones every competent model predicts alike — as in
 * the paper's long responses, where models disagree on a few tokens of many, not on most of a short answer.
 */
import { PARTIAL_MAX, partial } from "./credit";

/** Separates steps; the final answer follows the last FINAL_MARK, after FINAL_LEAD. */
export const STEP_SEP = "; ";
export const FINAL_LEAD = "so the answer is ";
export const FINAL_MARK = "#";

/** A canonical solution: the steps in order and the final answer. */
export interface Worked {
  steps: string[];
  final: string;
}

/**
 * The response text of a solution.
 * @example workedText({ steps: ["47+38", "7+8=15 carry 1", "4+3+1=8"], final: "85" })
 * // → "47+38; 7+8=15 carry 1; 4+3+1=8; so the answer is #85"
 */
export function workedText(w: Worked): string {
  return [...w.steps, FINAL_LEAD].join(STEP_SEP) + FINAL_MARK + w.final;
}

/** Splits a response at its last FINAL_MARK into steps and final answer; null when it has none. */
export function parseWorked(response: string): Worked | null {
  const at = response.lastIndexOf(FINAL_MARK);
  if (at < 0) return null;
  let head = response.slice(0, at);
  if (head.endsWith(FINAL_LEAD)) head = head.slice(0, -FINAL_LEAD.length);
  if (head.endsWith(STEP_SEP)) head = head.slice(0, -STEP_SEP.length);
  return { steps: head === "" ? [] : head.split(STEP_SEP), final: response.slice(at + 1) };
}

/** The final answer of a response (the text after its last marker), or null. */
export function finalAnswer(response: string): string | null {
  return parseWorked(response)?.final ?? null;
}

/** Share of positions at which two step lists agree, over the longer list (1 for two empty lists). */
export function stepAgreement(want: readonly string[], got: readonly string[]): number {
  const n = Math.max(want.length, got.length);
  if (n === 0) return 1;
  let same = 0;
  for (let i = 0; i < Math.min(want.length, got.length); i++) if (want[i] === got[i]) same++;
  return same / n;
}

/**
 * The verifier's score of a worked response against the canonical solution: 1 when the final answer is right;
 * otherwise partial credit (at most PARTIAL_MAX): half for the steps that agree with the canonical ones, half
 * for the family's own partial credit of the final answer (`finalCredit`, in [0, PARTIAL_MAX]). No marker: 0.
 *
 * @example workedScore({ steps: ["7+8=15", "4+3+1=8"], final: "85" }, "7+8=15;4+3+1=9#95", numberCredit)
 * // → 0.5 · (0.5 · 1/2 + 0.5 · (0.25 / 0.5)) = 0.25
 */
export function workedScore(want: Worked, response: string, finalCredit: (want: string, got: string) => number): number {
  const got = parseWorked(response);
  if (got === null) return 0;
  if (got.final === want.final) return 1;
  const f = Math.max(0, Math.min(PARTIAL_MAX, finalCredit(want.final, got.final))) / PARTIAL_MAX;
  return partial(0.5 * stepAgreement(want.steps, got.steps) + 0.5 * f);
}

/** Math: multi-digit arithmetic and multi-step chains (the paper's GSM8K / MATH group, at laptop scale). */
import type { Rng } from "../rng";
import { numberCredit } from "./credit";
import type { TaskFamily, TaskItem } from "./types";

/** An operand with 1..maxDigits digits: the digit count uniform, then the value uniform (lab-scale.md §1). */
export function operand(rng: Rng, maxDigits: number): number {
  const d = rng.between(1, maxDigits);
  return d === 1 ? rng.int(10) : rng.between(10 ** (d - 1), 10 ** d - 1);
}

/**
 * `a+b=` or `a-b=` (a ≥ b, so the result is ≥ 0); level L = operands of 1..L digits.
 * @example "47+8=" → "55", "305-17=" → "288"
 */
export const arith: TaskFamily = Object.freeze({
  name: "arith",
  category: "math",
  summary: "a+b= / a-b= with operands of 1..level digits",
  levels: [1, 4] as const,
  defaultLevel: 2,
  maxAnswerChars: 5,
  eval: "generate",
  generate(rng: Rng, level: number): TaskItem {
    let a = operand(rng, level), b = operand(rng, level);
    const op = rng.chance(0.5) ? "+" : "-";
    if (op === "-" && a < b) [a, b] = [b, a];
    return { family: "arith", prompt: `${a}${op}${b}=`, answer: String(op === "+" ? a + b : a - b) };
  },
  score: (item: TaskItem, response: string) => numberCredit(evalChain(item.prompt), response),
});

/**
 * A chain of level + 1 one-digit operands joined by + and -, evaluated left to right (may be negative).
 * @example "7+2-5+1=" → "5"
 */
export const chain: TaskFamily = Object.freeze({
  name: "chain",
  category: "math",
  summary: "left-to-right chains of level+1 one-digit operands with + and -",
  levels: [1, 5] as const,
  defaultLevel: 2,
  maxAnswerChars: 3,
  eval: "generate",
  generate(rng: Rng, level: number): TaskItem {
    let prompt = String(rng.int(10));
    for (let i = 0; i < level; i++) prompt += (rng.chance(0.5) ? "+" : "-") + String(rng.int(10));
    prompt += "=";
    return { family: "chain", prompt, answer: evalChain(prompt) };
  },
  score: (item: TaskItem, response: string) => numberCredit(evalChain(item.prompt), response),
});

/** Evaluates "n(±n)*=" left to right (the verifier recomputes the answer from the prompt). */
export function evalChain(prompt: string): string {
  const m = /^([0-9]+)((?:[+-][0-9]+)*)=$/.exec(prompt);
  if (!m) throw new Error(`not an arithmetic prompt: ${JSON.stringify(prompt)}`);
  let v = Number(m[1]);
  for (const t of m[2].match(/[+-][0-9]+/g) ?? []) v += t[0] === "+" ? Number(t.slice(1)) : -Number(t.slice(1));
  return String(v);
}

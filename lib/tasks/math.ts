/**
 * Math: multi-digit arithmetic done column by column and multi-step chains (the paper's GSM8K / MATH group, at
 * laptop scale). Answers are worked (./worked.ts): the steps a person writes, then `#` and the result.
 */
import type { Rng } from "../rng";
import { numberCredit } from "./credit";
import type { TaskFamily, TaskItem } from "./types";
import { workedScore, workedText, type Worked } from "./worked";

/** An operand with 1..maxDigits digits: the digit count uniform, then the value uniform (lab-scale.md §1). */
export function operand(rng: Rng, maxDigits: number): number {
  const d = rng.between(1, maxDigits);
  return d === 1 ? rng.int(10) : rng.between(10 ** (d - 1), 10 ** d - 1);
}

const digitAt = (x: number, i: number) => Math.floor(x / 10 ** i) % 10;
const digits = (x: number) => String(x).length;

/**
 * Column arithmetic, least significant column first, after the problem restated. Addition writes each column's
 * digits, the carry in and their sum, and any carry out (`8+6=14 carry 1`, `7+5+1=13 carry 1`); subtraction
 * (a ≥ b) writes each column's top digit after any borrow, borrowing 10 when it is smaller than the bottom digit
 * (`borrow 1 12-8=4`, `4-3=1`). Missing digits are 0.
 * @example solveArith("478+56=") // → { steps: ["478+56", "8+6=14 carry 1", "7+5+1=13 carry 1", "4+0+1=5"], final: "534" }
 * @example solveArith("52-38=")  // → { steps: ["52-38", "borrow 1 12-8=4", "4-3=1"], final: "14" }
 */
export function solveArith(prompt: string): Worked {
  const m = /^([0-9]+)([+-])([0-9]+)=$/.exec(prompt);
  if (!m) throw new Error(`arith: not an arithmetic prompt: ${JSON.stringify(prompt)}`);
  const a = Number(m[1]), b = Number(m[3]), add = m[2] === "+";
  if (!add && a < b) throw new Error(`arith: negative difference in ${JSON.stringify(prompt)}`);
  const n = Math.max(digits(a), digits(b));
  const steps: string[] = [prompt.slice(0, -1)];
  let carry = 0;
  for (let i = 0; i < n; i++) {
    const x = digitAt(a, i), y = digitAt(b, i);
    if (add) {
      const s = x + y + carry;
      steps.push(`${x}+${y}${carry ? "+1" : ""}=${s}${s >= 10 ? " carry 1" : ""}`);
      carry = s >= 10 ? 1 : 0;
    } else {
      const top = x - carry;
      carry = top < y ? 1 : 0;
      const t = top + 10 * carry;
      steps.push(`${carry ? "borrow 1 " : ""}${t}-${y}=${t - y}`);
    }
  }
  return { steps, final: String(add ? a + b : a - b) };
}

/**
 * `a+b=` or `a-b=` (a ≥ b, so the result is ≥ 0); level L = operands of 1..L digits.
 * @example "47+8=" → "47+8; 7+8=15 carry 1; 4+0+1=5; so the answer is #55"
 * @example "305-17=" → "305-17; borrow 1 15-7=8; borrow 1 9-1=8; 2-0=2; so the answer is #288"
 */
export const arith: TaskFamily = Object.freeze({
  name: "arith",
  category: "math",
  summary: "a+b= / a-b= with operands of 1..level digits, worked column by column",
  levels: [1, 4] as const,
  defaultLevel: 3,
  // level 4: the problem (9 chars), 4 columns of "9+9+1=19 carry 1", the lead and a 5-digit result
  maxAnswerChars: 9 + 4 * (2 + 16) + 2 + 17 + 1 + 5,
  eval: "generate",
  generate(rng: Rng, level: number): TaskItem {
    let a = operand(rng, level), b = operand(rng, level);
    const op = rng.chance(0.5) ? "+" : "-";
    if (op === "-" && a < b) [a, b] = [b, a];
    const prompt = `${a}${op}${b}=`;
    return { family: "arith", prompt, answer: workedText(solveArith(prompt)) };
  },
  score: (item: TaskItem, response: string) => workedScore(solveArith(item.prompt), response, numberCredit),
});

/**
 * A chain evaluated left to right after the problem restated, one step per operator with the running value.
 * @example solveChain("7+2-5+1=") // → { steps: ["7+2-5+1", "7+2=9", "9-5=4", "4+1=5"], final: "5" }
 */
export function solveChain(prompt: string): Worked {
  const m = /^([0-9]+)((?:[+-][0-9]+)+)=$/.exec(prompt);
  if (!m) throw new Error(`chain: not a chain prompt: ${JSON.stringify(prompt)}`);
  let v = Number(m[1]);
  const steps: string[] = [prompt.slice(0, -1)];
  for (const t of m[2].match(/[+-][0-9]+/g) ?? []) {
    const next = t[0] === "+" ? v + Number(t.slice(1)) : v - Number(t.slice(1));
    steps.push(`${v}${t}=${next}`);
    v = next;
  }
  return { steps, final: String(v) };
}

/**
 * A chain of level + 1 one-digit operands joined by + and -, evaluated left to right (may be negative).
 * @example "7+2-5+1=" → "7+2-5+1; 7+2=9; 9-5=4; 4+1=5; so the answer is #5"
 */
export const chain: TaskFamily = Object.freeze({
  name: "chain",
  category: "math",
  summary: "left-to-right chains of level+1 one-digit operands with + and -, worked step by step",
  levels: [1, 6] as const,
  defaultLevel: 4,
  // level 6: the problem (13 chars), six steps of at most "-45-9=-54", the lead and a final "-54"
  maxAnswerChars: 13 + 6 * (2 + 9) + 2 + 17 + 1 + 3,
  eval: "generate",
  generate(rng: Rng, level: number): TaskItem {
    let prompt = String(rng.int(10));
    for (let i = 0; i < level; i++) prompt += (rng.chance(0.5) ? "+" : "-") + String(rng.int(10));
    prompt += "=";
    return { family: "chain", prompt, answer: workedText(solveChain(prompt)) };
  },
  score: (item: TaskItem, response: string) => workedScore(solveChain(item.prompt), response, numberCredit),
});

/** Evaluates "n(±n)*=" left to right (the verifier recomputes the answer from the prompt). */
export function evalChain(prompt: string): string {
  const m = /^([0-9]+)((?:[+-][0-9]+)*)=$/.exec(prompt);
  if (!m) throw new Error(`not an arithmetic prompt: ${JSON.stringify(prompt)}`);
  let v = Number(m[1]);
  for (const t of m[2].match(/[+-][0-9]+/g) ?? []) v += t[0] === "+" ? Number(t.slice(1)) : -Number(t.slice(1));
  return String(v);
}

/**
 * Instruction following: verifiable format constraints (IFEval's idea at laptop scale). A prompt asks for a
 * word written n times, optionally with a separator, in upper case, and wrapped in brackets. Answers are worked
 * (./worked.ts): the request restated, the word in its case, the repeated body, then `#` and the result:
 *   `say 'ab' 3x=` → `'ab' 3x; ab; ababab; so the answer is #ababab`,
 *   `say 'kiv' 2x sep - upper in ()=` → `'kiv' 2x sep - upper in (); KIV; KIV-KIV; so the answer is #(KIV-KIV)`.
 * The verifier checks each constraint of the result on its own (count, word, case, separator, wrapping), so a
 * response that gets some of them right earns partial credit.
 */
import type { Rng } from "../rng";
import { partial } from "./credit";
import type { TaskFamily, TaskItem } from "./types";
import { workedScore, workedText, type Worked } from "./worked";

const LETTERS = "abcdefghijklmnopqrstuvwxyz";
const SEPARATORS = ["-", ".", ",", "+"] as const;
const WRAPS = ["()", "[]", "{}", "<>"] as const;

/** The constraints a prompt states. */
export interface FormatSpec {
  word: string;
  count: number;
  sep: string | null;
  upper: boolean;
  wrap: string | null;
}

/** Parses a prompt back into its constraints (the verifier reads them from the prompt, not from a stored answer). */
export function parseFormatPrompt(prompt: string): FormatSpec {
  const m = /^say '([a-z]+)' ([0-9])x( sep ([^ ]))?( upper)?( in ([^ ]{2}))?=$/.exec(prompt);
  if (!m) throw new Error(`format: not a format prompt: ${JSON.stringify(prompt)}`);
  return { word: m[1], count: Number(m[2]), sep: m[4] ?? null, upper: m[5] !== undefined, wrap: m[7] ?? null };
}

/** The one result that satisfies every constraint. */
export function formatAnswer(s: FormatSpec): string {
  const body = formatBody(s);
  return s.wrap ? s.wrap[0] + body + s.wrap[1] : body;
}

function formatBody(s: FormatSpec): string {
  const w = s.upper ? s.word.toUpperCase() : s.word;
  return Array.from({ length: s.count }, () => w).join(s.sep ?? "");
}

/**
 * The request restated, the word in its case, the repeated body, and the result.
 * @example solveFormat("say 'kiv' 2x sep - upper in ()=") // → { steps: ["'kiv' 2x sep - upper in ()", "KIV", "KIV-KIV"], final: "(KIV-KIV)" }
 */
export function solveFormat(prompt: string): Worked {
  const s = parseFormatPrompt(prompt);
  return { steps: [prompt.slice(4, -1), s.upper ? s.word.toUpperCase() : s.word, formatBody(s)], final: formatAnswer(s) };
}

/** Partial credit of a result: the share of constraints it meets (count, word, case, separator, wrapping). */
function formatCredit(s: FormatSpec, response: string): number {
  const checks: boolean[] = [];
  let body = response;
  const wrapped = s.wrap !== null && body.length >= 2 && body[0] === s.wrap[0] && body[body.length - 1] === s.wrap[1];
  checks.push(s.wrap === null ? !WRAPS.some((w) => body.startsWith(w[0]) && body.endsWith(w[1])) : wrapped);
  if (wrapped) body = body.slice(1, -1);
  const pieces = s.sep !== null ? body.split(s.sep) : (body.match(new RegExp(`.{1,${s.word.length}}`, "g")) ?? []);
  checks.push(pieces.length === s.count);
  checks.push(pieces.length > 0 && pieces.every((p) => p.toLowerCase() === s.word));
  checks.push(pieces.length > 0 && pieces.every((p) => p === (s.upper ? p.toUpperCase() : p.toLowerCase())));
  if (s.sep !== null && s.count > 1) checks.push(body.includes(s.sep));
  return partial(checks.filter(Boolean).length / checks.length);
}

/** level L: a 2..4-letter word, 1..4 copies, and L of the three optional constraints (sep, upper, wrap). */
export const format: TaskFamily = Object.freeze({
  name: "format",
  category: "instruction",
  summary: "write a word n times under level of the constraints separator / upper case / brackets, step by step",
  levels: [0, 3] as const,
  defaultLevel: 2,
  // the request (29 chars), a 4-letter word, "WORD+WORD+WORD+WORD", the lead and the wrapped result
  maxAnswerChars: 29 + 2 + 4 + 2 + 19 + 2 + 17 + 1 + 21,
  eval: "generate",
  generate(rng: Rng, level: number): TaskItem {
    const word = Array.from({ length: rng.between(2, 4) }, () => rng.pick([...LETTERS])).join("");
    const on = rng.shuffle([0, 1, 2]).slice(0, level);
    const spec: FormatSpec = {
      word,
      count: rng.between(1, 4),
      sep: on.includes(0) ? rng.pick(SEPARATORS) : null,
      upper: on.includes(1),
      wrap: on.includes(2) ? rng.pick(WRAPS) : null,
    };
    const prompt = `say '${word}' ${spec.count}x${spec.sep ? ` sep ${spec.sep}` : ""}${spec.upper ? " upper" : ""}${spec.wrap ? ` in ${spec.wrap}` : ""}=`;
    return { family: "format", prompt, answer: workedText(solveFormat(prompt)) };
  },
  score(item: TaskItem, response: string): number {
    const s = parseFormatPrompt(item.prompt);
    return workedScore(solveFormat(item.prompt), response, (_, got) => formatCredit(s, got));
  },
});

/**
 * Reasoning: boolean expressions, Dyck-language completion and word sorting (BIG-Bench Hard's
 * boolean_expressions, dyck_languages and word_sorting, at laptop scale). Answers are worked (./worked.ts):
 * the evaluation of every sub-expression, the bracket stack after every bracket, the sort keys.
 */
import type { Rng } from "../rng";
import { partial, positionalAgreement } from "./credit";
import type { TaskFamily, TaskItem } from "./types";
import { workedScore, workedText, type Worked } from "./worked";

// ---- boolean expressions over T / F with ~ (not), & (and), | (or)

function boolExpr(rng: Rng, depth: number): string {
  if (depth === 0 || rng.chance(0.3)) return (rng.chance(0.3) ? "~" : "") + (rng.chance(0.5) ? "T" : "F");
  const e = `(${boolExpr(rng, depth - 1)}${rng.chance(0.5) ? "&" : "|"}${boolExpr(rng, depth - 1)})`;
  return rng.chance(0.25) ? "~" + e : e;
}

/** Evaluates an expression of T, F, ~, &, | and parentheses (& binds tighter than |). */
export function evalBool(src: string): boolean {
  return parseBool(src, () => {});
}

/**
 * The one parser of bool expressions (recursive descent: ~ binds tightest, then &, then |, each left to right);
 * `step` sees every operator as it is applied, innermost first: `l&r=v`, `l|r=v`, and `~v=w` for a negated
 * sub-expression (a negated constant like `~F` is read as the constant T, no step).
 */
function parseBool(src: string, step: (s: string) => void): boolean {
  const tf = (v: boolean) => (v ? "T" : "F");
  let i = 0;
  const atom = (): boolean => {
    if (src[i] === "~") {
      i++;
      if (src[i] === "T" || src[i] === "F") return src[i++] === "F";
      const v = atom();
      step(`~${tf(v)}=${tf(!v)}`);
      return !v;
    }
    if (src[i] === "(") {
      i++;
      const v = or();
      if (src[i++] !== ")") throw new Error(`bool: expected ")" in ${JSON.stringify(src)}`);
      return v;
    }
    const c = src[i++];
    if (c === "T" || c === "F") return c === "T";
    throw new Error(`bool: unexpected ${JSON.stringify(c)} in ${JSON.stringify(src)}`);
  };
  const binary = (op: "&" | "|", operand: () => boolean) => (): boolean => {
    let v = operand();
    while (src[i] === op) {
      i++;
      const r = operand();
      const w = op === "&" ? v && r : v || r;
      step(`${tf(v)}${op}${tf(r)}=${tf(w)}`);
      v = w;
    }
    return v;
  };
  const and = binary("&", atom);
  const or = binary("|", and);
  const v = or();
  if (i !== src.length) throw new Error(`bool: trailing text in ${JSON.stringify(src)}`);
  return v;
}

/**
 * The evaluation of a bool expression after the expression restated, one step per operator as it is applied
 * (innermost first): `l&r=v`, `l|r=v`, and `~v=w` for a negated sub-expression (a negated constant like `~F` is
 * read as the constant T).
 * @example solveBool("(~F&(T|F))=") // → { steps: ["(~F&(T|F))", "T|F=T", "T&T=T"], final: "T" }
 */
export function solveBool(prompt: string): Worked {
  const src = prompt.slice(0, -1);
  const steps: string[] = [src];
  const v = parseBool(src, (st) => steps.push(st));
  return { steps, final: v ? "T" : "F" };
}

/** Longest bool answer (and prompt) the generator emits: it redraws longer expressions so every item fits a context of 192. */
const BOOL_MAX_ANSWER = 120;
const BOOL_MAX_PROMPT = 56;

/** level L: operator depth ≤ L; answers balanced 50/50 T/F by rejection (lab-scale.md §1). */
export const bool: TaskFamily = Object.freeze({
  name: "bool",
  category: "reasoning",
  summary: "truth value (T/F) of a random expression over T, F, ~, &, | of depth ≤ level, evaluated step by step",
  levels: [1, 3] as const,
  defaultLevel: 2,
  maxAnswerChars: BOOL_MAX_ANSWER,
  eval: "generate",
  generate(rng: Rng, level: number): TaskItem {
    const want = rng.chance(0.5);
    for (;;) {
      const e = boolExpr(rng, level);
      if (e.length < 2 || e.length + 1 > BOOL_MAX_PROMPT || evalBool(e) !== want) continue;
      const answer = workedText(solveBool(e + "="));
      if (answer.length <= BOOL_MAX_ANSWER) return { family: "bool", prompt: e + "=", answer };
    }
  },
  score: (item: TaskItem, response: string) => workedScore(solveBool(item.prompt), response, () => 0),
});

// ---- Dyck completion: close every bracket left open by a prefix

const OPEN = "([{<", CLOSE = ")]}>";

/** The closing sequence for an unfinished but well-nested prefix; throws on a mismatched prefix. */
export function dyckCompletion(prefix: string): string {
  const st: number[] = [];
  for (const c of prefix) {
    const o = OPEN.indexOf(c), cl = CLOSE.indexOf(c);
    if (o >= 0) st.push(o);
    else if (cl >= 0 && st.pop() === cl) continue;
    else throw new Error(`dyck: bad prefix ${JSON.stringify(prefix)}`);
  }
  return st.reverse().map((k) => CLOSE[k]).join("");
}

/**
 * The prefix restated, the bracket stack after every bracket of it (`-` when empty), then the closing sequence.
 * @example solveDyck("dyck (()[=") // → { steps: ["(()[", "(", "((", "(", "(["], final: "])" }
 */
export function solveDyck(prompt: string): Worked {
  const prefix = prompt.slice(5, -1);
  const steps: string[] = [prefix];
  let st = "";
  for (const c of prefix) {
    if (OPEN.includes(c)) st += c;
    else if (st.length > 0 && CLOSE.indexOf(c) === OPEN.indexOf(st[st.length - 1])) st = st.slice(0, -1);
    else throw new Error(`dyck: bad prefix ${JSON.stringify(prefix)}`);
    steps.push(st || "-");
  }
  return { steps, final: dyckCompletion(prefix) };
}

/** Longest dyck answer the generator emits (longer traces are redrawn). */
const DYCK_MAX_ANSWER = 110;

const dyckFinalCredit = (want: string, got: string): number => {
  let k = 0;
  while (k < want.length && got[k] === want[k]) k++;
  return partial(k / Math.max(want.length, got.length));
};

/** level L: a prefix of 2..2L+2 brackets with at least one left open. */
export const dyck: TaskFamily = Object.freeze({
  name: "dyck",
  category: "reasoning",
  summary: "close the brackets ()[]{}<> left open by a prefix of 2..2·level+2 brackets, tracing the stack",
  levels: [1, 4] as const,
  defaultLevel: 2,
  maxAnswerChars: DYCK_MAX_ANSWER,
  eval: "generate",
  generate(rng: Rng, level: number): TaskItem {
    for (;;) {
      const n = rng.between(2, 2 * level + 2);
      const st: number[] = [];
      let s = "";
      for (let i = 0; i < n; i++) {
        // close only when something is open and at least one bracket stays open at the end
        const canClose = st.length > 1 || (st.length === 1 && i < n - 1);
        if (canClose && rng.chance(0.4)) s += CLOSE[st.pop()!];
        else {
          const k = rng.int(4);
          st.push(k);
          s += OPEN[k];
        }
      }
      const prompt = `dyck ${s}=`;
      const answer = workedText(solveDyck(prompt));
      if (answer.length <= DYCK_MAX_ANSWER) return { family: "dyck", prompt, answer };
    }
  },
  score: (item: TaskItem, response: string) => workedScore(solveDyck(item.prompt), response, dyckFinalCredit),
});

// ---- word sorting

/** The lexicon of the sorting task: short distinct words. */
export const SORT_WORDS = Object.freeze([
  "ant", "bee", "cat", "cow", "dog", "eel", "elk", "fig", "fox", "gnu", "hen", "jay", "kiwi", "lark", "lime",
  "mole", "newt", "oak", "owl", "pea", "pig", "ram", "rye", "seal", "toad", "urn", "vole", "wren", "yak", "zebu",
]);

/** A word's sort key: its first two letters (distinct over SORT_WORDS, so the keys decide the order). */
const sortKey = (w: string) => w.slice(0, 2);

/**
 * The words restated, their keys in the given order, the keys sorted, then the words sorted.
 * @example solveSort("sort owl ant cat=") // → { steps: ["owl ant cat", "ow an ca", "an ca ow"], final: "ant cat owl" }
 */
export function solveSort(prompt: string): Worked {
  const words = prompt.slice(5, -1).split(" ");
  const sorted = [...words].sort();
  return { steps: [words.join(" "), words.map(sortKey).join(" "), sorted.map(sortKey).join(" ")], final: sorted.join(" ") };
}

const sortFinalCredit = (want: string, got: string): number => {
  const w = want.split(" "), g = got.split(" ");
  return [...g].sort().join(" ") === [...w].sort().join(" ") ? partial(positionalAgreement(w, g)) : 0;
};

/** level L: 2..L+1 distinct words. */
export const sort: TaskFamily = Object.freeze({
  name: "sort",
  category: "reasoning",
  summary: "sort 2..level+1 distinct words alphabetically, by their two-letter keys",
  levels: [1, 5] as const,
  defaultLevel: 3,
  // level 5: six words of ≤ 4 letters, six keys twice, the lead and the six words again
  maxAnswerChars: 29 + 2 + 2 * (17 + 2) + 17 + 1 + 29,
  eval: "generate",
  generate(rng: Rng, level: number): TaskItem {
    const n = rng.between(2, level + 1);
    const words = rng.shuffle([...SORT_WORDS]).slice(0, n);
    const prompt = `sort ${words.join(" ")}=`;
    return { family: "sort", prompt, answer: workedText(solveSort(prompt)) };
  },
  score: (item: TaskItem, response: string) => workedScore(solveSort(item.prompt), response, sortFinalCredit),
});

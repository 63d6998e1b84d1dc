/**
 * Reasoning: boolean expressions, Dyck-language completion and word sorting (BIG-Bench Hard's
 * boolean_expressions, dyck_languages and word_sorting, at laptop scale).
 */
import type { Rng } from "../rng";
import { partial, positionalAgreement } from "./credit";
import type { TaskFamily, TaskItem } from "./types";

// ---- boolean expressions over T / F with ~ (not), & (and), | (or)

function boolExpr(rng: Rng, depth: number): string {
  if (depth === 0 || rng.chance(0.3)) return (rng.chance(0.3) ? "~" : "") + (rng.chance(0.5) ? "T" : "F");
  const e = `(${boolExpr(rng, depth - 1)}${rng.chance(0.5) ? "&" : "|"}${boolExpr(rng, depth - 1)})`;
  return rng.chance(0.25) ? "~" + e : e;
}

/** Evaluates an expression of T, F, ~, &, | and parentheses (& binds tighter than |). */
export function evalBool(src: string): boolean {
  let i = 0;
  const atom = (): boolean => {
    if (src[i] === "~") {
      i++;
      return !atom();
    }
    if (src[i] === "(") {
      i++;
      const v = or();
      if (src[i++] !== ")") throw new Error(`bool: expected ")" in ${JSON.stringify(src)}`);
      return v;
    }
    const c = src[i++];
    if (c === "T") return true;
    if (c === "F") return false;
    throw new Error(`bool: unexpected ${JSON.stringify(c)} in ${JSON.stringify(src)}`);
  };
  const and = (): boolean => {
    let v = atom();
    while (src[i] === "&") {
      i++;
      v = atom() && v;
    }
    return v;
  };
  const or = (): boolean => {
    let v = and();
    while (src[i] === "|") {
      i++;
      v = and() || v;
    }
    return v;
  };
  const v = or();
  if (i !== src.length) throw new Error(`bool: trailing text in ${JSON.stringify(src)}`);
  return v;
}

/** level L: operator depth ≤ L; answers balanced 50/50 T/F by rejection (lab-scale.md §1). */
export const bool: TaskFamily = Object.freeze({
  name: "bool",
  category: "reasoning",
  summary: "truth value (T/F) of a random expression over T, F, ~, &, | of depth ≤ level",
  levels: [1, 4] as const,
  defaultLevel: 2,
  maxAnswerChars: 1,
  eval: "generate",
  generate(rng: Rng, level: number): TaskItem {
    const want = rng.chance(0.5);
    for (;;) {
      const e = boolExpr(rng, level);
      if (e.length > 1 && evalBool(e) === want) return { family: "bool", prompt: e + "=", answer: want ? "T" : "F" };
    }
  },
  score: (item: TaskItem, response: string) => (response === (evalBool(item.prompt.slice(0, -1)) ? "T" : "F") ? 1 : 0),
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

/** level L: a prefix of 2..2L+2 brackets with at least one left open. */
export const dyck: TaskFamily = Object.freeze({
  name: "dyck",
  category: "reasoning",
  summary: "close the brackets ()[]{}<> left open by a prefix of 2..2·level+2 brackets",
  levels: [1, 5] as const,
  defaultLevel: 2,
  maxAnswerChars: 12,
  eval: "generate",
  generate(rng: Rng, level: number): TaskItem {
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
    return { family: "dyck", prompt: `dyck ${s}=`, answer: dyckCompletion(s) };
  },
  score(item: TaskItem, response: string): number {
    const want = dyckCompletion(item.prompt.slice(5, -1));
    if (response === want) return 1;
    let k = 0;
    while (k < want.length && response[k] === want[k]) k++;
    return partial(k / Math.max(want.length, response.length));
  },
});

// ---- word sorting

/** The lexicon of the sorting task: short distinct words. */
export const SORT_WORDS = Object.freeze([
  "ant", "bee", "cat", "cow", "dog", "eel", "elk", "fig", "fox", "gnu", "hen", "jay", "kiwi", "lark", "lime",
  "mole", "newt", "oak", "owl", "pea", "pig", "ram", "rye", "seal", "toad", "urn", "vole", "wren", "yak", "zebu",
]);

/** level L: 2..L+1 distinct words. */
export const sort: TaskFamily = Object.freeze({
  name: "sort",
  category: "reasoning",
  summary: "sort 2..level+1 distinct words alphabetically",
  levels: [1, 5] as const,
  defaultLevel: 3,
  maxAnswerChars: 30,
  eval: "generate",
  generate(rng: Rng, level: number): TaskItem {
    const n = rng.between(2, level + 1);
    const words = rng.shuffle([...SORT_WORDS]).slice(0, n);
    return { family: "sort", prompt: `sort ${words.join(" ")}=`, answer: [...words].sort().join(" ") };
  },
  score(item: TaskItem, response: string): number {
    const words = item.prompt.slice(5, -1).split(" ");
    const want = [...words].sort();
    if (response === want.join(" ")) return 1;
    const got = response.split(" ");
    const sameWords = [...got].sort().join(" ") === want.join(" ");
    return sameWords ? partial(positionalAgreement(want, got)) : 0;
  },
});

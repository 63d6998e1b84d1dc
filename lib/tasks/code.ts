/**
 * Code: predict the output of small programs, checked by EXECUTING them (the paper's HumanEval / MBPP group,
 * at laptop scale). Two tiny DSLs, each with a parser and an interpreter here:
 * - list: nested calls over a digit list, `map(+2,rev([3,1,2]))=` → `[4,3,5]`;
 * - stack: a postfix (RPN) program over one-digit numbers, `rpn 3 4 + 2 *=` → `14`.
 */
import type { Rng } from "../rng";
import { numberCredit, partial, positionalAgreement } from "./credit";
import type { TaskFamily, TaskItem } from "./types";

// ---- list DSL:  expr := "[" digits "]" | "rev(" expr ")" | "sort(" expr ")" | "map(" OP "," expr ")"

const MAP_OPS = ["+1", "+2", "+3", "*2"] as const;

/** Runs a list program (without its "="); throws on a syntax error. */
export function runListProgram(src: string): number[] {
  let i = 0;
  const expect = (s: string) => {
    if (!src.startsWith(s, i)) throw new Error(`list program: expected "${s}" at ${i} in ${JSON.stringify(src)}`);
    i += s.length;
  };
  const expr = (): number[] => {
    if (src[i] === "[") {
      i++;
      const out: number[] = [];
      while (src[i] !== "]") {
        const m = /^[0-9]+/.exec(src.slice(i));
        if (!m) throw new Error(`list program: expected a number at ${i} in ${JSON.stringify(src)}`);
        out.push(Number(m[0]));
        i += m[0].length;
        if (src[i] === ",") i++;
      }
      i++;
      return out;
    }
    for (const fn of ["rev", "sort"] as const) {
      if (src.startsWith(fn + "(", i)) {
        i += fn.length + 1;
        const xs = expr();
        expect(")");
        return fn === "rev" ? [...xs].reverse() : [...xs].sort((a, b) => a - b);
      }
    }
    expect("map(");
    const op = MAP_OPS.find((o) => src.startsWith(o, i));
    if (!op) throw new Error(`list program: unknown map op at ${i} in ${JSON.stringify(src)}`);
    i += op.length;
    expect(",");
    const xs = expr();
    expect(")");
    const k = Number(op.slice(1));
    return xs.map((x) => (op[0] === "+" ? x + k : x * k));
  };
  const v = expr();
  if (i !== src.length) throw new Error(`list program: trailing text at ${i} in ${JSON.stringify(src)}`);
  return v;
}

const showList = (xs: readonly number[]) => `[${xs.join(",")}]`;

function parseList(s: string): number[] | null {
  if (!/^\[([0-9]+(,[0-9]+)*)?\]$/.test(s)) return null;
  return s === "[]" ? [] : s.slice(1, -1).split(",").map(Number);
}

/** level L: 1..L nested calls over a list of 1..5 digits. */
export const list: TaskFamily = Object.freeze({
  name: "list",
  category: "code",
  summary: "output of nested rev / sort / map(+k|*2) calls on a digit list (1..level calls)",
  levels: [1, 3] as const,
  defaultLevel: 2,
  maxAnswerChars: 16,
  eval: "generate",
  generate(rng: Rng, level: number): TaskItem {
    let src = showList(Array.from({ length: rng.between(1, 5) }, () => rng.int(10)));
    const calls = rng.between(1, level);
    for (let c = 0; c < calls; c++) {
      const f = rng.int(3);
      src = f === 0 ? `rev(${src})` : f === 1 ? `sort(${src})` : `map(${rng.pick(MAP_OPS)},${src})`;
    }
    return { family: "list", prompt: src + "=", answer: showList(runListProgram(src)) };
  },
  score(item: TaskItem, response: string): number {
    const want = runListProgram(item.prompt.slice(0, -1));
    if (response === showList(want)) return 1;
    const got = parseList(response);
    return got ? partial(positionalAgreement(want, got)) : 0;
  },
});

// ---- stack DSL: "rpn" then tokens: a digit pushes it; + - * pop two (a, b) and push a∘b.

/** Runs an RPN program (the text after "rpn "); throws on a malformed one. */
export function runStackProgram(src: string): number {
  const stack: number[] = [];
  for (const t of src.trim().split(/\s+/)) {
    if (/^[0-9]$/.test(t)) stack.push(Number(t));
    else if (t === "+" || t === "-" || t === "*") {
      if (stack.length < 2) throw new Error(`stack program: "${t}" needs two values in ${JSON.stringify(src)}`);
      const b = stack.pop()!, a = stack.pop()!;
      stack.push(t === "+" ? a + b : t === "-" ? a - b : a * b);
    } else throw new Error(`stack program: unknown token "${t}" in ${JSON.stringify(src)}`);
  }
  if (stack.length !== 1) throw new Error(`stack program: ${stack.length} values left in ${JSON.stringify(src)}`);
  return stack[0];
}

/** level L: L operators (so L + 1 pushes), in a random valid postfix order. */
export const stack: TaskFamily = Object.freeze({
  name: "stack",
  category: "code",
  summary: "value of a postfix (RPN) program over one-digit numbers with + - * (level operators)",
  levels: [1, 4] as const,
  defaultLevel: 2,
  maxAnswerChars: 5,
  eval: "generate",
  generate(rng: Rng, level: number): TaskItem {
    const toks: string[] = [];
    let depth = 0, pushes = 0, ops = 0;
    while (ops < level) {
      // push while we must (fewer than two values) or may (pushes left and a coin says so)
      if (depth < 2 || (pushes < level + 1 && rng.chance(0.5))) {
        toks.push(String(rng.int(10)));
        depth++;
        pushes++;
      } else {
        toks.push(rng.pick(["+", "-", "*"]));
        depth--;
        ops++;
      }
    }
    const src = toks.join(" ");
    return { family: "stack", prompt: `rpn ${src}=`, answer: String(runStackProgram(src)) };
  },
  score: (item: TaskItem, response: string) => numberCredit(String(runStackProgram(item.prompt.slice(4, -1))), response),
});

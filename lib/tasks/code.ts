/**
 * Code: predict the output of small programs, checked by EXECUTING them (the paper's HumanEval / MBPP group,
 * at laptop scale). Two tiny DSLs, each with a parser and an interpreter here:
 * - list: nested calls over a digit list,
 *   `map(+2,rev([3,1,2]))=` → `map(+2,rev([3,1,2])); rev:[2,1,3]; map+2:[4,3,5]; so the answer is #[4,3,5]`;
 * - stack: a postfix (RPN) program over one-digit numbers, `rpn 3 4 + 2 *=` → `rpn 3 4 + 2 *; 3+4=7; 7*2=14; so the answer is #14`.
 * Answers are worked (./worked.ts): a trace of the execution, then `#` and the output.
 */
import type { Rng } from "../rng";
import { numberCredit, partial, positionalAgreement } from "./credit";
import type { TaskFamily, TaskItem } from "./types";
import { workedScore, workedText, type Worked } from "./worked";

// ---- list DSL:  expr := "[" digits "]" | "rev(" expr ")" | "sort(" expr ")" | "map(" OP "," expr ")"

const MAP_OPS = ["+1", "+2", "+3", "*2"] as const;

/**
 * Runs a list program (without its "="), recording one step per call as it returns — innermost first,
 * `label:result` with labels rev, sort, map+k, map*2; throws on a syntax error.
 */
export function traceListProgram(src: string): { result: number[]; steps: string[] } {
  let i = 0;
  const steps: string[] = [];
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
        const r = fn === "rev" ? [...xs].reverse() : [...xs].sort((a, b) => a - b);
        steps.push(`${fn}:${showList(r)}`);
        return r;
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
    const r = xs.map((x) => (op[0] === "+" ? x + k : x * k));
    steps.push(`map${op}:${showList(r)}`);
    return r;
  };
  const result = expr();
  if (i !== src.length) throw new Error(`list program: trailing text at ${i} in ${JSON.stringify(src)}`);
  return { result, steps };
}

/** Runs a list program (without its "="); throws on a syntax error. */
export function runListProgram(src: string): number[] {
  return traceListProgram(src).result;
}

const showList = (xs: readonly number[]) => `[${xs.join(",")}]`;

function parseList(s: string): number[] | null {
  if (!/^\[([0-9]+(,[0-9]+)*)?\]$/.test(s)) return null;
  return s === "[]" ? [] : s.slice(1, -1).split(",").map(Number);
}

/**
 * The trace of a list program after the program restated: one step per call, innermost first, `label:result`;
 * the final answer is the list.
 * @example solveList("map(+2,rev([3,1,2]))=") // → { steps: ["map(+2,rev([3,1,2]))", "rev:[2,1,3]", "map+2:[4,3,5]"], final: "[4,3,5]" }
 */
export function solveList(prompt: string): Worked {
  const { result, steps } = traceListProgram(prompt.slice(0, -1));
  return { steps: [prompt.slice(0, -1), ...steps], final: showList(result) };
}

const listFinalCredit = (want: string, got: string): number => {
  const w = parseList(want), g = parseList(got);
  return w && g ? partial(positionalAgreement(w, g)) : 0;
};

/** level L: 1..L nested calls over a list of 1..5 digits. */
export const list: TaskFamily = Object.freeze({
  name: "list",
  category: "code",
  summary: "output of nested rev / sort / map(+k|*2) calls on a digit list (1..level calls), traced call by call",
  levels: [1, 3] as const,
  defaultLevel: 2,
  // level 3: the program (35 chars), three steps "map*2:[..]" over five two-digit values, the lead, the list
  maxAnswerChars: 35 + 3 * (2 + 22) + 2 + 17 + 1 + 16,
  eval: "generate",
  generate(rng: Rng, level: number): TaskItem {
    let src = showList(Array.from({ length: rng.between(1, 5) }, () => rng.int(10)));
    const calls = rng.between(1, level);
    for (let c = 0; c < calls; c++) {
      const f = rng.int(3);
      src = f === 0 ? `rev(${src})` : f === 1 ? `sort(${src})` : `map(${rng.pick(MAP_OPS)},${src})`;
    }
    const prompt = src + "=";
    return { family: "list", prompt, answer: workedText(solveList(prompt)) };
  },
  score: (item: TaskItem, response: string) => workedScore(solveList(item.prompt), response, listFinalCredit),
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

/**
 * The trace of an RPN program after the program restated: one step per operator, `a∘b=c`, in execution order.
 * @example solveStack("rpn 3 4 + 2 *=") // → { steps: ["rpn 3 4 + 2 *", "3+4=7", "7*2=14"], final: "14" }
 */
export function solveStack(prompt: string): Worked {
  const src = prompt.slice(4, -1);
  const stack: number[] = [];
  const steps: string[] = [prompt.slice(0, -1)];
  for (const t of src.trim().split(/\s+/)) {
    if (t === "+" || t === "-" || t === "*") {
      const b = stack.pop()!, a = stack.pop()!;
      const c = t === "+" ? a + b : t === "-" ? a - b : a * b;
      steps.push(`${a}${t}${b}=${c}`);
      stack.push(c);
    } else stack.push(Number(t));
  }
  return { steps, final: String(runStackProgram(src)) };
}

/** level L: L operators (so L + 1 pushes), in a random valid postfix order. */
export const stack: TaskFamily = Object.freeze({
  name: "stack",
  category: "code",
  summary: "value of a postfix (RPN) program over one-digit numbers with + - * (level operators), traced op by op",
  levels: [1, 4] as const,
  defaultLevel: 3,
  // level 4: the program (21 chars), |values| ≤ 9^5: four steps of at most 20 characters, the lead, the value
  maxAnswerChars: 21 + 4 * (2 + 20) + 2 + 17 + 1 + 6,
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
    const prompt = `rpn ${toks.join(" ")}=`;
    return { family: "stack", prompt, answer: workedText(solveStack(prompt)) };
  },
  score: (item: TaskItem, response: string) => workedScore(solveStack(item.prompt), response, numberCredit),
});

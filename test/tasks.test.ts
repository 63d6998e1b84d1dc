/** lib/tasks: generators, verifiers (hand-checked cases), difficulty levels and the train / test split. */
import { describe, expect, it } from "vitest";
import { Rng } from "../lib/rng";
import {
  CATEGORIES, SORT_WORDS, TASKS, TaskStream, arith, bool, chain, dyck, dyckCompletion, evalBool, factOf, factSentence, facts, familiesOf,
  format, getTask, list, parseWorked, runListProgram, runStackProgram, solveArith, solveBool, solveChain, solveDyck, solveFormat,
  solveList, solveSort, solveStack, sort, stack, stepAgreement, testSet, workedScore, workedText, PARTIAL_MAX, type TaskItem,
} from "../lib/tasks";

const item = (family: string, prompt: string, answer = ""): TaskItem => ({ family, prompt, answer });

describe("task families", () => {
  it("cover the five categories, each with at least one family", () => {
    for (const c of CATEGORIES) expect(familiesOf(c).length).toBeGreaterThan(0);
    expect(() => getTask("nope")).toThrow(/valid: arith/);
  });

  for (const t of Object.values(TASKS)) {
    it(`${t.name}: deterministic, every level generates items its verifier accepts, wrong answers score < 1`, () => {
      const a = new Rng(3), b = new Rng(3);
      expect(Array.from({ length: 20 }, () => t.generate(a, t.defaultLevel, "test"))).toEqual(
        Array.from({ length: 20 }, () => t.generate(b, t.defaultLevel, "test")),
      );
      for (let level = t.levels[0]; level <= t.levels[1]; level++) {
        const r = new Rng(level);
        for (let i = 0; i < 200; i++) {
          for (const split of ["train", "test"] as const) {
            const it = t.generate(r, level, split);
            expect(it.family).toBe(t.name);
            expect(it.prompt.endsWith("=")).toBe(true);
            expect(it.answer.length).toBeLessThanOrEqual(t.maxAnswerChars);
            expect(t.score(it, it.answer)).toBe(1);
            const s = t.score(it, it.answer + "x");
            expect(s).toBeLessThanOrEqual(PARTIAL_MAX);
            expect(t.score(it, "")).toBeLessThan(1);
            if (t.eval === "choice" && split === "test") expect(it.choices).toContain(it.answer);
          }
        }
      }
    });
  }

  it("difficulty knob: higher levels give longer prompts", () => {
    for (const t of [arith, chain, list, stack, bool, dyck, sort, format]) {
      const meanLen = (level: number) => {
        const r = new Rng(1);
        return Array.from({ length: 300 }, () => t.generate(r, level, "test").prompt.length).reduce((x, y) => x + y) / 300;
      };
      expect(meanLen(t.levels[1])).toBeGreaterThan(meanLen(t.levels[0]));
    }
  });
});

describe("worked answers (hand-computed)", () => {
  it("format: steps joined by ';', the final answer after the last '#'", () => {
    expect(workedText({ steps: ["47+38", "7+8=15 carry 1", "4+3+1=8"], final: "85" })).toBe("47+38; 7+8=15 carry 1; 4+3+1=8; so the answer is #85");
    expect(parseWorked("47+38; 7+8=15 carry 1; 4+3+1=8; so the answer is #85")).toEqual({ steps: ["47+38", "7+8=15 carry 1", "4+3+1=8"], final: "85" });
    expect(parseWorked("so the answer is #85")).toEqual({ steps: [], final: "85" });
    expect(parseWorked("#85")).toEqual({ steps: [], final: "85" });
    expect(parseWorked("7+8=15; #85")).toEqual({ steps: ["7+8=15"], final: "85" }); // the lead left out: the steps still parse
    expect(parseWorked("85")).toBeNull();
    expect(stepAgreement(["a", "b"], ["a", "c", "d"])).toBeCloseTo(1 / 3, 12);
    // final wrong: half for the steps (1 of 2 agree), half for the final's digit credit (1 of 2 digits: 0.25 of 0.5)
    expect(workedScore({ steps: ["7+8=15", "4+3+1=8"], final: "85" }, "7+8=15; 4+3+1=9; so the answer is #95", (w, g) => (w === "85" && g === "95" ? 0.25 : 0))).toBeCloseTo(0.5 * (0.5 * 0.5 + 0.5 * 0.5), 12);
    expect(workedScore({ steps: ["x"], final: "1" }, "y; so the answer is #1", () => 0)).toBe(1); // a right final answer is right
    expect(workedScore({ steps: ["x"], final: "1" }, "x; so the answer is 1", () => 0)).toBe(0); // no final answer
  });

  it("math: column arithmetic with carries and borrows, chains step by step", () => {
    expect(solveArith("478+56=")).toEqual({ steps: ["478+56", "8+6=14 carry 1", "7+5+1=13 carry 1", "4+0+1=5"], final: "534" });
    expect(solveArith("52-38=")).toEqual({ steps: ["52-38", "borrow 1 12-8=4", "4-3=1"], final: "14" });
    expect(solveArith("305-17=")).toEqual({ steps: ["305-17", "borrow 1 15-7=8", "borrow 1 9-1=8", "2-0=2"], final: "288" });
    expect(solveArith("100-99=")).toEqual({ steps: ["100-99", "borrow 1 10-9=1", "borrow 1 9-9=0", "0-0=0"], final: "1" });
    expect(solveChain("7+2-5+1=")).toEqual({ steps: ["7+2-5+1", "7+2=9", "9-5=4", "4+1=5"], final: "5" });
    expect(solveChain("3-9-2=")).toEqual({ steps: ["3-9-2", "3-9=-6", "-6-2=-8"], final: "-8" });
    expect(arith.score(item("arith", "47+8="), "47+8; 7+8=15 carry 1; 4+0+1=5; so the answer is #55")).toBe(1);
    expect(arith.score(item("arith", "47+8=", "#999"), "#55")).toBe(1); // the stored answer is not trusted
    // 2 of 3 steps, 1 of 2 digits
    expect(arith.score(item("arith", "47+8="), "47+8; 7+8=15 carry 1; 4+0+1=4; so the answer is #45")).toBeCloseTo(0.5 * (0.5 * (2 / 3) + 0.5 * 0.5), 12);
    expect(arith.score(item("arith", "47+8="), "55")).toBe(0); // no final answer
    expect(chain.score(item("chain", "1-9="), "1-9; 1-9=-8; so the answer is #-8")).toBe(1);
  });

  it("code: program traces, checked by running the program", () => {
    expect(solveList("map(+2,rev([3,1,2]))=")).toEqual({ steps: ["map(+2,rev([3,1,2]))", "rev:[2,1,3]", "map+2:[4,3,5]"], final: "[4,3,5]" });
    expect(solveList("sort(map(*2,[9,0,4]))=")).toEqual({ steps: ["sort(map(*2,[9,0,4]))", "map*2:[18,0,8]", "sort:[0,8,18]"], final: "[0,8,18]" });
    expect(runListProgram("map(+2,rev([3,1,2]))")).toEqual([4, 3, 5]);
    expect(() => runListProgram("rev([1,2]")).toThrow(/expected "\)"/);
    expect(list.score(item("list", "map(+2,rev([3,1,2]))="), "map(+2,rev([3,1,2])); rev:[2,1,3]; map+2:[4,3,5]; so the answer is #[4,3,5]")).toBe(1);
    expect(list.score(item("list", "map(+2,rev([3,1,2]))="), "map(+2,rev([3,1,2])); rev:[2,1,3]; map+2:[4,3,6]; so the answer is #[4,3,6]")).toBeCloseTo(0.5 * (0.5 * (2 / 3) + 0.5 * (2 / 3)), 12);
    expect(solveStack("rpn 3 4 + 2 *=")).toEqual({ steps: ["rpn 3 4 + 2 *", "3+4=7", "7*2=14"], final: "14" });
    expect(solveStack("rpn 9 9 5 * -=")).toEqual({ steps: ["rpn 9 9 5 * -", "9*5=45", "9-45=-36"], final: "-36" });
    expect(runStackProgram("3 4 + 2 *")).toBe(14);
    expect(() => runStackProgram("3 +")).toThrow(/two values/);
    expect(stack.score(item("stack", "rpn 3 4 + 2 *="), "rpn 3 4 + 2 *; 3+4=7; 7*2=14; so the answer is #14")).toBe(1);
  });

  it("reasoning: sub-expressions, the bracket stack, sort keys", () => {
    expect(solveBool("(~F&(T|F))=")).toEqual({ steps: ["(~F&(T|F))", "T|F=T", "T&T=T"], final: "T" });
    expect(solveBool("~(T|F)&T=")).toEqual({ steps: ["~(T|F)&T", "T|F=T", "~T=F", "F&T=F"], final: "F" });
    expect(evalBool("(F|~(F&~F))")).toBe(true);
    expect(bool.score(item("bool", "(T&F)="), "(T&F); T&F=F; so the answer is #F")).toBe(1);
    expect(bool.score(item("bool", "(T&F)="), "(T&F); T&F=T; so the answer is #T")).toBeCloseTo(0.5 * (0.5 * (1 / 2) + 0), 12); // the restatement right, the step wrong
    expect(solveDyck("dyck (()[=")).toEqual({ steps: ["(()[", "(", "((", "(", "(["], final: "])" });
    expect(dyckCompletion("([{(")).toBe(")}])");
    expect(() => dyckCompletion("(]")).toThrow(/bad prefix/);
    expect(dyck.score(item("dyck", "dyck ([=" ), "([; (; ([; so the answer is #])")).toBe(1);
    expect(solveSort("sort owl ant cat=")).toEqual({ steps: ["owl ant cat", "ow an ca", "an ca ow"], final: "ant cat owl" });
    expect(sort.score(item("sort", "sort fig ant cow="), "fig ant cow; fi an co; an co fi; so the answer is #ant cow fig")).toBe(1);
    expect(sort.score(item("sort", "sort fig ant cow="), "fig ant cow; fi an co; an fi co; so the answer is #ant fig cow")).toBeCloseTo(0.5 * (0.5 * (2 / 3) + 0.5 * (1 / 3)), 12);
    const keys = SORT_WORDS.map((w) => w.slice(0, 2));
    expect(new Set(keys).size).toBe(SORT_WORDS.length); // the keys decide the order
  });

  it("instruction: the word, the body, the result; each constraint of the result checked on its own", () => {
    expect(solveFormat("say 'kiv' 2x sep - upper in ()=")).toEqual({ steps: ["'kiv' 2x sep - upper in ()", "KIV", "KIV-KIV"], final: "(KIV-KIV)" });
    const p = item("format", "say 'kiv' 2x sep - upper in ()=");
    expect(format.score(p, "'kiv' 2x sep - upper in (); KIV; KIV-KIV; so the answer is #(KIV-KIV)")).toBe(1);
    expect(format.score(p, "'kiv' 2x sep - upper in (); KIV; KIV-KIV; so the answer is #(kiv-kiv)")).toBeCloseTo(0.5 * (0.5 * 1 + 0.5 * (4 / 5)), 12); // case wrong
    expect(format.score(item("format", "say 'ab' 3x="), "'ab' 3x; ab; ababab; so the answer is #ababab")).toBe(1);
  });

  it("knowledge: facts come from the seeded base, stated as a sentence; multiple choice lists the answer once", () => {
    const r = new Rng(2);
    for (let i = 0; i < 100; i++) {
      const it = facts.generate(r, 3, "test");
      const [entity, rel] = it.prompt.split("?")[0].split(" ");
      expect(it.answer).toBe(factSentence(entity, rel as "pet", factOf(entity, rel as "pet")));
      expect(new Set(it.choices).size).toBe(4);
      expect(facts.score(it, it.answer)).toBe(1);
    }
    expect(factSentence("zor", "pet", "owl")).toBe("the pet of zor is owl");
  });

  it("every item fits a context of 192 with BOS and EOS, and answers are multi-token text", () => {
    for (const t of Object.values(TASKS)) {
      const r = new Rng(9);
      for (let level = t.levels[0]; level <= t.levels[1]; level++)
        for (let i = 0; i < 300; i++) {
          const it = t.generate(r, level, "test");
          expect(it.prompt.length + it.answer.length + 2, `${t.name} level ${level}: ${it.prompt}${it.answer}`).toBeLessThanOrEqual(192);
        }
    }
    const r = new Rng(4);
    const lens = Object.values(TASKS).flatMap((t) => Array.from({ length: 200 }, () => t.generate(r, t.defaultLevel, "test").answer.length)).sort((a, b) => a - b);
    expect(lens[lens.length >> 1]).toBeGreaterThanOrEqual(40);
  });
});

describe("train / test split", () => {
  it("test sets are distinct prompts, fixed by the benchmark seed", () => {
    for (const t of Object.values(TASKS)) {
      const a = testSet(t, { seed: 7, size: 150 });
      expect(a.length).toBe(150);
      expect(new Set(a.map((x) => x.prompt)).size).toBe(150);
      expect(testSet(t, { seed: 7, size: 150 })).toEqual(a);
      expect(testSet(t, { seed: 8, size: 150 })).not.toEqual(a);
    }
  });

  it("training streams never produce a test prompt, and follow their weights", () => {
    const fams = Object.values(TASKS);
    const held = new Set(fams.flatMap((t) => testSet(t, { seed: 7, size: 200 }).map((x) => x.prompt)));
    const s = new TaskStream(fams.map((f, i) => ({ family: f, weight: i === 0 ? 5 : 1 })), { seed: 1, name: "t", exclude: held });
    const items = s.take(20_000);
    expect(items.filter((x) => held.has(x.prompt))).toEqual([]);
    const share = items.filter((x) => x.family === "arith").length / items.length;
    expect(Math.abs(share - 5 / 13)).toBeLessThan(0.02);
    // without the exclusion the same stream would have hit test prompts: the check is not vacuous
    const open = new TaskStream(fams.map((f) => ({ family: f, weight: 1 })), { seed: 1, name: "t" }).take(20_000);
    expect(open.filter((x) => held.has(x.prompt)).length).toBeGreaterThan(100);
  });

  it("a family whose whole prompt space is held out fails loudly", () => {
    const all = new Set(testSet(bool, { seed: 1, size: 5000, level: 1 }).map((x) => x.prompt));
    const s = new TaskStream([{ family: bool, weight: 1, level: 1 }], { seed: 1, name: "t", exclude: all });
    expect(() => s.take(10)).toThrow(/every prompt drawn is in a test set/);
  });
});

/** lib/tasks: generators, verifiers (hand-checked cases), difficulty levels and the train / test split. */
import { describe, expect, it } from "vitest";
import { Rng } from "../lib/rng";
import {
  CATEGORIES, TASKS, TaskStream, arith, bool, chain, dyck, dyckCompletion, evalBool, evalChain, factOf, facts, familiesOf,
  format, getTask, list, runListProgram, runStackProgram, sort, stack, testSet, PARTIAL_MAX, type TaskItem,
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

describe("verifiers (hand-computed)", () => {
  it("math: the answer is recomputed from the prompt; digit-wise partial credit", () => {
    expect(evalChain("7+2-5+1=")).toBe("5");
    expect(evalChain("3-9=")).toBe("-6");
    expect(arith.score(item("arith", "47+8="), "55")).toBe(1);
    expect(arith.score(item("arith", "47+8=", "999"), "55")).toBe(1); // the stored answer is not trusted
    expect(arith.score(item("arith", "47+8="), "45")).toBeCloseTo(0.25, 12); // 1 of 2 digits
    expect(arith.score(item("arith", "305-17="), "278")).toBeCloseTo(0.5 * (2 / 3), 12); // 288: the 2 and the last 8 match
    expect(arith.score(item("arith", "47+8="), "-55")).toBe(0);
    expect(arith.score(item("arith", "47+8="), "5x")).toBe(0);
    expect(chain.score(item("chain", "1-9="), "-8")).toBe(1);
  });

  it("code: programs are executed", () => {
    expect(runListProgram("map(+2,rev([3,1,2]))")).toEqual([4, 3, 5]);
    expect(runListProgram("sort(map(*2,[9,0,4]))")).toEqual([0, 8, 18]);
    expect(() => runListProgram("rev([1,2]")).toThrow(/expected "\)"/);
    expect(list.score(item("list", "map(+2,rev([3,1,2]))="), "[4,3,5]")).toBe(1);
    expect(list.score(item("list", "map(+2,rev([3,1,2]))="), "[4,3,6]")).toBeCloseTo(0.5 * (2 / 3), 12);
    expect(list.score(item("list", "map(+2,rev([3,1,2]))="), "[4,3]")).toBe(0);
    expect(runStackProgram("3 4 + 2 *")).toBe(14);
    expect(runStackProgram("9 9 5 * -")).toBe(-36);
    expect(() => runStackProgram("3 +")).toThrow(/two values/);
    expect(stack.score(item("stack", "rpn 3 4 + 2 *="), "14")).toBe(1);
    expect(stack.score(item("stack", "rpn 3 4 + 2 *="), "13")).toBeCloseTo(0.25, 12);
  });

  it("reasoning: bool, dyck, sort", () => {
    expect(evalBool("(F|~(F&~F))")).toBe(true);
    expect(evalBool("~(T|F)&T")).toBe(false);
    expect(bool.score(item("bool", "(T&F)="), "F")).toBe(1);
    expect(bool.score(item("bool", "(T&F)="), "T")).toBe(0);
    expect(dyckCompletion("([{(")).toBe(")}])");
    expect(dyckCompletion("(<()><")).toBe(">)");
    expect(() => dyckCompletion("(]")).toThrow(/bad prefix/);
    expect(dyck.score(item("dyck", "dyck ([{(="), ")}])")).toBe(1);
    expect(dyck.score(item("dyck", "dyck ([{(="), ")})")).toBeCloseTo(0.5 * (2 / 4), 12);
    expect(sort.score(item("sort", "sort fig ant cow="), "ant cow fig")).toBe(1);
    expect(sort.score(item("sort", "sort fig ant cow="), "ant fig cow")).toBeCloseTo(0.5 / 3, 12);
    expect(sort.score(item("sort", "sort fig ant cow="), "ant cow")).toBe(0);
  });

  it("instruction: each constraint is checked on its own", () => {
    const p = item("format", "say 'kiv' 2x sep - upper in ()=");
    expect(format.score(p, "(KIV-KIV)")).toBe(1);
    expect(format.score(p, "(kiv-kiv)")).toBeCloseTo(0.5 * (4 / 5), 12); // case wrong
    expect(format.score(p, "KIV-KIV")).toBeCloseTo(0.5 * (4 / 5), 12); // wrapping missing
    expect(format.score(p, "(KIV-KIV-KIV)")).toBeCloseTo(0.5 * (4 / 5), 12); // count wrong
    expect(format.score(item("format", "say 'ab' 3x="), "ababab")).toBe(1);
    expect(format.score(item("format", "say 'ab' 3x="), "abab")).toBeCloseTo(0.5 * (3 / 4), 12);
  });

  it("knowledge: facts come from the seeded base; multiple choice lists the answer once", () => {
    const r = new Rng(2);
    for (let i = 0; i < 100; i++) {
      const it = facts.generate(r, 3, "test");
      const [entity, rel] = it.prompt.split("?")[0].split(" ");
      expect(it.answer).toBe(factOf(entity, rel as "pet"));
      expect(new Set(it.choices).size).toBe(4);
    }
    expect(factOf("zor", "pet")).toBe(factOf("zor", "pet"));
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

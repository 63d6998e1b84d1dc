/**
 * lib/tasks: the lab's benchmarks — seeded task families with a difficulty knob and a verifier, grouped into
 * the paper's categories, and train / test splits that never overlap.
 *
 * @example
 * const t = getTask("list");
 * const item = t.generate(new Rng(1), 2, "test"); // { prompt: "map(+2,rev([3,1,2]))=", answer: "rev:[2,1,3];map+2:[4,3,5]#[4,3,5]" }
 * t.score(item, "rev:[2,1,3];map+2:[4,3,5]#[4,3,5]"); // 1 (the program is executed, not compared to a stored answer)
 * t.score(item, "rev:[2,1,3];map+2:[4,3,6]#[4,3,6]"); // 0.29… (partial credit: 1 of 2 steps, 2 of 3 positions; at most 0.5)
 */
export * from "./types";
export { TASKS, TASK_NAMES, getTask, familiesOf, levelFor } from "./registry";
export { testSet, TaskStream, type StreamPart } from "./split";
export { PARTIAL_MAX, partial, numberCredit, positionalAgreement } from "./credit";
export { STEP_SEP, FINAL_MARK, workedText, parseWorked, finalAnswer, stepAgreement, workedScore, type Worked } from "./worked";
export { arith, chain, evalChain, operand, solveArith, solveChain } from "./math";
export { list, stack, runListProgram, traceListProgram, runStackProgram, solveList, solveStack } from "./code";
export { bool, dyck, sort, evalBool, dyckCompletion, solveBool, solveDyck, solveSort, SORT_WORDS } from "./reasoning";
export { format, parseFormatPrompt, formatAnswer, solveFormat, type FormatSpec } from "./instruction";
export { facts, factOf, factSentence, entities, RELATIONS, FACT_SEED, type Relation } from "./knowledge";

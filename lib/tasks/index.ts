/**
 * lib/tasks: the lab's benchmarks — seeded task families with a difficulty knob and a verifier, grouped into
 * the paper's categories, and train / test splits that never overlap.
 *
 * @example
 * const t = getTask("list");
 * const item = t.generate(new Rng(1), 2, "test"); // { prompt: "map(+2,rev([3,1,2]))=", answer: "[4,3,5]" }
 * t.score(item, "[4,3,5]"); // 1 (the program is executed, not compared to a stored answer)
 * t.score(item, "[4,3,6]"); // 0.333… (partial credit: 2 of 3 positions, at most 0.5)
 */
export * from "./types";
export { TASKS, TASK_NAMES, getTask, familiesOf, levelFor } from "./registry";
export { testSet, TaskStream, type StreamPart } from "./split";
export { PARTIAL_MAX, partial, numberCredit, positionalAgreement } from "./credit";
export { arith, chain, evalChain, operand } from "./math";
export { list, stack, runListProgram, runStackProgram } from "./code";
export { bool, dyck, sort, evalBool, dyckCompletion, SORT_WORDS } from "./reasoning";
export { format, parseFormatPrompt, formatAnswer, type FormatSpec } from "./instruction";
export { facts, factOf, entities, RELATIONS, FACT_SEED, type Relation } from "./knowledge";

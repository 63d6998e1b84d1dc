/**
 * The lab's benchmarks: seeded task families with verifiers, grouped into categories like the paper's 11
 * benchmarks (math, code, reasoning, instruction following, knowledge). Everything here is plain data and pure
 * functions: no tfjs, no I/O.
 */
import type { Rng } from "../rng";

/** The paper's benchmark groups, at laptop scale. */
export const CATEGORIES = ["math", "code", "reasoning", "instruction", "knowledge"] as const;
export type Category = (typeof CATEGORIES)[number];

/** Which split an item is drawn for: some families phrase training items differently (knowledge statements). */
export type SplitName = "train" | "test";

/** One prompt with its reference answer. Prompts end with "=" and the answer follows it directly. */
export interface TaskItem {
  family: string;
  prompt: string;
  /** The reference answer (a correct response; the verifier may accept it only, or grade others). */
  answer: string;
  /** Multiple choice (knowledge): the options, one of which is `answer`; scored by log-likelihood. */
  choices?: string[];
}

/**
 * A task family: a seeded generator with a difficulty knob and a verifier.
 * - `generate(rng, level, split)` draws one item; the same rng state gives the same item.
 * - `score(item, response)` ∈ [0, 1]: 1 exactly when the response is correct (for the code families: equal to
 *   the result of executing the program in the prompt), partial credit below 1 where it makes sense, else 0.
 */
export interface TaskFamily {
  readonly name: string;
  readonly category: Category;
  /** One line for --help and the report. */
  readonly summary: string;
  /** Difficulty levels this family accepts, inclusive, and the default. */
  readonly levels: readonly [number, number];
  readonly defaultLevel: number;
  /** Most characters an answer can have at the highest level (a generation budget). */
  readonly maxAnswerChars: number;
  /** How it is evaluated: greedy generation + verifier, or log-likelihood over `choices` (acc / acc_norm). */
  readonly eval: "generate" | "choice";
  generate(rng: Rng, level: number, split: SplitName): TaskItem;
  score(item: TaskItem, response: string): number;
}

/**
 * Knowledge: a seeded fact base (made-up entities with a colour, a home and a pet) queried as multiple choice and
 * scored by log-likelihood, like lm-eval's acc / acc_norm on MMLU-style tasks. The answer is a sentence stating
 * the fact (`the pet of zor is owl`), and each option is such a sentence. Training items are the facts asked
 * plainly (`zor pet=`) and multiple-choice questions with other distractors or option orders; the
 * test split's questions never appear in training (the split rejects them), but the facts are shared, as world
 * knowledge is between pre-training and a benchmark.
 */
import { Rng } from "../rng";
import type { SplitName, TaskFamily, TaskItem } from "./types";

export const RELATIONS = Object.freeze({
  color: Object.freeze(["red", "blue", "green", "gold", "pink", "gray", "teal", "plum"]),
  home: Object.freeze(["bay", "hill", "lake", "moor", "glen", "dune", "cove", "fen"]),
  pet: Object.freeze(["cat", "dog", "owl", "fox", "eel", "yak", "emu", "bat"]),
});
export type Relation = keyof typeof RELATIONS;
const RELATION_NAMES = Object.keys(RELATIONS) as Relation[];

/** The fact base's seed: fixed, so every model in every run "knows" the same world. */
export const FACT_SEED = 20250519;
const CONSONANTS = "bdfgklmnprstvz", VOWELS = "aeiou";

/** The value of `rel` for `entity`: its own stream, so a fact never depends on the size of the base. */
export function factOf(entity: string, rel: Relation): string {
  return new Rng(FACT_SEED, `${entity}:${rel}`).pick(RELATIONS[rel]);
}

/** The fact base at a level: the first 8·level made-up three-letter names (a level's base contains the lower ones'). */
export function entities(level: number): string[] {
  const rng = new Rng(FACT_SEED, "entities");
  const names = new Set<string>();
  while (names.size < 8 * level) names.add(rng.pick([...CONSONANTS]) + rng.pick([...VOWELS]) + rng.pick([...CONSONANTS]));
  return [...names];
}

const bases = new Map<number, string[]>();
const baseAt = (level: number) => {
  let b = bases.get(level);
  if (!b) bases.set(level, (b = entities(level)));
  return b;
};

/**
 * The sentence that states a fact.
 * @example factSentence("zor", "pet", "owl") // → "the pet of zor is owl"
 */
export function factSentence(entity: string, rel: Relation, value: string): string {
  return `the ${rel} of ${entity} is ${value}`;
}

/** Parses "ent rel=" or "ent rel? a/b/c/d=". */
function parseFactPrompt(prompt: string): { entity: string; rel: Relation } {
  const m = /^([a-z]+) ([a-z]+)(\? [a-z/]+)?=$/.exec(prompt);
  if (!m || !(m[2] in RELATIONS)) throw new Error(`facts: not a fact prompt: ${JSON.stringify(prompt)}`);
  return { entity: m[1], rel: m[2] as Relation };
}

/** level L: 8·L entities × 3 relations; 4 options per question. */
export const facts: TaskFamily = Object.freeze({
  name: "facts",
  category: "knowledge",
  summary: "multiple choice over a seeded fact base of 8·level entities (colour, home, pet), scored by log-likelihood",
  levels: [1, 8] as const,
  // 64 entities × 3 relations: a generalist trained 4000 steps sees each fact ~150 times (level 3: ~400, 96% known)
  defaultLevel: 8,
  // "the color of kim is green"
  maxAnswerChars: 25,
  eval: "choice",
  generate(rng: Rng, level: number, split: SplitName): TaskItem {
    const entity = rng.pick(baseAt(level));
    const rel = rng.pick(RELATION_NAMES);
    const value = factOf(entity, rel);
    const answer = factSentence(entity, rel, value);
    if (split === "train" && rng.chance(0.5)) return { family: "facts", prompt: `${entity} ${rel}=`, answer };
    const distractors = rng.shuffle(RELATIONS[rel].filter((v) => v !== value)).slice(0, 3);
    const options = rng.shuffle([value, ...distractors]);
    return { family: "facts", prompt: `${entity} ${rel}? ${options.join("/")}=`, answer, choices: options.map((v) => factSentence(entity, rel, v)) };
  },
  score(item: TaskItem, response: string): number {
    const { entity, rel } = parseFactPrompt(item.prompt);
    return response === factSentence(entity, rel, factOf(entity, rel)) ? 1 : 0;
  },
});

/** Every task family, in a frozen table keyed by name (an unknown name errors with the list of valid ones). */
import { UserError } from "../errors";
import { list, stack } from "./code";
import { format } from "./instruction";
import { facts } from "./knowledge";
import { arith, chain } from "./math";
import { bool, dyck, sort } from "./reasoning";
import { CATEGORIES, type Category, type TaskFamily } from "./types";

export const TASKS: Readonly<Record<string, TaskFamily>> = Object.freeze({ arith, chain, list, stack, bool, dyck, sort, format, facts });
export const TASK_NAMES = Object.freeze(Object.keys(TASKS));

export function getTask(name: string): TaskFamily {
  if (!Object.hasOwn(TASKS, name)) throw new UserError(`unknown task family "${name}"; valid: ${TASK_NAMES.join(", ")}`);
  return TASKS[name];
}

/** The families of a category, in table order. */
export function familiesOf(category: Category): TaskFamily[] {
  return Object.values(TASKS).filter((t) => t.category === category);
}

/** Checks a level against a family's range; returns it (or the default when undefined). */
export function levelFor(family: TaskFamily, level?: number): number {
  const l = level ?? family.defaultLevel;
  const [lo, hi] = family.levels;
  if (!Number.isInteger(l) || l < lo || l > hi) throw new UserError(`task "${family.name}": level must be an integer in ${lo}..${hi}, got ${l}`);
  return l;
}

export { CATEGORIES };

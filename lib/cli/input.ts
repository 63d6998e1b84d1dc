/** Checks shared by the commands: a missing or unreadable file, or a flag outside its choices, is a one-line error, not a stack trace. */
import { UserError } from "../errors";

export { inputFile } from "../data/input";

/** "a, b or c". */
export function orList(choices: readonly string[]): string {
  return choices.length < 2 ? choices.join("") : `${choices.slice(0, -1).join(", ")} or ${choices[choices.length - 1]}`;
}

/** `value` when it is one of `choices`; otherwise a UserError: "--flag must be a, b or c, got x". */
export function oneOf<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) throw new UserError(`${flag} must be ${orList(choices)}, got ${value}`);
  return value as T;
}

/** Checks shared by the commands: a missing or unreadable file, or a flag outside its choices, is a one-line error, not a stack trace. */
import { stat } from "node:fs/promises";
import { UserError } from "../errors";

/**
 * Returns the input's size in bytes, or 0 when it is a stream whose size is unknown: "-" (standard input), a FIFO
 * (`<(…)`, a named pipe), a character device. Throws UserError naming the flag and path when it can't be read or is
 * a directory.
 */
export async function inputFile(flag: string, path: string): Promise<number> {
  if (path === "-") return 0;
  try {
    const s = await stat(path);
    if (s.isDirectory()) throw new UserError(`${flag} ${path}: is a directory`);
    if (s.isFIFO() || s.isCharacterDevice() || s.isSocket()) return 0;
    if (!s.isFile()) throw new UserError(`${flag} ${path}: not a regular file`);
    return s.size;
  } catch (err) {
    if (err instanceof UserError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${flag} ${path}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (err as Error).message}`);
  }
}

/** "a, b or c". */
export function orList(choices: readonly string[]): string {
  return choices.length < 2 ? choices.join("") : `${choices.slice(0, -1).join(", ")} or ${choices[choices.length - 1]}`;
}

/** `value` when it is one of `choices`; otherwise a UserError: "--flag must be a, b or c, got x". */
export function oneOf<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) throw new UserError(`${flag} must be ${orList(choices)}, got ${value}`);
  return value as T;
}

/** Checks of a command's input paths, before anything is read: one line naming the flag and the path. */
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

/** Input checks shared by the commands: a missing or unreadable file is a one-line error, not a stack trace. */
import { stat } from "node:fs/promises";
import { UserError } from "../errors";

/** Returns the file's size in bytes; throws UserError naming the flag and path when it can't be read. */
export async function inputFile(flag: string, path: string): Promise<number> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new UserError(`${flag} ${path}: not a regular file`);
    return s.size;
  } catch (err) {
    if (err instanceof UserError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${flag} ${path}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
}

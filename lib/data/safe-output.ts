/**
 * Safe outputs: the one mechanism every command that writes a file goes through (fuse, score, train, init,
 * tokenizer, the lab's run folders, stage cache and shipped models).
 *
 * 1. Temporary files are unique per process and created exclusively (`OUT.tmp-<pid>-<random>`, O_EXCL), so two
 *    runs writing the same output never share one, and a temporary name can never land on an existing file —
 *    an input called `OUT.tmp` included. A temporary file this process still holds is removed when it exits; one
 *    left by a process killed outright (SIGKILL, power loss) is removed by the next write of the same output, once
 *    its pid is gone from this machine and it is untouched for 10 minutes.
 * 2. `checkOutputs` refuses, before anything is read or written, an output that is — or collides with — an
 *    input, after resolving `..`, symlinks and hard links (same device and inode), side files included
 *    (`OUT.rejects.jsonl`, `OUT.partial`, a training run's folder); and an output that is an existing directory.
 * 3. `outputError` turns a failed write (EISDIR, ENOSPC, EACCES, EROFS, …) into one line naming the file.
 */
import * as fs from "node:fs";
import { open as openAsync, type FileHandle } from "node:fs/promises";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { UserError } from "../errors";

/** A file a command reads: its path and the flag that named it (for messages). "-" (standard input) is skipped. */
export interface InputRef {
  path: string;
  label?: string;
}

/** A file (or, with `kind: "dir"`, a folder and everything under it) a command writes. */
export interface OutputRef {
  path: string;
  label?: string;
  kind?: "file" | "dir";
}

const WHY: Record<string, string> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EFBIG: "file too large",
  EISDIR: "is a directory",
  ENOTDIR: "a parent of it is not a directory",
  EEXIST: "already exists",
  ENOTEMPTY: "is a non-empty directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  EIO: "input/output error",
  ENAMETOOLONG: "file name too long",
  ENOENT: "a parent folder does not exist",
  EMFILE: "too many open files",
  ENFILE: "too many open files",
  EXDEV: "temporary file on another device",
  ELOOP: "too many levels of symbolic links",
};

/**
 * A failed write as one line naming the file: `cannot write runs/o.jsonl: no space left on device (ENOSPC)`.
 * UserErrors pass through unchanged; errors without an errno code keep their message.
 */
export function outputError(file: string, err: unknown): UserError {
  if (err instanceof UserError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  const why = code !== undefined && WHY[code] !== undefined ? `${WHY[code]} (${code})` : code !== undefined ? `${code}` : (err as Error)?.message ?? String(err);
  return Object.assign(new UserError(`cannot write ${file}: ${why}`), { cause: err });
}

// ---- temporary files ----------------------------------------------------------------------------------------

const liveTemps = new Set<string>();
let exitHook = false;

function track(tmp: string): void {
  liveTemps.add(tmp);
  if (!exitHook) {
    exitHook = true;
    // Synchronous by necessity ('exit' runs no more I/O callbacks): a process that leaves early (an error, a closed
    // stdout) leaves no temporary files behind. SIGKILL still can; such a name is never reused (pid + random).
    process.on("exit", () => {
      for (const t of liveTemps) {
        try {
          fs.rmSync(t, { force: true, recursive: true });
        } catch {
          // best effort
        }
      }
    });
  }
}

/** Forget a temporary file (renamed into place or removed by its owner). */
export function releaseTemp(tmp: string): void {
  liveTemps.delete(tmp);
}

/** A fresh temporary name beside `target`: `<target>.tmp-<pid>-<8 hex>`. */
export function tempPathFor(target: string): string {
  return `${target}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
}

/** A temporary file of a dead writer this old (untouched) is swept; a live writer on another host keeps writing. */
const STALE_TEMP_MS = 10 * 60_000;
const swept = new Set<string>();

/** Whether a process with this pid runs on this machine (EPERM: it does, under another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes `<target>.tmp-<pid>-<8 hex>` files whose writer died (its pid is not running here) and that nobody has
 * touched for STALE_TEMP_MS: what a SIGKILLed write leaves. Once per target and process; best effort.
 */
export function sweepStaleTemps(target: string, now = Date.now()): string[] {
  if (swept.has(target)) return [];
  swept.add(target);
  const dir = path.dirname(target), base = path.basename(target);
  const escaped = base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const re = new RegExp(`^${escaped}\\.tmp-(\\d+)-[0-9a-f]{8}$`);
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = re.exec(name);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    const file = path.join(dir, name);
    try {
      if (now - fs.lstatSync(file).mtimeMs < STALE_TEMP_MS) continue;
      fs.rmSync(file, { force: true, recursive: true });
      removed.push(file);
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
  return removed;
}

/** mkdir -p fails with EEXIST when a component of the path is a file: say so. */
function parentError(target: string, e: unknown): UserError {
  const code = (e as NodeJS.ErrnoException)?.code;
  return outputError(target, code === "EEXIST" ? Object.assign(new Error("not a directory"), { code: "ENOTDIR" }) : e);
}

/** Creates the parent folder of `target` and an exclusive temporary file beside it; returns its descriptor and name. */
export function openTempSync(target: string): { fd: number; tmpPath: string } {
  try {
    fs.mkdirSync(path.dirname(target), { recursive: true });
  } catch (e) {
    throw parentError(target, e);
  }
  sweepStaleTemps(target);
  for (let attempt = 0; ; attempt++) {
    const tmpPath = tempPathFor(target);
    try {
      const fd = fs.openSync(tmpPath, "wx");
      track(tmpPath);
      return { fd, tmpPath };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST" && attempt < 8) continue;
      throw outputError(target, e);
    }
  }
}

/** Async form of openTempSync (a FileHandle). */
export async function openTemp(target: string): Promise<{ handle: FileHandle; tmpPath: string }> {
  try {
    await fs.promises.mkdir(path.dirname(target), { recursive: true });
  } catch (e) {
    throw parentError(target, e);
  }
  sweepStaleTemps(target);
  for (let attempt = 0; ; attempt++) {
    const tmpPath = tempPathFor(target);
    try {
      const handle = await openAsync(tmpPath, "wx");
      track(tmpPath);
      return { handle, tmpPath };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST" && attempt < 8) continue;
      throw outputError(target, e);
    }
  }
}

/** Renames a finished temporary file (or folder) onto `target`; errors name `target`. */
export function commitTempSync(tmpPath: string, target: string): void {
  try {
    fs.renameSync(tmpPath, target);
  } catch (e) {
    fs.rmSync(tmpPath, { force: true, recursive: true });
    releaseTemp(tmpPath);
    throw outputError(target, e);
  }
  releaseTemp(tmpPath);
}

/** fsync a directory (after a rename into it); a filesystem that refuses is not an error. */
export function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // some filesystems refuse fsync on a directory; the rename is still atomic
  }
}

/**
 * Writes `data` to `file` atomically and durably: an exclusive temporary file beside it, fsync, rename, fsync of
 * the folder. Either the old content or the new one is there, whatever moment the process dies.
 *
 * @example
 *   writeFileSafe("runs/x/config.json", JSON.stringify(cfg) + "\n");
 */
export function writeFileSafe(file: string, data: string | Uint8Array, opts: { fsync?: boolean } = {}): void {
  const { fd, tmpPath } = openTempSync(file);
  try {
    try {
      fs.writeFileSync(fd, data);
      if (opts.fsync ?? true) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    fs.rmSync(tmpPath, { force: true });
    releaseTemp(tmpPath);
    throw outputError(file, e);
  }
  commitTempSync(tmpPath, file);
  if (opts.fsync ?? true) fsyncDir(path.dirname(file));
}

/** Copies `src` to `dest` atomically (through an exclusive temporary file); errors name `dest`. */
export function copyFileSafe(src: string, dest: string): void {
  const { fd, tmpPath } = openTempSync(dest);
  fs.closeSync(fd);
  try {
    fs.copyFileSync(src, tmpPath);
  } catch (e) {
    fs.rmSync(tmpPath, { force: true });
    releaseTemp(tmpPath);
    throw outputError(dest, e);
  }
  commitTempSync(tmpPath, dest);
}

// ---- inputs vs outputs ----------------------------------------------------------------------------------------

interface Identity {
  /** Absolute path with every symlink resolved. */
  real: string;
  dev: number;
  ino: number;
}

/** The identity of an existing path (symlinks followed), or null when nothing is there. */
function identityOf(p: string): Identity | null {
  try {
    const st = fs.statSync(p);
    return { real: fs.realpathSync(p), dev: st.dev, ino: st.ino };
  } catch {
    return null;
  }
}

/** `p` made absolute with every existing ancestor's symlinks resolved (the path need not exist). */
function resolveLoose(p: string): string {
  const abs = path.resolve(p);
  let head = abs;
  const tail: string[] = [];
  for (;;) {
    try {
      return path.join(fs.realpathSync(head), ...tail.reverse());
    } catch {
      const parent = path.dirname(head);
      if (parent === head) return abs;
      tail.push(path.basename(head));
      head = parent;
    }
  }
}

const within = (child: string, dir: string) => child === dir || child.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);
const named = (label: string | undefined, p: string) => (label ? `${label} ${p}` : p);

/**
 * Refuses (UserError) any output that would overwrite or collide with an input — the same path after resolving
 * `..` and symlinks (the output's own link followed or not), the same file through a hard link, or, for a folder
 * output, an input inside it — and any file output that is an existing directory. Call it before reading.
 *
 * @example
 *   checkOutputs([{ path: "R.rejects.jsonl", label: "--input" }],
 *                [{ path: "R.jsonl", label: "--output" }, { path: "R.rejects.jsonl", label: "the rejects file (--skip-invalid)" }]);
 *   // UserError: the rejects file (--skip-invalid) R.rejects.jsonl would overwrite the input (--input R.rejects.jsonl); choose another output
 */
export function checkOutputs(inputs: readonly (InputRef | null | undefined)[], outputs: readonly (OutputRef | null | undefined)[]): void {
  const ins = inputs.filter((i): i is InputRef => !!i && i.path !== "-" && i.path !== "").map((i) => ({ ...i, id: identityOf(i.path) }));
  for (const o of outputs) {
    if (!o || o.path === "") continue;
    const kind = o.kind ?? "file";
    const id = identityOf(o.path);
    if (kind === "file" && id !== null && fs.statSync(o.path).isDirectory()) throw new UserError(`${named(o.label, o.path)}: is a directory; give a file name`);
    // the output's name itself (a symlink there would be replaced) and what it points to
    const forms = new Set([resolveLoose(o.path)]);
    if (id) forms.add(id.real);
    for (const i of ins) {
      if (i.id === null) continue;
      const hit =
        kind === "dir"
          ? [...forms].some((f) => within(i.id!.real, f) || within(resolveLoose(i.path), f))
          : forms.has(i.id.real) || forms.has(resolveLoose(i.path)) || (id !== null && id.dev === i.id.dev && id.ino === i.id.ino);
      if (hit) {
        const what = kind === "dir" ? "would write into the folder holding" : "would overwrite";
        throw new UserError(`${named(o.label, o.path)} ${what} the input (${named(i.label, i.path)}); choose another output`);
      }
    }
  }
}

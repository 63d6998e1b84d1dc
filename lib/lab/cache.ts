/**
 * Stage caching: a stage's outputs live in `<root>/<stage>-<key12>/`, where key is the SHA-256 of everything it
 * depends on (lib/lab/config.ts). A stage is finished when its `done.json` exists (written last, atomically);
 * a rerun returns that result without running anything, and an interrupted stage starts again in the same folder
 * (training stages resume from their checkpoints there). Two processes that reach the same stage at once (a lab
 * run and a notebook sharing a cache) take turns: the first holds `<dir>.lock` while it computes, the second
 * waits for it (saying who holds it) and then reads the result; a lock left by a process that died — or a
 * folder lock of an older version that never got its pid — is taken over. The lock is a file holding its owner
 * (pid, host, start, a random token), created atomically whole.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openTempSync, releaseTemp, tempPathFor } from "../data/safe-output";
import { writeFileAtomic } from "../train/checkpoint";

export interface StageInfo<T> {
  dir: string;
  result: T;
  /** true when the result came from the cache. */
  cached: boolean;
  /** Seconds the stage took when it was computed (also when served from the cache). */
  seconds: number;
}

export function stageDir(root: string, stage: string, key: string): string {
  return path.join(root, `${stage}-${key.slice(0, 12)}`);
}

function readDone<T>(dir: string, key: string): StageInfo<T> | null {
  const done = path.join(dir, "done.json");
  if (!fs.existsSync(done)) return null;
  const saved = JSON.parse(fs.readFileSync(done, "utf8")) as { key: string; result: T; seconds?: number };
  return saved.key === key ? { dir, result: saved.result, cached: true, seconds: saved.seconds ?? NaN } : null;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Who holds a stage lock: written whole before the lock appears (see acquire). */
interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
  /** Random per acquisition: tells this process's locks from a dead process's that had the same pid. */
  token: string;
  stage: string;
}

/** Locks this process holds (by token), and calls of this process that hold one (a second call waits on the first). */
const ownTokens = new Set<string>();
const held = new Map<string, Promise<unknown>>();

/** A lock with no readable owner (a folder lock of an older version without its pid file, a torn file) older than this is an orphan. */
const UNOWNED_GRACE_MS = 10_000;

/**
 * Takes `lock` atomically with its owner recorded: the owner is written to an exclusive temporary file, which is
 * then hard-linked to the lock's name (link fails if the name exists), so a lock is never seen without its owner.
 * Filesystems without hard links get an exclusive create (`wx`) instead.
 */
function acquire(lock: string, me: LockOwner): boolean {
  const text = JSON.stringify(me) + "\n";
  ownTokens.add(me.token);
  const { fd, tmpPath } = openTempSync(lock);
  try {
    fs.writeFileSync(fd, text);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(tmpPath, lock);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") {
      ownTokens.delete(me.token);
      return false;
    }
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw e;
    try {
      fs.writeFileSync(lock, text, { flag: "wx" });
      return true;
    } catch (e2) {
      ownTokens.delete(me.token);
      if ((e2 as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw e2;
    }
  } finally {
    fs.rmSync(tmpPath, { force: true });
    releaseTemp(tmpPath);
  }
}

type LockState =
  | { kind: "gone" }
  | { kind: "owned"; owner: LockOwner; ino: number }
  | { kind: "unowned"; ino: number; ageMs: number; what: string };

/** What is at `lock`: nothing, an owner, or something without a readable owner (a legacy folder lock without pid, a torn file). */
function inspect(lock: string): LockState {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(lock);
  } catch {
    return { kind: "gone" };
  }
  const ageMs = Date.now() - st.mtimeMs;
  if (st.isDirectory()) {
    // the lock of an older version: a folder holding a `pid` file
    try {
      const pid = Number(fs.readFileSync(path.join(lock, "pid"), "utf8"));
      if (Number.isInteger(pid) && pid > 0) return { kind: "owned", ino: st.ino, owner: { pid, host: os.hostname(), startedAt: st.mtime.toISOString(), token: "", stage: "" } };
    } catch {
      // no pid file: the holder died between making the folder and writing its pid (or is writing it right now)
    }
    return { kind: "unowned", ino: st.ino, ageMs, what: "a lock folder without a pid file" };
  }
  try {
    const o = JSON.parse(fs.readFileSync(lock, "utf8")) as LockOwner;
    if (Number.isInteger(o.pid) && typeof o.host === "string") return { kind: "owned", owner: o, ino: st.ino };
  } catch {
    // unreadable
  }
  return { kind: "unowned", ino: st.ino, ageMs, what: "a lock file without a readable owner" };
}

/** Why a lock is an orphan, or null while its holder may be alive. */
function orphanReason(s: LockState): string | null {
  if (s.kind === "unowned") return s.ageMs > UNOWNED_GRACE_MS ? `${s.what}, ${Math.round(s.ageMs / 1000)} s old` : null;
  if (s.kind !== "owned" || s.owner.host !== os.hostname()) return null; // another machine's process: can't tell
  if (s.owner.pid === process.pid) return s.owner.token !== "" && !ownTokens.has(s.owner.token) ? `left by an earlier process with this pid (${s.owner.pid})` : null;
  return processAlive(s.owner.pid) ? null : `left by pid ${s.owner.pid}, which is no longer running`;
}

/**
 * Removes an orphan lock, and only it: the lock is first renamed to a unique name, then checked to be the inode that
 * was judged an orphan (another waiter may have taken it over and locked again meanwhile; then it is put back).
 */
function takeOver(lock: string, s: LockState & { ino: number }): void {
  const aside = tempPathFor(`${lock}.orphan`);
  try {
    fs.renameSync(lock, aside);
  } catch {
    return; // gone already: someone else took it over
  }
  let ino = -1;
  try {
    ino = fs.lstatSync(aside).ino;
  } catch {
    // vanished
  }
  if (ino === s.ino) {
    fs.rmSync(aside, { recursive: true, force: true });
    return;
  }
  try {
    fs.linkSync(aside, lock); // a live lock moved by mistake: back under its name (fails only if a third waiter locked meanwhile)
  } catch {
    // best effort; the window for this is a rename between two stat calls of two other processes
  }
  fs.rmSync(aside, { recursive: true, force: true });
}

function describeOwner(s: LockState): string {
  if (s.kind === "owned") return `pid ${s.owner.pid} on ${s.owner.host}${s.owner.startedAt ? ` since ${s.owner.startedAt}` : ""}`;
  if (s.kind === "unowned") return `${s.what} (taken over after ${UNOWNED_GRACE_MS / 1000} s)`;
  return "nobody";
}

/**
 * Takes `<dir>.lock`, waiting while a live process holds it (saying what it waits for, then once a minute) and taking
 * over a lock whose holder died. Returns the release function, or null when the stage finished while waiting.
 */
async function lockStage(dir: string, key: string, pollMs: number, log: (line: string) => void): Promise<(() => void) | null> {
  const lock = `${dir}.lock`;
  const stage = path.basename(dir);
  let announcedAt = 0;
  const t0 = Date.now();
  for (;;) {
    if (readDone(dir, key)) return null;
    const me: LockOwner = { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString(), token: randomBytes(8).toString("hex"), stage };
    if (acquire(lock, me)) {
      return () => {
        const s = inspect(lock);
        if (s.kind === "owned" && s.owner.token === me.token) fs.rmSync(lock, { force: true });
        ownTokens.delete(me.token);
      };
    }
    const local = held.get(lock);
    if (local) {
      await local.catch(() => undefined);
      continue;
    }
    const s = inspect(lock);
    if (s.kind === "gone") continue;
    const orphan = orphanReason(s);
    if (orphan !== null) {
      log(`[lab] stage ${stage}: taking over its lock ${lock} (${orphan})`);
      takeOver(lock, s);
      continue;
    }
    if (Date.now() - announcedAt > 60_000) {
      const waited = announcedAt === 0 ? "" : ` (waiting ${Math.round((Date.now() - t0) / 60_000)} min)`;
      log(`[lab] stage ${stage} is being computed by ${describeOwner(s)}: waiting for it to finish${waited}; if that process is gone, delete ${lock}`);
      announcedAt = Date.now();
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * Runs `fn(dir)` unless `<dir>/done.json` exists; stores its JSON result there. Concurrent calls for the same
 * stage and key, in this process or another, run `fn` once.
 */
export async function cachedStage<T>(
  root: string,
  stage: string,
  key: string,
  fn: (dir: string) => Promise<T>,
  opts: { pollMs?: number; log?: (line: string) => void } = {},
): Promise<StageInfo<T>> {
  const dir = stageDir(root, stage, key);
  const hit = readDone<T>(dir, key);
  if (hit) return hit;
  fs.mkdirSync(root, { recursive: true });
  const release = await lockStage(dir, key, opts.pollMs ?? 500, opts.log ?? ((l) => process.stderr.write(l + "\n")));
  if (!release) return readDone<T>(dir, key)!;
  const lock = `${dir}.lock`;
  const run = (async () => {
    fs.mkdirSync(dir, { recursive: true });
    const t0 = performance.now();
    const result = await fn(dir);
    const seconds = (performance.now() - t0) / 1000;
    writeFileAtomic(path.join(dir, "done.json"), JSON.stringify({ key, stage, finishedAt: new Date().toISOString(), seconds, result }) + "\n");
    return { dir, result, cached: false, seconds };
  })();
  held.set(lock, run);
  try {
    return await run;
  } finally {
    held.delete(lock);
    release();
  }
}

/**
 * Lock files that say who holds them: `<name>` holds its owner (pid, host, start, a random token, what for), created
 * atomically whole, so a lock is never seen without its owner. A lock left by a process that died — or one without
 * a readable owner older than a few seconds — is an orphan and can be taken over. Used by the lab's stage cache
 * (lib/lab/cache.ts: waiters take turns) and by training runs (lib/train/run.ts: one process per outDir).
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openTempSync, pidAlive, releaseTemp, tempPathFor } from "./safe-output";


/** Who holds a lock: written whole before the lock appears (see acquireLock). */
export interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
  /** Random per acquisition: tells this process's locks from a dead process's that had the same pid. */
  token: string;
  /** What the lock is for (a stage folder's name, "training"). */
  stage: string;
}

/** Locks this process holds (by token). */
const ownTokens = new Set<string>();

/** A lock with no readable owner (a folder lock of an older version without its pid file, a torn file) older than this is an orphan. */
const UNOWNED_GRACE_MS = 10_000;

/**
 * Takes `lock` atomically with its owner recorded: the owner is written to an exclusive temporary file, which is
 * then hard-linked to the lock's name (link fails if the name exists), so a lock is never seen without its owner.
 * Filesystems without hard links get an exclusive create (`wx`) instead.
 */
function acquireLock(lock: string, me: LockOwner): boolean {
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
function inspectLock(lock: string): LockState {
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
  return pidAlive(s.owner.pid) ? null : `left by pid ${s.owner.pid}, which is no longer running`;
}

/**
 * Removes an orphan lock, and only it: the lock is first renamed to a unique name, then checked to be the inode that
 * was judged an orphan (another waiter may have taken it over and locked again meanwhile; then it is put back).
 */
function takeOverLock(lock: string, s: LockState & { ino: number }): void {
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

function describeLockOwner(s: LockState): string {
  if (s.kind === "owned") return `pid ${s.owner.pid} on ${s.owner.host}${s.owner.startedAt ? ` since ${s.owner.startedAt}` : ""}`;
  if (s.kind === "unowned") return `${s.what} (taken over after ${UNOWNED_GRACE_MS / 1000} s)`;
  return "nobody";
}

/** A new owner record for this process. */
function lockOwner(stage: string): LockOwner {
  return { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString(), token: randomBytes(8).toString("hex"), stage };
}

/** Removes `lock` if `me` still holds it. */
function releaseLock(lock: string, me: LockOwner): void {
  const s = inspectLock(lock);
  if (s.kind === "owned" && s.owner.token === me.token) fs.rmSync(lock, { force: true });
  ownTokens.delete(me.token);
}

/**
 * One attempt at `lock` without waiting: its release function, or who holds it. An orphan is taken over
 * (`onTakeOver` hears why first).
 */
export function tryLock(lock: string, what: string, onTakeOver: (orphan: string) => void): { release: () => void } | { heldBy: string } {
  for (;;) {
    const me = lockOwner(what);
    if (acquireLock(lock, me)) return { release: () => releaseLock(lock, me) };
    const s = inspectLock(lock);
    if (s.kind === "gone") continue;
    const orphan = orphanReason(s);
    if (orphan === null) return { heldBy: describeLockOwner(s) };
    onTakeOver(orphan);
    takeOverLock(lock, s);
  }
}

/**
 * Stage caching: a stage's outputs live in `<root>/<stage>-<key12>/`, where key is the SHA-256 of everything it
 * depends on (lib/lab/config.ts). A stage is finished when its `done.json` exists (written last, atomically);
 * a rerun returns that result without running anything, and an interrupted stage starts again in the same folder
 * (training stages resume from their checkpoints there). Two processes that reach the same stage at once (a lab
 * run and a notebook sharing a cache) take turns: the first holds `<dir>.lock` while it computes, the second
 * waits for it and then reads the result; a lock left by a process that died is taken over.
 */
import * as fs from "node:fs";
import * as path from "node:path";
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

/** Local calls of this process that hold a stage lock (a second call in the same process waits on the first). */
const held = new Map<string, Promise<unknown>>();

/**
 * Takes `<dir>.lock` (a folder: mkdir is atomic), waiting while a live process holds it. Returns the release
 * function, or null when the stage finished while waiting.
 */
async function lockStage(dir: string, key: string, pollMs: number): Promise<(() => void) | null> {
  const lock = `${dir}.lock`;
  const owner = path.join(lock, "pid");
  for (;;) {
    if (readDone(dir, key)) return null;
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(owner, String(process.pid));
      return () => fs.rmSync(lock, { recursive: true, force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let pid = NaN;
    try {
      pid = Number(fs.readFileSync(owner, "utf8"));
    } catch {
      // the holder has made the folder but not yet written its pid (or just released it): look again
    }
    const local = held.get(lock);
    if (local) await local.catch(() => undefined);
    else if (Number.isInteger(pid) && pid !== process.pid && !processAlive(pid)) fs.rmSync(lock, { recursive: true, force: true });
    else await new Promise((r) => setTimeout(r, pollMs));
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
  opts: { pollMs?: number } = {},
): Promise<StageInfo<T>> {
  const dir = stageDir(root, stage, key);
  const hit = readDone<T>(dir, key);
  if (hit) return hit;
  fs.mkdirSync(root, { recursive: true });
  const release = await lockStage(dir, key, opts.pollMs ?? 500);
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

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
import * as fs from "node:fs";
import * as path from "node:path";
import { tryLock } from "../data/lock";
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

/** Calls of this process that hold a stage lock (a second call waits on the first). */
const held = new Map<string, Promise<unknown>>();

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
    const got = tryLock(lock, stage, (orphan) => log(`[lab] stage ${stage}: taking over its lock ${lock} (${orphan})`));
    if ("release" in got) return got.release;
    const local = held.get(lock);
    if (local) {
      await local.catch(() => undefined);
      continue;
    }
    if (Date.now() - announcedAt > 60_000) {
      const waited = announcedAt === 0 ? "" : ` (waiting ${Math.round((Date.now() - t0) / 60_000)} min)`;
      log(`[lab] stage ${stage} is being computed by ${got.heldBy}: waiting for it to finish${waited}; if that process is gone, delete ${lock}`);
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

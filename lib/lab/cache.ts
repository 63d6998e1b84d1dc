/**
 * Stage caching: a stage's outputs live in `<root>/<stage>-<key12>/`, where key is the SHA-256 of everything it
 * depends on (lib/lab/config.ts). A stage is finished when its `done.json` exists (written last, atomically);
 * a rerun returns that result without running anything, and an interrupted stage starts again in the same folder
 * (training stages resume from their checkpoints there).
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

/** Runs `fn(dir)` unless `<dir>/done.json` exists; stores its JSON result there. */
export async function cachedStage<T>(root: string, stage: string, key: string, fn: (dir: string) => Promise<T>): Promise<StageInfo<T>> {
  const dir = stageDir(root, stage, key);
  const done = path.join(dir, "done.json");
  if (fs.existsSync(done)) {
    const saved = JSON.parse(fs.readFileSync(done, "utf8")) as { key: string; result: T; seconds?: number };
    if (saved.key === key) return { dir, result: saved.result, cached: true, seconds: saved.seconds ?? NaN };
  }
  fs.mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  const result = await fn(dir);
  const seconds = (performance.now() - t0) / 1000;
  writeFileAtomic(done, JSON.stringify({ key, stage, finishedAt: new Date().toISOString(), seconds, result }) + "\n");
  return { dir, result, cached: false, seconds };
}

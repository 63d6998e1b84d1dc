import * as fs from "node:fs";
import * as path from "node:path";
import { outputError, writeFileSafe } from "../data/safe-output";

/** One line of metrics.jsonl: `step` plus TRL-named values; eval lines carry `eval_`-prefixed keys. */
export type MetricsRecord = { step: number } & Record<string, number | string | null>;

/**
 * Append-only JSONL metrics log (transformers' `log_history`, one object per line).
 * Each line is written with a single `appendFileSync`, so a crash leaves at most one torn last line,
 * which `read` skips and `truncateAfter` removes.
 *
 * @example
 * const log = new MetricsLog("runs/a/metrics.jsonl");
 * log.append({ step: 1, loss: 0.693, learning_rate: 1e-4, grad_norm: 0.5 });
 */
export class MetricsLog {
  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
  }

  append(rec: MetricsRecord): void {
    try {
      fs.appendFileSync(this.file, JSON.stringify(rec) + "\n");
    } catch (e) {
      throw outputError(this.file, e);
    }
  }

  /** Every complete record, in order (a torn final line is ignored). */
  read(): MetricsRecord[] {
    return readMetrics(this.file);
  }

  /** Drops records with step > `step` (used on resume so the log matches the restored state); atomic. */
  truncateAfter(step: number): void {
    if (!fs.existsSync(this.file)) return;
    const kept = this.read().filter((r) => r.step <= step);
    writeFileSafe(this.file, kept.map((r) => JSON.stringify(r) + "\n").join(""), { fsync: false });
  }
}

export function readMetrics(file: string): MetricsRecord[] {
  if (!fs.existsSync(file)) return [];
  const out: MetricsRecord[] = [];
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // torn last line after a crash
    }
  }
  return out;
}

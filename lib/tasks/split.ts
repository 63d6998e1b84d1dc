/**
 * Train / test splits that never overlap. A benchmark's test set is a fixed list of distinct prompts drawn from
 * its own stream (seeded by the benchmark seed, not the run's), so every run and variant is scored on the same
 * items; training streams draw fresh items and reject any prompt of any test set (lab-scale.md §1).
 */
import { UserError } from "../errors";
import { Rng } from "../rng";
import { levelFor } from "./registry";
import type { TaskFamily, TaskItem } from "./types";

/** `size` distinct test items of one family (fewer when its prompt space is smaller: all of them then). */
export function testSet(family: TaskFamily, opts: { seed: number; size: number; level?: number }): TaskItem[] {
  const level = levelFor(family, opts.level);
  const rng = new Rng(opts.seed, `test:${family.name}:${level}`);
  const seen = new Set<string>();
  const out: TaskItem[] = [];
  let misses = 0;
  while (out.length < opts.size && misses < 2000) {
    const item = family.generate(rng, level, "test");
    if (seen.has(item.prompt)) {
      misses++;
      continue;
    }
    misses = 0;
    seen.add(item.prompt);
    out.push(item);
  }
  return out;
}

/** One family's share of a training stream. */
export interface StreamPart {
  family: TaskFamily;
  weight: number;
  level?: number;
}

/**
 * An endless seeded stream of training items: each draw picks a family by weight, then an item of it, and
 * skips items whose prompt is in `exclude` (the union of every test set).
 *
 * @example
 * const held = new Set(testSet(arith, { seed: 1, size: 200 }).map((t) => t.prompt));
 * const s = new TaskStream([{ family: arith, weight: 1 }], { seed: 3, name: "source-math", exclude: held });
 * s.next(); // { family: "arith", prompt: "61+7=", answer: "68" }, never one of the test prompts
 */
export class TaskStream {
  private readonly rng: Rng;
  private readonly total: number;
  private readonly levels: number[];

  constructor(
    readonly parts: readonly StreamPart[],
    opts: { seed: number; name: string; exclude?: ReadonlySet<string> },
  ) {
    if (parts.length === 0) throw new UserError("a task stream needs at least one family");
    for (const p of parts) if (!(p.weight >= 0 && Number.isFinite(p.weight))) throw new UserError(`task "${p.family.name}": weight must be ≥ 0, got ${p.weight}`);
    this.total = parts.reduce((s, p) => s + p.weight, 0);
    if (!(this.total > 0)) throw new UserError("a task stream's weights must not all be 0");
    this.levels = parts.map((p) => levelFor(p.family, p.level));
    this.rng = new Rng(opts.seed, `train:${opts.name}`);
    this.exclude = opts.exclude ?? new Set();
  }

  private readonly exclude: ReadonlySet<string>;

  /** The next item (never a test prompt). */
  next(): TaskItem {
    let u = this.rng.next() * this.total, k = 0;
    while (k < this.parts.length - 1 && (u -= this.parts[k].weight) >= 0) k++;
    const { family } = this.parts[k];
    for (let tries = 0; tries < 10_000; tries++) {
      const item = family.generate(this.rng, this.levels[k], "train");
      if (!this.exclude.has(item.prompt)) return item;
    }
    throw new UserError(`task "${family.name}" at level ${this.levels[k]}: every prompt drawn is in a test set; lower the test size or raise the level`);
  }

  /** The next `n` items. */
  take(n: number): TaskItem[] {
    return Array.from({ length: n }, () => this.next());
  }
}

/**
 * Evaluation of one model on held-out benchmarks: greedy decoding + the family's verifier for generative
 * families, log-likelihood over the options for multiple choice (lm-eval's acc = highest ℓ(choice), acc_norm =
 * highest ℓ(choice) / its length in characters; ℓ includes the EOS after the choice, so a choice must also end).
 */
import { generate, sequenceLogProbs, type Model } from "../model";
import type { Tokenizer } from "../tokenizers/types";
import type { TaskFamily, TaskItem } from "../tasks";

/** One test item's outcome. */
export interface ItemResult {
  /** 1 when correct (verifier score 1; for multiple choice: acc). */
  correct: number;
  /** The verifier's score in [0, 1] (partial credit); multiple choice: acc. */
  score: number;
  /** Multiple choice only: acc_norm. */
  accNorm?: number;
  /** What the model produced (generative families), and whether it ended with EOS within the budget. */
  response?: string;
  finished?: boolean;
}

export interface Benchmark {
  family: TaskFamily;
  items: TaskItem[];
}

export interface EvaluateOptions {
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Evaluates `model` on every benchmark; results in item order, keyed by family name. */
export async function evaluateModel(
  model: Model,
  tokenizer: Tokenizer,
  benchmarks: readonly Benchmark[],
  opts: EvaluateOptions = {},
): Promise<Record<string, ItemResult[]>> {
  const out: Record<string, ItemResult[]> = {};
  const total = benchmarks.reduce((s, b) => s + b.items.length, 0);
  let done = 0;
  for (const { family, items } of benchmarks) {
    if (family.eval === "choice") {
      const rows = items.flatMap((it, i) => (it.choices ?? []).map((c) => ({ i, prompt: it.prompt, response: c })));
      const lp = await sequenceLogProbs(model, tokenizer, rows, { batchSize: opts.batchSize ?? 256 });
      const best = items.map(() => ({ acc: -Infinity, accChoice: "", norm: -Infinity, normChoice: "" }));
      rows.forEach((r, j) => {
        const b = best[r.i];
        // ties → the earlier option (lm-eval's argmax)
        if (lp[j].sum > b.acc) [b.acc, b.accChoice] = [lp[j].sum, r.response];
        const n = lp[j].sum / r.response.length;
        if (n > b.norm) [b.norm, b.normChoice] = [n, r.response];
      });
      out[family.name] = items.map((it, i) => {
        const acc = family.score(it, best[i].accChoice);
        return { correct: acc, score: acc, accNorm: family.score(it, best[i].normChoice) };
      });
    } else {
      const gens = await generate(model, tokenizer, items.map((it) => it.prompt), {
        maxNewTokens: family.maxAnswerChars + 1,
        temperature: 0,
        batchSize: opts.batchSize ?? 256,
      });
      out[family.name] = items.map((it, i) => {
        const response = gens[i].text, finished = gens[i].finish === "stop";
        const score = finished ? family.score(it, response) : 0; // an unfinished answer is never right
        return { correct: score === 1 ? 1 : 0, score, response, finished };
      });
    }
    done += items.length;
    opts.onProgress?.(done, total);
  }
  return out;
}

/** Mean of `correct` per family. */
export function accuracyByFamily(results: Record<string, ItemResult[]>): Record<string, number> {
  return Object.fromEntries(Object.entries(results).map(([k, rs]) => [k, rs.reduce((s, r) => s + r.correct, 0) / Math.max(1, rs.length)]));
}

/**
 * Overall accuracy as the lab reports it: the equal-weight mean over categories of the equal-weight mean of their
 * benchmarks (a category with three benchmarks does not outweigh one with a single benchmark).
 */
export function overallAccuracy(results: Record<string, ItemResult[]>, benchmarks: readonly Pick<Benchmark, "family">[]): number {
  const acc = accuracyByFamily(results);
  const cats = [...new Set(benchmarks.map((b) => b.family.category))];
  const catMean = (c: string) => {
    const fs = benchmarks.filter((b) => b.family.category === c);
    return fs.reduce((s, b) => s + acc[b.family.name], 0) / fs.length;
  };
  return cats.reduce((s, c) => s + catMean(c), 0) / cats.length;
}

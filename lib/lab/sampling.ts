/**
 * Sampling responses from the lab's models and rewarding them with the task verifiers: k samples per prompt and
 * model at a temperature, each model with its own tokenizer, every prompt on its own seeded random stream.
 */
import { generate, loadModel, disposeModel } from "../model";
import { TASKS, type TaskItem } from "../tasks";
import type { Progress } from "../train/progress";
import type { Sample } from "./pairs";

/** Per model: share of samples that ended with EOS within the budget, and the mean reward of those. */
export type SampleStats = Record<string, { finished: number; meanReward: number }>;

/** Most new tokens any family's answer can need (every tokenizer has at most one token per character), + EOS. */
export function answerBudget(items: readonly TaskItem[]): number {
  return Math.max(...[...new Set(items.map((it) => it.family))].map((f) => TASKS[f].maxAnswerChars)) + 1;
}

/**
 * `k` samples of every prompt from every model file, rewarded by the prompt's verifier. Returns, per item, its
 * samples in model order then sample order (`model` = index into `files`), and per-model statistics.
 */
export async function sampleResponses(
  files: readonly { name: string; file: string }[],
  items: readonly TaskItem[],
  opts: { k: number; temperature: number; seed: number; bar?: Progress },
): Promise<{ samples: Sample[][]; stats: SampleStats }> {
  const K = opts.k;
  const budget = answerBudget(items);
  const samples: Sample[][] = items.map(() => []);
  const stats: SampleStats = {};
  opts.bar?.start(files.length * items.length * K, 0);
  for (const [m, { name, file }] of files.entries()) {
    const { model, tokenizer } = loadModel(file);
    try {
      const prompts = items.flatMap((it) => Array.from({ length: K }, () => it.prompt));
      const gens = await generate(model, tokenizer, prompts, { maxNewTokens: budget, temperature: opts.temperature, seed: opts.seed * 1000 + m, batchSize: 512 });
      let fin = 0, rew = 0;
      gens.forEach((g, j) => {
        const it = items[Math.floor(j / K)];
        const finished = g.finish === "stop";
        const reward = finished ? TASKS[it.family].score(it, g.text) : 0;
        if (finished) (fin++, (rew += reward));
        samples[Math.floor(j / K)].push({ model: m, text: g.text, finished, reward });
      });
      stats[name] = { finished: fin / gens.length, meanReward: fin ? rew / fin : 0 };
    } finally {
      disposeModel(model);
    }
    opts.bar?.update((m + 1) * items.length * K, {});
  }
  opts.bar?.stop();
  return { samples, stats };
}

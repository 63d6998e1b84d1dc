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

/**
 * `k` samples of every prompt from every model file, rewarded by the prompt's verifier. Returns, per item, its
 * samples in model order then sample order (`model` = index into `files`), and per-model statistics.
 */
export async function sampleResponses(
  files: readonly { name: string; file: string }[],
  items: readonly TaskItem[],
  opts: { k: number; temperature: number; topK?: number; seed: number; bar?: Progress },
): Promise<{ samples: Sample[][]; stats: SampleStats }> {
  const K = opts.k;
  const samples: Sample[][] = items.map(() => []);
  const stats: SampleStats = {};
  // one generate call per family, each with its own answer budget (a long-answer family must not keep a short one's
  // rows decoding); every prompt keeps its own random stream, keyed by its index in `items`
  const byFamily = new Map<string, number[]>();
  items.forEach((it, i) => byFamily.set(it.family, [...(byFamily.get(it.family) ?? []), i]));
  let done = 0;
  opts.bar?.start(files.length * items.length * K, 0);
  for (const [m, { name, file }] of files.entries()) {
    const { model, tokenizer } = loadModel(file);
    try {
      let fin = 0, rew = 0;
      for (const [family, idx] of byFamily) {
        const prompts = idx.flatMap((i) => Array.from({ length: K }, () => items[i].prompt));
        const gens = await generate(model, tokenizer, prompts, {
          maxNewTokens: TASKS[family].maxAnswerChars + 1, temperature: opts.temperature, topK: opts.topK ?? 0, batchSize: 512,
          seed: opts.seed * 1000 + m, streams: idx.flatMap((i) => Array.from({ length: K }, (_, j) => i * K + j)),
        });
        gens.forEach((g, j) => {
          const i = idx[Math.floor(j / K)], it = items[i];
          const finished = g.finish === "stop";
          const reward = finished ? TASKS[family].score(it, g.text) : 0;
          if (finished) (fin++, (rew += reward));
          samples[i].push({ model: m, text: g.text, finished, reward });
        });
        opts.bar?.update((done += prompts.length), {});
      }
      stats[name] = { finished: fin / (items.length * K), meanReward: fin ? rew / fin : 0 };
    } finally {
      disposeModel(model);
    }
  }
  opts.bar?.stop();
  return { samples, stats };
}

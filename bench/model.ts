/**
 * Model benchmark: prints one JSON object.
 *
 *   node --import tsx bench/model.ts [--iters N] [--no-lab] [--ab]   (INFIFPO_BACKEND=wasm|cpu|tensorflow to force)
 *
 * - `score`: forward-only scoring (response log-probs of every position, as `sequenceLogProbsFromBatch`, read
 *   back to JS) for bench-small (vocab 512, d128 H4 L4) at batch 16 × T 128: tokens/s and ms per batch.
 * - `logits`: the bare forward to logits [16, 128, 512], same shape.
 * - `trainStep`: forward + backward (gradients of the mean response log-prob; no optimiser), same shape.
 * - `lab` (d64 L2 H4, ctx 64, 55 ids; lab-scale.md §5's PyTorch peers: score 500 pairs 76 ms, greedy 500 with a KV
 *   cache 148 ms, without 1,086 ms): scoring 500 lab-like pairs and greedy-decoding 500 prompts × 17 tokens, EOS
 *   banned, cache on and off.
 * - `--ab`: `kernelAB`, the bench-small step and scoring with the backend's kernels vs the plain reference code
 *   (lib/seam.ts runReference: tfjs autodiff of lib/model/layers.ts), interleaved, op by op both.
 * Timings are medians after warm-up; on a shared 2-core machine they are noisy.
 */
import * as tf from "@tensorflow/tfjs";
import { backendInfo, initBackend } from "../lib/backend";
import {
  collatePairs,
  createModel,
  describeModel,
  disposeModel,
  forward,
  generateIds,
  modelVariables,
  resolveModelConfig,
  sequenceLogProbsFromBatch,
  type PairBatch,
} from "../lib/model";
import { Rng } from "../lib/rng";
import { runReference } from "../lib/seam";

const args = process.argv.slice(2);
const iters = Number(args[args.indexOf("--iters") + 1] ?? 0) || 10;
const withLab = !args.includes("--no-lab");
const withAb = args.includes("--ab");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function time(fn: () => Promise<void> | void, n: number, warm = 2): Promise<number> {
  for (let i = 0; i < warm; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

/** A batch of B random sequences of exactly T inputs, the last `resp` targets scored. */
function randomBatch(B: number, T: number, V: number, resp: number, seed: number): PairBatch {
  const rng = new Rng(seed);
  const pairs = Array.from({ length: B }, () => {
    const ids = Array.from({ length: T + 1 }, () => 3 + (rng.nextU32() % (V - 3)));
    return { ids, responseStart: T + 1 - resp, promptTokensDropped: 0 };
  });
  return collatePairs(pairs, 0);
}

async function main() {
  await initBackend({ quiet: true });
  const info = backendInfo();
  const out: Record<string, unknown> = { backend: info.name, backendVersion: info.version };

  // --- bench-small
  const B = 16, T = 128;
  const model = createModel(resolveModelConfig("bench-small"));
  out.model = describeModel(model);
  const V = model.config.vocabSize;
  const batch = randomBatch(B, T, V, T - 1, 1);
  const ids = tf.tensor2d(batch.inputIds, [B, T], "int32");
  const scoreMs = await time(async () => {
    const r = sequenceLogProbsFromBatch(model, batch);
    await r.sum.data();
    tf.dispose([r.sum, r.mean, r.count]);
  }, iters);
  const logitsMs = await time(async () => {
    const l = forward(model, ids);
    await l.data();
    l.dispose();
  }, iters);
  const stepMs = await time(async () => {
    const { value, grads } = tf.variableGrads(
      () => tf.neg(tf.mean(sequenceLogProbsFromBatch(model, batch).mean)) as tf.Scalar,
      modelVariables(model),
    );
    await value.data();
    value.dispose();
    tf.dispose(grads);
  }, Math.max(3, Math.ceil(iters / 2)), 1);
  let ab: Record<string, unknown> | undefined;
  if (withAb) {
    // The same step and scoring with the plain reference code (tfjs autodiff, no fast kernels), interleaved with
    // the defaults so machine load hits both alike.
    const variants: Record<string, <R>(fn: () => R) => R> = { defaults: (fn) => fn(), reference: runReference };
    const acc: Record<string, { step: number[]; score: number[] }> = {};
    for (let r = 0; r < Math.max(4, iters); r++) {
      for (const [name, within] of Object.entries(variants)) {
        acc[name] ??= { step: [], score: [] };
        let t0 = performance.now();
        const { value, grads } = within(() =>
          tf.variableGrads(() => tf.neg(tf.mean(sequenceLogProbsFromBatch(model, batch).mean)) as tf.Scalar, modelVariables(model)),
        );
        await value.data();
        tf.dispose([value, grads]);
        const st = performance.now() - t0;
        t0 = performance.now();
        const sc = within(() => sequenceLogProbsFromBatch(model, batch));
        await sc.sum.data();
        tf.dispose([sc.sum, sc.mean, sc.count]);
        if (r > 0) acc[name].step.push(st), acc[name].score.push(performance.now() - t0);
      }
    }
    ab = Object.fromEntries(
      Object.entries(acc).map(([n, a]) => [n, { trainStepMs: +median(a.step).toFixed(1), scoreMs: +median(a.score).toFixed(1) }]),
    );
  }
  ids.dispose();
  disposeModel(model);
  out.benchSmall = {
    batch: B,
    seqLen: T,
    score: { msPerBatch: +scoreMs.toFixed(2), tokensPerSec: Math.round((B * T * 1000) / scoreMs) },
    logits: { msPerBatch: +logitsMs.toFixed(2), tokensPerSec: Math.round((B * T * 1000) / logitsMs) },
    trainStep: { msPerBatch: +stepMs.toFixed(2), note: "fwd + bwd of mean response log-prob, no optimiser" },
    ...(ab ? { kernelAB: ab } : {}),
  };

  // --- lab size
  if (withLab) {
    const lab = createModel(resolveModelConfig("lab"));
    const LV = lab.config.vocabSize;
    const rng = new Rng(7);
    // 500 pairs of lab-like lengths: prompt 5..30, response 2..17 ids (mean sequence ≈ 20)
    const pairs = Array.from({ length: 500 }, () => {
      const p = 5 + (rng.nextU32() % 26), r = 2 + (rng.nextU32() % 16);
      const ids = [1, ...Array.from({ length: p + r - 1 }, () => 3 + (rng.nextU32() % (LV - 3))), 2];
      return { ids, responseStart: 1 + p, promptTokensDropped: 0 };
    });
    pairs.sort((a, b) => b.ids.length - a.ids.length);
    const score500 = await time(async () => {
      for (let s = 0; s < 500; s += 250) {
        const r = sequenceLogProbsFromBatch(lab, collatePairs(pairs.slice(s, s + 250), 0));
        await r.sum.data();
        tf.dispose([r.sum, r.mean, r.count]);
      }
    }, Math.max(3, Math.ceil(iters / 2)), 1);
    // 500 prompts in 4 length groups (as the 4 lab tasks would mostly give), 17 new tokens, never stopping.
    const prompts = Array.from({ length: 500 }, (_, i) => [1, ...Array.from({ length: [6, 12, 20, 28][i % 4] }, () => 3 + (rng.nextU32() % (LV - 3)))]);
    const gen = async (useCache: boolean) =>
      time(async () => {
        await generateIds(lab, prompts, { maxNewTokens: 17, stopToken: null, batchSize: 250, useCache });
      }, 2, 1);
    const kv = await gen(true);
    const noCache = await gen(false);
    disposeModel(lab);
    out.lab = {
      model: describeModel(resolveModelConfig("lab")),
      score500PairsMs: +score500.toFixed(1),
      greedy500x17KvCacheMs: +kv.toFixed(1),
      greedy500x17NoCacheMs: +noCache.toFixed(1),
      pytorchPeersMs: { score500: 76, greedy500KvCache: 148, greedy500NoCache: 1086 },
    };
  }
  console.log(JSON.stringify(out, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

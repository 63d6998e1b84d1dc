/**
 * Training-engine benchmark: one JSON line per backend.
 *
 *   npm run bench                       # every available backend except the pure-JS cpu one
 *   node --import tsx bench/train.ts [--backends tensorflow,wasm,cpu] [--iters N]
 *
 * Config "bench-small": vocab 512, d_model 128, 4 heads, 4 layers, context 128, float32; batch 16 sequences
 * of 128 input tokens (8 preference pairs, "batch is [chosen; rejected]"), half prompt, half response.
 * - train_tokens_per_s: one preference optimizer step through the real Trainer (forward on chosen+rejected in
 *   one pass, the InfiFPO loss from the registry with 2 synthetic sources, backward, global-norm clipping,
 *   AdamW), input tokens (16 × 128) per second.
 * - score_tokens_per_s: forward-only sequence log-probs (`scoreFromBatch`, read back), 16 × 128.
 * - sft_tokens_per_s: one SFT optimizer step (token-averaged NLL, 16 sequences) through the Trainer.
 * On the native backend the steps and scoring run as replayed TensorFlow graphs (`graph_replay`; lib/backend/compile.ts);
 * INFIFPO_COMPILE=0 measures op-by-op execution instead. Medians after warm-up. `load1` is the 1-minute load average when the backend's runs ended: this machine
 * is shared, so compare figures taken at similar load (bench/compare.ts runs this and bench/torch_step.py
 * back to back).
 */
import * as os from "node:os";
import * as tf from "@tensorflow/tfjs";
import { availableBackends, backendInfo, initBackend, requestFor } from "../lib/backend";
import { compileAvailable } from "../lib/backend/compile";
import { fusedOpsAvailable } from "../lib/backend/fused";
import type { Candidate } from "../lib/backend";
import { collatePairs, createModel, disposeModel, modelVariables, resolveModelConfig, scoreFromBatch, type PairEncoding } from "../lib/model";
import { Rng } from "../lib/rng";
import { getLoss, resolveLossConfig } from "../lib/losses";
import { AdamW } from "../lib/train/optim";
import { LOOP_DEFAULTS, Trainer } from "../lib/train/trainer";
import { preferenceLossFn, type PreferenceExample } from "../lib/train/preference";
import { sftLossFn } from "../lib/train/sft";

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const ITERS = Number(arg("--iters") ?? 5);

export const BENCH_SMALL = { vocabSize: 512, dModel: 128, nHeads: 4, nLayers: 4, contextLength: 128, seed: 0 };
export const SEQS = 16; // 8 pairs
export const T = 128; // input tokens per sequence
const RESPONSE = 64; // scored (response) targets per sequence

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// 3 warm-up calls: the trace, and the two calls on which graph replay re-checks a pure function (lib/backend/compile.ts;
// after that only every 64th call does), so the timed calls are the steady state
function timeIt(fn: () => void, iters: number, warm = 3): number {
  for (let i = 0; i < warm; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

function randomSeq(rng: Rng): PairEncoding {
  const ids = Array.from({ length: T + 1 }, () => 3 + (rng.nextU32() % (BENCH_SMALL.vocabSize - 3)));
  return { ids, responseStart: T + 1 - RESPONSE, promptTokensDropped: 0 };
}

async function benchBackend(cand: Candidate) {
  await initBackend({ backend: requestFor(cand), quiet: true });
  const info = backendInfo();
  const rng = new Rng(1);
  const model = createModel(resolveModelConfig(BENCH_SMALL));
  const params = modelVariables(model);
  const tok = { padId: 0 };
  const iters = cand === "cpu" ? Math.min(ITERS, 2) : cand === "wasm" ? Math.min(ITERS, 3) : ITERS;

  // preference step
  const spec = getLoss("infifpo");
  const col = () => ({ ref: { sum: -60 - (rng.nextU32() % 100) / 10, mean: -1 - (rng.nextU32() % 100) / 100 }, sources: { sum: [-70, -65], mean: [-1.2, -1.1] } });
  const pairs: PreferenceExample[] = Array.from({ length: SEQS / 2 }, () => ({
    chosen: randomSeq(rng),
    rejected: randomSeq(rng),
    cols: { chosen: col(), rejected: col() },
    tokens: 2 * T,
  }));
  const pref = new Trainer<PreferenceExample>({
    params,
    optimizer: new AdamW(params, { weightDecay: 0.01 }),
    schedule: () => 1e-4,
    data: pairs,
    lossFn: preferenceLossFn(model, tok, spec, resolveLossConfig(spec)),
    loop: { ...LOOP_DEFAULTS, maxSteps: 1e9, batchSize: SEQS / 2, gradAccumSteps: 1, maxGradNorm: 1.0 },
    progress: "none",
  });
  const trainMs = timeIt(() => void pref.trainStep(), iters);
  pref.opts.optimizer.dispose();

  // forward-only scoring
  const batch = collatePairs(Array.from({ length: SEQS }, () => randomSeq(rng)), 0);
  const scoreMs = timeIt(() => {
    const r = scoreFromBatch(model, batch);
    r.sum.dataSync();
    tf.dispose([r.sum, r.mean, r.count]);
  }, iters);

  // SFT step
  const seqs = Array.from({ length: SEQS }, () => randomSeq(rng));
  const sft = new Trainer<PairEncoding>({
    params,
    optimizer: new AdamW(params, { weightDecay: 0.01 }),
    schedule: () => 1e-4,
    data: seqs,
    lossFn: sftLossFn(model, tok),
    loop: { ...LOOP_DEFAULTS, maxSteps: 1e9, batchSize: SEQS, gradAccumSteps: 1, maxGradNorm: 1.0 },
    progress: "none",
  });
  const sftMs = timeIt(() => void sft.trainStep(), iters);
  sft.opts.optimizer.dispose();
  disposeModel(model);

  const tokens = SEQS * T;
  return {
    bench: "train",
    backend: info.name,
    kind: info.kind,
    threads: (info as { threads?: number }).threads ?? null,
    graph_replay: compileAvailable(), // INFIFPO_COMPILE=0 measures op-by-op execution
    fused_ops: fusedOpsAvailable(), // INFIFPO_FUSED=0 measures without the fused ops
    config: "bench-small",
    model: BENCH_SMALL,
    batch_sequences: SEQS,
    seq_len: T,
    train_tokens_per_s: Math.round(tokens / (trainMs / 1000)),
    train_ms_per_step: Number(trainMs.toFixed(1)),
    score_tokens_per_s: Math.round(tokens / (scoreMs / 1000)),
    score_ms_per_batch: Number(scoreMs.toFixed(1)),
    sft_tokens_per_s: Math.round(tokens / (sftMs / 1000)),
    sft_ms_per_step: Number(sftMs.toFixed(1)),
    iters,
    cpus: os.cpus().length,
    load1: Number(os.loadavg()[0].toFixed(2)),
  };
}

const wanted = arg("--backends")?.split(",");
const available = await availableBackends();
const plan = (wanted ?? available.filter((c) => c !== "cpu")) as Candidate[];
for (const cand of plan) {
  if (!available.includes(cand)) {
    console.log(JSON.stringify({ bench: "train", backend: cand, skipped: "not available here" }));
    continue;
  }
  console.log(JSON.stringify(await benchBackend(cand)));
}
if (!wanted && available.includes("cpu"))
  console.error("[bench] cpu (pure JS) skipped: ~100x slower than native on bench-small; add --backends cpu to run it");

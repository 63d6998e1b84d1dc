/**
 * Sequence log-probabilities of responses, ℓ_M(y|x) = Σ_t log M(y_t | x, y_<t) over response tokens only, and
 * n_M(y) = the number of response tokens under M's own tokenizer (infifpo.md, "Setting").
 *
 * Token layout (one pair):   ids = [BOS] + enc(prompt) + enc(response) + [EOS]
 * The EOS is a RESPONSE token: it is counted in n_M(y) and scored in ℓ_M(y|x), as in the lab's training loss
 * ("answer tokens plus EOS", lab-scale.md §1). The model reads ids[0..L−2] and predicts ids[1..L−1]; the mask
 * selects the predictions of response tokens. Batches are right-padded; with a causal model a position never
 * sees the padding after it, so a pair's numbers do not depend on what else is in the batch.
 */
import * as tf from "@tensorflow/tfjs";
import { UserError } from "../errors";
import { padLength, program, type Program } from "../seam";
import type { Tokenizer } from "../tokenizers/types";
import { targetLogProbs } from "./layers";
import { head, onDisposeModel, trunk, type Model } from "./transformer";

/** What to do when [BOS] + prompt + response + [EOS] needs more than the context length C positions. */
export type TruncateMode = "left" | "error";

/** One (prompt, response) pair as ids. */
export interface PairEncoding {
  /** [BOS] + prompt (possibly left-truncated) + response + [EOS]; length ≤ C + 1. */
  ids: number[];
  /** Index in `ids` of the first response token. */
  responseStart: number;
  /** Prompt tokens dropped from the left to fit the context (0 when it fitted). */
  promptTokensDropped: number;
}

/**
 * Encodes one pair with the layout above. When it does not fit the context, `truncate: "left"` (default)
 * drops the OLDEST prompt tokens (BOS is kept); `"error"` throws. A response (with its EOS) longer than the
 * context is always a UserError: its log-prob cannot be computed without dropping response tokens.
 *
 * @example
 * encodePair(tok, "1+1=", "2", 64) // → { ids: [1, …"1+1=", …"2", 2], responseStart: 5, promptTokensDropped: 0 }
 */
export function encodePair(
  tokenizer: Pick<Tokenizer, "encode" | "bosId" | "eosId">,
  prompt: string,
  response: string,
  contextLength: number,
  truncate: TruncateMode = "left",
): PairEncoding {
  let p = tokenizer.encode(prompt);
  const r = tokenizer.encode(response);
  r.push(tokenizer.eosId);
  // Inputs are ids without the last one: 1 + |p| + |r| − 1 positions.
  if (r.length > contextLength) {
    throw new UserError(
      `response needs ${r.length} tokens (EOS included) but the model's context is ${contextLength}: ` +
        `"${response.slice(0, 40)}${response.length > 40 ? "…" : ""}"`,
    );
  }
  const excess = p.length + r.length - contextLength;
  let dropped = 0;
  if (excess > 0) {
    if (truncate === "error") {
      throw new UserError(
        `prompt + response need ${p.length + r.length} positions but the model's context is ${contextLength}`,
      );
    }
    dropped = excess;
    p = p.slice(excess);
  }
  return { ids: [tokenizer.bosId, ...p, ...r], responseStart: 1 + p.length, promptTokensDropped: dropped };
}

/**
 * `collatePairs` padded to the length the execution seam asks for (lib/seam.ts `padLength`: on native
 * TensorFlow, replayed graphs are per batch shape, so lengths are rounded up to a multiple of 8 within the
 * context): how training and scoring batch their pairs.
 */
export function collateForModel(model: Model, pairs: readonly PairEncoding[], padId: number): PairBatch {
  const longest = Math.max(...pairs.map((e) => e.ids.length - 1));
  return collatePairs(pairs, padId, padLength(longest, model.config.contextLength));
}

/** Right-padded model inputs for a list of pairs, as plain arrays (row-major [B, T]). */
export interface PairBatch {
  batchSize: number;
  /** T = the longest pair's input length (its ids minus one). */
  length: number;
  /** [B, T] model inputs ids[0..L−2], padded with `padId`. */
  inputIds: Int32Array;
  /** [B, T] next-token targets ids[1..L−1], padded with `padId`. */
  targets: Int32Array;
  /** [B, T] 1 where the target is a response token (EOS included), else 0. */
  mask: Float32Array;
}

/**
 * Pads encoded pairs to one batch (see `PairBatch`), at least `minLength` positions long (extra right padding
 * leaves every pair's numbers the same up to float32 rounding; fewer distinct batch shapes mean fewer graphs
 * to build on the native backend).
 */
export function collatePairs(pairs: readonly PairEncoding[], padId: number, minLength = 0): PairBatch {
  const B = pairs.length;
  if (B === 0) throw new RangeError("collatePairs: empty batch");
  const T = Math.max(minLength, ...pairs.map((e) => e.ids.length - 1));
  const inputIds = new Int32Array(B * T).fill(padId);
  const targets = new Int32Array(B * T).fill(padId);
  const mask = new Float32Array(B * T);
  pairs.forEach((e, b) => {
    const L = e.ids.length;
    for (let t = 0; t < L - 1; t++) {
      inputIds[b * T + t] = e.ids[t];
      targets[b * T + t] = e.ids[t + 1];
      if (t + 1 >= e.responseStart) mask[b * T + t] = 1;
    }
  });
  return { batchSize: B, length: T, inputIds, targets, mask };
}

/**
 * log M(target_t | inputs_≤t) for every position: inputs, targets [B, T] → [B, T]
 * (= logit[target] − logsumexp(logits); see `targetLogProbs`).
 */
export function tokenLogProbs(model: Model, inputIds: tf.Tensor2D, targets: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, T] = inputIds.shape;
    const logits = head(model, trunk(model, inputIds).h); // [B·T, V]
    const lp = targetLogProbs(logits, tf.reshape(targets, [B * T]) as tf.Tensor1D); // [B·T]
    return tf.reshape(lp, [B, T]) as tf.Tensor2D;
  });
}

/** Response-only log-prob sum ℓ, per-token mean ℓ/n and count n, one entry per pair. */
export interface SequenceLogProbTensors {
  sum: tf.Tensor1D; // [B]
  mean: tf.Tensor1D; // [B]
  count: tf.Tensor1D; // [B] (float32)
}

/**
 * The differentiable form for training: a collated batch → sum, mean, count tensors [B]. Creates its input
 * tensors itself; call inside `tf.tidy` / `tf.variableGrads` (or dispose the three results).
 *
 * @example
 * const batch = collatePairs(pairs.map((p) => encodePair(tok, p.prompt, p.response, C)), tok.padId);
 * const { value, grads } = tf.variableGrads(() => tf.neg(tf.mean(sequenceLogProbsFromBatch(model, batch).mean)));
 */
export function sequenceLogProbsFromBatch(model: Model, batch: PairBatch): SequenceLogProbTensors {
  const [sum, mean, count] = tf.tidy(() => {
    const r = sequenceLogProbsFromTensors(model, batchTensors(batch));
    return [r.sum, r.mean, r.count];
  });
  return { sum, mean, count };
}

/**
 * A collated batch as tensors: model inputs `ids`, `targets` (int32) and the response `mask` (float32), each
 * [B, T]; and the response positions — `sel`, flat indices into B·T [K], `row`, their row [K], and `weight` [K]
 * (1, or 0 for padding; K = the response positions rounded up to a multiple of 64, so there are few distinct
 * shapes). The output head and the log-softmax run on the response positions only.
 */
export type BatchTensors = {
  ids: tf.Tensor2D;
  targets: tf.Tensor2D;
  mask: tf.Tensor2D;
  sel: tf.Tensor1D;
  row: tf.Tensor1D;
  weight: tf.Tensor1D;
};

/** Uploads a collated batch (see `BatchTensors`; the caller disposes the tensors, or makes them inside a scope). */
export function batchTensors(batch: PairBatch): BatchTensors {
  const { batchSize: B, length: T } = batch;
  let count = 0;
  for (let i = 0; i < B * T; i++) if (batch.mask[i] !== 0) count++;
  const K = Math.min(B * T, Math.max(64, Math.ceil(count / 64) * 64));
  const sel = new Int32Array(K), row = new Int32Array(K), weight = new Float32Array(K);
  for (let i = 0, k = 0; i < B * T; i++) {
    if (batch.mask[i] === 0) continue;
    sel[k] = i;
    row[k] = Math.floor(i / T);
    weight[k++] = 1;
  }
  return {
    ids: tf.tensor2d(batch.inputIds, [B, T], "int32"),
    targets: tf.tensor2d(batch.targets, [B, T], "int32"),
    mask: tf.tensor2d(batch.mask, [B, T], "float32"),
    sel: tf.tensor1d(sel, "int32"),
    row: tf.tensor1d(row, "int32"),
    weight: tf.tensor1d(weight, "float32"),
  };
}

/** `sequenceLogProbsFromBatch` from the batch's tensors: a pure function of them and the model's variables. */
export function sequenceLogProbsFromTensors(model: Model, t: BatchTensors): SequenceLogProbTensors {
  const [B, T] = t.ids.shape;
  const [sum, mean, count] = tf.tidy(() => {
    const h = tf.gather(trunk(model, t.ids).h, t.sel); // [K, D]
    const lp = targetLogProbs(head(model, h), tf.gather(tf.reshape(t.targets, [B * T]), t.sel) as tf.Tensor1D); // [K]
    const s = tf.unsortedSegmentSum(tf.mul(lp, t.weight), t.row, B); // [B]
    const n = tf.sum(t.mask, 1); // [B]
    return [s, tf.div(s, n), n];
  });
  return { sum: sum as tf.Tensor1D, mean: mean as tf.Tensor1D, count: count as tf.Tensor1D };
}

const programs = new WeakMap<Model, { score: Program; greedy: Program }>();
/** The model's scoring programs (lib/seam.ts): replayed graphs on native TensorFlow, kept until the model is disposed. */
function programsOf(model: Model) {
  let s = programs.get(model);
  if (!s) {
    programs.set(model, (s = { score: program("score"), greedy: program("greedy-match") }));
    onDisposeModel(model, () => releaseScoreGraphs(model));
  }
  return s;
}

/**
 * `sequenceLogProbsFromBatch` for scoring only (no gradients), through the execution seam (on native TensorFlow
 * one replayed graph per batch shape, about 2x faster than op by op). The caller disposes the three tensors.
 */
export function scoreFromBatch(model: Model, batch: PairBatch): SequenceLogProbTensors {
  return runOnBatch(programsOf(model).score, batch, (t) => sequenceLogProbsFromTensors(model, t));
}

/** `prog.run` on the batch's tensors (made for this call and freed after it). */
function runOnBatch<R>(prog: Program, batch: PairBatch, fn: (t: BatchTensors) => R): R {
  const inputs = batchTensors(batch);
  try {
    return prog.run(inputs, fn);
  } finally {
    tf.dispose(Object.values(inputs));
  }
}

/** Frees the graphs `scoreFromBatch` / `greedyMatches` built for this model (`disposeModel` does this too). */
export function releaseScoreGraphs(model: Model): void {
  const s = programs.get(model);
  if (!s) return;
  s.score.dispose();
  s.greedy.dispose();
  programs.delete(model);
}

/** One scored pair, as plain numbers. */
export interface SequenceScore {
  /** ℓ_M(y|x): sum of response-token log-probs (nats, EOS included). */
  sum: number;
  /** ℓ_M(y|x) / n_M(y). */
  mean: number;
  /** n_M(y): response tokens under this model's tokenizer, EOS included. */
  count: number;
  /** Prompt tokens dropped from the left to fit the context. */
  promptTokensDropped: number;
}

export interface SequenceLogProbsOptions {
  /** Pairs per forward pass (default 128). Results do not depend on it. */
  batchSize?: number;
  truncate?: TruncateMode;
  /** Called after each batch with (pairs done, total). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Scores (prompt, response) pairs with the model's own tokenizer, in batches of similar length, and returns
 * plain numbers in input order. For files of pairs; use `sequenceLogProbsFromBatch` inside training.
 *
 * @example
 * const [s] = await sequenceLogProbs(model, tok, [{ prompt: "1+1=", response: "2" }]);
 * // s → { sum: -3.98, mean: -1.99, count: 2, promptTokensDropped: 0 }   ("2" and EOS)
 */
export async function sequenceLogProbs(
  model: Model,
  tokenizer: Tokenizer,
  pairs: readonly { prompt: string; response: string }[],
  opts: SequenceLogProbsOptions = {},
): Promise<SequenceScore[]> {
  const out: SequenceScore[] = new Array(pairs.length);
  await forEachBatch(model, tokenizer, pairs, opts, async (idx, batch, enc) => {
    const r = scoreFromBatch(model, batch);
    const [s, m, n] = await Promise.all([r.sum.data(), r.mean.data(), r.count.data()]);
    r.sum.dispose();
    r.mean.dispose();
    r.count.dispose();
    idx.forEach((i, j) => {
      out[i] = { sum: s[j], mean: m[j], count: n[j], promptTokensDropped: enc[i].promptTokensDropped };
    });
  });
  return out;
}

/**
 * Encodes `pairs` and runs `fn` on batches of at most `opts.batchSize`, longest first so each batch pads little
 * (ties keep input order); `idx` maps batch rows back to input positions.
 */
async function forEachBatch(
  model: Model,
  tokenizer: Tokenizer,
  pairs: readonly { prompt: string; response: string }[],
  opts: SequenceLogProbsOptions,
  fn: (idx: number[], batch: PairBatch, enc: PairEncoding[]) => Promise<void>,
): Promise<void> {
  checkTokenizer(model, tokenizer);
  const batchSize = opts.batchSize ?? 128;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UserError(`batchSize must be ≥ 1, got ${batchSize}`);
  const enc = pairs.map((p) =>
    encodePair(tokenizer, p.prompt, p.response, model.config.contextLength, opts.truncate ?? "left"),
  );
  const order = enc.map((_, i) => i).sort((a, b) => enc[b].ids.length - enc[a].ids.length || a - b);
  for (let start = 0; start < order.length; start += batchSize) {
    const idx = order.slice(start, start + batchSize);
    const batch = idx.map((i) => enc[i]);
    await fn(idx, collateForModel(model, batch, tokenizer.padId), enc);
    opts.onProgress?.(Math.min(start + batchSize, order.length), order.length);
  }
}

/**
 * Teacher-forced greedy check (lab-scale.md §8.1): 1 for a pair when the argmax of the model's next-token
 * distribution equals the target at EVERY response position (EOS included), else 0: [B]. This equals "greedy
 * decoding reproduces the response exactly and then stops", in one forward pass. Ties in the argmax count as
 * a match only for the lowest id (as greedy decoding picks). Not differentiable.
 */
export function greedyMatchFromBatch(model: Model, batch: PairBatch): tf.Tensor1D {
  return tf.tidy(() => greedyMatchFromTensors(model, batchTensors(batch)));
}

/** `greedyMatchFromBatch` from the batch's tensors (a pure function of them and the model's variables). */
export function greedyMatchFromTensors(model: Model, { ids, targets, mask }: BatchTensors): tf.Tensor1D {
  const [B, T] = ids.shape;
  return tf.tidy(() => {
    const logits = head(model, trunk(model, ids).h); // [B·T, V]
    const pred = tf.reshape(tf.argMax(logits, -1), [B, T]); // [B, T] (argMax: first maximum)
    const wrong = tf.mul(tf.cast(tf.notEqual(pred, targets), "float32"), mask); // [B, T]
    return tf.cast(tf.equal(tf.sum(wrong, 1), 0), "float32") as tf.Tensor1D;
  });
}

/**
 * `greedyMatchFromBatch` over a list of pairs, in batches: true where greedy decoding would produce exactly
 * `response` followed by EOS.
 *
 * @example
 * const ok = await greedyMatches(model, tok, tests.map((t) => ({ prompt: t.prompt, response: t.answer })));
 * const accuracy = ok.filter(Boolean).length / ok.length;
 */
export async function greedyMatches(
  model: Model,
  tokenizer: Tokenizer,
  pairs: readonly { prompt: string; response: string }[],
  opts: Omit<SequenceLogProbsOptions, "onProgress"> = {},
): Promise<boolean[]> {
  const out: boolean[] = new Array(pairs.length);
  await forEachBatch(model, tokenizer, pairs, opts, async (idx, batch) => {
    const r = runOnBatch(programsOf(model).greedy, batch, (t) => greedyMatchFromTensors(model, t));
    const v = await r.data();
    r.dispose();
    idx.forEach((i, j) => (out[i] = v[j] === 1));
  });
  return out;
}

/** Throws a UserError when the tokenizer cannot drive this model (a model vocabulary may be larger). */
export function checkTokenizer(model: Model, tokenizer: Pick<Tokenizer, "vocabSize">): void {
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new UserError(
      `tokenizer has ${tokenizer.vocabSize} ids but the model's vocabulary is only ${model.config.vocabSize}`,
    );
  }
}

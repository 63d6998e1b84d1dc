/**
 * Batched decoding: greedy or temperature / top-k sampling, with a stop token and a KV cache.
 *
 * Prompts are encoded as [BOS] + enc(prompt) (the same layout `encodePair` scores) and grouped by length, so a
 * batch needs no padding: one prefill pass, then one position per step against the cached keys and values
 * (lab-scale.md §5). Each prompt draws from its own random stream keyed by (seed, its index in the input
 * list), so a prompt's sample does not depend on the batch size or on the other prompts.
 */
import * as tf from "@tensorflow/tfjs";
import { UserError } from "../errors";
import type { Tokenizer } from "../tokenizers/types";
import { checkTokenizer } from "./logprobs";
import { Rng } from "../rng";
import { program } from "../seam";
import { head, trunk, type LayerCache, type Model } from "./transformer";

export interface GenerateOptions {
  /** Most tokens to generate per prompt (the stop token included when it is produced). */
  maxNewTokens: number;
  /** 0 (default) = greedy argmax (ties → lowest id); otherwise softmax(logits / temperature) sampling. */
  temperature?: number;
  /** Sample only among the k most likely tokens (0 or undefined = all). Ignored when greedy. */
  topK?: number;
  /** Seed of the sampling streams (default 0). */
  seed?: number;
  /** Each prompt's random stream (default: its index in the list), so a caller that splits a list keeps its draws. */
  streams?: readonly number[];
  /** Id that ends a row; default the tokenizer's EOS (`generateIds`: none unless given). null = never stop. */
  stopToken?: number | null;
  /** Rows per forward pass (default 256: decoding one position costs mostly per-op overhead, so wide batches pay). */
  batchSize?: number;
  /** Decode with a KV cache (default true); false recomputes the whole prefix per token (reference path). */
  useCache?: boolean;
  /** Only ids below this are ever produced (default: the model's vocabulary; `generate`: the tokenizer's). */
  vocabLimit?: number;
}

/** Why a row ended: its stop token, `maxNewTokens`, or the context being full. */
export type FinishReason = "stop" | "length" | "context";

export interface GeneratedIds {
  /** New ids, without the stop token. */
  ids: number[];
  finish: FinishReason;
}

export interface Generation extends GeneratedIds {
  /** `tokenizer.decode(ids)`. */
  text: string;
  /** Prompt tokens dropped from the left so the prompt fits the context. */
  promptTokensDropped: number;
}

/**
 * Continues each prompt with the model.
 *
 * @example
 * const [g] = await generate(model, tok, ["12+7="], { maxNewTokens: 8 }); // greedy, stops at EOS
 * // g → { text: "19", ids: [...], finish: "stop", promptTokensDropped: 0 }
 */
export async function generate(
  model: Model,
  tokenizer: Tokenizer,
  prompts: readonly string[],
  opts: GenerateOptions,
): Promise<Generation[]> {
  checkTokenizer(model, tokenizer);
  const C = model.config.contextLength;
  const encoded = prompts.map((p) => {
    const ids = [tokenizer.bosId, ...tokenizer.encode(p)];
    const dropped = Math.max(0, ids.length - C);
    return { ids: dropped > 0 ? [tokenizer.bosId, ...ids.slice(1 + dropped)] : ids, dropped };
  });
  const stopToken = opts.stopToken === undefined ? tokenizer.eosId : opts.stopToken;
  const out = await generateIds(model, encoded.map((e) => e.ids), {
    ...opts,
    stopToken,
    vocabLimit: Math.min(opts.vocabLimit ?? tokenizer.vocabSize, tokenizer.vocabSize),
  });
  return out.map((g, i) => ({ ...g, text: tokenizer.decode(g.ids), promptTokensDropped: encoded[i].dropped }));
}

/** `generate` on prompts given as ids (each 1..C ids, BOS included if wanted; nothing is added). */
export async function generateIds(
  model: Model,
  promptIds: readonly (readonly number[])[],
  opts: GenerateOptions,
): Promise<GeneratedIds[]> {
  const { contextLength: C, vocabSize: V } = model.config;
  const maxNew = opts.maxNewTokens;
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new UserError(`maxNewTokens must be ≥ 0, got ${maxNew}`);
  const temperature = opts.temperature ?? 0;
  if (!(temperature >= 0)) throw new UserError(`temperature must be ≥ 0, got ${temperature}`);
  const topK = opts.topK ?? 0;
  if (!Number.isInteger(topK) || topK < 0) throw new UserError(`topK must be a non-negative integer, got ${topK}`);
  const batchSize = opts.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UserError(`batchSize must be ≥ 1, got ${batchSize}`);
  const seed = opts.seed ?? 0;
  const limit = opts.vocabLimit ?? V;
  if (!Number.isInteger(limit) || limit < 1 || limit > V) throw new UserError(`vocabLimit must be in 1..${V}, got ${limit}`);
  const stop = opts.stopToken ?? null;
  if (opts.streams !== undefined && opts.streams.length !== promptIds.length) throw new UserError(`streams has ${opts.streams.length} entries for ${promptIds.length} prompts`);
  promptIds.forEach((p, i) => {
    if (p.length < 1 || p.length > C) {
      throw new UserError(`prompt ${i} has ${p.length} ids; it needs 1..${C} (the context length)`);
    }
    for (const id of p) if (!Number.isInteger(id) || id < 0 || id >= V) throw new UserError(`prompt ${i}: id ${id} outside [0, ${V})`);
  });

  // Group by prompt length (no padding), then chunk.
  const byLen = new Map<number, number[]>();
  promptIds.forEach((p, i) => byLen.set(p.length, [...(byLen.get(p.length) ?? []), i]));
  const results: GeneratedIds[] = new Array(promptIds.length);
  for (const len of [...byLen.keys()].sort((a, b) => a - b)) {
    const rows = byLen.get(len)!;
    for (let s = 0; s < rows.length; s += batchSize) {
      const chunk = rows.slice(s, s + batchSize);
      const rngs = chunk.map((i) => new Rng(seed, `generate:${opts.streams?.[i] ?? i}`));
      const gen = await decodeChunk(model, chunk.map((i) => promptIds[i]), maxNew, stop, (row, logits) =>
        pickToken(limit < V ? logits.subarray(0, limit) : logits, temperature, topK, rngs[row]),
        opts.useCache ?? true,
      );
      chunk.forEach((i, j) => (results[i] = gen[j]));
    }
  }
  return results;
}

/**
 * Decodes rows whose prompts all have the same length. Finished rows leave the batch once a quarter of it is done
 * (their cache rows are dropped), so a few long answers do not keep every row decoding.
 */
async function decodeChunk(
  model: Model,
  prompts: readonly (readonly number[])[],
  maxNew: number,
  stop: number | null,
  pick: (row: number, logits: Float32Array) => number,
  useCache: boolean,
): Promise<GeneratedIds[]> {
  const { contextLength: C, vocabSize: V } = model.config;
  const seqs = prompts.map((p) => [...p]);
  const res: GeneratedIds[] = prompts.map(() => ({ ids: [], finish: "length" as FinishReason }));
  /** The rows still in the batch (indices into `prompts`), in batch order; `done`: ended with the stop token. */
  let live = prompts.map((_, i) => i);
  const done = new Array<boolean>(prompts.length).fill(false);
  let cache: LayerCache[] | null = null;
  const disposeCache = () => cache?.forEach((c) => (c.k.dispose(), c.v.dispose()));
  // decoding grows the cache by one position per call: a program whose shapes vary (run op by op)
  const decode = program("decode", { shapes: "varying" });
  try {
    for (let step = 0; step < maxNew && live.length > 0; step++) {
      const B = live.length;
      const L = seqs[live[0]].length;
      if (L > C) {
        for (const b of live) res[b].finish = "context";
        break;
      }
      // Next-token logits [B, V] from the last position: the prompts once (prefill), then one id per row.
      const feed = cache === null ? live.map((b) => seqs[b]) : live.map((b) => [seqs[b][L - 1]]);
      const ids = tf.tensor2d(feed.flat(), [B, feed[0].length], "int32");
      const r: { logits: tf.Tensor2D; cache?: LayerCache[] } = decode.run({ ids, past: cache ?? undefined }, ({ ids, past }) =>
        tf.tidy(() => {
          const T = ids.shape[1];
          const { h, cache: next } = trunk(model, ids, { past, keepCache: useCache }); // h [B·T, D]
          return { logits: head(model, T === 1 ? h : lastPositions(h, B, T)), cache: next ?? undefined }; // [B, V]
        }),
      );
      ids.dispose();
      disposeCache();
      cache = r.cache ?? null;
      const logitsT = r.logits;
      const logits = (await logitsT.data()) as Float32Array;
      logitsT.dispose();
      live.forEach((b, j) => {
        if (done[b]) return void seqs[b].push(stop ?? 0); // finished, riding along until the batch is compacted
        const tok = pick(b, logits.subarray(j * V, (j + 1) * V));
        seqs[b].push(tok);
        if (stop !== null && tok === stop) (done[b] = true), (res[b].finish = "stop");
        else res[b].ids.push(tok);
      });
      const keep = live.flatMap((b, j) => (done[b] ? [] : [j])); // batch positions of the rows that go on
      if (keep.length === 0) break;
      if (keep.length > (3 * B) / 4) continue; // too few finished to pay for a gather
      const idx = tf.tensor1d(keep, "int32");
      if (cache !== null) {
        const old: LayerCache[] = cache;
        cache = old.map((c) => ({ k: tf.gather(c.k, idx) as tf.Tensor4D, v: tf.gather(c.v, idx) as tf.Tensor4D }));
        old.forEach((c) => (c.k.dispose(), c.v.dispose()));
      }
      idx.dispose();
      live = keep.map((j) => live[j]);
    }
  } finally {
    disposeCache();
    decode.dispose();
  }
  return res;
}

/** Rows of the last position: h [B·T, D] → [B, D]. */
function lastPositions(h: tf.Tensor2D, B: number, T: number): tf.Tensor2D {
  const D = h.shape[1];
  return tf.reshape(tf.slice(tf.reshape(h, [B, T, D]), [0, T - 1, 0], [B, 1, D]), [B, D]);
}

/**
 * One token from one row of logits: argmax when temperature is 0 (ties → lowest id), else a draw from
 * softmax(logits / temperature) restricted to the top k (ties at the k-th value broken by lower id), in float64.
 */
export function pickToken(logits: Float32Array, temperature: number, topK: number, rng: Rng): number {
  const V = logits.length;
  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  let idx = Array.from({ length: V }, (_, i) => i);
  if (topK > 0 && topK < V) {
    idx.sort((a, b) => logits[b] - logits[a] || a - b);
    idx = idx.slice(0, topK);
  }
  let max = -Infinity;
  for (const i of idx) max = Math.max(max, logits[i]);
  const w = idx.map((i) => Math.exp((logits[i] - max) / temperature));
  const total = w.reduce((a, b) => a + b, 0);
  let u = rng.next() * total;
  for (let j = 0; j < idx.length; j++) {
    u -= w[j];
    if (u < 0) return idx[j];
  }
  return idx[idx.length - 1];
}

/**
 * The preference adapter: turns records in the published format into encoded examples and a `LossFn` for
 * the generic Trainer, for ANY loss of the registry. The policy's log-probs are computed live; the pivot's
 * (`ref_*`) and the sources' (`fuse_*`) come from the file.
 *
 * WRPO's third response y_ws **(choice: the published format has no column for it)** is read from
 * `source_chosen` (same shape as `chosen`) with `ref_source_chosen_logps`, `ref_mean_source_chosen_logps`
 * and, for infifpo-wrpo, `fuse_source_chosen_logps`, `fuse_mean_source_chosen_logps`.
 */
import * as tf from "@tensorflow/tfjs";
import { DataError, type Loc } from "../data/errors";
import { promptText, responseText } from "../data/trl";
import { checkSumMean, checkSumMeanAt } from "../data/validate";
import type { Conversation, PreferencePair } from "../data/types";
import type { LossConfig, LossInputs, LossSpec, ResponseScores } from "../losses/types";
import type { Tokenizer } from "../tokenizers/types";
import { batchTensors, collateForModel, encodePair, sequenceLogProbsFromTensors, type BatchTensors, type PairEncoding, type TruncateMode } from "../model/logprobs";
import type { Model } from "../model/transformer";
import type { LossFn } from "./trainer";

/** Precomputed numbers for one response: the pivot at init and each source (sum ℓ and mean \bar ℓ). */
export interface ResponseColumns {
  ref?: { sum: number; mean: number };
  sources?: { sum: number[]; mean: number[] };
}

/** One pair, encoded with the policy's tokenizer, with its precomputed columns. */
export interface PreferenceExample {
  chosen: PairEncoding;
  rejected: PairEncoding;
  /** WRPO's y_ws. */
  sourceChosen?: PairEncoding;
  cols: { chosen: ResponseColumns; rejected: ResponseColumns; sourceChosen?: ResponseColumns };
  /** Response tokens plus prompt tokens fed to the model (for tokens/s). */
  tokens: number;
}

function num(rec: Record<string, unknown>, field: string, loc: Loc): number {
  const v = rec[field];
  if (typeof v !== "number" || !Number.isFinite(v)) throw new DataError(loc, field, `expected a finite number, got ${JSON.stringify(v) ?? "nothing"}`);
  if (v > 0) throw new DataError(loc, field, `a log-prob must be ≤ 0, got ${v}`);
  return v;
}

function nums(rec: Record<string, unknown>, field: string, loc: Loc, n?: number): number[] {
  const v = rec[field];
  if (!Array.isArray(v) || v.length === 0) throw new DataError(loc, field, `expected a non-empty list of numbers, got ${JSON.stringify(v) ?? "nothing"}`);
  if (n !== undefined && v.length !== n) throw new DataError(loc, field, `expected ${n} entries (one per source), got ${v.length}`);
  return v.map((x, i) => {
    if (typeof x !== "number" || !Number.isFinite(x) || x > 0) throw new DataError(loc, `${field}[${i}]`, `expected a finite number ≤ 0, got ${JSON.stringify(x)}`);
    return x;
  });
}

/**
 * The columns `spec` reads for one response, checked with the same rules as `fuse` (lib/data/validate.ts:
 * finite, ≤ 0, in range, a mean agreeing with its sum in sign and size) — also on the paths (DPO, IPO, …) that
 * read TRL's shape rather than the full published record.
 */
function columns(rec: Record<string, unknown>, slot: "chosen" | "rejected" | "source_chosen", spec: LossSpec, loc: Loc): ResponseColumns {
  const out: ResponseColumns = {};
  if (spec.requires.includes("ref")) {
    const [sumField, meanField] = [`ref_${slot}_logps`, `ref_mean_${slot}_logps`];
    const ref = { sum: num(rec, sumField, loc), mean: num(rec, meanField, loc) };
    checkSumMean(ref.sum, ref.mean, sumField, meanField, loc);
    out.ref = ref;
  }
  if (spec.requires.includes("sources")) {
    const [sumField, meanField] = [`fuse_${slot}_logps`, `fuse_mean_${slot}_logps`];
    const sum = nums(rec, sumField, loc);
    const mean = nums(rec, meanField, loc, sum.length);
    for (let i = 0; i < sum.length; i++) checkSumMeanAt(sum[i], mean[i], sumField, meanField, i, loc);
    out.sources = { sum, mean };
  }
  return out;
}

/**
 * Encodes one validated record for `spec`'s needs. Errors name the file, line and field.
 *
 * @example
 * const ex = encodePreferenceExample(rec, { file: "pairs.jsonl", line: 3 }, getLoss("infifpo"), tok, 64);
 */
export function encodePreferenceExample(
  rec: PreferencePair,
  loc: Loc,
  spec: LossSpec,
  tokenizer: Tokenizer,
  contextLength: number,
  truncate: TruncateMode = "left",
): PreferenceExample {
  const prompt = promptText(rec);
  const enc = (conv: Conversation, field: string) => {
    try {
      return encodePair(tokenizer, prompt, responseText(conv), contextLength, truncate);
    } catch (e) {
      throw new DataError(loc, field, (e as Error).message);
    }
  };
  const r = rec as Record<string, unknown>;
  const chosen = enc(rec.chosen, "chosen");
  const rejected = enc(rec.rejected, "rejected");
  const ex: PreferenceExample = {
    chosen,
    rejected,
    cols: { chosen: columns(r, "chosen", spec, loc), rejected: columns(r, "rejected", spec, loc) },
    tokens: chosen.ids.length - 1 + rejected.ids.length - 1,
  };
  if (spec.requires.includes("sourceChosen")) {
    const ws = r.source_chosen;
    if (typeof ws !== "string" && !Array.isArray(ws))
      throw new DataError(loc, "source_chosen", `loss "${spec.name}" needs the source's best response y_ws (a string or message list)`);
    ex.sourceChosen = enc(ws as Conversation, "source_chosen");
    ex.cols.sourceChosen = columns(r, "source_chosen", spec, loc);
    ex.tokens += ex.sourceChosen.ids.length - 1;
  }
  const ns = [ex.cols.chosen, ex.cols.rejected, ex.cols.sourceChosen].map((c) => c?.sources?.sum.length).filter((n) => n !== undefined);
  if (new Set(ns).size > 1) throw new DataError(loc, "fuse_rejected_logps", `source lists differ in length (${ns.join(" vs ")})`);
  return ex;
}

export interface PreferenceLossOptions {
  /** Training progress in [0, 1] for update `step` (WRPO's α schedule): e.g. step / maxSteps. */
  progress?: (step: number) => number;
}

/** One response slot's precomputed columns as tensors: the pivot's [B] and the sources' [B, N]. */
type ColumnTensors = { ref?: { sum: tf.Tensor1D; mean: tf.Tensor1D }; sources?: { sum: tf.Tensor2D; mean: tf.Tensor2D } };

/** What `prepare` makes for `compute`: WRPO's progress in [0, 1], each slot's columns, and the token batch. */
export type PreferenceInputs = { progress: tf.Scalar; columns: ColumnTensors[]; tokens: BatchTensors };

/**
 * A `LossFn` computing `spec` on the live policy. Batch layout: the B chosen rows, then the B rejected rows
 * (then B y_ws rows for WRPO) — "batch is [chosen; rejected]" — in ONE forward pass, split afterwards.
 * `prepare` uploads the token batch, the file's columns and the progress; `compute` is the forward pass and the
 * loss, a pure function of those tensors.
 */
export function preferenceLossFn(
  model: Model,
  tokenizer: Pick<Tokenizer, "padId">,
  spec: LossSpec,
  config: LossConfig,
  opts: PreferenceLossOptions = {},
): LossFn<PreferenceExample, PreferenceInputs> {
  const withRef = spec.requires.includes("ref");
  const withSources = spec.requires.includes("sources");
  const slots: ((e: PreferenceExample) => [PairEncoding, ResponseColumns])[] = [
    (e) => [e.chosen, e.cols.chosen],
    (e) => [e.rejected, e.cols.rejected],
  ];
  if (spec.requires.includes("sourceChosen")) slots.push((e) => [e.sourceChosen!, e.cols.sourceChosen!]);
  const k = slots.length;
  const columnTensors = (cols: ResponseColumns[]): ColumnTensors => {
    const c: ColumnTensors = {};
    if (withRef) c.ref = { sum: tf.tensor1d(cols.map((x) => x.ref!.sum)), mean: tf.tensor1d(cols.map((x) => x.ref!.mean)) }; // [B]
    if (withSources) {
      const shape: [number, number] = [cols.length, cols[0].sources!.sum.length]; // [B, N]
      c.sources = { sum: tf.tensor2d(cols.map((x) => x.sources!.sum), shape), mean: tf.tensor2d(cols.map((x) => x.sources!.mean), shape) };
    }
    return c;
  };
  return {
    prepare(batch, ctx) {
      const perSlot = slots.map((pick) => batch.map(pick));
      return {
        progress: tf.scalar(opts.progress?.(ctx.step) ?? 0),
        columns: perSlot.map((s) => columnTensors(s.map(([, cols]) => cols))),
        tokens: batchTensors(collateForModel(model, perSlot.flatMap((s) => s.map(([enc]) => enc)), tokenizer.padId)),
      };
    },
    compute({ progress, columns, tokens }) {
      const lp = sequenceLogProbsFromTensors(model, tokens); // each [kB]
      const [sums, means, counts] = [lp.sum, lp.mean, lp.count].map((t) => tf.split(t, k)) as tf.Tensor1D[][];
      const slot = (i: number): ResponseScores => ({ policy: { sum: sums[i], mean: means[i], count: counts[i] }, ...columns[i] });
      const inputs: LossInputs = { chosen: slot(0), rejected: slot(1), progress };
      if (k === 3) inputs.sourceChosen = slot(2);
      return spec.compute(inputs, config);
    },
  };
}

/** Response + prompt tokens of a batch (for tokens/s). */
export function preferenceTokens(batch: readonly PreferenceExample[]): number {
  return batch.reduce((s, e) => s + e.tokens, 0);
}

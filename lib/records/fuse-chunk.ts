/**
 * The CPU-bound part of `infifpo fuse` for one chunk of whole lines: parse, validate, annotate, format.
 * Shared by the single-thread path, the main thread of the parallel path and its workers (fuse-worker.ts).
 */
import type { FusedColumns, PreferenceRecord } from "../data/types";
import { floatJson } from "../data/write";
import { DataError, type Loc } from "../data/errors";
import { parseJsonlChunk, type BadRow, type Row, type Validator } from "../data/jsonl";
import { DEFAULT_MAX_LINE_BYTES } from "../data/lines";
import { sourceCount, validateRecord } from "../data/validate";
import { trlRow } from "../data/trl-export";
import { annotateRecord } from "./annotate";
import type { FuseSettings } from "./settings";

const FUSED_KEYS: readonly (keyof FusedColumns)[] = [
  "fused_chosen_logps", "fused_rejected_logps", "fused_source_chosen", "fused_source_rejected", "logit", "loss", "disparity_weight",
];

/** The fused columns as JSON members to append inside a record: `,"fused_chosen_logps":-0.5,…` (ASCII only). */
export function fusedMembers(c: FusedColumns): string {
  const sel = (i: number | null) => (i === null ? "null" : String(i));
  return (
    `,"fused_chosen_logps":${floatJson(c.fused_chosen_logps)},"fused_rejected_logps":${floatJson(c.fused_rejected_logps)}` +
    `,"fused_source_chosen":${sel(c.fused_source_chosen)},"fused_source_rejected":${sel(c.fused_source_rejected)}` +
    `,"logit":${floatJson(c.logit)},"loss":${floatJson(c.loss)},"disparity_weight":${floatJson(c.disparity_weight)}`
  );
}

/** Whether a record already carries fused columns (a re-fuse): then it is re-serialised so no key appears twice. */
function hasFusedColumns(r: PreferenceRecord): boolean {
  for (const k of FUSED_KEYS) if (r[k] !== undefined) return true;
  return false;
}

/** What `fuse` writes per record: the input with the fused columns added, or TRL's row (`--export trl`). */
export type FuseFormat = "fused" | "trl";

/** TRL rows computed while validating (`--export trl`), by record: written by fuseBatch. */
const trlLines = new WeakMap<object, string>();

/** The `fused` members' longest possible length (7 numbers of ≤ 24 characters, two indices, the keys): a bound. */
const FUSED_MEMBERS_MAX = 400;
/**
 * How much longer than its input line a re-serialised record can be: a number grows at most from `1e20` (4 bytes)
 * to `100000000000000000000.0` (23); strings, literals and escapes never grow; whitespace goes. Below
 * (limit − FUSED_MEMBERS_MAX) / 6 bytes a line can't produce an output over the limit, so nothing is computed.
 */
const REWRITE_GROWTH_MAX = 6;

/**
 * The validator of `fuse`: the record rules (lib/data/validate.ts, N fixed by the first valid record), then the
 * checks that depend on the output, so a line that can't be written is an invalid line like any other (rejected
 * with file:line under --skip-invalid, the error otherwise), never a failure half-way through writing:
 * - the output line must stay within the reader's line limit, so every file `fuse` writes can be read back;
 * - `--export trl`: the record must have a TRL row (lib/data/trl-export.ts), computed here.
 */
export function fuseValidator(ctx: ChunkContext, sources: number | undefined): { validate: Validator<PreferenceRecord>; sources: () => number | undefined } {
  const vopts = { sources };
  const limit = ctx.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const validate = (obj: unknown, loc: Loc, lineBytes = 0): PreferenceRecord => {
    const rec = validateRecord(obj, loc, vopts);
    if (ctx.format === "trl") {
      const line = ctx.serialize(trlRow({ ...rec, ...annotateRecord(rec, ctx.settings).columns }, ctx.settings.lengthNorm, loc));
      if (Buffer.byteLength(line) > limit) throw tooLong(loc, Buffer.byteLength(line), limit);
      trlLines.set(rec, line);
    } else if (REWRITE_GROWTH_MAX * lineBytes + FUSED_MEMBERS_MAX > limit) {
      // near the limit (rare): the exact length, re-serialised for a re-fuse, else the input plus the members
      const columns = annotateRecord(rec, ctx.settings).columns;
      const n = hasFusedColumns(rec) ? Buffer.byteLength(ctx.serialize({ ...rec, ...columns })) : lineBytes + Buffer.byteLength(fusedMembers(columns));
      if (n > limit) throw tooLong(loc, n, limit);
    }
    vopts.sources ??= sourceCount(rec);
    return rec;
  };
  return { validate, sources: () => vopts.sources };
}

function tooLong(loc: Loc, bytes: number, limit: number): DataError {
  return new DataError(loc, null, `the output line would be ${bytes} bytes, over the ${limit}-byte line limit that readers of the output apply`);
}

/**
 * Output lines for one batch: each input line byte for byte with the fused members inserted before its closing
 * brace (no re-encoding of the input, and its own number formatting is kept), in one buffer. With `format: "trl"`,
 * the TRL rows the validator computed.
 */
export function fuseBatch(rows: { record: PreferenceRecord; bytes: Buffer }[], settings: FuseSettings, serialize: (rec: object) => string, format: FuseFormat = "fused"): Buffer {
  const tails: string[] = new Array(rows.length);
  const heads: number[] = new Array(rows.length);
  let total = 0;
  for (let i = 0; i < rows.length; i++) {
    const { record, bytes } = rows[i];
    if (format === "trl") {
      heads[i] = -1;
      tails[i] = (trlLines.get(record) as string) + "\n";
      trlLines.delete(record);
      total += Buffer.byteLength(tails[i]);
      continue;
    }
    const columns = annotateRecord(record, settings).columns;
    if (hasFusedColumns(record)) {
      heads[i] = -1;
      tails[i] = serialize({ ...record, ...columns }) + "\n";
      total += Buffer.byteLength(tails[i]);
    } else {
      heads[i] = bytes.lastIndexOf(0x7d); // the record's closing '}' (validated: the line is a JSON object)
      tails[i] = fusedMembers(columns) + "}\n";
      total += heads[i] + tails[i].length;
    }
  }
  // allocUnsafeSlow: never a slice of the shared pool, so a worker can transfer the ArrayBuffer.
  const out = Buffer.allocUnsafeSlow(total);
  let off = 0;
  for (let i = 0; i < rows.length; i++) {
    if (heads[i] < 0) {
      off += out.write(tails[i], off, "utf8");
    } else {
      off += rows[i].bytes.copy(out, off, 0, heads[i]);
      off += out.write(tails[i], off, "latin1");
    }
  }
  return out;
}

/** The rejects-file line for an invalid input line. */
export function rejectLine(row: BadRow): string {
  return JSON.stringify({ line: row.line, field: row.error.field, error: row.error.message, text: row.text ?? null });
}

/** A DataError in a form that crosses a worker boundary. */
export interface SerializedDataError {
  file: string;
  line: number;
  field: string | null;
  reason: string;
}

export interface ChunkJob {
  /** The chunk's bytes: whole lines, the first one being line `firstLine`. */
  bytes: Buffer;
  firstLine: number;
  /** The file's tail (its last line may lack a '\n'). */
  final: boolean;
  /** Required number of sources, or undefined before the first valid record (then learnt from it). */
  sources: number | undefined;
}

export interface ChunkResult {
  /** The fused lines of the chunk's good records (up to the first bad line in throw mode). */
  output: Buffer;
  records: number;
  /** Rejects-file lines (skip-invalid mode), in line order. */
  rejects: string[];
  /** Throw mode: the chunk's first invalid line. */
  error: SerializedDataError | null;
  /** The number of sources after this chunk (learnt from its first valid record if it was undefined). */
  sources: number | undefined;
}

/** What a chunk adds to the outputs (a ChunkResult without the running source count). */
export type ChunkOutput = Omit<ChunkResult, "sources">;

/** Takes the fused output of the next chunk of the input, in file order (`bytesRead`: how far the input is read). */
export type TakeChunk = (r: ChunkOutput, bytesRead: number) => Promise<void>;

export interface ChunkContext {
  name: string;
  settings: FuseSettings;
  skipInvalid: boolean;
  serialize: (rec: object) => string;
  /** Default "fused". */
  format?: FuseFormat;
  /** The output's line limit (default DEFAULT_MAX_LINE_BYTES, the readers'). */
  maxLineBytes?: number;
}

/** Parses, validates, annotates and formats one chunk (the same rules as the single-pass reader). */
export function fuseChunk(job: ChunkJob, ctx: ChunkContext): ChunkResult {
  const v = fuseValidator(ctx, job.sources);
  const validate = v.validate;
  const good: { record: PreferenceRecord; bytes: Buffer }[] = [];
  const rejects: string[] = [];
  let error: SerializedDataError | null = null;
  try {
    parseJsonlChunk(
      job.bytes, job.firstLine, job.final, validate,
      { name: ctx.name, onInvalid: ctx.skipInvalid ? "yield" : "throw", keepBytes: true, keepText: ctx.skipInvalid, maxLineBytes: ctx.maxLineBytes },
      (row: Row<PreferenceRecord> | BadRow) => {
        if (row.error) rejects.push(rejectLine(row));
        else good.push(row as { record: PreferenceRecord; bytes: Buffer });
      },
    );
  } catch (err) {
    if (!(err instanceof DataError)) throw err;
    error = { file: err.file, line: err.line, field: err.field, reason: err.reason };
  }
  const output = fuseBatch(good, ctx.settings, ctx.serialize, ctx.format);
  return { output, records: good.length, rejects, error, sources: v.sources() };
}

export function reviveDataError(e: SerializedDataError): DataError {
  return new DataError({ file: e.file, line: e.line }, e.field, e.reason);
}

/**
 * `fuse` and `stats` over files (what `infifpo fuse` / `infifpo stats` run): a JSONL file of records streamed in
 * constant memory, each record annotated (annotate.ts) and written back with the fused columns, or summarised.
 * `fuseFile` fuses on the calling thread or, for a large plain file, on worker threads (fuse-parallel.ts), with
 * the same bytes out either way; the per-chunk work both share is fuse-chunk.ts.
 */
import { stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { readJsonlBatches, readRecordBatches } from "../data/jsonl";
import { checkOutputs } from "../data/safe-output";
import { trlLossType } from "../data/trl-export";
import type { PreferenceRecord } from "../data/types";
import { openAtomicWriter, recordSerializer, type AtomicWriter } from "../data/write";
import { annotateRecord } from "./annotate";
import { fuseBatch, fuseValidator, rejectLine, reviveDataError, type ChunkContext, type FuseFormat, type TakeChunk } from "./fuse-chunk";
import { Fallback, fuseParallel } from "./fuse-parallel";
import type { FuseSettings } from "./settings";
import { FuseStats, type FuseSummary } from "./stats";

export interface FuseFileOptions {
  input: string;
  output: string;
  settings: FuseSettings;
  /** Keep going past invalid lines, writing them with their reasons to `rejectsPath`. */
  skipInvalid?: boolean;
  onProgress?: (bytesRead: number, records: number) => void;
  /**
   * Threads that parse and fuse (default min(2, cores)). With 2 or more, a plain input file of at least
   * `parallelMinBytes` is cut into chunks of whole lines fused by worker threads, written in file order; the
   * output, the rejects and the errors are the same as with 1 (the single-thread path).
   */
  threads?: number;
  /** Chunk size of the parallel path (default 512 KiB; tests use small ones). */
  chunkBytes?: number;
  /** Smallest input that takes the parallel path (default 4 MiB). */
  parallelMinBytes?: number;
  /** What to write per record: the record with the fused columns (default), or TRL's row (`--export trl`). */
  format?: FuseFormat;
  /** Longest input and output line in bytes (default DEFAULT_MAX_LINE_BYTES, what every reader accepts). */
  maxLineBytes?: number;
}

export interface FuseFileResult {
  records: number;
  rejected: number;
  rejectsPath: string | null;
  seconds: number;
  /** Threads that fused: 1 on the single-thread path. */
  threads: number;
}

/** `OUT.jsonl` → `OUT.rejects.jsonl`. */
export function rejectsPathFor(output: string): string {
  return output.replace(/\.jsonl$/i, "") + ".rejects.jsonl";
}

/** Default for `--threads`: min(2, cores). */
export function defaultFuseThreads(): number {
  return Math.max(1, Math.min(2, availableParallelism()));
}

/**
 * Streams `input` to `output`, each record with the fused columns added. Both files are written atomically:
 * on any error nothing appears under the output names. An output (the rejects file included) that is, or
 * collides with, the input is refused before anything is read (lib/data/safe-output.ts).
 *
 * @example
 *   const r = await fuseFile({ input: "data/sample/pairs.jsonl", output: "runs/fused.jsonl", settings: resolveFuseSettings() });
 *   // { records: 240, rejected: 0, rejectsPath: null, seconds: 0.03, threads: 1 }
 */
export async function fuseFile(o: FuseFileOptions): Promise<FuseFileResult> {
  const t0 = performance.now();
  checkOutputs(
    [{ path: o.input, label: "--input" }],
    [{ path: o.output, label: "--output" }, o.skipInvalid ? { path: rejectsPathFor(o.output), label: "the rejects file (--skip-invalid)" } : null],
  );
  const ctx: ChunkContext = {
    name: o.input === "-" ? "<stdin>" : o.input, settings: o.settings, skipInvalid: Boolean(o.skipInvalid), serialize: recordSerializer(),
    format: o.format, maxLineBytes: o.maxLineBytes,
  };
  const threads = Math.floor(o.threads ?? defaultFuseThreads());
  if (threads >= 2 && (await plainFileSize(o.input)) >= (o.parallelMinBytes ?? 4 * 1024 * 1024)) {
    try {
      const r = await writeFused(o, (take) => fuseParallel({ input: o.input, ctx, threads, chunkBytes: o.chunkBytes, take }));
      return { ...r, seconds: (performance.now() - t0) / 1000, threads };
    } catch (err) {
      // it could not go on (workers failed to start, a huge line) and left nothing behind: rerun single-threaded
      if (!(err instanceof Fallback)) throw err;
    }
  }
  const r = await writeFused(o, (take) => fuseSerial(o.input, ctx, take));
  return { ...r, seconds: (performance.now() - t0) / 1000, threads: 1 };
}

/**
 * `fuse --export trl`: TRL's rows (lib/data/trl-export.ts) written to OUT atomically in the same single pass as
 * fusing (no intermediate file: a record that has no TRL row is an invalid line named FILE:LINE like any other);
 * returns the loss_type to train with.
 */
export async function fuseForTrl(o: FuseFileOptions): Promise<FuseFileResult & { lossType: string }> {
  const r = await fuseFile({ ...o, format: "trl" });
  return { ...r, lossType: trlLossType(o.settings.lengthNorm) };
}

/** Streams a file through the fusion settings and returns its summary (constant memory). */
export async function statsFile(input: string, settings: FuseSettings, onProgress?: (bytes: number, records: number) => void): Promise<FuseSummary> {
  const stats = new FuseStats(settings);
  let records = 0;
  let bytes = 0;
  for await (const batch of readRecordBatches(input, { onProgress: (b: number) => (bytes = b) })) {
    for (const row of batch) stats.add(annotateRecord(row.record, settings));
    records += batch.length;
    onProgress?.(bytes, records);
  }
  return stats.summary();
}

/** The input's size when it is a plain file that the parallel path can read by offset; −1 otherwise. */
async function plainFileSize(input: string): Promise<number> {
  if (input === "-" || /\.gz$/i.test(input)) return -1;
  try {
    const st = await stat(input);
    return st.isFile() ? st.size : -1;
  } catch {
    return -1; // the single-thread path reports it
  }
}

/**
 * Opens OUT (and the rejects file) atomically, lets `fuse` hand it the fused chunks in order, and commits both; on any
 * error, both are discarded. A chunk's error (throw mode) is raised after the good lines before it are written.
 */
async function writeFused(o: FuseFileOptions, fuse: (take: TakeChunk) => Promise<void>): Promise<Omit<FuseFileResult, "seconds" | "threads">> {
  const out = await openAtomicWriter(o.output);
  const rejectsPath = o.skipInvalid ? rejectsPathFor(o.output) : null;
  let rejects: AtomicWriter | null = null;
  let records = 0;
  let rejected = 0;
  try {
    if (rejectsPath) rejects = await openAtomicWriter(rejectsPath);
    await fuse(async (r, bytesRead) => {
      if (r.records > 0) {
        const p = out.writeBuffer(r.output, r.records);
        if (p) await p;
        records += r.records;
      }
      if (r.error) throw reviveDataError(r.error);
      if (rejects) {
        for (const line of r.rejects) {
          const p = rejects.write(line);
          if (p) await p;
        }
        rejected += r.rejects.length;
      }
      o.onProgress?.(bytesRead, records);
    });
    await out.commit();
    await rejects?.commit();
  } catch (err) {
    await out.abort();
    await rejects?.abort();
    throw err;
  }
  return { records, rejected, rejectsPath };
}

/** The single-thread path: the JSONL reader's batches (any source: a file, "-", a .gz), fused in order. */
async function fuseSerial(input: string, ctx: ChunkContext, take: TakeChunk): Promise<void> {
  let bytes = 0;
  // Invalid lines come back as rows; without --skip-invalid the first one aborts the run.
  const batches = readJsonlBatches(input, fuseValidator(ctx, undefined).validate, {
    name: ctx.name, onInvalid: "yield", keepBytes: true, keepText: ctx.skipInvalid, maxLineBytes: ctx.maxLineBytes, onProgress: (b: number) => (bytes = b),
  });
  for await (const batch of batches) {
    const good: { record: PreferenceRecord; bytes: Buffer }[] = [];
    const rejects: string[] = [];
    for (const row of batch) {
      if (!row.error) good.push(row as { record: PreferenceRecord; bytes: Buffer });
      else if (ctx.skipInvalid) rejects.push(rejectLine(row));
      else throw row.error;
    }
    await take({ output: fuseBatch(good, ctx.settings, ctx.serialize, ctx.format), records: good.length, rejects, error: null }, bytes);
  }
}

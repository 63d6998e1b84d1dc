/** `infifpo fuse`: add the fused reference, logit, loss and disparity weight to every record of a JSONL file. */
import { Option, type Command } from "commander";
import { open, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { openAtomicWriter, recordSerializer, readJsonlBatches, type AtomicWriter, type PreferenceRecord } from "../data";
import { checkOutputs } from "../data/safe-output";
import { settingsLabel, type FuseSettings } from "../records/settings";
import { byteProgress } from "./byte-progress";
import { addFusionFlags, settingsFromFlags, type FusionFlags } from "./fusion-flags";
import { fuseBatch, fuseChunk, fuseValidator, rejectLine, reviveDataError, type ChunkContext, type ChunkResult, type FuseFormat, type SerializedDataError } from "./fuse-chunk";
import { inputFile } from "./input";
import { UserError } from "../errors";

export { fusedMembers } from "./fuse-chunk";

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
 */
export async function fuseFile(o: FuseFileOptions): Promise<FuseFileResult> {
  const t0 = performance.now();
  checkOutputs(
    [{ path: o.input, label: "--input" }],
    [{ path: o.output, label: "--output" }, o.skipInvalid ? { path: rejectsPathFor(o.output), label: "the rejects file (--skip-invalid)" } : null],
  );
  const threads = Math.floor(o.threads ?? defaultFuseThreads());
  if (threads >= 2 && o.input !== "-" && !/\.gz$/i.test(o.input)) {
    let size = -1;
    try {
      const st = await stat(o.input);
      if (st.isFile()) size = st.size;
    } catch {
      // the single-thread path reports it
    }
    if (size >= (o.parallelMinBytes ?? 4 * 1024 * 1024)) {
      const r = await fuseParallel(o, threads, t0);
      if (r !== null) return r;
    }
  }
  return fuseSerial(o, t0);
}

async function fuseSerial(o: FuseFileOptions, t0: number): Promise<FuseFileResult> {
  const out = await openAtomicWriter(o.output);
  const rejectsPath = o.skipInvalid ? rejectsPathFor(o.output) : null;
  let rejects: AtomicWriter | null = null;
  let records = 0;
  let rejected = 0;
  let bytes = 0;
  try {
    if (rejectsPath) rejects = await openAtomicWriter(rejectsPath);
    // Invalid lines come back as rows; without --skip-invalid the first one aborts the run.
    const serialize = recordSerializer();
    const ctx: ChunkContext = { name: o.input === "-" ? "<stdin>" : o.input, settings: o.settings, skipInvalid: Boolean(o.skipInvalid), serialize, format: o.format, maxLineBytes: o.maxLineBytes };
    const batches = readJsonlBatches(o.input, fuseValidator(ctx, undefined).validate, {
      name: ctx.name, onInvalid: "yield", keepBytes: true, keepText: Boolean(rejects), maxLineBytes: o.maxLineBytes, onProgress: (b: number) => (bytes = b),
    });
    for await (const batch of batches) {
      const good: { record: PreferenceRecord; bytes: Buffer }[] = [];
      for (const row of batch) {
        if (!row.error) {
          good.push(row as { record: PreferenceRecord; bytes: Buffer });
          continue;
        }
        if (!rejects) throw row.error;
        rejected++;
        const p = rejects.write(rejectLine(row));
        if (p) await p;
      }
      if (good.length > 0) {
        const p = out.writeBuffer(fuseBatch(good, o.settings, serialize, o.format), good.length);
        if (p) await p;
        records += good.length;
      }
      o.onProgress?.(bytes, records);
    }
    await out.commit();
    await rejects?.commit();
  } catch (err) {
    await out.abort();
    await rejects?.abort();
    throw err;
  }
  return { records, rejected, rejectsPath, seconds: (performance.now() - t0) / 1000, threads: 1 };
}

const PARALLEL_CHUNK_BYTES = 512 * 1024;

/** Raised inside the parallel path when it can't go on (workers failed to start, a huge line): rerun single-threaded. */
class Fallback extends Error {}

interface WorkerReply {
  id: number;
  ok: boolean;
  buf?: ArrayBuffer;
  off?: number;
  len?: number;
  records?: number;
  rejects?: string[];
  error?: SerializedDataError | null;
  message?: string;
  stack?: string;
}

let workerSource: Promise<string> | null = null;

/**
 * The worker's code, a CommonJS script for `new Worker(code, { eval: true })`. fuse-worker.ts bundled by esbuild
 * (which tsx brings) into plain JavaScript: a worker that loads tsx instead costs ~30 MB more memory (its own
 * loader thread and compiled module graph). Without esbuild, a bootstrap that registers tsx and imports the TS.
 */
function fuseWorkerSource(): Promise<string> {
  workerSource ??= (async () => {
    const entry = new URL("./fuse-worker.ts", import.meta.url);
    try {
      const esbuild = await import("esbuild");
      const r = await esbuild.build({
        entryPoints: [fileURLToPath(entry)], bundle: true, platform: "node", format: "cjs", target: "node20",
        packages: "external", write: false, logLevel: "silent",
      });
      return r.outputFiles[0].text;
    } catch {
      const api = pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs")).href;
      return `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
    }
  })();
  return workerSource;
}

/** A pool of fuse workers; `submit` posts a chunk (transferring its memory) and resolves with the worker's reply. */
class FusePool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: unknown) => void }>();
  private nextId = 0;
  private next = 0;
  private failure: unknown = null;
  readonly ready: Promise<void>;

  constructor(threads: number, boot: string, init: { name: string; settings: FuseSettings; skipInvalid: boolean; format?: FuseFormat; maxLineBytes?: number }) {
    const readies: Promise<void>[] = [];
    for (let i = 0; i < threads; i++) {
      // A smaller young generation than the default (~48 MB) keeps the two workers' memory down at no cost in speed.
      const w = new Worker(boot, { eval: true, workerData: init, stdout: false, stderr: false, resourceLimits: { maxYoungGenerationSizeMb: 16 } });
      this.workers.push(w);
      readies.push(
        new Promise<void>((resolve, reject) => {
          w.on("message", (m: WorkerReply & { ready?: boolean }) => {
            if (m.ready) return resolve();
            const p = this.pending.get(m.id);
            if (!p) return;
            this.pending.delete(m.id);
            p.resolve(m);
          });
          const fail = (err: unknown): void => {
            this.failure ??= err;
            reject(new Fallback(String(err)));
            for (const p of this.pending.values()) p.reject(new Fallback(String(err)));
            this.pending.clear();
          };
          w.on("error", fail);
          w.on("exit", (code) => fail(new Error(`fuse worker exited (code ${code})`)));
        }),
      );
    }
    this.ready = Promise.all(readies).then(() => undefined);
    this.ready.catch(() => {});
  }

  submit(buf: Buffer, len: number, firstLine: number, final: boolean, sources: number): Promise<WorkerReply> {
    if (this.failure !== null) return Promise.reject(new Fallback(String(this.failure)));
    const id = this.nextId++;
    const w = this.workers[this.next];
    this.next = (this.next + 1) % this.workers.length;
    const p = new Promise<WorkerReply>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    p.catch(() => {}); // replies left unread after an error must not surface as unhandled rejections
    const ab = buf.buffer as ArrayBuffer;
    w.postMessage({ id, buf: ab, len, firstLine, final, sources }, [ab]);
    return p;
  }

  async close(): Promise<void> {
    this.failure ??= new Error("closed");
    this.pending.clear();
    await Promise.all(this.workers.map((w) => { w.removeAllListeners("exit"); return w.terminate(); }));
  }
}

function countNewlines(buf: Buffer, end: number): number {
  let n = 0;
  for (let i = buf.indexOf(10, 0); i !== -1 && i < end; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

/**
 * The parallel path: the main thread reads the file, cuts it into chunks of whole lines and posts them to the
 * workers round-robin; their outputs are written strictly in chunk order (at most 3 chunks per worker in
 * flight). Chunks are fused on the main thread until the first valid record fixes the number of sources.
 * Returns null when it had to give up before finishing (nothing is left behind): the caller reruns
 * single-threaded.
 */
async function fuseParallel(o: FuseFileOptions, threads: number, t0: number): Promise<FuseFileResult | null> {
  // 512 KiB: measured ~10% faster than 1 MiB on the 1M-record bench (finer pipelining), same peak RSS.
  const chunkBytes = Math.max(1, Math.floor(o.chunkBytes ?? PARALLEL_CHUNK_BYTES));
  const maxCarry = Math.min(16 * 1024 * 1024, o.maxLineBytes ?? Infinity); // a longer line: leave it to the single-thread reader and its limit
  const maxInFlight = 3 * threads; // measured: 2 per worker idles them now and then, more gains nothing
  const ctx: ChunkContext = { name: o.input, settings: o.settings, skipInvalid: Boolean(o.skipInvalid), serialize: recordSerializer(), format: o.format, maxLineBytes: o.maxLineBytes };
  let pool: FusePool;
  try {
    pool = new FusePool(threads, await fuseWorkerSource(), { name: o.input, settings: o.settings, skipInvalid: Boolean(o.skipInvalid), format: o.format, maxLineBytes: o.maxLineBytes });
  } catch {
    return null;
  }
  const out = await openAtomicWriter(o.output);
  const rejectsPath = o.skipInvalid ? rejectsPathFor(o.output) : null;
  let rejects: AtomicWriter | null = null;
  let records = 0;
  let rejected = 0;
  const take = async (r: { output: Buffer; records: number; rejects: string[]; error: SerializedDataError | null }, bytesRead: number): Promise<void> => {
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
  };
  const takeReply = async (m: WorkerReply, bytesRead: number): Promise<void> => {
    if (!m.ok) throw Object.assign(new Error(`fuse worker failed: ${m.message}`), { stack: m.stack });
    await take({ output: Buffer.from(m.buf as ArrayBuffer, m.off, m.len), records: m.records ?? 0, rejects: m.rejects ?? [], error: m.error ?? null }, bytesRead);
  };
  let fh: Awaited<ReturnType<typeof open>> | null = null;
  try {
    if (rejectsPath) rejects = await openAtomicWriter(rejectsPath);
    fh = await open(o.input, "r");
    const inFlight: { reply: Promise<WorkerReply>; bytesRead: number }[] = [];
    let carry = Buffer.alloc(0);
    let pos = 0;
    let nextLine = 1;
    let sources: number | undefined;
    let poolReady = false;
    for (;;) {
      const buf = Buffer.allocUnsafeSlow(carry.length + chunkBytes);
      carry.copy(buf, 0);
      const { bytesRead } = await fh.read(buf, carry.length, chunkBytes, pos);
      pos += bytesRead;
      const len = carry.length + bytesRead;
      const eof = bytesRead === 0;
      let cut: number;
      if (eof) {
        cut = len;
      } else {
        const nl = buf.lastIndexOf(10, len - 1);
        if (nl === -1) {
          if (len > maxCarry) throw new Fallback("line too long for the parallel path");
          carry = Buffer.from(buf.subarray(0, len));
          continue;
        }
        cut = nl + 1;
      }
      carry = Buffer.from(buf.subarray(cut, len));
      if (cut === 0) break; // eof with nothing left
      const firstLine = nextLine;
      if (!eof) nextLine += countNewlines(buf, cut);
      if (sources === undefined) {
        // Until a valid record fixes N, fuse here (normally just the first chunk; the workers start meanwhile).
        const r: ChunkResult = fuseChunk({ bytes: buf.subarray(0, cut), firstLine, final: eof, sources }, ctx);
        await take(r, pos);
        sources = r.sources;
      } else {
        if (!poolReady) {
          await pool.ready;
          poolReady = true;
        }
        if (inFlight.length >= maxInFlight) {
          const f = inFlight.shift() as { reply: Promise<WorkerReply>; bytesRead: number };
          await takeReply(await f.reply, f.bytesRead);
        }
        inFlight.push({ reply: pool.submit(buf, cut, firstLine, eof, sources), bytesRead: pos });
      }
      if (eof) break;
    }
    while (inFlight.length > 0) {
      const f = inFlight.shift() as { reply: Promise<WorkerReply>; bytesRead: number };
      await takeReply(await f.reply, f.bytesRead);
    }
    await fh.close();
    fh = null;
    await out.commit();
    await rejects?.commit();
  } catch (err) {
    await out.abort();
    await rejects?.abort();
    if (err instanceof Fallback) return null;
    throw err;
  } finally {
    await fh?.close();
    await pool.close();
  }
  return { records, rejected, rejectsPath, seconds: (performance.now() - t0) / 1000, threads };
}

interface FuseFlags extends FusionFlags {
  input: string;
  output: string;
  skipInvalid?: boolean;
  threads?: string;
  export?: "trl";
}

/**
 * `fuse --export trl`: TRL's rows (lib/data/trl-export.ts) written to OUT atomically in the same single pass as
 * fusing (no intermediate file: a record that has no TRL row is an invalid line named FILE:LINE like any other);
 * returns the loss_type to train with.
 */
export async function fuseForTrl(o: FuseFileOptions): Promise<FuseFileResult & { lossType: string }> {
  const { trlLossType } = await import("../data/trl-export");
  const r = await fuseFile({ ...o, format: "trl" });
  return { ...r, lossType: trlLossType(o.settings.lengthNorm) };
}

export function register(program: Command): void {
  const cmd = program
    .command("fuse")
    .description("add fused_chosen_logps, fused_rejected_logps, fused_source_*, logit, loss and disparity_weight to every record")
    .requiredOption("-i, --input <file>", "records in the published InfiFPO JSONL format")
    .requiredOption("-o, --output <file>", "where to write the fused records (written atomically)");
  addFusionFlags(cmd)
    .option("--skip-invalid", "skip invalid lines and write them with their reasons to OUT.rejects.jsonl")
    .option("--threads <n>", `threads that parse and fuse (default: min(2, cores) = ${defaultFuseThreads()}; 1 = single-threaded)`)
    .addOption(
      new Option("--export <format>", "write the fused reference for another trainer instead: trl = prompt/chosen/rejected + ref_*_logps for TRL's DPOTrainer (see README)").choices(["trl"]),
    )
    .addHelpText(
      "after",
      "\nExample:\n  infifpo fuse -i data/sample/pairs.jsonl -o runs/fused.jsonl --fusion max-margin\n" +
        "  infifpo fuse -i scored.jsonl -o trl.jsonl --export trl     # then DPOTrainer, loss_type sigmoid_norm (examples/trl)\n" +
        "\nThe policy is the pivot at init unless a record carries policy_* columns.",
    )
    .action(async (flags: FuseFlags) => {
      const settings = settingsFromFlags(flags);
      let threads: number | undefined;
      if (flags.threads !== undefined) {
        threads = Number(flags.threads);
        if (!Number.isInteger(threads) || threads < 1) throw new UserError(`--threads must be a whole number ≥ 1, got ${JSON.stringify(flags.threads)}`);
      }
      const size = await inputFile("--input", flags.input);
      const bar = byteProgress("fuse", size);
      let result: FuseFileResult & { lossType?: string };
      try {
        const o = { input: flags.input, output: flags.output, settings, skipInvalid: flags.skipInvalid, threads, onProgress: bar.update };
        result = flags.export === "trl" ? await fuseForTrl(o) : await fuseFile(o);
      } finally {
        bar.stop();
      }
      if (result.lossType) {
        process.stderr.write(
          `TRL rows (prompt, chosen, rejected, ref_chosen_logps, ref_rejected_logps; the fused reference on TRL's sum scale) → ${flags.output}\n` +
            `train with DPOConfig(loss_type=["${result.lossType}"], beta=${settings.beta}, precompute_ref_log_probs=True) and the trainer in examples/trl/train_dpo.py\n`,
        );
      }
      const rate = Math.round(result.records / Math.max(result.seconds, 1e-9));
      process.stderr.write(
        `fused ${result.records} records (${settingsLabel(settings)}) → ${flags.output} in ${result.seconds.toFixed(2)} s (${rate} records/s)\n` +
          (result.rejectsPath ? `rejected ${result.rejected} invalid lines → ${result.rejectsPath}\n` : ""),
      );
    });
}

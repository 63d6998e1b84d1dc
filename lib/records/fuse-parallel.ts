/**
 * The parallel path of `fuseFile` (files.ts): the main thread reads a plain file, cuts it into chunks of whole
 * lines and posts them to a pool of worker threads (fuse-worker.ts) that parse, validate and fuse them
 * (fuse-chunk.ts); their outputs are taken strictly in chunk order, so the bytes are those of the single-thread path.
 */
import { open } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { countLines, LineChunker } from "../data/lines";
import { fuseChunk, type ChunkContext, type ChunkResult, type FuseFormat, type SerializedDataError, type TakeChunk } from "./fuse-chunk";
import type { FuseSettings } from "./settings";

/** Raised inside the parallel path when it can't go on (workers failed to start, a huge line): rerun single-threaded. */
export class Fallback extends Error {}

export interface ParallelFuse {
  /** A plain file (read by offset). */
  input: string;
  ctx: ChunkContext;
  threads: number;
  /** Chunk size (default 512 KiB; tests use small ones). */
  chunkBytes?: number;
  take: TakeChunk;
}

// 512 KiB: measured ~10% faster than 1 MiB on the 1M-record bench (finer pipelining), same peak RSS.
const PARALLEL_CHUNK_BYTES = 512 * 1024;

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

/**
 * Fuses `input` on `threads` workers: chunks of whole lines posted round-robin, outputs taken strictly in chunk order
 * (at most 3 chunks per worker in flight). Chunks are fused on the main thread until the first valid record fixes
 * the number of sources. Throws Fallback when it has to give up (the caller then discards what was taken and reruns
 * single-threaded).
 */
export async function fuseParallel(p: ParallelFuse): Promise<void> {
  const { ctx } = p;
  const chunkBytes = Math.max(1, Math.floor(p.chunkBytes ?? PARALLEL_CHUNK_BYTES));
  const maxCarry = Math.min(16 * 1024 * 1024, ctx.maxLineBytes ?? Infinity);
  const maxInFlight = 3 * p.threads; // measured: 2 per worker idles them now and then, more gains nothing
  let pool: FusePool;
  try {
    pool = new FusePool(p.threads, await fuseWorkerSource(), { name: ctx.name, settings: ctx.settings, skipInvalid: ctx.skipInvalid, format: ctx.format, maxLineBytes: ctx.maxLineBytes });
  } catch (err) {
    throw new Fallback(String(err));
  }
  const takeReply = async (m: WorkerReply, bytesRead: number): Promise<void> => {
    if (!m.ok) throw Object.assign(new Error(`fuse worker failed: ${m.message}`), { stack: m.stack });
    await p.take({ output: Buffer.from(m.buf as ArrayBuffer, m.off, m.len), records: m.records ?? 0, rejects: m.rejects ?? [], error: m.error ?? null }, bytesRead);
  };
  // Runs of whole lines, each a buffer of its own (transferred to a worker). A line that straddles two reads and is
  // longer than maxCarry: leave the file to the single-thread reader and its limit.
  const runs: { buf: Buffer; last: boolean }[] = [];
  const chunker = new LineChunker(maxCarry, {
    lines: (buf, _start, _end, _offset, last) => runs.push({ buf, last }),
    tooLong: () => {
      throw new Fallback("line too long for the parallel path");
    },
  }, true);
  let fh: Awaited<ReturnType<typeof open>> | null = null;
  try {
    fh = await open(p.input, "r");
    const read = Buffer.allocUnsafeSlow(chunkBytes);
    const inFlight: { reply: Promise<WorkerReply>; bytesRead: number }[] = [];
    let pos = 0;
    let nextLine = 1;
    let sources: number | undefined;
    let poolReady = false;
    for (let eof = false; !eof; ) {
      const { bytesRead } = await fh.read(read, 0, chunkBytes, pos);
      pos += bytesRead;
      eof = bytesRead === 0;
      if (eof) chunker.end();
      else chunker.push(read.subarray(0, bytesRead));
      for (const run of runs.splice(0)) {
        const firstLine = nextLine;
        nextLine += countLines(run.buf);
        if (sources === undefined) {
          // Until a valid record fixes N, fuse here (normally just the first chunk; the workers start meanwhile).
          const r: ChunkResult = fuseChunk({ bytes: run.buf, firstLine, final: run.last, sources }, ctx);
          await p.take(r, pos);
          sources = r.sources;
          continue;
        }
        if (!poolReady) {
          await pool.ready;
          poolReady = true;
        }
        if (inFlight.length >= maxInFlight) {
          const f = inFlight.shift() as { reply: Promise<WorkerReply>; bytesRead: number };
          await takeReply(await f.reply, f.bytesRead);
        }
        inFlight.push({ reply: pool.submit(run.buf, run.buf.length, firstLine, run.last, sources), bytesRead: pos });
      }
    }
    while (inFlight.length > 0) {
      const f = inFlight.shift() as { reply: Promise<WorkerReply>; bytesRead: number };
      await takeReply(await f.reply, f.bytesRead);
    }
  } finally {
    await fh?.close();
    await pool.close();
  }
}

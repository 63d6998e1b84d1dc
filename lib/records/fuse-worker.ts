/** Worker thread of the parallel fuse path (fuse-parallel.ts): fuses the chunks the main thread posts, replying in order. */
import { parentPort, workerData } from "node:worker_threads";
import { recordSerializer } from "../data/write";
import { fuseChunk, type ChunkContext, type FuseFormat } from "./fuse-chunk";
import type { FuseSettings } from "./settings";

interface Init {
  name: string;
  settings: FuseSettings;
  skipInvalid: boolean;
  format?: FuseFormat;
  maxLineBytes?: number;
}

interface Job {
  id: number;
  buf: ArrayBuffer;
  len: number;
  firstLine: number;
  final: boolean;
  sources: number | undefined;
}

const init = workerData as Init;
const ctx: ChunkContext = { name: init.name, settings: init.settings, skipInvalid: init.skipInvalid, serialize: recordSerializer(), format: init.format, maxLineBytes: init.maxLineBytes };
const port = parentPort;
if (port) {
  port.on("message", (job: Job) => {
    try {
      const r = fuseChunk({ bytes: Buffer.from(job.buf, 0, job.len), firstLine: job.firstLine, final: job.final, sources: job.sources }, ctx);
      const out = r.output;
      port.postMessage(
        { id: job.id, ok: true, buf: out.buffer, off: out.byteOffset, len: out.length, records: r.records, rejects: r.rejects, error: r.error },
        [out.buffer as ArrayBuffer],
      );
    } catch (err) {
      const e = err as Error;
      port.postMessage({ id: job.id, ok: false, message: e?.message ?? String(err), stack: e?.stack });
    }
  });
  port.postMessage({ ready: true });
}

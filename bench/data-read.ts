/**
 * Throughput of the JSONL reader + validator against a bare pass (1 MiB reads, split on '\n',
 * JSON.parse, nothing else) on a generated file. Prints one JSON object.
 *
 *   node --import tsx bench/data-read.ts [--records 200000] [--sources 5] [--repeat 3] [--file PATH]
 *
 * Each variant runs `repeat` times in turn; the best run counts (least disturbed by other processes).
 */
import { createReadStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readRecordBatches, readRecords } from "../lib/data/jsonl";
import { generateSampleRecords } from "../lib/data/sample";
import { writeRecords } from "../lib/data/write";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const fileArg = process.argv.includes("--file") ? process.argv[process.argv.indexOf("--file") + 1] : undefined;
const records = arg("records", 200_000), sources = arg("sources", 5), repeat = arg("repeat", 3);

/** Baseline 1: the textbook loop — utf8 string chunks, `split("\n")`, JSON.parse each line. */
async function bareSplit(path: string): Promise<number> {
  let n = 0, rest = "";
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, encoding: "utf8" })) {
    const parts = (rest + (chunk as string)).split("\n");
    rest = parts.pop()!;
    for (const l of parts) if (l.length > 0) {
      JSON.parse(l);
      n++;
    }
  }
  if (rest.length > 0) {
    JSON.parse(rest);
    n++;
  }
  return n;
}

/** Baseline 2: the same with indexOf/slice instead of split (no array of lines). */
async function bare(path: string): Promise<number> {
  let n = 0, rest = "";
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, encoding: "utf8" })) {
    const s = rest + (chunk as string);
    let start = 0, nl: number;
    while ((nl = s.indexOf("\n", start)) !== -1) {
      if (nl > start) {
        JSON.parse(s.slice(start, nl));
        n++;
      }
      start = nl + 1;
    }
    rest = s.slice(start);
  }
  if (rest.length > 0) {
    JSON.parse(rest);
    n++;
  }
  return n;
}

/**
 * Baseline 3: Buffer chunks, indexOf(10), decode each line on its own, JSON.parse — the reader's own
 * strategy minus validation, error handling and line bookkeeping. (Decoding per line keeps ASCII-only
 * lines as one-byte strings, which V8's JSON.parse reads faster than slices of a chunk that contains
 * any non-Latin-1 character, e.g. the sample's "×".)
 */
async function bareBytes(path: string): Promise<number> {
  let n = 0;
  let rest: Buffer | null = null;
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const chunk: Buffer = rest ? Buffer.concat([rest, c as Buffer]) : (c as Buffer);
    let start = 0, nl: number;
    while ((nl = chunk.indexOf(10, start)) !== -1) {
      if (nl > start) {
        JSON.parse(chunk.toString("utf8", start, nl));
        n++;
      }
      start = nl + 1;
    }
    rest = start < chunk.length ? chunk.subarray(start) : null;
  }
  if (rest) {
    JSON.parse(rest.toString("utf8"));
    n++;
  }
  return n;
}

async function batches(path: string): Promise<number> {
  let n = 0;
  for await (const b of readRecordBatches(path)) n += b.length;
  return n;
}

async function perRecord(path: string): Promise<number> {
  let n = 0;
  for await (const _ of readRecords(path)) n++;
  return n;
}

async function main(): Promise<void> {
  let dir: string | undefined;
  let path = fileArg;
  let genSeconds: number | null = null;
  if (path === undefined) {
    dir = await mkdtemp(join(tmpdir(), "infifpo-bench-"));
    path = join(dir, "bench.jsonl");
    const t0 = performance.now();
    await writeRecords(path, generateSampleRecords({ n: records, sources, seed: 1 }), { fsync: false });
    genSeconds = (performance.now() - t0) / 1000;
  }
  const bytes = (await stat(path)).size;
  const variants: Record<string, (p: string) => Promise<number>> = {
    bare_split: bareSplit, bare_indexof: bare, bare_bytes: bareBytes, reader_batches: batches, reader_per_record: perRecord,
  };
  // Best of `repeat` by wall time and, separately, by this process's CPU time (user + system), which
  // other processes on a shared machine disturb less.
  const wall: Record<string, number> = {}, cpu: Record<string, number> = {};
  let count = 0;
  for (let k = 0; k < repeat; k++) {
    for (const [name, fn] of Object.entries(variants)) {
      const c0 = process.cpuUsage(), t0 = performance.now();
      count = await fn(path);
      const s = (performance.now() - t0) / 1000, c = process.cpuUsage(c0);
      wall[name] = Math.min(wall[name] ?? Infinity, s);
      cpu[name] = Math.min(cpu[name] ?? Infinity, (c.user + c.system) / 1e6);
    }
  }
  const rate = (name: string) => ({
    records_per_s: Math.round(count / wall[name]), mb_per_s: +(bytes / 1e6 / wall[name]).toFixed(1),
    wall_s: +wall[name].toFixed(3), cpu_s: +cpu[name].toFixed(3),
  });
  const bareWall = Math.min(wall.bare_split, wall.bare_indexof, wall.bare_bytes);
  const bareCpu = Math.min(cpu.bare_split, cpu.bare_indexof, cpu.bare_bytes);
  const out = {
    records: count,
    sources,
    file_mb: +(bytes / 1e6).toFixed(1),
    generate_and_write_s: genSeconds === null ? null : +genSeconds.toFixed(2),
    ...Object.fromEntries(Object.keys(variants).map((k) => [k, rate(k)])),
    // Throughput relative to the fastest bare pass (≥ 0.5 is the target).
    ratio_batches_vs_bare: { wall: +(bareWall / wall.reader_batches).toFixed(3), cpu: +(bareCpu / cpu.reader_batches).toFixed(3) },
    ratio_per_record_vs_bare: { wall: +(bareWall / wall.reader_per_record).toFixed(3), cpu: +(bareCpu / cpu.reader_per_record).toFixed(3) },
    node: process.version,
  };
  console.log(JSON.stringify(out, null, 2));
  if (dir) await rm(dir, { recursive: true, force: true });
}

await main();

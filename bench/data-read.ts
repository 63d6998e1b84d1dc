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

/** The baseline: what any reader must at least do. */
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
  const variants: Record<string, (p: string) => Promise<number>> = { bare, reader_batches: batches, reader_per_record: perRecord };
  const best: Record<string, number> = {};
  let count = 0;
  for (let k = 0; k < repeat; k++) {
    for (const [name, fn] of Object.entries(variants)) {
      const t0 = performance.now();
      count = await fn(path);
      const s = (performance.now() - t0) / 1000;
      best[name] = Math.min(best[name] ?? Infinity, s);
    }
  }
  const rate = (s: number) => ({ records_per_s: Math.round(count / s), mb_per_s: +(bytes / 1e6 / s).toFixed(1), seconds: +s.toFixed(3) });
  const out = {
    records: count,
    sources,
    file_mb: +(bytes / 1e6).toFixed(1),
    generate_and_write_s: genSeconds === null ? null : +genSeconds.toFixed(2),
    bare: rate(best.bare),
    reader_batches: rate(best.reader_batches),
    reader_per_record: rate(best.reader_per_record),
    ratio_batches_vs_bare: +(best.bare / best.reader_batches).toFixed(3),
    ratio_per_record_vs_bare: +(best.bare / best.reader_per_record).toFixed(3),
    node: process.version,
  };
  console.log(JSON.stringify(out, null, 2));
  if (dir) await rm(dir, { recursive: true, force: true });
}

await main();

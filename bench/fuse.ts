/**
 * `npm run bench:fuse`: fuse throughput vs a bare read-split-JSON.parse pass on a 1,000,000-record file with
 * 5 sources (generated once with the seeded sample generator and cached under .cache/bench/).
 * Each pass runs in its own process so peak RSS is its own. Prints one JSON line per pass and a summary line.
 *
 *   npm run bench:fuse [-- --records 1000000 --sources 5]
 */
import { spawnSync } from "node:child_process";
import { createReadStream, existsSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { Command } from "commander";
import { generateSampleRecords, writeRecords } from "../lib/data";
import { fuseFile } from "../lib/cli/fuse";
import { resolveFuseSettings } from "../lib/records/settings";

const program = new Command("bench:fuse")
  .description("fuse throughput and peak RSS against a bare split + JSON.parse pass")
  .option("--records <n>", "records in the generated file", "1000000")
  .option("--sources <n>", "sources per record", "5")
  .option("--child <pass>", "(internal) run one pass in this process: bare | fuse")
  .option("--file <path>", "(internal) input file for --child")
  .parse();
const opts = program.opts<{ records: string; sources: string; child?: string; file?: string }>();

/** The bare pass: read in 1 MiB chunks, split on '\n', JSON.parse every line — the floor any reader pays. */
async function barePass(file: string): Promise<number> {
  let records = 0;
  let tail = "";
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20, encoding: "utf8" })) {
    const text = tail + chunk;
    let start = 0;
    for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n", start)) {
      if (nl > start) {
        JSON.parse(text.slice(start, nl));
        records++;
      }
      start = nl + 1;
    }
    tail = text.slice(start);
  }
  if (tail.trim()) {
    JSON.parse(tail);
    records++;
  }
  return records;
}

async function child(pass: string, file: string): Promise<void> {
  const bytes = statSync(file).size;
  const t0 = performance.now();
  let records: number;
  if (pass === "bare") {
    records = await barePass(file);
  } else {
    const output = `${file}.fused.jsonl`;
    const r = await fuseFile({ input: file, output, settings: resolveFuseSettings() });
    records = r.records;
    await rm(output, { force: true });
  }
  const seconds = (performance.now() - t0) / 1000;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(
    JSON.stringify({ pass, records, seconds: +seconds.toFixed(3), records_per_s: Math.round(records / seconds), mb_per_s: +(bytes / 1e6 / seconds).toFixed(1), peak_rss_mb: Math.round(peakRssMb) }) + "\n",
  );
}

async function parent(): Promise<void> {
  const n = Number(opts.records);
  const sources = Number(opts.sources);
  const file = `.cache/bench/fuse-${n}-${sources}src.jsonl`;
  if (!existsSync(file)) {
    process.stderr.write(`generating ${file} (${n} records, ${sources} sources, seed 0) …\n`);
    const t0 = performance.now();
    await writeRecords(file, generateSampleRecords({ n, sources, seed: 0 }));
    process.stderr.write(`generated in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  const mb = statSync(file).size / 1e6;
  process.stderr.write(`input: ${file}, ${mb.toFixed(0)} MB\n`);
  const results: Record<string, { records_per_s: number; mb_per_s: number; peak_rss_mb: number }> = {};
  for (const pass of ["bare", "fuse"]) {
    const r = spawnSync(process.execPath, ["--import", "tsx", "bench/fuse.ts", "--child", pass, "--file", file], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    if (r.status !== 0) throw new Error(`${pass} pass failed with exit ${r.status}`);
    process.stdout.write(r.stdout);
    results[pass] = JSON.parse(r.stdout.trim());
  }
  const ratio = results.fuse.records_per_s / results.bare.records_per_s;
  process.stdout.write(
    JSON.stringify({ summary: "fuse vs bare", records: n, sources, file_mb: Math.round(mb), fuse_over_bare: +ratio.toFixed(3), target: ">= 0.5 and peak RSS < 300 MB", fuse_peak_rss_mb: results.fuse.peak_rss_mb, met: ratio >= 0.5 && results.fuse.peak_rss_mb < 300 }) + "\n",
  );
}

await (opts.child ? child(opts.child, opts.file as string) : parent());

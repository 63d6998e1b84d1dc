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
import { loadavg } from "node:os";
import { Command } from "commander";
import { generateSampleRecords, writeRecords } from "../lib/data";
import { fuseFile } from "../lib/records/files";
import { resolveFuseSettings } from "../lib/records/settings";

const program = new Command("bench:fuse")
  .description("fuse throughput and peak RSS against a bare split + JSON.parse pass")
  .option("--records <n>", "records in the generated file", "1000000")
  .option("--sources <n>", "sources per record", "5")
  .option("--child <pass>", "(internal) run one pass in this process: bare | fuse")
  .option("--file <path>", "(internal) input file for --child")
  .parse();
const opts = program.opts<{ records: string; sources: string; child?: string; file?: string }>();

/**
 * The bare pass: read 1 MiB byte chunks, split on '\n', decode each line on its own and JSON.parse it — the floor
 * any reader pays. (Decoding per line keeps ASCII lines one-byte strings, which JSON.parse reads fastest; it is
 * the fastest bare pass we found, so the comparison is not flattered.)
 */
async function barePass(file: string): Promise<number> {
  let records = 0;
  let carry: Buffer | null = null;
  for await (const raw of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const chunk: Buffer = carry ? Buffer.concat([carry, raw as Buffer]) : (raw as Buffer);
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      if (nl > start) {
        JSON.parse(chunk.toString("utf8", start, nl));
        records++;
      }
      start = nl + 1;
    }
    carry = start < chunk.length ? Buffer.from(chunk.subarray(start)) : null;
  }
  if (carry && carry.toString().trim()) {
    JSON.parse(carry.toString());
    records++;
  }
  return records;
}

async function child(pass: string, file: string): Promise<void> {
  const bytes = statSync(file).size;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let records: number;
  let threads = 1;
  if (pass === "bare") {
    records = await barePass(file);
  } else {
    const output = `${file}.fused.jsonl`;
    const r = await fuseFile({ input: file, output, settings: resolveFuseSettings() });
    records = r.records;
    threads = r.threads;
    await rm(output, { force: true });
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(
    JSON.stringify({ pass, threads, records, seconds: +seconds.toFixed(3), records_per_s: Math.round(records / seconds), mb_per_s: +(bytes / 1e6 / seconds).toFixed(1), cpu_seconds: +cpuSeconds.toFixed(3), records_per_cpu_s: Math.round(records / cpuSeconds), peak_rss_mb: Math.round(peakRssMb) }) + "\n",
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
  const results: Record<string, { records_per_s: number; records_per_cpu_s: number; mb_per_s: number; peak_rss_mb: number }> = {};
  for (const pass of ["bare", "fuse"]) {
    const r = spawnSync(process.execPath, ["--import", "tsx", "bench/fuse.ts", "--child", pass, "--file", file], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    if (r.status !== 0) throw new Error(`${pass} pass failed with exit ${r.status}`);
    process.stdout.write(r.stdout);
    results[pass] = JSON.parse(r.stdout.trim());
  }
  // Wall-clock rates swing with other load on the machine; CPU-time rates (all threads of the process) less so.
  const ratio = results.fuse.records_per_s / results.bare.records_per_s;
  const cpuRatio = results.fuse.records_per_cpu_s / results.bare.records_per_cpu_s;
  process.stdout.write(
    JSON.stringify({ summary: "fuse vs bare", records: n, sources, file_mb: Math.round(mb), fuse_over_bare: +ratio.toFixed(3), fuse_over_bare_cpu: +cpuRatio.toFixed(3), load_avg_1m: +(loadavg()[0]).toFixed(2), target: ">= 0.5 and peak RSS < 300 MB", fuse_peak_rss_mb: results.fuse.peak_rss_mb, met: ratio >= 0.5 && results.fuse.peak_rss_mb < 300 }) + "\n",
  );
}

await (opts.child ? child(opts.child, opts.file as string) : parent());

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fuseFile, rejectsPathFor, type FuseFileOptions } from "../lib/records/files";
import { generateSampleRecords, serializeRecord } from "../lib/data";
import { resolveFuseSettings } from "../lib/records/settings";

const dir = mkdtempSync(join(tmpdir(), "infifpo-fuse-par-"));
const settings = resolveFuseSettings();

/** JSONL lines of valid records (3 sources), some with policy columns and chat-format ones mixed in. */
function lines(n: number, seed: number): string[] {
  const a = [...generateSampleRecords({ n, sources: 3, seed, policy: true })].map((r) => JSON.stringify(r));
  const b = [...generateSampleRecords({ n, sources: 3, seed: seed + 1, format: "chat" })].map((r) => serializeRecord(r));
  return a.map((l, i) => (i % 3 === 2 ? b[i] : l));
}

let fileNo = 0;
function file(text: string): string {
  const p = join(dir, `in-${fileNo++}.jsonl`);
  writeFileSync(p, text);
  return p;
}

type Outcome = { out: string | null; rejects: string | null; error: string | null; records: number; rejected: number; threads: number };

/** Fuses `input` with the given thread count (the parallel path forced on with tiny chunks) and reads what it left. */
async function run(input: string, threads: number, extra: Partial<FuseFileOptions> = {}): Promise<Outcome> {
  const output = join(dir, `out-${fileNo++}-t${threads}.jsonl`);
  try {
    const r = await fuseFile({ input, output, settings, threads, chunkBytes: 3000, parallelMinBytes: 0, ...extra });
    const rp = r.rejectsPath;
    return {
      out: readFileSync(output, "utf8"), rejects: rp ? readFileSync(rp, "utf8") : null, error: null,
      records: r.records, rejected: r.rejected, threads: r.threads,
    };
  } catch (err) {
    expect(existsSync(output)).toBe(false);
    expect(existsSync(rejectsPathFor(output))).toBe(false);
    return { out: null, rejects: null, error: (err as Error).message, records: 0, rejected: 0, threads };
  }
}

/** The parallel path gives exactly what the single-thread path gives. */
async function same(input: string, extra: Partial<FuseFileOptions> = {}): Promise<Outcome> {
  const one = await run(input, 1, extra);
  const two = await run(input, 2, extra);
  expect(two.error).toBe(one.error);
  expect(two.out).toBe(one.out);
  expect(two.rejects).toBe(one.rejects);
  expect(two.records).toBe(one.records);
  expect(two.rejected).toBe(one.rejected);
  if (one.error === null) {
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2); // really took the parallel path
  }
  return two;
}

describe("fuse --threads 2 (worker threads) matches the single-thread path", () => {
  it("byte for byte on a multi-chunk file", async () => {
    const ls = lines(400, 7);
    const input = file(ls.join("\n") + "\n");
    const r = await same(input);
    expect(r.records).toBe(400);
    expect(readFileSync(input).length).toBeGreaterThan(20 * 3000);
  });

  it("with a BOM, CRLF line ends, a re-fused record and a last line without '\\n'", async () => {
    const ls = lines(200, 8);
    const refused = (await run(file(ls.slice(0, 3).join("\n") + "\n"), 1)).out!.split("\n")[1];
    ls[150] = refused;
    const r = await same(file("\ufeff" + ls.join("\r\n")));
    expect(r.records).toBe(200);
  });

  it("chunks bigger than the file, and lines longer than a chunk", async () => {
    const ls = lines(60, 9);
    const long = JSON.parse(ls[30]);
    long.prompt = "x".repeat(10_000);
    ls[30] = JSON.stringify(long);
    await same(file(ls.join("\n") + "\n"));
    await same(file(ls.join("\n") + "\n"), { chunkBytes: 1 << 20 });
  });

  it("a line held across reads beyond the line limit: the single-thread path takes over, same result", async () => {
    const ls = lines(60, 15);
    const long = JSON.parse(ls[30]);
    long.prompt = "x".repeat(10_000);
    ls[30] = JSON.stringify(long);
    const input = file(ls.join("\n") + "\n");
    const opts = { maxLineBytes: 8192, skipInvalid: true };
    const one = await run(input, 1, opts);
    const two = await run(input, 2, opts);
    expect(two.threads).toBe(1); // fell back
    expect(two.out).toBe(one.out);
    expect(two.rejects).toBe(one.rejects);
    expect([two.records, two.rejected]).toEqual([59, 1]);
  });

  it("throw mode: the first invalid line in file order, same message, nothing written", async () => {
    const ls = lines(300, 10);
    ls[200] = ls[200].slice(0, 40); // truncated JSON
    ls[250] = "";
    const bad = JSON.parse(ls[120]);
    bad.ref_chosen_logps = "abc";
    ls[120] = JSON.stringify(bad);
    const r = await same(file(ls.join("\n") + "\n"));
    expect(r.error).toMatch(/:121: field "ref_chosen_logps"/);
  });

  it("throw mode: a later chunk switching the number of sources", async () => {
    const ls = lines(300, 11);
    ls[280] = [...generateSampleRecords({ n: 1, sources: 4, seed: 3 })].map((x) => JSON.stringify(x))[0];
    const r = await same(file(ls.join("\n") + "\n"));
    expect(r.error).toMatch(/:281:/);
  });

  it("throw mode: a truncated last line", async () => {
    const ls = lines(150, 12);
    const text = ls.slice(0, 149).join("\n") + "\n" + ls[149].slice(0, 20); // ends inside a string
    const r = await same(file(text));
    expect(r.error).toMatch(/:150: invalid JSON .*truncated last line/);
  });

  it("--skip-invalid: rejects in file order, from every chunk, with the first lines invalid too", async () => {
    const ls = lines(400, 13);
    ls[0] = "{not json";
    ls[1] = "";
    ls[2] = JSON.stringify({ ...JSON.parse(ls[2]), ref_mean_chosen_logps: null }); // invalid: N is only fixed by line 5
    ls[3] = "[1,2]";
    for (const i of [50, 51, 199, 350, 399]) ls[i] = i % 2 ? "   " : ls[i].slice(0, 30);
    ls[300] = [...generateSampleRecords({ n: 1, sources: 5, seed: 5 })].map((x) => JSON.stringify(x))[0];
    const r = await same(file(ls.join("\n") + "\n"), { skipInvalid: true });
    expect(r.rejected).toBe(10);
    expect(r.records).toBe(390);
    const rej = r.rejects!.trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(rej.map((x) => x.line)).toEqual([1, 2, 3, 4, 51, 52, 200, 301, 351, 400]);
  });

  it("--skip-invalid: a file with no valid record at all", async () => {
    const r = await same(file("{}\n[]\n{\n".repeat(2000)), { skipInvalid: true });
    expect(r.records).toBe(0);
    expect(r.rejected).toBe(6000);
  });

  it("the CLI (bin/infifpo.mjs, tsx registered with register()) takes --threads and writes the same bytes", () => {
    // Over the 4 MiB threshold so the default path is the parallel one.
    const ls = lines(600, 14);
    let text = "";
    while (text.length < 5 * 1024 * 1024) text += ls.join("\n") + "\n";
    const input = file(text);
    const outs = ["2", "1"].map((t) => {
      const output = join(dir, `cli-${t}.jsonl`);
      const r = spawnSync(process.execPath, ["bin/infifpo.mjs", "fuse", "-i", input, "-o", output, "--threads", t], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      return readFileSync(output, "utf8");
    });
    expect(outs[0]).toBe(outs[1]);
    const bad = spawnSync(process.execPath, ["bin/infifpo.mjs", "fuse", "-i", input, "-o", join(dir, "x.jsonl"), "--threads", "0"], { encoding: "utf8" });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--threads must be/);
  }, 60_000);
});

import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import v8 from "node:v8";
import vm from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataError } from "../lib/data/errors";
import { UserError } from "../lib/errors";
import {
  loadRecords, parseJsonl, readJsonl, readJsonlBatches, readPairs, readRecordBatches, readRecords,
  type BadRow, type Row,
} from "../lib/data/jsonl";
import { LineSplitter } from "../lib/data/lines";
import { generateSampleRecords } from "../lib/data/sample";
import { serializeRecord, writeRecords } from "../lib/data/write";

const any = (o: unknown) => o;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "infifpo-data-jsonl-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, content: string | Buffer): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, content);
  return p;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const lines = (rows: (Row<unknown> | BadRow)[]) => rows.map((r) => (r.error ? `${r.line}!` : `${r.line}:${JSON.stringify(r.record)}`));

describe("line splitting", () => {
  it("handles CRLF, a BOM and a last line without newline, at every chunk size", async () => {
    const text = '\uFEFF{"a":1}\r\n{"b":"é→𝄞"}\r\n{"c":3}';
    for (const chunkBytes of [1, 2, 3, 5, 7, 64, 1 << 20]) {
      const p = await file(`crlf-${chunkBytes}.jsonl`, text);
      const rows = await collect(readJsonl(p, any, { chunkBytes }));
      expect(lines(rows)).toEqual(['1:{"a":1}', '2:{"b":"é→𝄞"}', '3:{"c":3}']);
    }
  });

  it("a trailing newline and its absence read the same", () => {
    const a = parseJsonl('{"a":1}\n{"a":2}\n', any);
    const b = parseJsonl('{"a":1}\n{"a":2}', any);
    expect(lines(a)).toEqual(lines(b));
    expect(parseJsonl("", any)).toEqual([]);
  });

  it("blank lines are errors by default, with their line number, and can be skipped", () => {
    const text = '{"a":1}\n\n{"a":2}\r\n   \n{"a":3}\n\n';
    expect(() => parseJsonl(text, any, { name: "f.jsonl" })).toThrow(/^f\.jsonl:2: blank line/);
    const rows = parseJsonl(text, any, { onInvalid: "yield" });
    expect(lines(rows)).toEqual(['1:{"a":1}', "2!", '3:{"a":2}', "4!", '5:{"a":3}', "6!"]);
    const skipped = parseJsonl(text, any, { blankLines: "skip" });
    expect(lines(skipped)).toEqual(['1:{"a":1}', '3:{"a":2}', '5:{"a":3}']);
  });

  it("line numbers count from 1 and include every line", () => {
    const rows = parseJsonl('{"a":1}\nnope\n{"a":3}', any, { onInvalid: "yield" });
    expect(rows.map((r) => r.line)).toEqual([1, 2, 3]);
    expect(rows[1].error).toBeInstanceOf(DataError);
  });

  it("a line over maxLineBytes is an error naming the line, in constant memory, and reading goes on", async () => {
    const long = JSON.stringify({ x: "y".repeat(5000) });
    const text = `{"a":1}\n${long}\n{"a":3}\n${long}`;
    for (const chunkBytes of [100, 4096, 1 << 20]) {
      const p = await file(`long-${chunkBytes}.jsonl`, text);
      const rows = await collect(readJsonl(p, any, { maxLineBytes: 1000, chunkBytes, onInvalid: "yield" }));
      expect(lines(rows)).toEqual(['1:{"a":1}', "2!", '3:{"a":3}', "4!"]);
      expect(rows[1].error!.message).toMatch(new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:2: line is longer than the 1000-byte limit`));
      expect(rows[3].error!.message).toMatch(/:4: line is longer than the 1000-byte limit \(5008 bytes\)/);
    }
  });

  it("a line of exactly maxLineBytes is accepted (CR not counted)", () => {
    const line = JSON.stringify({ x: "y".repeat(92) }); // 100 bytes
    expect(line.length).toBe(100);
    expect(parseJsonl(`${line}\r\n${line}`, any, { maxLineBytes: 100 }).length).toBe(2);
    expect(() => parseJsonl(`${line} `, any, { maxLineBytes: 100 })).toThrow(/:1: line is longer/);
  });

  it("LineSplitter holds at most one partial line", () => {
    const seen: string[] = [];
    const s = new LineSplitter(10, (t, n) => seen.push(`${n}:${t}`), (n, b) => seen.push(`${n}:long(${b})`));
    for (const piece of ["ab", "c\r", "\nde", "fghijklmnopq", "rs", "\n\r\nxyz\r"]) s.push(Buffer.from(piece));
    s.end();
    expect(seen).toEqual(["1:abc", "2:long(16)", "3:", "4:xyz"]);
  });
});

describe("readRecords", () => {
  let path: string;
  let recs: ReturnType<typeof generateSampleRecords> extends Generator<infer R> ? R[] : never;
  beforeAll(async () => {
    recs = [...generateSampleRecords({ n: 300, sources: 4, seed: 3 })];
    path = join(dir, "recs.jsonl");
    await writeRecords(path, recs);
  });

  it("round-trips generated records through a file, in per-record and batch form", async () => {
    const rows = await collect(readRecords(path));
    expect(rows.map((r) => r.line)).toEqual(recs.map((_, i) => i + 1));
    expect(rows.map((r) => r.record)).toEqual(recs);
    const batches = await collect(readRecordBatches(path, { chunkBytes: 4096 }));
    expect(batches.length).toBeGreaterThan(10);
    expect(batches.flat().map((r) => r.record)).toEqual(recs);
    expect(await loadRecords(path)).toEqual(recs);
  });

  it("reports progress up to the file size", async () => {
    const seen: number[] = [];
    await collect(readRecords(path, { onProgress: (b) => seen.push(b), chunkBytes: 8192 }));
    expect(seen.at(-1)).toBe((await stat(path)).size);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });

  it("reads from a stream (stdin-like), named in errors", async () => {
    const text = serializeRecord(recs[0]) + "\n" + '{"chosen": 1}\n';
    const stream = Readable.from([Buffer.from(text.slice(0, 40)), Buffer.from(text.slice(40))]);
    const rows = await collect(readRecords(stream, { name: "<stdin>", onInvalid: "yield" }));
    expect(rows[0].record).toEqual(recs[0]);
    expect(rows[1].error!.message).toBe('<stdin>:2: field "chosen": expected a string or a list of {role, content} messages, got 1');
  });

  it("strict mode yields the good lines before throwing at the first bad one", async () => {
    const good = serializeRecord(recs[0]);
    const p = await file("strict.jsonl", `${good}\n${good}\n${good.replace('"ref_chosen_logps":', '"ref_chosen_logps":"x","was":')}\n${good}\n`);
    const seen: number[] = [];
    await expect(async () => {
      for await (const row of readRecords(p)) seen.push(row.line);
    }).rejects.toThrow(new RegExp(`strict.jsonl:3: field "ref_chosen_logps": expected a finite number, got "x"`));
    expect(seen).toEqual([1, 2]);
  });

  it("skip-invalid mode yields bad lines with their errors and keeps going", async () => {
    const good = serializeRecord(recs[1]);
    const text = [good, "{", good.replace('"fuse_chosen_logps":[', '"fuse_chosen_logps":[1e400,'), "", good, "[]"].join("\n");
    const p = await file("mixed.jsonl", text);
    const rows = await collect(readRecords(p, { onInvalid: "yield" }));
    expect(rows.map((r) => [r.line, r.error ? r.error.field ?? "line" : "ok"])).toEqual([
      [1, "ok"], [2, "line"], [3, "fuse_chosen_logps"], [4, "line"], [5, "ok"], [6, "line"],
    ]);
    expect(rows[2].error!.reason).toBe("expected 4 sources (as in the rest of the file), got 5");
  });

  it("enforces an explicit source count", async () => {
    await expect(collect(readRecords(path, { sources: 3 }))).rejects.toThrow(/:1: field "fuse_chosen_logps": expected 3 sources/);
  });

  it("readPairs accepts unscored pairs and scored records alike", async () => {
    const p = await file("pairs.jsonl", '{"prompt":"2+2?","chosen":"4","rejected":"5","id":7}\n' + serializeRecord(recs[0]) + "\n");
    const rows = await collect(readPairs(p));
    expect(rows[0].record).toEqual({ prompt: "2+2?", chosen: "4", rejected: "5", id: 7 });
    expect(rows.length).toBe(2);
  });

  it("a generic validator's non-DataError exceptions propagate unchanged", async () => {
    const boom = () => {
      throw new TypeError("bug");
    };
    await expect(collect(readJsonlBatches(path, boom, { onInvalid: "yield" }))).rejects.toThrow(TypeError);
  });
});

describe("streaming a large file", () => {
  it("reads 50k records in roughly constant memory", async () => {
    const p = join(dir, "big.jsonl");
    await writeRecords(p, generateSampleRecords({ n: 50_000, sources: 5, seed: 9 }), { fsync: false });
    const size = (await stat(p)).size;
    expect(size).toBeGreaterThan(30e6);
    // Measure live memory after a full GC (young-generation garbage would otherwise dominate the numbers).
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const live = () => {
      gc();
      return process.memoryUsage().heapUsed;
    };
    const heap0 = live();
    let maxGrowth = 0, n = 0, sum = 0;
    for await (const { record } of readRecords(p)) {
      sum += record.ref_mean_chosen_logps;
      if (++n % 10_000 === 0) maxGrowth = Math.max(maxGrowth, live() - heap0);
    }
    expect(n).toBe(50_000);
    expect(Number.isFinite(sum)).toBe(true);
    console.log(`live heap growth ${(maxGrowth / 1e6).toFixed(1)} MB while reading a ${(size / 1e6).toFixed(1)} MB file`);
    // Holding the records would take several times the file size; streaming holds a few 1 MiB chunks.
    expect(maxGrowth).toBeLessThan(size / 4);
  });
});

describe("line limit at chunk edges", () => {
  it("counts a line the same whatever the chunking, CR excluded", async () => {
    const line = JSON.stringify({ x: "y".repeat(92) }); // 100 bytes
    const over = JSON.stringify({ x: "y".repeat(93) }); // 101 bytes
    const text = `${line}\r\n${over}\r\n${line}\r\n${over}`;
    for (const chunkBytes of [1, 7, 50, 100, 101, 102, 103, 1 << 20]) {
      const p = await file(`edge-${chunkBytes}.jsonl`, text);
      const rows = await collect(readJsonl(p, any, { maxLineBytes: 100, chunkBytes, onInvalid: "yield" }));
      expect(rows.map((r) => (r.error ? "long" : "ok"))).toEqual(["ok", "long", "ok", "long"]);
    }
  });
});

describe("sources", () => {
  it("reads gzip files (*.gz) transparently", async () => {
    const { gzipSync } = await import("node:zlib");
    const recs = [...generateSampleRecords({ n: 100, sources: 2, seed: 8 })];
    const p = await file("recs.jsonl.gz", gzipSync(recs.map((r) => serializeRecord(r) + "\n").join("")));
    expect(await loadRecords(p, { chunkBytes: 1000 })).toEqual(recs);
    const broken = await file("broken.jsonl.gz", Buffer.from("not gzip"));
    await expect(loadRecords(broken)).rejects.toThrow();
  });

  it('reads standard input when the path is "-", named <stdin> in errors', async () => {
    const { execFileSync } = await import("node:child_process");
    const script = `
      import { readRecords } from "./lib/data/jsonl.ts";
      for await (const r of readRecords("-", { onInvalid: "yield" })) console.log(r.error ? r.error.message : r.line);`;
    const input = serializeRecord([...generateSampleRecords({ n: 1, sources: 2, seed: 1 })][0]) + "\n[]\n";
    const out = execFileSync("node", ["--import", "tsx", "--input-type=module", "-e", script], { input, encoding: "utf8" });
    expect(out.trim().split("\n")).toEqual(["1", "<stdin>:2: expected a JSON object, got an array of 0"]);
  });

  it("a missing file, a directory or a broken gzip file is a one-line UserError", async () => {
    const missing = loadRecords(join(dir, "nope.jsonl"));
    await expect(missing).rejects.toBeInstanceOf(UserError);
    await expect(missing).rejects.toThrow(`cannot read ${join(dir, "nope.jsonl")}: no such file`);
    await expect(loadRecords(dir)).rejects.toThrow(/is a directory/);
    const broken = await file("broken2.jsonl.gz", Buffer.from("not gzip"));
    await expect(loadRecords(broken)).rejects.toThrow(UserError);
  });
});

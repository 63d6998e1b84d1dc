import fc from "fast-check";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRecords } from "../lib/data/jsonl";
import { UserError } from "../lib/errors";
import { generateSampleRecords } from "../lib/data/sample";
import type { PreferenceRecord } from "../lib/data/types";
import { floatJson, isFloatField, openAtomicWriter, serializeRecord, writeRecords } from "../lib/data/write";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "infifpo-data-write-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Deep equality that tells -0 from 0 and compares floats bit for bit. */
function sameBits(a: unknown, b: unknown): boolean {
  if (typeof a === "number") return typeof b === "number" && Object.is(a, b);
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameBits(x, b[i]));
  if (a !== null && typeof a === "object") {
    if (b === null || typeof b !== "object" || Array.isArray(b)) return false;
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k, i) => kb[i] === k && sameBits((a as any)[k], (b as any)[k]));
  }
  return a === b;
}

describe("floatJson", () => {
  it.each([
    [-60, "-60.0"], [0, "0.0"], [-0, "-0.0"], [-60.5, "-60.5"], [-1e-7, "-1e-7"], [-1e21, "-1e+21"],
    [-123456789012, "-123456789012.0"], [-0.1 - 0.2, "-0.30000000000000004"], [-37.21905517578125, "-37.21905517578125"],
    [5e-324, "5e-324"], [-Number.MAX_VALUE, "-1.7976931348623157e+308"],
  ])("%s → %s", (x, s) => {
    expect(floatJson(x)).toBe(s);
    expect(Object.is(JSON.parse(s), x)).toBe(true);
  });

  it("refuses NaN and infinities", () => {
    for (const x of [NaN, Infinity, -Infinity]) expect(() => floatJson(x)).toThrow(RangeError);
  });
});

describe("serializeRecord", () => {
  it("writes log-probs with a fractional part and other fields as plain JSON, keys in order", () => {
    const s = serializeRecord({
      prompt: "2+2?", chosen: [{ role: "assistant", content: "4\n" }], rejected: "5",
      ref_chosen_logps: -60, ref_mean_chosen_logps: -6, fuse_chosen_logps: [-2, -4.5, 0],
      policy_chosen_logps: -3, fused_chosen_logps: -1, fused_source_chosen: 2, fused_source_rejected: null,
      loss: 1, logit: 0, disparity_weight: 0.5, n_tokens: 10, skip: undefined,
    });
    expect(s).toBe(
      '{"prompt":"2+2?","chosen":[{"role":"assistant","content":"4\\n"}],"rejected":"5",' +
      '"ref_chosen_logps":-60.0,"ref_mean_chosen_logps":-6.0,"fuse_chosen_logps":[-2.0,-4.5,0.0],' +
      '"policy_chosen_logps":-3.0,"fused_chosen_logps":-1.0,"fused_source_chosen":2,"fused_source_rejected":null,' +
      '"loss":1.0,"logit":0.0,"disparity_weight":0.5,"n_tokens":10}',
    );
    expect(s).not.toContain("\n");
  });

  it("lets the caller choose extra float fields", () => {
    expect(serializeRecord({ temperature: 1, loss: 1 }, { floatFields: ["temperature"] })).toBe('{"temperature":1.0,"loss":1}');
    expect(isFloatField("fused_rejected_logps")).toBe(true);
    expect(isFloatField("fused_source_rejected")).toBe(false);
  });

  it("refuses to write NaN/Infinity in a log-prob field, naming it", () => {
    expect(() => serializeRecord({ ref_chosen_logps: NaN })).toThrow(/field "ref_chosen_logps"/);
    expect(() => serializeRecord({ fuse_chosen_logps: [-1, -Infinity] })).toThrow(/field "fuse_chosen_logps\[1\]"/);
  });

  it("never writes a log-prob as an integer (Arrow/pandas type inference)", () => {
    for (const rec of generateSampleRecords({ n: 200, sources: 3, seed: 1, policy: true })) {
      const r = rec as Record<string, unknown>;
      r.ref_chosen_logps = Math.round(rec.ref_chosen_logps);
      rec.fuse_chosen_logps[0] = Math.round(rec.fuse_chosen_logps[0]);
      const s = serializeRecord(rec);
      for (const m of s.matchAll(/"((?:ref|fuse|policy)_[a-z_]+)":(\[[^\]]*\]|[^,}]*)/g)) {
        for (const num of m[2].replace(/[[\]]/g, "").split(",")) expect(num, `${m[1]} in ${s}`).toMatch(/[.e]/);
      }
    }
  });

  it("round-trips bit-exactly: parse(serialize(x)) ≡ x for arbitrary records (property test)", () => {
    const logp = fc.double({ max: 0, noNaN: true, noDefaultInfinity: true });
    const anyNum = fc.double({ noNaN: true, noDefaultInfinity: true });
    const record = fc.record({
      prompt: fc.string(),
      chosen: fc.oneof(fc.string(), fc.array(fc.record({ role: fc.constantFrom("user", "assistant"), content: fc.string({ unit: "binary" }) }))),
      rejected: fc.string({ unit: "binary" }),
      ref_chosen_logps: logp,
      ref_mean_chosen_logps: logp,
      fuse_chosen_logps: fc.array(logp, { minLength: 1, maxLength: 6 }),
      fuse_mean_rejected_logps: fc.array(logp, { minLength: 1, maxLength: 6 }),
      loss: anyNum,
      count: fc.integer(),
      meta: fc.jsonValue(),
    });
    fc.assert(
      fc.property(record, (r) => {
        const back = JSON.parse(serializeRecord(r));
        // jsonValue may hold -0, which JSON (and JSON.stringify) can't keep outside float fields.
        return sameBits({ ...back, meta: null }, { ...r, meta: null }) && JSON.stringify(back.meta) === JSON.stringify(r.meta);
      }),
      { numRuns: 500, seed: 42 },
    );
  });
});

describe("openAtomicWriter", () => {
  it("writes through a temporary file of its own and renames on commit; round-trips generated records", async () => {
    const out = join(dir, "sub", "dir", "out.jsonl");
    const recs = [...generateSampleRecords({ n: 500, sources: 5, seed: 2, format: "chat", policy: true })];
    const w = await openAtomicWriter(out, { bufferBytes: 4096 });
    expect(w.tmpPath).toMatch(new RegExp(`out\\.jsonl\\.tmp-${process.pid}-[0-9a-f]{8}$`));
    for (const r of recs.slice(0, 250)) await w.writeRecord(r);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(w.tmpPath)).toBe(true);
    for (const r of recs.slice(250)) await w.writeRecord(r);
    expect(w.lines).toBe(500);
    await w.commit();
    expect(existsSync(w.tmpPath)).toBe(false);
    const back = await loadRecords(out);
    expect(back.length).toBe(500);
    expect(back.every((b, i) => sameBits(b, recs[i]))).toBe(true);
    expect(() => w.write("x")).toThrow(/already committed/);
  });

  it("abort (or a crash before commit) leaves an existing output untouched and removes the temporary file", async () => {
    const out = join(dir, "keep.jsonl");
    await writeFile(out, "old\n");
    const w = await openAtomicWriter(out);
    await w.write('{"a":1}');
    await w.abort();
    await w.abort();
    expect(await readFile(out, "utf8")).toBe("old\n");
    expect(existsSync(w.tmpPath)).toBe(false);
    await expect(writeRecords(out, (function* () {
      yield { a: 1 };
      throw new Error("crashed mid-way");
    })())).rejects.toThrow("crashed mid-way");
    expect(await readFile(out, "utf8")).toBe("old\n");
    expect((await readdir(dir)).filter((n) => n.startsWith("keep.jsonl.tmp"))).toEqual([]);
  });

  it("commit replaces an existing output", async () => {
    const out = join(dir, "replace.jsonl");
    await writeFile(out, "old\n");
    expect(await writeRecords(out, [{ ref_chosen_logps: -3 }, { ref_chosen_logps: -2.5 }])).toBe(2);
    expect(await readFile(out, "utf8")).toBe('{"ref_chosen_logps":-3.0}\n{"ref_chosen_logps":-2.5}\n');
  });

  it("handles backpressure: many small writes with a tiny buffer, all awaited", async () => {
    const out = join(dir, "bp.jsonl");
    const w = await openAtomicWriter(out, { bufferBytes: 64, fsync: false });
    let waited = 0;
    const line = JSON.stringify({ x: "y".repeat(200) });
    for (let i = 0; i < 5000; i++) {
      const p = w.write(line);
      if (p) {
        waited++;
        await p;
      }
    }
    await w.commit();
    expect(waited).toBeGreaterThan(0);
    const text = await readFile(out, "utf8");
    expect(text.length).toBe(5000 * (line.length + 1));
  });

  it("an output that is a directory: one line naming it, before anything is written", async () => {
    const out = join(dir, "adir");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(join(out, "inner"), { recursive: true });
    const p = openAtomicWriter(out);
    await expect(p).rejects.toBeInstanceOf(UserError);
    await expect(p).rejects.toThrow(/^cannot write .*adir: is a directory \(EISDIR\)$/);
    expect((await readdir(dir)).filter((n) => n.startsWith("adir.tmp"))).toEqual([]);
  });

  it("a failed commit (the output became a directory meanwhile) removes the temporary file and names the output", async () => {
    const out = join(dir, "later-dir");
    const w = await openAtomicWriter(out);
    await w.write("{}");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(join(out, "inner"), { recursive: true });
    await expect(w.commit()).rejects.toThrow(/^cannot write .*later-dir: (is a directory|is a non-empty directory|already exists)/);
    expect(existsSync(w.tmpPath)).toBe(false);
    await expect(w.commit()).rejects.toThrow(/later-dir/); // the original failure, again
  });

  it("two writers of one output never share a temporary file: the result is one writer's file, whole", async () => {
    const out = join(dir, "shared.jsonl");
    const [a, b] = [await openAtomicWriter(out, { bufferBytes: 16 }), await openAtomicWriter(out, { bufferBytes: 16 })];
    expect(a.tmpPath).not.toBe(b.tmpPath);
    for (let i = 0; i < 200; i++) {
      await a.write(JSON.stringify({ run: "a", i }));
      await b.write(JSON.stringify({ run: "b", i }));
    }
    await a.commit();
    await b.commit();
    const lines = (await readFile(out, "utf8")).trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.length).toBe(200);
    expect(new Set(lines.map((l) => l.run))).toEqual(new Set(["b"]));
  });

  it("never writes its temporary file over an existing file (an input called OUT.tmp survives)", async () => {
    const out = join(dir, "X.jsonl");
    await writeFile(`${out}.tmp`, "input\n");
    await writeRecords(out, [{ a: 1 }]);
    expect(await readFile(`${out}.tmp`, "utf8")).toBe("input\n");
  });

  it("fails cleanly when the output can't be created", async () => {
    const blocker = join(dir, "afile");
    await writeFile(blocker, "");
    const p = openAtomicWriter(join(blocker, "out.jsonl"));
    await expect(p).rejects.toBeInstanceOf(UserError);
    await expect(p).rejects.toThrow(/^cannot write .*afile\/out\.jsonl: a parent of it is not a directory \(ENOTDIR\)$/);
  });
});

describe("sample records survive write → read", () => {
  it("are validated and deep-equal after the round trip", async () => {
    const recs: PreferenceRecord[] = [...generateSampleRecords({ n: 300, sources: 2, seed: 5 })];
    const p = join(dir, "rt.jsonl");
    await writeRecords(p, recs);
    const back = await loadRecords(p);
    expect(back.every((b, i) => sameBits(b, recs[i]))).toBe(true);
  });
});

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseJsonl, recordValidator } from "../lib/data/jsonl";
import { generateSampleRecords, sampleSourceModels } from "../lib/data/sample";
import { validateRecord } from "../lib/data/validate";
import { serializeRecord } from "../lib/data/write";

describe("generateSampleRecords", () => {
  it("is deterministic and seed-dependent", () => {
    const a = [...generateSampleRecords({ n: 50, sources: 3, seed: 11 })];
    expect([...generateSampleRecords({ n: 50, sources: 3, seed: 11 })]).toEqual(a);
    expect([...generateSampleRecords({ n: 50, sources: 3, seed: 12 })]).not.toEqual(a);
  });

  it("produces valid records in every format", () => {
    let line = 0;
    for (const format of ["string", "chat"] as const) {
      for (const sources of [1, 2, 5]) {
        for (const rec of generateSampleRecords({ n: 400, sources, seed: sources, format, policy: format === "chat" })) {
          const back = JSON.parse(serializeRecord(rec));
          expect(() => validateRecord(back, { file: "gen", line: ++line }, { sources })).not.toThrow();
        }
      }
    }
  });

  it("models tokenise differently and sums are mean × n", () => {
    const recs = [...generateSampleRecords({ n: 300, sources: 3, seed: 0 })];
    let differ = 0;
    for (const r of recs) {
      const n = (sum: number, mean: number) => sum / mean;
      const counts = [n(r.ref_chosen_logps, r.ref_mean_chosen_logps), ...r.fuse_chosen_logps.map((s, i) => n(s, r.fuse_mean_chosen_logps[i]))];
      for (const c of counts) expect(Math.abs(c - Math.round(c))).toBeLessThan(1e-3); // whole token counts (float32 rounding)
      if (new Set(counts.map(Math.round)).size > 1) differ++;
    }
    expect(differ / recs.length).toBeGreaterThan(0.8);
  });

  it("sources relate to the pivot in varied ways (clipping and max-margin picks vary)", () => {
    const recs = [...generateSampleRecords({ n: 1000, sources: 4, seed: 0 })];
    let clipped = 0, total = 0;
    const picks = [0, 0, 0, 0];
    for (const r of recs) {
      r.fuse_mean_chosen_logps.forEach((m) => {
        total++;
        if (m < r.ref_mean_chosen_logps) clipped++;
      });
      const d = r.fuse_mean_rejected_logps.map((m) => Math.abs(m - r.ref_mean_rejected_logps));
      picks[d.indexOf(Math.max(...d))]++;
    }
    expect(clipped / total).toBeGreaterThan(0.2);
    expect(clipped / total).toBeLessThan(0.95);
    for (const p of picks) expect(p).toBeGreaterThan(30); // every source is sometimes the farthest
    expect(sampleSourceModels(4, 0).map((m) => m.charsPerToken)).toHaveLength(4);
  });

  it("the committed data/sample/pairs.jsonl is reproduced byte for byte (scripts/make-sample.ts)", () => {
    const committed = readFileSync("data/sample/pairs.jsonl", "utf8");
    let text = "";
    for (const r of generateSampleRecords({ n: 200, sources: 3, seed: 0 })) text += serializeRecord(r) + "\n";
    expect(text === committed).toBe(true);
    expect(parseJsonl(committed, recordValidator(3)).length).toBe(200);
  });
});

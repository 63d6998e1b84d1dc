import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { recordColumns, recordsToDataFrame } from "../lib/data/frame";
import { loadRecords } from "../lib/data/jsonl";
import { generateSampleRecords } from "../lib/data/sample";

describe("recordColumns / recordsToDataFrame", () => {
  it("flattens per-source columns and keeps text, policy and extra scalar fields", () => {
    const recs = [...generateSampleRecords({ n: 3, sources: 2, seed: 4, format: "chat", policy: true })];
    (recs[1] as Record<string, unknown>).loss = 0.7;
    (recs[1] as Record<string, unknown>).meta = { nested: true };
    const cols = recordColumns(recs);
    expect(Object.keys(cols)).toEqual([
      "prompt", "chosen", "rejected",
      "ref_chosen_logps", "ref_rejected_logps", "ref_mean_chosen_logps", "ref_mean_rejected_logps",
      "fuse_chosen_logps_0", "fuse_chosen_logps_1", "fuse_rejected_logps_0", "fuse_rejected_logps_1",
      "fuse_mean_chosen_logps_0", "fuse_mean_chosen_logps_1", "fuse_mean_rejected_logps_0", "fuse_mean_rejected_logps_1",
      "policy_chosen_logps", "policy_rejected_logps", "policy_mean_chosen_logps", "policy_mean_rejected_logps",
      "loss",
    ]);
    expect(cols.fuse_mean_rejected_logps_1[2]).toBe(recs[2].fuse_mean_rejected_logps[1]);
    expect(cols.loss).toEqual([null, 0.7, null]);
    expect(cols.prompt[0]).toMatch(/^user: /);
    expect(cols.chosen[0]).toBe((recs[0].chosen as { content: string }[])[1].content);
    expect(Object.keys(recordColumns(recs, { text: false, extras: false }))).toHaveLength(16);
  });

  it("loads the sample file into a danfojs DataFrame", async () => {
    const recs = await loadRecords("data/sample/pairs.jsonl");
    const df = await recordsToDataFrame(recs, { text: false });
    expect(df.shape).toEqual([200, 4 + 12]);
    expect(df.columns).toContain("fuse_mean_chosen_logps_2");
    const col = df.column("ref_mean_chosen_logps");
    const mean = recs.reduce((s, r) => s + r.ref_mean_chosen_logps, 0) / recs.length;
    expect(col.mean()).toBeCloseTo(mean, 10);
    const withText = await recordsToDataFrame(recs.slice(0, 5));
    expect(withText.column("prompt").values[0]).toBe(recs[0].prompt);
  });

  it("importing lib/data loads neither danfojs nor tfjs", () => {
    const script = `
      import { createRequire } from "node:module";
      await import("./lib/data/index.ts");
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) => /danfojs|@tensorflow/.test(p));
      console.log(JSON.stringify(loaded));`;
    const out = execFileSync("node", ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8" });
    expect(JSON.parse(out.trim().split("\n").at(-1)!)).toEqual([]);
  });
});

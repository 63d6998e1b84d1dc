import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../lib/cli/main";
import { oracleRecord, type OracleRecord, type OracleSettings, type Strategy } from "./oracle/infifpo64";

const dir = mkdtempSync(join(tmpdir(), "infifpo-cli-"));

/** Random records written with plain JSON.stringify (independent of lib/data's writer). */
function randomRecords(n: number, sources: number, seed: number): OracleRecord[] {
  const mean = fc.double({ min: -4, max: -0.01, noNaN: true });
  const count = fc.integer({ min: 1, max: 120 });
  const side = fc.record({ mean, n: count });
  const srcs = fc.array(side, { minLength: sources, maxLength: sources });
  const rec = fc.record({ pw: side, pl: side, sw: srcs, sl: srcs, policy: fc.option(fc.record({ w: side, l: side }), { nil: undefined }) });
  return fc.sample(rec, { numRuns: n, seed }).map((r) => ({
    prompt: "2+2=",
    chosen: "4",
    rejected: "5",
    ref_chosen_logps: r.pw.mean * r.pw.n,
    ref_rejected_logps: r.pl.mean * r.pl.n,
    ref_mean_chosen_logps: r.pw.mean,
    ref_mean_rejected_logps: r.pl.mean,
    fuse_chosen_logps: r.sw.map((s) => s.mean * s.n),
    fuse_rejected_logps: r.sl.map((s) => s.mean * s.n),
    fuse_mean_chosen_logps: r.sw.map((s) => s.mean),
    fuse_mean_rejected_logps: r.sl.map((s) => s.mean),
    ...(r.policy
      ? {
          policy_chosen_logps: r.policy.w.mean * r.policy.w.n,
          policy_rejected_logps: r.policy.l.mean * r.policy.l.n,
          policy_mean_chosen_logps: r.policy.w.mean,
          policy_mean_rejected_logps: r.policy.l.mean,
        }
      : {}),
  }));
}

async function cli(...argv: string[]): Promise<number> {
  return main(["node", "infifpo", ...argv]);
}

const input = join(dir, "random.jsonl");
const records: OracleRecord[] = randomRecords(300, 4, 42);
beforeAll(() => {
  writeFileSync(input, records.map((r) => JSON.stringify(r)).join("\n") + "\n");
});

describe("infifpo fuse agrees with the independent float64 oracle", () => {
  const settings: OracleSettings[] = [];
  for (const strategy of ["mean", "confidence", "max-margin"] as Strategy[])
    for (const clip of [true, false])
      for (const lengthNorm of [true, false]) settings.push({ strategy, clip, lengthNorm, beta: lengthNorm ? 2.5 : 0.1 });
  settings.push({ strategy: "mean", clip: true, lengthNorm: true, beta: 1.7, includePivot: true });
  settings.push({ strategy: "max-margin", clip: false, lengthNorm: false, beta: 0.3, refOffset: 5 });
  settings.push({ strategy: "confidence", clip: false, lengthNorm: true, beta: 2.5, includePivot: true, refOffset: 0.2 });

  for (const s of settings) {
    const flags = [
      "--fusion", s.strategy,
      s.clip ? "--clip" : "--no-clip",
      s.lengthNorm ? "--length-norm" : "--no-length-norm",
      ...(s.beta !== (s.lengthNorm ? 2.5 : 0.1) ? ["--beta", String(s.beta)] : []),
      ...(s.includePivot ? ["--include-pivot"] : []),
      ...(s.refOffset != null ? ["--ref-offset", String(s.refOffset)] : []),
    ];
    it(flags.join(" "), async () => {
      const out = join(dir, `out-${flags.join("_")}.jsonl`);
      expect(await cli("fuse", "-i", input, "-o", out, ...flags)).toBe(0);
      const lines = readFileSync(out, "utf8").trimEnd().split("\n");
      expect(lines).toHaveLength(records.length);
      const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1e-12, Math.abs(b));
      lines.forEach((line, i) => {
        const got = JSON.parse(line);
        const want = oracleRecord(records[i], s);
        // Input fields pass through unchanged.
        for (const [k, v] of Object.entries(records[i])) expect(got[k]).toEqual(v);
        expect(rel(got.fused_chosen_logps, want.fusedChosen)).toBeLessThanOrEqual(1e-6);
        expect(rel(got.fused_rejected_logps, want.fusedRejected)).toBeLessThanOrEqual(1e-6);
        expect(rel(got.logit, want.z) <= 1e-6 || Math.abs(got.logit - want.z) < 1e-12).toBe(true);
        expect(rel(got.loss, want.loss)).toBeLessThanOrEqual(1e-6);
        expect(rel(got.disparity_weight, want.weight)).toBeLessThanOrEqual(1e-6);
        expect(got.fused_source_chosen).toBe(want.sourceChosen);
        expect(got.fused_source_rejected).toBe(want.sourceRejected);
      });
      // Every log-prob is written with a fractional part (Arrow/pandas type inference).
      expect(readFileSync(out, "utf8")).not.toMatch(/"fused_(chosen|rejected)_logps":-?\d+[,}]/);
    });
  }
});

describe("infifpo fuse on invalid input", () => {
  const good = () => ({ ...records[0] }) as Record<string, unknown>;
  const cases: [string, string, RegExp][] = [
    ["truncated line", JSON.stringify(good()).slice(0, 80), /:2: .*invalid JSON/],
    ["missing field", JSON.stringify({ ...good(), ref_chosen_logps: undefined }), /:2: .*ref_chosen_logps/],
    ["non-numeric", JSON.stringify({ ...good(), ref_mean_chosen_logps: "abc" }), /:2: .*ref_mean_chosen_logps/],
    ["NaN as string", JSON.stringify({ ...good(), ref_rejected_logps: "NaN" }), /:2: .*ref_rejected_logps/],
    ["infinite number", JSON.stringify(good()).replace(/"ref_chosen_logps":[^,]+/, '"ref_chosen_logps":-1e400'), /:2: .*ref_chosen_logps/],
    ["positive log-prob", JSON.stringify({ ...good(), ref_chosen_logps: 0.5, ref_mean_chosen_logps: 0.1 }), /:2: .*ref_(mean_)?chosen_logps/],
    ["source lists of different lengths", JSON.stringify({ ...good(), fuse_rejected_logps: [-1] }), /:2: .*fuse_/],
    ["empty source list", JSON.stringify({ ...good(), fuse_chosen_logps: [], fuse_rejected_logps: [], fuse_mean_chosen_logps: [], fuse_mean_rejected_logps: [] }), /:2: .*fuse_/],
    ["mean sign disagrees with sum", JSON.stringify({ ...good(), ref_chosen_logps: 0.0, ref_mean_chosen_logps: -0.5 }), /:2: .*ref_(mean_)?chosen_logps/],
    ["not an object", "[1, 2, 3]", /:2: /],
    ["empty line", "", /:2: .*blank/],
  ];
  for (const [name, bad, pattern] of cases) {
    it(`${name}: exit 2, file:line:field on stderr, no stack, no output`, () => {
      const file = join(dir, `bad-${name.replace(/\W+/g, "_")}.jsonl`);
      const out = join(dir, `bad-out-${name.replace(/\W+/g, "_")}.jsonl`);
      writeFileSync(file, [JSON.stringify(good()), bad, JSON.stringify(good())].join("\n") + "\n");
      const r = spawnSync("node", ["bin/infifpo.mjs", "fuse", "-i", file, "-o", out], { encoding: "utf8" });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(pattern);
      expect(r.stderr).toContain(file);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(dir).filter((n) => n.startsWith(`bad-out-${name.replace(/\W+/g, "_")}.jsonl.tmp`))).toEqual([]); // no temporary file left
    });
  }
  it("--skip-invalid writes the good records and the rejected lines with their reasons", async () => {
    const file = join(dir, "mixed.jsonl");
    const out = join(dir, "mixed-out.jsonl");
    writeFileSync(file, [JSON.stringify(good()), "{oops", JSON.stringify(good()), JSON.stringify({ ...good(), fuse_chosen_logps: [1, 2, 3, 4] })].join("\n") + "\n");
    expect(await cli("fuse", "-i", file, "-o", out, "--skip-invalid")).toBe(0);
    expect(readFileSync(out, "utf8").trimEnd().split("\n")).toHaveLength(2);
    const rejects = readFileSync(join(dir, "mixed-out.rejects.jsonl"), "utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(rejects.map((r) => r.line)).toEqual([2, 4]);
    expect(rejects[1].field).toMatch(/^fuse_/);
    expect(rejects[1].error).toMatch(/mixed\.jsonl:4/);
  });
  it("bad flags are one-line errors", () => {
    const r = spawnSync("node", ["bin/infifpo.mjs", "fuse", "-i", input, "-o", join(dir, "x.jsonl"), "--fusion", "median"], { encoding: "utf8" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Allowed choices are mean, confidence, max-margin/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("infifpo stats", () => {
  it("prints the summary and JSON", () => {
    const text = execFileSync("node", ["bin/infifpo.mjs", "stats", "-i", input], { encoding: "utf8" });
    expect(text).toMatch(/records\s+300/);
    expect(text).toMatch(/fused ≥ pivot\s+100\.0% of records/);
    const json = JSON.parse(execFileSync("node", ["bin/infifpo.mjs", "stats", "-i", input, "--json", "--fusion", "max-margin"], { encoding: "utf8" }));
    expect(json.records).toBe(300);
    expect(json.sources).toBe(4);
    expect(json.selection.chosen.reduce((a: number, b: number) => a + b, 0)).toBe(300);
    // Loss mean matches the oracle's mean at the same settings.
    const want = records.map((r) => oracleRecord(r, { strategy: "max-margin", clip: true, lengthNorm: true, beta: 2.5 }).loss);
    expect(json.loss.mean).toBeCloseTo(want.reduce((a, b) => a + b, 0) / want.length, 10);
  });
});

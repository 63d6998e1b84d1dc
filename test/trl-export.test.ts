import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { trlLossType, trlRow } from "../lib/data/trl-export";
import { annotateRecord } from "../lib/records/annotate";
import { resolveFuseSettings } from "../lib/records/settings";
import { UserError } from "../lib/errors";
import type { FusedColumns, PreferenceRecord } from "../lib/data/types";
import { workedExampleRecord } from "./worked-example";

const CLI = path.join(__dirname, "..", "bin", "infifpo.mjs");

const example = workedExampleRecord;

function fused(rec: PreferenceRecord, lengthNorm: boolean): PreferenceRecord & FusedColumns {
  const a = annotateRecord(rec, resolveFuseSettings({ lengthNorm, strategy: "max-margin", clip: true }));
  return { ...rec, fused_chosen_logps: a.fused.chosen.value, fused_rejected_logps: a.fused.rejected.value } as PreferenceRecord & FusedColumns;
}

/** TRL 1.13's sigmoid_norm loss: −log σ(β[(ℓθ − ref)_w / n_w − (ℓθ − ref)_l / n_l]), float64. */
function trlSigmoidNorm(beta: number, policyW: number, refW: number, nW: number, policyL: number, refL: number, nL: number): number {
  const z = beta * ((policyW - refW) / nW - (policyL - refL) / nL);
  return Math.log1p(Math.exp(-z));
}

describe("fuse --export trl rows", () => {
  it("length-norm on: ref = fused per-token mean × the pivot's token count; TRL's sigmoid_norm then gives the spec's loss 0.970", () => {
    const row = trlRow(fused(example(), true), true);
    // clip + max-margin: ℓ̄_fu(y_w) = −0.06975, ℓ̄_fu(y_l) = −0.33685 (infifpo.md table), n_p0 = 10
    expect(row.ref_chosen_logps).toBeCloseTo(-0.6975, 12);
    expect(row.ref_rejected_logps).toBeCloseTo(-3.3685, 12);
    expect(Object.keys(row)).toEqual(["prompt", "chosen", "rejected", "ref_chosen_logps", "ref_rejected_logps"]);
    // policy = pivot at init, with TRL's completion counts = n_p0 = 10
    const loss = trlSigmoidNorm(2.5, -0.6975, row.ref_chosen_logps, 10, -1.3945, row.ref_rejected_logps, 10);
    expect(loss).toBeCloseTo(0.970, 3);
    expect(trlLossType(true)).toBe("sigmoid_norm");
  });

  it("length-norm off: ref = the fused sums as they are (TRL's sigmoid loss is InfiFPO without LN)", () => {
    const f = fused(example(), false);
    const row = trlRow(f, false);
    expect(row.ref_chosen_logps).toBe(f.fused_chosen_logps);
    expect(row.ref_rejected_logps).toBe(f.fused_rejected_logps);
    expect(row.ref_chosen_logps).toBe(-0.6975); // clip keeps the pivot's sum: every source finds y_w less likely
    expect(trlLossType(false)).toBe("sigmoid");
  });

  it("chat records: TRL's conversational form with an explicit prompt", () => {
    const rec = example();
    delete rec.prompt;
    rec.chosen = [{ role: "system", content: "Be brief." }, { role: "user", content: "2 + 2?" }, { role: "assistant", content: "4" }];
    rec.rejected = [{ role: "system", content: "Be brief." }, { role: "user", content: "2 + 2?" }, { role: "assistant", content: "5" }];
    const row = trlRow(fused(rec, true), true);
    expect(row.prompt).toEqual([{ role: "system", content: "Be brief." }, { role: "user", content: "2 + 2?" }]);
    expect(row.chosen).toEqual([{ role: "assistant", content: "4" }]);
    expect(row.rejected).toEqual([{ role: "assistant", content: "5" }]);
  });

  it("a pivot token count that is not a whole number is refused, naming the record", () => {
    const rec = example();
    rec.ref_chosen_logps = -0.5; // −0.5 / −0.06975 = 7.17 tokens
    expect(() => trlRow(fused(rec, true), true, "fused record 3 of x.jsonl")).toThrow(UserError);
    expect(() => trlRow(fused(rec, true), true, "fused record 3 of x.jsonl")).toThrow(/fused record 3 of x\.jsonl: .*ref_chosen_logps \/ ref_mean_chosen_logps = 7\.16.*--no-length-norm/);
  });

  it("CLI: infifpo fuse --export trl writes five columns, floats with a fraction, no nulls, and says how to train", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "infifpo-trl-"));
    const out = path.join(dir, "trl.jsonl");
    const r = spawnSync(process.execPath, [CLI, "fuse", "-i", "data/sample/pairs.jsonl", "-o", out, "--export", "trl"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('loss_type=["sigmoid_norm"], beta=2.5, precompute_ref_log_probs=True');
    const text = fs.readFileSync(out, "utf8");
    const lines = text.trim().split("\n");
    expect(lines).toHaveLength(200);
    expect(text).not.toContain("null");
    expect(text).not.toMatch(/_logps":-?\d+[,}]/); // every log-prob has a fraction
    const plain = path.join(dir, "fused.jsonl");
    expect(spawnSync(process.execPath, [CLI, "fuse", "-i", "data/sample/pairs.jsonl", "-o", plain], { encoding: "utf8" }).status).toBe(0);
    const f = JSON.parse(fs.readFileSync(plain, "utf8").split("\n")[0]);
    const t = JSON.parse(lines[0]);
    expect(Object.keys(t)).toEqual(["prompt", "chosen", "rejected", "ref_chosen_logps", "ref_rejected_logps"]);
    expect(t.ref_chosen_logps).toBeCloseTo(f.fused_chosen_logps * Math.round(f.ref_chosen_logps / f.ref_mean_chosen_logps), 10);
    expect(fs.readdirSync(dir).sort()).toEqual(["fused.jsonl", "trl.jsonl"]); // the temporary fused file is gone
  });
});

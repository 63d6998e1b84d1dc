import { describe, expect, it } from "vitest";
import type { PreferenceRecord } from "../lib/data/types";
import { fusedRecords, sweepFusionSettings, sweepSettings, sweepTable } from "../lib/records/sweep";
import { resolveFuseSettings } from "../lib/records/settings";

// The worked example of infifpo.md (per-token means; sums are means × 10 and matter only with LN off).
const means = { pc: -0.06975, pr: -0.13945, sc: [-0.23788, -0.26215, -0.36793], sr: [-0.25559, -0.26779, -0.33685] };
const worked: PreferenceRecord = {
  prompt: "p",
  chosen: "w",
  rejected: "l",
  ref_chosen_logps: means.pc * 10,
  ref_rejected_logps: means.pr * 10,
  ref_mean_chosen_logps: means.pc,
  ref_mean_rejected_logps: means.pr,
  fuse_chosen_logps: means.sc.map((v) => v * 10),
  fuse_rejected_logps: means.sr.map((v) => v * 10),
  fuse_mean_chosen_logps: means.sc,
  fuse_mean_rejected_logps: means.sr,
};

describe("sweepFusionSettings", () => {
  it("the grid: 3 strategies × clip × LN in a stable order, β by LN", () => {
    const s = sweepSettings({ betaLN: 2, betaSum: 0.2 });
    expect(s).toHaveLength(12);
    expect(s.map((x) => [x.lengthNorm, x.clip, x.strategy]).slice(0, 4)).toEqual([
      [true, true, "mean"],
      [true, true, "confidence"],
      [true, true, "max-margin"],
      [true, false, "mean"],
    ]);
    expect(new Set(s.filter((x) => x.lengthNorm).map((x) => x.beta))).toEqual(new Set([2]));
    expect(new Set(s.filter((x) => !x.lengthNorm).map((x) => x.beta))).toEqual(new Set([0.2]));
  });

  it("reproduces the worked example's losses and weights (clip/no clip × max-margin/mean, LN, β = 2.5)", () => {
    const rows = sweepFusionSettings([worked], { strategies: ["max-margin", "mean"], lengthNorm: [true] });
    const got = rows.map((r) => [r.label, +r.summary.loss.mean.toFixed(3), +r.summary.disparityWeight.mean.toFixed(3)]);
    expect(got).toEqual([
      ["max-margin, clip, LN, β=2.5", 0.97, 0.621],
      ["mean, clip, LN, β=2.5", 0.894, 0.591],
      ["max-margin, no clip, LN, β=2.5", 0.575, 0.437],
      ["mean, no clip, LN, β=2.5", 0.607, 0.455],
    ]);
  });

  it("pivotKept counts the sides where clipping changed every source (only with clipping on)", () => {
    // Chosen: every source is below the pivot → all clipped. Rejected: all below the pivot → none clipped.
    const [clip, noClip] = sweepFusionSettings([worked, worked], { strategies: ["max-margin"], lengthNorm: [true] });
    expect(clip.pivotKept).toEqual({ chosen: 2, rejected: 0 });
    expect(clip.summary.selection).toEqual({ chosen: [2, 0, 0], rejected: [0, 0, 2] });
    expect(noClip.pivotKept).toEqual({ chosen: 0, rejected: 0 });
  });

  it("sweepTable: one row per setting with the label first", () => {
    const rows = sweepFusionSettings([worked], { strategies: ["mean"], clip: [true], lengthNorm: [true, false] });
    const t = sweepTable(rows);
    expect(t.values).toHaveLength(2);
    expect(t.values.every((r) => r.length === t.columns.length)).toBe(true);
    expect(t.values[0][0]).toBe("mean, clip, LN, β=2.5");
    expect(t.values[1][0]).toBe("mean, clip, no LN, β=0.1");
  });

  it("fusedRecords adds the `infifpo fuse` columns and leaves the input alone", () => {
    const [r] = fusedRecords([worked], resolveFuseSettings());
    expect(r.fused_chosen_logps).toBe(means.pc);
    expect(r.fused_rejected_logps).toBe(-0.33685);
    expect(r.loss).toBeCloseTo(0.970, 3);
    expect(worked.loss).toBeUndefined();
    expect(() => sweepFusionSettings([])).toThrow(/no records/);
  });
});

/**
 * Fuse a set of records under every setting of a grid (strategy × clip × LN) and summarise each: the data
 * behind the quickstart notebook's comparison tables and plots and behind `npm run figures`.
 */
import type { FusedColumns, PreferenceRecord } from "../data/types";
import { FUSION_STRATEGIES, type FusionStrategy } from "../fusion/options";
import { annotateRecord } from "./annotate";
import { resolveFuseSettings, settingsLabel, type FuseOverrides, type FuseSettings } from "./settings";
import { FuseStats, type FuseSummary } from "./stats";

export interface SweepOptions {
  strategies?: readonly FusionStrategy[];
  clip?: readonly boolean[];
  lengthNorm?: readonly boolean[];
  /** β on per-token means (LN on); default 2.5. */
  betaLN?: number;
  /** β on sums (LN off); default 0.1. */
  betaSum?: number;
  /** Further fusion options applied to every setting (includePivot, refOffset, epsilon). */
  extra?: Omit<FuseOverrides, "strategy" | "clip" | "lengthNorm" | "beta">;
}

export interface SweepRow {
  label: string;
  settings: FuseSettings;
  summary: FuseSummary;
  /**
   * Records where clipping changed EVERY source on that side, so ℓ_fu = ℓ_p0 there (no source beats the pivot).
   * Max-margin then sees only ties at distance 0 and records source 0 (ties → lowest index): these counts
   * separate that case from a real pick of source 0. Zero when clipping is off.
   */
  pivotKept: { chosen: number; rejected: number };
}

/** The settings of the grid, in a stable order: LN outer, then clip, then strategy. */
export function sweepSettings(o: SweepOptions = {}): FuseSettings[] {
  const out: FuseSettings[] = [];
  for (const lengthNorm of o.lengthNorm ?? [true, false]) {
    for (const clip of o.clip ?? [true, false]) {
      for (const strategy of o.strategies ?? FUSION_STRATEGIES) {
        const beta = lengthNorm ? o.betaLN ?? 2.5 : o.betaSum ?? 0.1;
        out.push(resolveFuseSettings({ ...(o.extra ?? {}), strategy, clip, lengthNorm, beta }));
      }
    }
  }
  return out;
}

/**
 * Annotates every record under every setting and summarises (clip rates, selection, margins, loss, weight).
 *   sweepFusionSettings(records, { strategies: ["max-margin"], clip: [true], lengthNorm: [true] })[0].label
 *     → "max-margin, clip, LN, β=2.5"
 */
export function sweepFusionSettings(records: readonly PreferenceRecord[], o: SweepOptions = {}): SweepRow[] {
  if (records.length === 0) throw new Error("sweepFusionSettings: no records");
  return sweepSettings(o).map((settings) => {
    const stats = new FuseStats(settings);
    const pivotKept = { chosen: 0, rejected: 0 };
    for (const r of records) {
      const a = annotateRecord(r, settings);
      stats.add(a);
      if (a.fused.chosen.clipped.every(Boolean) && settings.clip) pivotKept.chosen++;
      if (a.fused.rejected.clipped.every(Boolean) && settings.clip) pivotKept.rejected++;
    }
    return { label: settingsLabel(settings), settings, summary: stats.summary(), pivotKept };
  });
}

/** One flat row per setting for a table (danfo DataFrame or `showTable`). */
export function sweepTable(rows: readonly SweepRow[]): { columns: string[]; values: (string | number)[][] } {
  const columns = [
    "setting",
    "mean loss",
    "mean σ(−z)",
    "mean fused margin",
    "mean pivot margin",
    "share m_fu ≥ m_p0",
    "clip rate chosen",
    "clip rate rejected",
  ];
  const values = rows.map((r) => [
    r.label,
    r.summary.loss.mean,
    r.summary.disparityWeight.mean,
    r.summary.fusedMargin.mean,
    r.summary.pivotMargin.mean,
    r.summary.fusedAtLeastPivot,
    r.summary.clipRateAll.chosen,
    r.summary.clipRateAll.rejected,
  ]);
  return { columns, values };
}

/**
 * The records with the fused columns `infifpo fuse` adds (fused_chosen_logps … disparity_weight), for tables.
 *   fusedRecords(records, resolveFuseSettings())[0].loss → the record's loss at init
 */
export function fusedRecords(records: readonly PreferenceRecord[], settings: FuseSettings): Array<PreferenceRecord & FusedColumns> {
  return records.map((r) => ({ ...r, ...annotateRecord(r, settings).columns }));
}

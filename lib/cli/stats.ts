/** `infifpo stats`: a summary of what fusion does to a file (clip rates, selections, margins, loss at init). */
import type { Command } from "commander";
import { readRecordBatches } from "../data";
import { annotateRecord } from "../records/annotate";
import { settingsLabel, type FuseSettings } from "../records/settings";
import { FuseStats, type Distribution, type FuseSummary } from "../records/stats";
import { byteProgress } from "./byte-progress";
import { addFusionFlags, settingsFromFlags, type FusionFlags } from "./fusion-flags";
import { inputFile } from "./input";
import { UserError } from "../errors";

/** Streams a file through the fusion settings and returns its summary (constant memory). */
export async function statsFile(input: string, settings: FuseSettings, onProgress?: (bytes: number, records: number) => void): Promise<FuseSummary> {
  const stats = new FuseStats(settings);
  let records = 0;
  let bytes = 0;
  for await (const batch of readRecordBatches(input, { onProgress: (b: number) => (bytes = b) })) {
    for (const row of batch) stats.add(annotateRecord(row.record, settings));
    records += batch.length;
    onProgress?.(bytes, records);
  }
  return stats.summary();
}

const f = (x: number, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : String(x));
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : "n/a");
const pad = (s: string, n: number) => s.padEnd(n);

/** The human-readable report. */
export function formatSummary(s: FuseSummary): string {
  const lines: string[] = [];
  const src = Array.from({ length: s.sources }, (_, i) => `src ${i}`);
  const row = (label: string, cells: string[]) => lines.push(pad(label, 20) + cells.map((c) => c.padStart(9)).join(""));
  lines.push(`${pad("records", 20)}${s.records}`);
  lines.push(`${pad("sources", 20)}${s.sources}`);
  lines.push(`${pad("settings", 20)}${settingsLabel(s.settings)}`);
  lines.push("");
  lines.push("clip rate (share of source values changed by clipping)");
  row("", [...src, "all"]);
  row("  chosen", [...s.clipRate.chosen.map(pct), pct(s.clipRateAll.chosen)]);
  row("  rejected", [...s.clipRate.rejected.map(pct), pct(s.clipRateAll.rejected)]);
  if (s.selection) {
    lines.push("");
    lines.push("max-margin selection (records picking each source)");
    row("", src);
    row("  chosen", s.selection.chosen.map(String));
    row("  rejected", s.selection.rejected.map(String));
  }
  lines.push("");
  lines.push("margins ℓ(y_w) − ℓ(y_l)");
  row("", ["mean", "q05", "median", "q95", "min", "max"]);
  const dist = (label: string, d: Distribution) => row(label, [d.mean, d.q05, d.q50, d.q95, d.min, d.max].map((x) => f(x)));
  dist("  pivot at init", s.pivotMargin);
  dist("  fused reference", s.fusedMargin);
  dist("  fused − pivot", s.marginGain);
  lines.push(`${pad("  fused ≥ pivot", 20)}${pct(s.fusedAtLeastPivot)} of records`);
  lines.push("");
  lines.push("loss and preference-disparity weight σ(−z) (policy = pivot at init unless policy_* columns are given)");
  row("", ["mean", "q05", "median", "q95", "min", "max"]);
  dist("  loss", s.loss);
  dist("  σ(−z)", s.disparityWeight);
  lines.push(`${pad("", 20)}(DPO at init: loss ln 2 = 0.6931, σ(−z) = 0.5)`);
  return lines.join("\n");
}

interface StatsFlags extends FusionFlags {
  input: string;
  json?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command("stats")
    .description("summarise a file under the fusion settings: clip rates, max-margin selections, margins, loss at init")
    .requiredOption("-i, --input <file>", "records in the published InfiFPO JSONL format");
  addFusionFlags(cmd)
    .option("--json", "print the summary as one JSON object (for machines)")
    .action(async (flags: StatsFlags) => {
      const settings = settingsFromFlags(flags);
      const size = await inputFile("--input", flags.input);
      const bar = flags.json ? byteProgress("stats", 0) : byteProgress("stats", size);
      let summary: FuseSummary;
      try {
        summary = await statsFile(flags.input, settings, bar.update);
      } finally {
        bar.stop();
      }
      // a summary of nothing would print NaN quantiles
      if (summary.records === 0) throw new UserError(`--input ${flags.input}: no records to summarise`);
      if (flags.json) {
        const { marginSample: _sample, ...rest } = summary;
        process.stdout.write(JSON.stringify(rest) + "\n");
      } else {
        process.stdout.write(formatSummary(summary) + "\n");
      }
    });
}

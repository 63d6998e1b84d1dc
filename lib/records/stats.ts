/**
 * Streaming summary of a fused file in constant memory: clip rates per source and side, max-margin
 * selection histogram, fused vs pivot margins, loss and disparity weight at init.
 */
import type { Annotation } from "./annotate";
import { settingsLabel, type FuseSettings } from "./settings";

export interface Distribution {
  mean: number;
  min: number;
  max: number;
  /** Quantiles 5/25/50/75/95 % from a seeded reservoir sample (exact while records ≤ reservoir size). */
  q05: number;
  q25: number;
  q50: number;
  q75: number;
  q95: number;
}

export interface FuseSummary {
  records: number;
  sources: number;
  settings: FuseSettings;
  /** Share of source values changed by clipping, per source: [source] → rate. */
  clipRate: { chosen: number[]; rejected: number[] };
  /** Overall clip rate per side (all sources pooled). */
  clipRateAll: { chosen: number; rejected: number };
  /** max-margin only: how often each source was picked, per side; null for other strategies. */
  selection: { chosen: number[]; rejected: number[] } | null;
  pivotMargin: Distribution;
  fusedMargin: Distribution;
  /** fused margin − pivot margin. */
  marginGain: Distribution;
  /** Share of records whose fused margin is ≥ the pivot margin (1.0 whenever clipping is on). */
  fusedAtLeastPivot: number;
  loss: Distribution;
  disparityWeight: Distribution;
  /** A reservoir sample of (pivot margin, fused margin) points for scatter plots. */
  marginSample: { pivot: number[]; fused: number[] };
}

/** Running mean/min/max of one scalar; quantiles come from the reservoir column of the same quantity. */
class Running {
  n = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  add(x: number): void {
    this.n++;
    this.sum += x;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
  }
  summary(sample: readonly number[]): Distribution {
    const s = [...sample].sort((a, b) => a - b);
    const q = (p: number) => (s.length === 0 ? NaN : s[Math.round(p * (s.length - 1))]);
    return { mean: this.n ? this.sum / this.n : NaN, min: this.min, max: this.max, q05: q(0.05), q25: q(0.25), q50: q(0.5), q75: q(0.75), q95: q(0.95) };
  }
}

/** Algorithm R with a fixed-seed xorshift32: the same file always gives the same sample. One row per kept record. */
class Reservoir {
  readonly rows: number[][] = [];
  private state = 0x9e3779b9;
  private seen = 0;
  constructor(readonly size: number) {}
  offer(row: number[]): void {
    const i = this.seen++;
    if (i < this.size) {
      this.rows.push(row);
      return;
    }
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    const j = this.state % (i + 1);
    if (j < this.size) this.rows[j] = row;
  }
  column(c: number): number[] {
    return this.rows.map((r) => r[c]);
  }
}

const QUANTITIES = ["pivot", "fused", "gain", "loss", "weight"] as const;
type Quantity = (typeof QUANTITIES)[number];

export class FuseStats {
  private records = 0;
  private sources = -1;
  private clip = { chosen: [] as number[], rejected: [] as number[] };
  private sel = { chosen: [] as number[], rejected: [] as number[] };
  private atLeast = 0;
  private readonly res: Reservoir;
  private readonly run = Object.fromEntries(QUANTITIES.map((q) => [q, new Running()])) as Record<Quantity, Running>;

  constructor(private readonly settings: FuseSettings, reservoirSize = 10_000) {
    this.res = new Reservoir(reservoirSize);
  }

  add(a: Annotation): void {
    const n = a.scores.sourceChosen.length;
    if (this.sources < 0) {
      this.sources = n;
      this.clip = { chosen: new Array(n).fill(0), rejected: new Array(n).fill(0) };
      this.sel = { chosen: new Array(n).fill(0), rejected: new Array(n).fill(0) };
    } else if (n !== this.sources) {
      throw new Error(`record ${this.records + 1} has ${n} sources, earlier records ${this.sources}`);
    }
    this.records++;
    for (let i = 0; i < n; i++) {
      if (a.fused.chosen.clipped[i]) this.clip.chosen[i]++;
      if (a.fused.rejected.clipped[i]) this.clip.rejected[i]++;
    }
    if (a.fused.chosen.selected !== null) this.sel.chosen[a.fused.chosen.selected]++;
    if (a.fused.rejected.selected !== null) this.sel.rejected[a.fused.rejected.selected]++;
    const pivotMargin = a.scores.pivotChosen - a.scores.pivotRejected;
    const fusedMargin = a.columns.fused_chosen_logps - a.columns.fused_rejected_logps;
    if (fusedMargin >= pivotMargin) this.atLeast++;
    const row = [pivotMargin, fusedMargin, fusedMargin - pivotMargin, a.columns.loss, a.columns.disparity_weight];
    QUANTITIES.forEach((q, i) => this.run[q].add(row[i]));
    this.res.offer(row);
  }

  summary(): FuseSummary {
    const n = this.records;
    const rate = (xs: number[]) => xs.map((c) => (n ? c / n : NaN));
    const pooled = (xs: number[]) => (n && xs.length ? xs.reduce((a, b) => a + b, 0) / (n * xs.length) : NaN);
    const col = (q: Quantity) => this.res.column(QUANTITIES.indexOf(q));
    return {
      records: n,
      sources: Math.max(this.sources, 0),
      settings: this.settings,
      clipRate: { chosen: rate(this.clip.chosen), rejected: rate(this.clip.rejected) },
      clipRateAll: { chosen: pooled(this.clip.chosen), rejected: pooled(this.clip.rejected) },
      selection: this.settings.strategy === "max-margin" ? { chosen: [...this.sel.chosen], rejected: [...this.sel.rejected] } : null,
      pivotMargin: this.run.pivot.summary(col("pivot")),
      fusedMargin: this.run.fused.summary(col("fused")),
      marginGain: this.run.gain.summary(col("gain")),
      fusedAtLeastPivot: n ? this.atLeast / n : NaN,
      loss: this.run.loss.summary(col("loss")),
      disparityWeight: this.run.weight.summary(col("weight")),
      marginSample: { pivot: [...col("pivot")], fused: [...col("fused")] },
    };
  }
}

const f = (x: number, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : String(x));
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : "n/a");
const pad = (s: string, n: number) => s.padEnd(n);

/** The human-readable report (`infifpo stats`). */
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

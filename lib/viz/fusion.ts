/**
 * Figures of fusion analysis (infifpo.md, "Final loss and what to log": clip rate, max-margin selection
 * histogram per source, fused margin vs pivot margin, disparity weight). Inputs are structural, so any
 * summary with these fields works — lib/records' `FuseSummary` (what `infifpo stats` prints) does.
 */
import { groupedBarChart, scatterWithDiagonal, type PointGroup } from "./charts";
import type { ChartOptions, Figure, Trace } from "./types";

/** Per-side numbers, one per source. */
export interface PerSource {
  chosen: readonly number[];
  rejected: readonly number[];
}

/** The parts of a fuse summary the fusion figures read. */
export interface MarginSample {
  marginSample: { pivot: readonly number[]; fused: readonly number[] };
}
export interface ClipRates {
  clipRate: PerSource;
}
export interface Selection {
  selection: PerSource | null;
}
export interface LossSummary {
  loss: { mean: number };
  disparityWeight: { mean: number };
}

/** A summary with the label of the settings that produced it (legend and axis text). */
export interface Labeled<T> {
  label: string;
  summary: T;
}

/** Source names for axes: "source 0", "source 1", … */
export function sourceNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `source ${i}`);
}

/** `names` when it has one name per source, the default names when absent; else a RangeError. */
function checkedNames(names: readonly string[] | undefined, n: number): string[] {
  if (!names) return sourceNames(n);
  if (names.length !== n) throw new RangeError(`${names.length} source name(s) for ${n} source(s)`);
  return [...names];
}

/**
 * Fused margin m_fu = ℓ_fu(y_w) − ℓ_fu(y_l) against the pivot margin m_p0 = ℓ_p0(y_w) − ℓ_p0(y_l), one point
 * per record, one colour per setting, with y = x. With clipping every point lies on or above the line.
 *   fusedVsPivotMarginPlot([{ label: "clip", summary }]).data[0].name === "y = x"
 */
export function fusedVsPivotMarginPlot(groups: ReadonlyArray<Labeled<MarginSample>>, opts: ChartOptions = {}): Figure {
  const points: Record<string, PointGroup> = {};
  for (const g of groups) points[g.label] = { x: g.summary.marginSample.pivot, y: g.summary.marginSample.fused };
  return scatterWithDiagonal(points, {
    title: "Fused margin vs pivot margin",
    xTitle: "pivot margin  ℓ_p0(y_w) − ℓ_p0(y_l)",
    yTitle: "fused margin  ℓ_fu(y_w) − ℓ_fu(y_l)",
    ...opts,
  });
}

/**
 * Share of source values changed by clipping, per source and side (chosen: source below the pivot, rejected:
 * source above it). `names`: the sources' names in the file's order (default "source 0", "source 1", …).
 *   clipRatePlot({ clipRate: { chosen: [0.5, 0.1], rejected: [0.2, 0.3] } }).data.map(t => t.name) → ["chosen", "rejected"]
 */
export function clipRatePlot(summary: ClipRates, opts: ChartOptions & { names?: readonly string[] } = {}): Figure {
  const { chosen, rejected } = summary.clipRate;
  if (chosen.length !== rejected.length) throw new RangeError(`clip rates: ${chosen.length} chosen vs ${rejected.length} rejected sources`);
  const { names, ...chart } = opts;
  const fig = groupedBarChart(checkedNames(names, chosen.length), { chosen, rejected }, {
    title: "Clip rate per source and side",
    yTitle: "share of records clipped",
    textFormat: (v) => `${(100 * v).toFixed(0)}%`,
    ...chart,
  });
  fig.layout.yaxis = { ...fig.layout.yaxis, range: [0, 1], tickformat: ".0%" };
  return fig;
}

/**
 * How often max-margin picked each source, per side. Throws for a summary of another strategy (selection null).
 * `names`: the sources' names in the file's order (default "source 0", "source 1", …).
 * With `pivotKept` (records where clipping changed every source, see lib/records/sweep `SweepRow.pivotKept`), those
 * records move from "source 0" — where the lowest-index tie rule files them — to a first bar "pivot (all clipped)".
 *   selectionPlot({ selection: { chosen: [120, 80], rejected: [50, 150] } }).data[0].y → [120, 80]
 *   selectionPlot(s, { pivotKept: { chosen: 100, rejected: 0 } }).data[0].y → [100, 20, 80]
 */
export function selectionPlot(
  summary: Selection,
  opts: ChartOptions & { pivotKept?: { chosen: number; rejected: number }; names?: readonly string[] } = {},
): Figure {
  if (!summary.selection) throw new Error("selectionPlot needs a max-margin summary (its selection is null)");
  const { pivotKept, names: given, ...chart } = opts;
  let { chosen, rejected } = summary.selection;
  let names = checkedNames(given, chosen.length);
  if (pivotKept) {
    for (const side of ["chosen", "rejected"] as const) {
      const first = summary.selection[side][0];
      if (!(pivotKept[side] >= 0 && pivotKept[side] <= first)) {
        throw new RangeError(`pivotKept.${side} = ${pivotKept[side]} but source 0 holds only ${first} ${side} selections`);
      }
    }
    chosen = [pivotKept.chosen, chosen[0] - pivotKept.chosen, ...chosen.slice(1)];
    rejected = [pivotKept.rejected, rejected[0] - pivotKept.rejected, ...rejected.slice(1)];
    names = ["pivot (all clipped)", ...names];
  }
  return groupedBarChart(names, { chosen, rejected }, {
    title: "Max-margin selection per source",
    yTitle: "records",
    textFormat: (v) => String(v),
    ...chart,
  });
}

/**
 * Mean loss −log σ(z) and mean disparity weight σ(−z) at init, one bar per setting, side by side.
 * Dotted lines mark DPO at init (loss ln 2, weight 0.5).
 *   settingsComparisonPlot([{ label: "a", summary }]).data.length === 2
 */
export function settingsComparisonPlot(rows: ReadonlyArray<Labeled<LossSummary>>, opts: ChartOptions = {}): Figure {
  const labels = rows.map((r) => r.label);
  const loss = rows.map((r) => r.summary.loss.mean);
  const weight = rows.map((r) => r.summary.disparityWeight.mean);
  for (const [i, v] of [...loss, ...weight].entries()) {
    if (!Number.isFinite(v)) throw new RangeError(`settingsComparisonPlot: value ${i} is ${v}`);
  }
  const data: Trace[] = [
    { type: "bar", name: "mean loss −log σ(z)", x: labels, y: loss, xaxis: "x", yaxis: "y", text: loss.map((v) => v.toFixed(3)), textposition: "auto" },
    { type: "bar", name: "mean disparity σ(−z)", x: labels, y: weight, xaxis: "x2", yaxis: "y2", text: weight.map((v) => v.toFixed(3)), textposition: "auto" },
  ];
  const dpo = (axis: "y" | "y2", value: number) => ({
    type: "line",
    xref: axis === "y" ? "x domain" : "x2 domain",
    yref: axis,
    x0: 0,
    x1: 1,
    y0: value,
    y1: value,
    line: { dash: "dot", color: "#555", width: 1 },
  });
  return {
    data,
    layout: {
      title: { text: opts.title ?? "Loss and disparity weight at init, per setting" },
      grid: { rows: 2, columns: 1, pattern: "independent" },
      xaxis: { showticklabels: false },
      yaxis: { title: { text: "loss" } },
      xaxis2: { tickangle: -35, automargin: true },
      yaxis2: { title: { text: "σ(−z)" } },
      shapes: [dpo("y", Math.LN2), dpo("y2", 0.5)],
      showlegend: true,
      legend: { orientation: "h", y: 1.08 },
      height: opts.height ?? 620,
      margin: { l: 60, r: 20, t: 80, b: 140 },
      ...(opts.width ? { width: opts.width } : {}),
    },
  };
}

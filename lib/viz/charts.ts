/**
 * Generic plotly figure builders: line charts (training curves), grouped bars, scatter with a reference line,
 * histograms. Each returns a plain {@link Figure}; nothing here touches a DOM or a notebook.
 */
import type { ChartOptions, Figure, Layout, Trace } from "./types";

/** A series: y values (x = 0, 1, 2 …) or explicit x and y of equal length. */
export type Series = readonly number[] | { x: readonly number[]; y: readonly number[] };

function baseLayout(opts: ChartOptions): Layout {
  const layout: Layout = { margin: { l: 60, r: 20, t: opts.title ? 50 : 20, b: 50 } };
  if (opts.title) layout.title = { text: opts.title };
  layout.xaxis = opts.xTitle ? { title: { text: opts.xTitle } } : {};
  layout.yaxis = opts.yTitle ? { title: { text: opts.yTitle } } : {};
  if (opts.width) layout.width = opts.width;
  if (opts.height) layout.height = opts.height;
  return layout;
}

function checkFinite(label: string, values: readonly number[]): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new RangeError(`${label}[${i}] is ${values[i]}, not a finite number`);
  }
}

/**
 * Line chart, one line per named series: e.g. training curves keyed by metric name.
 *   lineChart({ loss: [0.69, 0.6, 0.5] }).data[0] → { type: "scatter", mode: "lines", name: "loss", x: [0, 1, 2], y: [0.69, 0.6, 0.5] }
 */
export function lineChart(series: Readonly<Record<string, Series>>, opts: ChartOptions = {}): Figure {
  const data: Trace[] = [];
  for (const [name, s] of Object.entries(series)) {
    const y = Array.isArray(s) ? [...(s as readonly number[])] : [...(s as { y: readonly number[] }).y];
    const x = Array.isArray(s) ? y.map((_, i) => i) : [...(s as { x: readonly number[] }).x];
    if (x.length !== y.length) throw new RangeError(`series "${name}": ${x.length} x values but ${y.length} y values`);
    checkFinite(`series "${name}" x`, x);
    // Plotly silently drops NaN points, which would hide a diverged run: reject them here.
    checkFinite(`series "${name}" y`, y);
    data.push({ type: "scatter", mode: "lines", name, x, y });
  }
  return { data, layout: baseLayout(opts) };
}

/**
 * Log rows (one object per step, as a trainer writes them) → series per metric, x = `xKey` (default "step").
 * Rows that lack a metric are skipped for that metric only.
 *   seriesFromLog([{ step: 1, loss: 0.7 }, { step: 2, loss: 0.6 }], ["loss"]) → { loss: { x: [1, 2], y: [0.7, 0.6] } }
 */
export function seriesFromLog(
  rows: ReadonlyArray<Readonly<Record<string, unknown>>>,
  metrics: readonly string[],
  xKey = "step",
): Record<string, { x: number[]; y: number[] }> {
  const out: Record<string, { x: number[]; y: number[] }> = {};
  for (const m of metrics) out[m] = { x: [], y: [] };
  rows.forEach((row, i) => {
    const xv = row[xKey];
    const x = typeof xv === "number" ? xv : i;
    for (const m of metrics) {
      const v = row[m];
      if (typeof v === "number" && Number.isFinite(v)) {
        out[m].x.push(x);
        out[m].y.push(v);
      }
    }
  });
  return out;
}

/**
 * Training curves: one line per metric from log rows (TRL metric names such as `loss`, `rewards/margins`).
 *   trainingCurves(rows, ["loss", "eval_loss"]) → a line chart with x = step
 */
export function trainingCurves(
  rows: ReadonlyArray<Readonly<Record<string, unknown>>>,
  metrics: readonly string[],
  opts: ChartOptions & { xKey?: string } = {},
): Figure {
  const { xKey = "step", ...chart } = opts;
  return lineChart(seriesFromLog(rows, metrics, xKey), { xTitle: xKey, ...chart });
}

/**
 * Grouped bar chart: one bar trace per named series over shared categories.
 *   groupedBarChart(["A", "B"], { chosen: [0.1, 0.2], rejected: [0.3, 0] }).data.length === 2
 */
export function groupedBarChart(
  categories: readonly string[],
  series: Readonly<Record<string, readonly number[]>>,
  opts: ChartOptions & { textFormat?: (v: number) => string } = {},
): Figure {
  const data: Trace[] = [];
  for (const [name, values] of Object.entries(series)) {
    if (values.length !== categories.length) {
      throw new RangeError(`series "${name}": ${values.length} values for ${categories.length} categories`);
    }
    checkFinite(`series "${name}"`, values);
    const trace: Trace = { type: "bar", name, x: [...categories], y: [...values] };
    if (opts.textFormat) {
      trace.text = values.map(opts.textFormat);
      // Above the bar: "auto" rotates labels that do not fit inside a short bar.
      trace.textposition = "outside";
      trace.cliponaxis = false;
    }
    data.push(trace);
  }
  const layout = baseLayout(opts);
  layout.barmode = "group";
  return { data, layout };
}

/** A group of points for {@link scatterWithDiagonal}. */
export interface PointGroup {
  x: readonly number[];
  y: readonly number[];
  /** Hover text per point (e.g. the record index). */
  text?: readonly string[];
}

/**
 * Scatter of named point groups plus the y = x line over the data's range (drawn first, dashed, grey).
 *   scatterWithDiagonal({ a: { x: [0, 1], y: [0, 2] } }).data[0].name === "y = x"
 */
export function scatterWithDiagonal(groups: Readonly<Record<string, PointGroup>>, opts: ChartOptions = {}): Figure {
  let lo = Infinity;
  let hi = -Infinity;
  const traces: Trace[] = [];
  for (const [name, g] of Object.entries(groups)) {
    if (g.x.length !== g.y.length) throw new RangeError(`group "${name}": ${g.x.length} x values but ${g.y.length} y values`);
    checkFinite(`group "${name}" x`, g.x);
    checkFinite(`group "${name}" y`, g.y);
    for (const v of [...g.x, ...g.y]) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const trace: Trace = { type: "scatter", mode: "markers", name, x: [...g.x], y: [...g.y], marker: { size: 7, opacity: 0.75 } };
    if (g.text) trace.text = [...g.text];
    traces.push(trace);
  }
  if (!Number.isFinite(lo)) {
    lo = 0;
    hi = 1;
  }
  const pad = (hi - lo) * 0.05 || 0.5;
  const diagonal: Trace = {
    type: "scatter",
    mode: "lines",
    name: "y = x",
    x: [lo - pad, hi + pad],
    y: [lo - pad, hi + pad],
    line: { dash: "dash", color: "#888", width: 1 },
    hoverinfo: "skip",
  };
  return { data: [diagonal, ...traces], layout: baseLayout(opts) };
}

/**
 * Histogram of raw values, one overlaid trace per named group.
 *   histogram({ loss: [0.5, 0.7, 0.7] }).data[0].type === "histogram"
 */
export function histogram(groups: Readonly<Record<string, readonly number[]>>, opts: ChartOptions & { nbins?: number } = {}): Figure {
  const data: Trace[] = Object.entries(groups).map(([name, values]) => {
    checkFinite(`group "${name}"`, values);
    const t: Trace = { type: "histogram", name, x: [...values], opacity: 0.7 };
    if (opts.nbins) t.nbinsx = opts.nbins;
    return t;
  });
  const layout = baseLayout(opts);
  layout.barmode = "overlay";
  return { data, layout };
}

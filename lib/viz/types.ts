/**
 * Plain plotly figure specs: `{data, layout}` objects that `Plotly.newPlot(div, data, layout)` accepts.
 * Deliberately minimal, self-written types: plotly's own typings pull in DOM types, which neither tslab
 * (TypeScript 5.0.4, lib es2022) nor this project's tsconfig load. Builders return JSON-safe values only,
 * so a figure can be asserted in a test, saved as JSON, shown in a notebook or rendered to PNG/SVG.
 */

/** One plotly trace (`scatter`, `bar`, …); only the fields the builders use are named. */
export interface Trace {
  type: "scatter" | "bar" | "histogram";
  name?: string;
  x?: Array<number | string>;
  y?: Array<number | string>;
  mode?: "lines" | "markers" | "lines+markers" | "text";
  text?: string[];
  hovertemplate?: string;
  marker?: Record<string, unknown>;
  line?: Record<string, unknown>;
  xaxis?: string;
  yaxis?: string;
  showlegend?: boolean;
  legendgroup?: string;
  [key: string]: unknown;
}

/** Plotly layout: title and axes named, anything else passed through. */
export interface Layout {
  title?: { text: string };
  xaxis?: Record<string, unknown>;
  yaxis?: Record<string, unknown>;
  barmode?: "group" | "stack" | "overlay" | "relative";
  width?: number;
  height?: number;
  [key: string]: unknown;
}

/** A complete figure: what `showPlot`, `figureHtml` and `npm run figures` consume. */
export interface Figure {
  data: Trace[];
  layout: Layout;
  /** Plotly config (responsive, displaylogo …); optional. */
  config?: Record<string, unknown>;
}

/** Common text options of every builder. */
export interface ChartOptions {
  title?: string;
  xTitle?: string;
  yTitle?: string;
  width?: number;
  height?: number;
}

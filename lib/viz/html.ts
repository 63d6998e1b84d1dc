/**
 * HTML and Jupyter mime bundles for plotly figures: pure string builders, shared by the notebook display
 * helpers (./notebook.ts) and the headless renderer (scripts/figures.ts).
 *
 * Why this shape (see docs/stack.md, "Notebooks"):
 * - the plotly.js bundle (~4.8 MB) is sent ONCE per notebook, then each figure is one small `<div>` plus a
 *   `Plotly.newPlot` call: the same HTML works in JupyterLab, classic Notebook and nbconvert's HTML export;
 * - classic Notebook loads RequireJS, and a UMD bundle that sees `define.amd` registers itself as an anonymous
 *   AMD module instead of setting `window.Plotly` (and RequireJS then throws "Mismatched anonymous define()"):
 *   `define` is hidden while the bundle runs and restored afterwards;
 * - the `application/vnd.plotly.v1+json` entry rides in the same display bundle, so front ends with a plotly
 *   renderer (JupyterLab's plotly extension, VS Code) use it and every other one falls back to the HTML.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import type { Figure } from "./types";

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";
/** CSS class on every figure `<div>`: the notebook runner counts plots by it. */
export const PLOT_DIV_CLASS = "infifpo-plot";
/** Marker on the bundle's `<script>`, so a rendered page can be checked for it. */
export const PLOTLY_BUNDLE_ID = "infifpo-plotly-bundle";

/** Path of the installed plotly.js-dist-min bundle, resolved from the working directory (the project root
 *  in tslab and npm scripts). */
export function plotlyBundlePath(from: string = process.cwd()): string {
  const req = createRequire(path.join(from, "package.json"));
  return req.resolve("plotly.js-dist-min");
}

let cachedBundle: { file: string; source: string } | undefined;

/** The plotly.js source text (read once per process). */
export function plotlyBundleSource(file: string = plotlyBundlePath()): string {
  if (cachedBundle?.file !== file) cachedBundle = { file, source: readFileSync(file, "utf8") };
  return cachedBundle.source;
}

/** Makes text safe inside an inline `<script>`: a literal `</script` (or `<!--`) would end it early. */
export function escapeInlineScript(js: string): string {
  return js.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
}

/**
 * One `<script>` that defines `window.Plotly` from the bundle source with RequireJS's `define` hidden.
 *   plotlyBundleHtml("window.Plotly = {}") → '<script id="infifpo-plotly-bundle">…</script>'
 */
export function plotlyBundleHtml(source: string = plotlyBundleSource()): string {
  return (
    `<script type="text/javascript" id="${PLOTLY_BUNDLE_ID}">\n` +
    "(function () {\n" +
    "  var hiddenDefine = window.define;\n" +
    "  window.define = undefined;\n" +
    "  try {\n" +
    escapeInlineScript(source) +
    "\n  } finally {\n" +
    "    window.define = hiddenDefine;\n" +
    "  }\n" +
    "})();\n" +
    "</script>"
  );
}

/** JSON for embedding inside a `<script>`; also escapes U+2028/2029 (invalid in older JS string literals). */
function scriptJson(value: unknown): string {
  return escapeInlineScript(JSON.stringify(value)).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

/** Default plotly config for notebooks and exports: no plotly logo, responsive width. */
export const DEFAULT_PLOT_CONFIG: Readonly<Record<string, unknown>> = Object.freeze({ responsive: true, displaylogo: false });

/**
 * A `<div>` and the script that draws `fig` into it. The script waits (up to ~10 s) for `window.Plotly`, so it
 * still works when the bundle output renders a moment later; if plotly never arrives it says so in the div.
 *   figureHtml(fig, "p1") → '<div id="p1" class="infifpo-plot" …></div><script>…Plotly.newPlot("p1", …)</script>'
 */
export function figureHtml(fig: Figure, divId: string): string {
  if (!/^[A-Za-z][\w-]*$/.test(divId)) throw new Error(`invalid div id "${divId}"`);
  const height = typeof fig.layout.height === "number" ? fig.layout.height : 420;
  const config = { ...DEFAULT_PLOT_CONFIG, ...(fig.config ?? {}) };
  return (
    `<div id="${divId}" class="${PLOT_DIV_CLASS}" style="width:100%;height:${height}px;"></div>\n` +
    `<script type="text/javascript">\n` +
    "(function () {\n" +
    `  var id = ${JSON.stringify(divId)}, tries = 0;\n` +
    `  var data = ${scriptJson(fig.data)};\n` +
    `  var layout = ${scriptJson(fig.layout)};\n` +
    `  var config = ${scriptJson(config)};\n` +
    "  function draw() {\n" +
    "    var el = document.getElementById(id);\n" +
    "    if (!el) return;\n" +
    "    if (window.Plotly) { window.Plotly.newPlot(el, data, layout, config); return; }\n" +
    "    if (tries++ < 200) { setTimeout(draw, 50); return; }\n" +
    '    el.textContent = "plotly.js is not loaded: run plotlyInit() (lib/viz/notebook) in an earlier cell.";\n' +
    "  }\n" +
    "  draw();\n" +
    "})();\n" +
    "</script>"
  );
}

/** A short plain-text stand-in for a figure (text-only front ends, logs). */
export function figureText(fig: Figure): string {
  const title = fig.layout.title?.text ?? "untitled";
  const traces = fig.data.map((t) => `${t.type}${t.name ? ` "${t.name}"` : ""}`).join(", ");
  return `<Plotly figure: ${title}; ${fig.data.length} trace(s): ${traces}>`;
}

/**
 * The Jupyter display bundle for one figure: HTML (div + newPlot), the plotly JSON mime and plain text.
 *   Object.keys(figureMimeBundle(fig, "p1")) → ["text/html", "application/vnd.plotly.v1+json", "text/plain"]
 */
export function figureMimeBundle(fig: Figure, divId: string): Record<string, unknown> {
  return {
    "text/html": figureHtml(fig, divId),
    [PLOTLY_MIME]: JSON.parse(JSON.stringify({ data: fig.data, layout: fig.layout, config: fig.config ?? {} })),
    "text/plain": figureText(fig),
  };
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A table: column names and row values (a danfo DataFrame has both: `df.columns`, `df.values`). */
export interface TableLike {
  columns: readonly string[];
  values: ReadonlyArray<ReadonlyArray<unknown>> | ReadonlyArray<unknown>;
}

function formatCell(v: unknown, digits: number): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(digits);
  if (v === null || v === undefined) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

/**
 * A plain HTML table (first `maxRows` rows, numbers to `digits` decimals) — what `showTable` displays.
 *   tableHtml({ columns: ["a"], values: [[1.23456]] }, { digits: 2 }) contains "<td>1.23</td>"
 */
export function tableHtml(table: TableLike, opts: { maxRows?: number; digits?: number; index?: boolean } = {}): string {
  const { maxRows = 20, digits = 5, index = true } = opts;
  const rows = (table.values as ReadonlyArray<unknown>).map((r) => (Array.isArray(r) ? r : [r]));
  const shown = rows.slice(0, maxRows);
  const head = (index ? ["<th></th>"] : []).concat(table.columns.map((c) => `<th>${escapeHtml(String(c))}</th>`));
  const body = shown.map(
    (r, i) =>
      "<tr>" +
      (index ? `<th>${i}</th>` : "") +
      r.map((v: unknown) => `<td>${escapeHtml(formatCell(v, digits))}</td>`).join("") +
      "</tr>",
  );
  const more = rows.length > shown.length ? `<p>${rows.length - shown.length} more row(s) of ${rows.length}</p>` : "";
  // Wide tables scroll inside their output instead of overflowing the page (nbconvert HTML has no output scroller).
  return (
    `<div style="overflow-x:auto;max-width:100%"><table class="dataframe infifpo-table"><thead><tr>${head.join("")}</tr></thead>` +
    `<tbody>${body.join("")}</tbody></table></div>${more}`
  );
}

/** The same table as fixed-width text (text-only front ends). */
export function tableText(table: TableLike, opts: { maxRows?: number; digits?: number } = {}): string {
  const { maxRows = 20, digits = 5 } = opts;
  const rows = (table.values as ReadonlyArray<unknown>).map((r) => (Array.isArray(r) ? r : [r]));
  const cells = [table.columns.map(String), ...rows.slice(0, maxRows).map((r) => r.map((v: unknown) => formatCell(v, digits)))];
  const widths = table.columns.map((_, j) => Math.max(...cells.map((r) => (r[j] ?? "").length)));
  const lines = cells.map((r) => r.map((c, j) => (c ?? "").padStart(widths[j])).join("  "));
  if (rows.length > maxRows) lines.push(`… ${rows.length - maxRows} more row(s) of ${rows.length}`);
  return lines.join("\n");
}

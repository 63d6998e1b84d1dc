/**
 * HTML and Jupyter mime bundles for plotly figures: pure string builders, shared by the notebook display
 * helpers (./notebook.ts), the notebook runner and share step (scripts/notebooks*.ts) and the HTML report.
 *
 * Why this shape (see docs/stack.md, "Notebooks"):
 * - the plotly.js bundle (~4.8 MB) is sent at most ONCE per notebook, then each figure is one small `<div>` plus a
 *   `Plotly.newPlot` call: the same HTML works in JupyterLab, Notebook 7, classic Notebook and nbconvert's HTML export;
 * - each figure's `<div>` holds its static picture (a PNG `<img>`), which the script replaces by the plot. Where a
 *   front end may not run the output's scripts (an untrusted notebook in JupyterLab / Notebook 7, GitHub, an HTML
 *   page without JavaScript) the sanitised HTML keeps the picture; JupyterLab prefers sanitised HTML over an
 *   `image/png` entry, so the picture has to live inside the HTML. No picture → a sentence saying why, never a
 *   blank box;
 * - classic Notebook loads RequireJS, and a UMD bundle that sees `define.amd` registers itself as an anonymous
 *   AMD module instead of setting `window.Plotly` (and RequireJS then throws "Mismatched anonymous define()"):
 *   `define` is hidden while the bundle runs and restored afterwards;
 * - the `application/vnd.plotly.v1+json` entry rides in the same display bundle, so front ends with a plotly
 *   renderer (JupyterLab's plotly extension, VS Code) draw the interactive plot from it, trusted or not.
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

/** A figure's static picture: a base64 PNG and the CSS size it was drawn at (it may have more pixels). */
export interface Picture {
  png: string;
  width: number;
  height: number;
}

/** CSS class of the static picture inside a figure's `<div>`, and of the note shown where there is none. */
export const PICTURE_CLASS = "infifpo-picture";
export const NO_PICTURE_CLASS = "infifpo-no-picture";

/** The figure's title, or "untitled". */
export function figureTitle(fig: Figure): string {
  const t = fig.layout.title;
  return (typeof t === "string" ? t : t?.text) || "untitled";
}

/**
 * What a figure's `<div>` holds before (or without) JavaScript: its static picture, or, where there is none, a
 * sentence saying so and why — never an empty box. Both survive JupyterLab's sanitiser for untrusted output
 * (it keeps `<img>` with a `data:` source, `class`, `id`, `alt`, `width` and inline `style`).
 */
export function staticFigureHtml(fig: Figure, picture?: Picture, reason?: string): string {
  const title = escapeHtml(figureTitle(fig));
  if (picture) {
    if (!/^[A-Za-z0-9+/]+=*$/.test(picture.png)) throw new Error("picture.png must be base64");
    return (
      `<img class="${PICTURE_CLASS}" src="data:image/png;base64,${picture.png}" alt="${title} (static picture of an interactive plotly figure)" ` +
      `width="${Math.round(picture.width)}" style="max-width:100%;height:auto;">`
    );
  }
  return (
    `<p class="${NO_PICTURE_CLASS}" style="border:1px dashed #999;padding:8px;color:#555;">` +
    `Figure “${title}” (${fig.data.length} trace${fig.data.length === 1 ? "" : "s"}) is not drawn here: it has no static picture` +
    (reason ? ` (${escapeHtml(reason)})` : "") +
    ", and its interactive plot needs JavaScript with plotly.js, which did not run here.</p>"
  );
}

/**
 * A `<div>` holding the static picture (or a note, see {@link staticFigureHtml}) and the script that replaces it by
 * the interactive plot. The script runs only where the front end runs this output's scripts (a live or trusted
 * notebook, an HTML export opened with JavaScript on); it waits (up to ~10 s) for `window.Plotly`, so it still works
 * when the bundle output renders a moment later, and leaves the picture in place if plotly.js never arrives.
 *   figureHtml(fig, "p1") → '<div id="p1" class="infifpo-plot"><p class="infifpo-no-picture">…</p></div><script>…Plotly.newPlot…</script>'
 */
export function figureHtml(fig: Figure, divId: string, picture?: Picture, reason?: string): string {
  if (!/^[A-Za-z][\w-]*$/.test(divId)) throw new Error(`invalid div id "${divId}"`);
  const height = typeof fig.layout.height === "number" ? fig.layout.height : 420;
  const config = { ...DEFAULT_PLOT_CONFIG, ...(fig.config ?? {}) };
  return (
    `<div id="${divId}" class="${PLOT_DIV_CLASS}">${staticFigureHtml(fig, picture, reason)}</div>\n` +
    `<script type="text/javascript">\n` +
    "(function () {\n" +
    `  var id = ${JSON.stringify(divId)}, height = ${height}, tries = 0;\n` +
    `  var data = ${scriptJson(fig.data)};\n` +
    `  var layout = ${scriptJson(fig.layout)};\n` +
    `  var config = ${scriptJson(config)};\n` +
    "  function draw() {\n" +
    "    var el = document.getElementById(id);\n" +
    "    if (!el) return;\n" +
    "    if (window.Plotly) {\n" +
    "      while (el.firstChild) el.removeChild(el.firstChild);\n" +
    '      el.style.width = "100%";\n' +
    '      el.style.height = height + "px";\n' +
    "      window.Plotly.newPlot(el, data, layout, config);\n" +
    "      return;\n" +
    "    }\n" +
    "    if (tries++ < 200) setTimeout(draw, 50);\n" +
    "  }\n" +
    "  draw();\n" +
    "})();\n" +
    "</script>"
  );
}

/** A short plain-text stand-in for a figure (text-only front ends, logs). */
export function figureText(fig: Figure): string {
  const traces = fig.data.map((t) => `${t.type}${t.name ? ` "${t.name}"` : ""}`).join(", ");
  return `<Plotly figure: ${figureTitle(fig)}; ${fig.data.length} trace(s): ${traces}>`;
}

/** A Jupyter display message's content: the mime bundle and its metadata. */
export interface DisplayContent {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

/**
 * The Jupyter display bundle for one figure: HTML (the picture or a note, plus the script that draws the plot),
 * the plotly JSON mime (JupyterLab with `jupyterlab-plotly`, VS Code), the picture as `image/png` where there is
 * one (exporters and viewers that take no HTML: LaTeX/PDF, Markdown) and plain text.
 *   Object.keys(figureDisplay(fig, "p1", pic).data) → ["text/html", "application/vnd.plotly.v1+json", "image/png", "text/plain"]
 */
export function figureDisplay(fig: Figure, divId: string, picture?: Picture, reason?: string): DisplayContent {
  const data: Record<string, unknown> = {
    "text/html": figureHtml(fig, divId, picture, reason),
    [PLOTLY_MIME]: JSON.parse(JSON.stringify({ data: fig.data, layout: fig.layout, config: fig.config ?? {} })),
  };
  const metadata: Record<string, unknown> = {};
  if (picture) {
    data["image/png"] = picture.png;
    metadata["image/png"] = { width: Math.round(picture.width), height: Math.round(picture.height) };
  }
  data["text/plain"] = figureText(fig);
  return { data, metadata };
}

/** {@link figureDisplay}'s mime bundle alone. */
export function figureMimeBundle(fig: Figure, divId: string, picture?: Picture, reason?: string): Record<string, unknown> {
  return figureDisplay(fig, divId, picture, reason).data;
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

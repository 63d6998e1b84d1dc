/**
 * Display helpers for tslab notebooks: plotly figures and tables inline in JupyterLab, Notebook 7, classic
 * Notebook and nbconvert's HTML export. Everything shown is built by the pure functions of ./html.ts, which the
 * tests cover.
 *
 *   import { plotlyInit, showPlot } from "./lib";
 *   plotlyInit();                       // once, in an early cell: sends the plotly.js bundle
 *   showPlot(lineChart({ loss: [0.69, 0.5] }, { title: "loss" }));
 *
 * Each figure output carries a static PNG picture (made here with headless Chromium, see ./render.ts) inside its
 * HTML and as `image/png`, so a saved notebook shows its figures where scripts may not run (an untrusted notebook,
 * GitHub, an HTML page without JavaScript). Without Chromium the output says so in words, and
 * `npm run notebooks` / `npm run notebooks:share` add the pictures after the run. INFIFPO_NOTEBOOK_PICTURES=0
 * turns the kernel's pictures off.
 */
import { createRequire } from "node:module";
import * as path from "node:path";
import { figureDisplay, plotlyBundleHtml, tableHtml, tableText, type Picture, type TableLike } from "./html";
import { renderPictureSync } from "./render";
import type { Figure } from "./types";

// tslab is loaded on the first display, not at import: lib/index.ts re-exports this module, and the CLI and the
// tests must not pay for tslab (its TypeScript, its ZeroMQ binding). Resolved from the working directory (the
// project root in a kernel, see jupyter/kernels/tslab/start.cjs), it is the module instance the kernel runs.
// tslab's public `display.raw` sends ONE mime type per output; a figure wants text/html, the plotly JSON and the
// picture side by side in one bundle so that each front end picks what it renders. The kernel's own writer is the
// process-wide `lastWriteDisplayData` of tslab's jupyter module; when it is not there (tslab changed) we fall back
// to the HTML alone.
interface Tslab {
  display: { html(s: string): void };
}
function tslabModules(): { tslab: Tslab; jupyter: { lastWriteDisplayData?: unknown } } {
  const req = createRequire(path.join(process.cwd(), "package.json"));
  try {
    return { tslab: req("tslab") as Tslab, jupyter: req("tslab/dist/jupyter") as { lastWriteDisplayData?: unknown } };
  } catch (e) {
    throw new Error(`showPlot / showTable / plotlyInit display in a tslab notebook kernel; tslab could not be loaded here (${(e as Error).message.split("\n")[0]})`);
  }
}

interface PlotState {
  initialized: boolean;
  counter: number;
  session: string;
}

// Kept on globalThis: tslab may reload this module when its source changes, the kernel state must survive.
const STATE_KEY = "__infifpoPlotState";
function state(): PlotState {
  const g = globalThis as unknown as Record<string, PlotState | undefined>;
  if (!g[STATE_KEY]) {
    g[STATE_KEY] = { initialized: false, counter: 0, session: Math.random().toString(36).slice(2, 8) };
  }
  return g[STATE_KEY] as PlotState;
}

function writeBundle(data: Record<string, unknown>, metadata: Record<string, unknown> = {}): void {
  const { tslab, jupyter } = tslabModules();
  const write = jupyter.lastWriteDisplayData;
  if (typeof write === "function") {
    (write as (d: unknown, update: boolean) => void)({ data, metadata, transient: {} }, false);
  } else {
    tslab.display.html(String(data["text/html"]));
  }
}

/**
 * Sends the plotly.js bundle to the notebook. Call it once near the top of a notebook: every re-run sends
 * it again on purpose, so a notebook re-executed in a live kernel still carries the bundle in its saved
 * outputs (and in its HTML export).
 */
export function plotlyInit(): void {
  tslabModules().tslab.display.html(plotlyBundleHtml());
  state().initialized = true;
}

/** Shows one figure with its static picture (sending the plotly bundle first if this kernel has not yet).
 *  Returns nothing, so a cell ending in `showPlot(…)` prints no value. */
export function showPlot(fig: Figure): void {
  const s = state();
  if (!s.initialized) plotlyInit();
  const divId = `infifpo-plot-${s.session}-${++s.counter}`;
  let picture: Picture | undefined;
  let reason: string | undefined;
  if (process.env.INFIFPO_NOTEBOOK_PICTURES === "0") {
    reason = "INFIFPO_NOTEBOOK_PICTURES=0 in the kernel";
  } else {
    const r = renderPictureSync(fig);
    if (r.ok) picture = { png: r.png, width: r.width, height: r.height };
    else reason = r.reason;
  }
  if (reason) reason += "; `npm run notebooks:share` adds the pictures after a run";
  const d = figureDisplay(fig, divId, picture, reason);
  writeBundle(d.data, d.metadata);
}

/** Shows a table (a danfo DataFrame or `{columns, values}`) as HTML, with a text fallback. */
export function showTable(table: TableLike, opts: { maxRows?: number; digits?: number; index?: boolean } = {}): void {
  writeBundle({ "text/html": tableHtml(table, opts), "text/plain": tableText(table, opts) });
}

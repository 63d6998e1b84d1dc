/**
 * The figure outputs of an executed notebook, as lib/viz/notebook.ts writes them (an `application/vnd.plotly.v1+json`
 * entry beside the HTML), and what the runner and `npm run notebooks:share` do to them after a run: add the static
 * picture where the kernel could not make one (no Chromium in the kernel), and drop the plotly.js bundle from a
 * shared file whose pictures stand in for it. Pure except {@link addPictures}, which takes the renderer as a function.
 */
import { figureDisplay, PLOTLY_BUNDLE_ID, PLOTLY_MIME, type Picture } from "../lib/viz/html";
import type { Figure } from "../lib/viz/types";
import type { Notebook, NotebookOutput } from "./notebooks-core";

/** Joins Jupyter's string-or-list-of-lines form. */
export function mimeText(v: unknown): string {
  return Array.isArray(v) ? v.join("") : typeof v === "string" ? v : "";
}

export interface FigureOutput {
  cell: number;
  output: NotebookOutput;
  figure: Figure;
  /** The figure div's id in the output's HTML (kept when the output is rebuilt). */
  divId: string;
  hasPicture: boolean;
}

/** Every figure output (display_data / execute_result carrying the plotly JSON), in notebook order. */
export function figureOutputs(nb: Notebook): FigureOutput[] {
  const found: FigureOutput[] = [];
  nb.cells.forEach((c, cell) => {
    for (const output of c.outputs ?? []) {
      if (output.output_type !== "display_data" && output.output_type !== "execute_result") continue;
      const spec = output.data?.[PLOTLY_MIME] as Figure | undefined;
      if (!spec || !Array.isArray(spec.data)) continue;
      const html = mimeText(output.data?.["text/html"]);
      const id = /<div id="([A-Za-z][\w-]*)" class="infifpo-plot"/.exec(html)?.[1] ?? `infifpo-plot-c${cell}-${found.length + 1}`;
      const figure: Figure = { data: spec.data, layout: spec.layout ?? {}, ...(spec.config && Object.keys(spec.config).length ? { config: spec.config } : {}) };
      found.push({ cell, output, figure, divId: id, hasPicture: typeof output.data?.["image/png"] === "string" || Array.isArray(output.data?.["image/png"]) });
    }
  });
  return found;
}

/** Rebuilds one figure output with its picture (same div id, same plotly JSON); mutates the output. */
export function setPicture(f: FigureOutput, picture: Picture): void {
  const d = figureDisplay(f.figure, f.divId, picture);
  f.output.data = d.data;
  f.output.metadata = { ...(f.output.metadata ?? {}), ...d.metadata };
  f.hasPicture = true;
}

/**
 * Adds a static picture to every figure output that has none, with `render` (headless Chromium in practice).
 * Returns how many were added; mutates `nb`.
 */
export async function addPictures(nb: Notebook, render: (fig: Figure) => Promise<Picture>): Promise<number> {
  let added = 0;
  for (const f of figureOutputs(nb)) {
    if (f.hasPicture) continue;
    setPicture(f, await render(f.figure));
    added++;
  }
  return added;
}

/** True for an output that carries the plotly.js bundle (what `plotlyInit()` sends). */
export function isPlotlyBundleOutput(o: NotebookOutput): boolean {
  return mimeText(o.data?.["text/html"]).includes(`id="${PLOTLY_BUNDLE_ID}"`);
}

/** Outputs carrying the plotly.js bundle (cell index, output index). */
export function plotlyBundleOutputs(nb: Notebook): { cell: number; index: number }[] {
  const at: { cell: number; index: number }[] = [];
  nb.cells.forEach((c, cell) => (c.outputs ?? []).forEach((o, index) => isPlotlyBundleOutput(o) && at.push({ cell, index })));
  return at;
}

/** A copy of `nb` with at most `keep` (0 or 1) plotly.js bundle outputs: the first is kept when keep = 1. */
export function withPlotlyBundles(nb: Notebook, keep: 0 | 1): Notebook {
  const out: Notebook = JSON.parse(JSON.stringify(nb));
  let kept = 0;
  for (const c of out.cells) {
    if (!c.outputs) continue;
    c.outputs = c.outputs.filter((o) => !isPlotlyBundleOutput(o) || kept++ < keep);
  }
  return out;
}

/** Figures, and how many carry a picture. */
export function pictureCounts(nb: Notebook): { figures: number; pictures: number } {
  const figs = figureOutputs(nb);
  return { figures: figs.length, pictures: figs.filter((f) => f.hasPicture).length };
}

import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { figureDisplay, lineChart, plotlyBundleHtml, plotlyBundleSource, type Figure } from "../lib/viz";
import { FigureRenderer, findChromium } from "../lib/viz/render";
import { checkNotebookHtml } from "../scripts/html-check";
import { readNotebook, writeNotebook, type Notebook, type NotebookOutput } from "../scripts/notebooks-core";
import { addPictures, figureOutputs, pictureCounts, plotlyBundleOutputs, withPlotlyBundles } from "../scripts/notebooks-figures";
import { findJupyterPython } from "../scripts/notebooks";
import { isFrontEndError } from "../scripts/notebooks-browser";
import { shareNotebook } from "../scripts/notebooks-share";

const figA = lineChart({ loss: [0.69, 0.5, 0.41] }, { title: "loss" });
const figB = lineChart({ acc: [0.5, 0.7] }, { title: "accuracy" });

function display(fig: Figure, id: string, picture = false): NotebookOutput {
  const d = figureDisplay(fig, id, picture ? { png: "iVBORw0KGgo=", width: 800, height: 420 } : undefined, picture ? undefined : "no Chromium in the kernel");
  return { output_type: "display_data", data: d.data, metadata: d.metadata };
}

/** An executed notebook as lib/viz/notebook.ts writes it: the plotly.js bundle, then figures (one with a picture). */
function executed(bundle = "window.Plotly = {};"): Notebook {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "tslab", display_name: "TypeScript", language: "typescript" } },
    cells: [
      { cell_type: "code", id: "a", metadata: {}, source: "plotlyInit();", execution_count: 1, outputs: [{ output_type: "display_data", data: { "text/html": plotlyBundleHtml(bundle) }, metadata: {} }] },
      { cell_type: "markdown", id: "b", metadata: {}, source: "text" },
      { cell_type: "code", id: "c", metadata: {}, source: "showPlot(a); showPlot(b);", execution_count: 2, outputs: [display(figA, "infifpo-plot-x-1"), { output_type: "stream", name: "stdout", text: "hi\n" }, display(figB, "infifpo-plot-x-2", true)] },
    ],
  };
}

describe("figure outputs of an executed notebook", () => {
  it("finds every figure with its div id, figure and whether it has a picture", () => {
    const figs = figureOutputs(executed());
    expect(figs.map((f) => [f.cell, f.divId, f.hasPicture, f.figure.layout.title])).toEqual([
      [2, "infifpo-plot-x-1", false, { text: "loss" }],
      [2, "infifpo-plot-x-2", true, { text: "accuracy" }],
    ]);
    expect(figs[0].figure.data).toEqual(figA.data);
    expect(pictureCounts(executed())).toEqual({ figures: 2, pictures: 1 });
  });

  it("addPictures renders only the figures without one and rebuilds their output around the same div", async () => {
    const nb = executed();
    const asked: string[] = [];
    const added = await addPictures(nb, async (fig) => {
      asked.push(String(fig.layout.title?.text));
      return { png: "QUJD", width: 700, height: 400 };
    });
    expect(added).toBe(1);
    expect(asked).toEqual(["loss"]);
    const out = nb.cells[2].outputs![0];
    expect(out.data!["image/png"]).toBe("QUJD");
    expect(out.metadata).toEqual({ "image/png": { width: 700, height: 400 } });
    const html = String(out.data!["text/html"]);
    expect(html).toContain('<div id="infifpo-plot-x-1" class="infifpo-plot"><img class="infifpo-picture" src="data:image/png;base64,QUJD"');
    expect(html).not.toContain("is not drawn here");
    expect(pictureCounts(nb)).toEqual({ figures: 2, pictures: 2 });
    expect(await addPictures(nb, async () => { throw new Error("not called"); })).toBe(0);
  });

  it("withPlotlyBundles keeps at most one plotly.js output, and none when asked", () => {
    const nb = executed();
    nb.cells[2].outputs!.push(nb.cells[0].outputs![0]); // a second plotlyInit()
    expect(plotlyBundleOutputs(nb)).toEqual([{ cell: 0, index: 0 }, { cell: 2, index: 3 }]);
    expect(plotlyBundleOutputs(withPlotlyBundles(nb, 1))).toEqual([{ cell: 0, index: 0 }]);
    const none = withPlotlyBundles(nb, 0);
    expect(plotlyBundleOutputs(none)).toEqual([]);
    expect(figureOutputs(none)).toHaveLength(2);
    expect(plotlyBundleOutputs(nb)).toHaveLength(2); // the input is not changed
  });

  it("isFrontEndError: errors from the server's own bundles only", () => {
    const url = "http://127.0.0.1:8888";
    expect(isFrontEndError("Error: No active debugger session\n    at e.evaluate (http://127.0.0.1:8888/static/notebook/3.abc.js?v=1:1:2345)", url)).toBe(true);
    expect(isFrontEndError("TypeError: x\n    at draw (<anonymous>:12:3)\n    at http://127.0.0.1:8888/static/lab/main.js:1:2", url)).toBe(false);
    expect(isFrontEndError("Error\n    at http://127.0.0.1:9999/static/a.js:1:1", url)).toBe(false);
    expect(isFrontEndError(undefined, url)).toBe(false);
  });
});

const chromium = findChromium();
const python = findJupyterPython();
describe.skipIf(!chromium || !python)(`sharing a notebook${chromium && python ? "" : " (SKIPPED: needs Chromium and Jupyter's nbconvert)"}`, () => {
  it(
    "shareNotebook: pictures added, no plotly.js in the .ipynb, one in a page that loads nothing and shows every picture without JavaScript",
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), "infifpo-share-"));
      const file = path.join(dir, "run.ipynb");
      writeNotebook(file, executed(plotlyBundleSource()));
      const renderer = await FigureRenderer.open(chromium!);
      let s;
      try {
        s = await shareNotebook(file, { outDir: path.join(dir, "share"), python: python!, renderer, name: "demo" });
      } finally {
        await renderer.close();
      }
      expect(s.problems).toEqual([]);
      expect([s.figures, s.pictures, s.added]).toEqual([2, 1, 1]);
      const shared = readNotebook(s.notebook);
      expect(plotlyBundleOutputs(shared)).toEqual([]);
      expect(pictureCounts(shared)).toEqual({ figures: 2, pictures: 2 });
      const png = Buffer.from(String(figureOutputs(shared)[0].output.data!["image/png"]), "base64");
      expect(png.subarray(1, 4).toString()).toBe("PNG"); // a real picture, drawn by Chromium
      expect(existsSync(path.join(dir, "share", "demo.html-source.ipynb"))).toBe(false);
      const html = readFileSync(s.html, "utf8");
      expect(html).not.toMatch(/<script[^>]*src="https?:/);
      expect(html.match(/id="infifpo-plotly-bundle"/g)).toHaveLength(1);
      // Without JavaScript: figA's picture (drawn here) shows; figB kept the test's stand-in, which is no PNG at all,
      // and the check must call that box empty rather than count it.
      const [noscript] = await checkNotebookHtml(s.html, chromium!, 20_000, { modes: ["noscript"] });
      expect([noscript.plots, noscript.drawn]).toEqual([2, 1]);
      expect(noscript.problems).toEqual(["not shown without JavaScript: an empty box"]);
      // With JavaScript: plotly.js (inlined once) draws both.
      const [plain] = await checkNotebookHtml(s.html, chromium!, 20_000, { modes: ["plain"] });
      expect([plain.plots, plain.drawn]).toEqual([2, 2]);
    },
    90_000,
  );
});

import { rmSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser } from "playwright-core";
import { cellSource, readNotebook } from "../scripts/notebooks-core";
import { makeNotebook } from "./notebook-fixtures";
import { CHROMIUM_ARGS, findChromium } from "../lib/viz/render";
import { resolveNotebooks } from "../scripts/notebooks";
import {
  FRONT_ENDS,
  FRONT_END_INSTALL_HINT,
  FRONT_END_NAMES,
  browserCheck,
  findFrontEndPython,
  runNotebookInBrowser,
  startJupyterServer,
  type NotebookServer,
} from "../scripts/notebooks-browser";

// Every notebook run in JupyterLab 4, Notebook 7 and the classic Notebook 6 by headless Chromium ("run all", every
// figure drawn, save + reload), then shared and opened untrusted in fresh servers and as HTML without JavaScript
// (scripts/notebooks-browser.ts). Needs jupyter/.venv (scripts/jupyter-venv.sh), Debian's jupyter-notebook and
// chromium — .ci/run installs them: skipped with the reason without them locally, FAILS under CI=true.
const pythons = Object.fromEntries(FRONT_ENDS.map((fe) => [fe, findFrontEndPython(fe)]));
const missing = FRONT_ENDS.filter((fe) => !pythons[fe]).map((fe) => FRONT_END_NAMES[fe]);
const chromiumPath = findChromium();
if (!chromiumPath) missing.push("Chromium");
const ci = !!process.env.CI && process.env.CI !== "false" && process.env.CI !== "0";
const outDir = path.resolve("runs", "notebooks", "browser-smoke");

if (missing.length && !ci) {
  describe("notebooks in the browser front ends (smoke)", () => {
    it.skip(`SKIPPED: not installed: ${missing.join(", ")}. ${FRONT_END_INSTALL_HINT.replace(/\n/g, " ")}`, () => {});
  });
} else {
  describe("notebooks in the browser front ends (smoke)", () => {
    it("JupyterLab 4, Notebook 7, classic Notebook 6 and Chromium are installed (required under CI)", () => {
      if (missing.length) throw new Error(`not installed: ${missing.join(", ")}\n${FRONT_END_INSTALL_HINT}`);
    });

    // Every notebook in JupyterLab 4 and Notebook 7 (the front ends the issue names); the classic Notebook 6, which
    // shares nothing with them, on the quickstart only (each front end costs a full run of the notebooks).
    const files = missing.length ? [] : resolveNotebooks([]);
    const budgetOf = (f: string) => ((readNotebook(f).metadata.infifpo as { budget_s?: { smoke?: number } }) ?? {}).budget_s?.smoke ?? 300;
    const budget = files.reduce((t, f) => t + budgetOf(f), 0);
    const modern = ["lab", "notebook7"] as const;
    it.skipIf(missing.length > 0)(
      "every notebook in JupyterLab 4 and Notebook 7: run all, every figure drawn, after save + reload still drawn; shared: every figure shown untrusted (stock Lab, Lab + jupyterlab-plotly, NB7) and without JavaScript",
      async () => {
        const report = await browserCheck({ files, frontEnds: modern, preset: "smoke", params: {}, outDir, chromiumPath: chromiumPath!, log: () => {} });
        const failures = [...report.runs, ...report.shared, ...report.html].filter((r) => !r.ok).map((r) => `${r.name}${"frontEnd" in r ? ` (${r.frontEnd})` : ""}: ${r.problems.join("; ")}`);
        expect([...report.missing, ...failures].join("\n")).toBe("");
        expect(report.runs).toHaveLength(files.length * modern.length);
        expect(report.shared).toHaveLength(files.length * (modern.length + 1));
        for (const r of report.runs) expect(r.drawn).toBe(r.plots);
        for (const s of report.shared) {
          expect(s.trusted).toBe(false);
          expect(s.shown.length).toBeGreaterThan(0);
          expect(s.shown.every((x) => x.kind !== "blank")).toBe(true);
        }
        // a stock JupyterLab shows the pictures; with jupyterlab-plotly every figure became a plot
        const stock = report.shared.filter((s) => s.frontEnd === "lab" && !s.plotlyExtension);
        expect(stock.every((s) => s.shown.every((x) => x.kind === "picture"))).toBe(true);
        const withPlotly = report.shared.filter((s) => s.plotlyExtension);
        expect(withPlotly.length).toBe(files.length);
        expect(withPlotly.every((s) => s.shown.every((x) => x.kind === "plot"))).toBe(true);
        expect(report.html.length).toBe(2 * files.length);
        expect(report.html.every((h) => h.plots > 0 && h.drawn === h.plots)).toBe(true);
        expect(report.ok).toBe(true);
      },
      (budget * modern.length + 1200) * 1000,
    );

    it.skipIf(missing.length > 0)(
      "the quickstart in the classic Notebook 6: run all, figures drawn, save + reload; its shared file untrusted there",
      async () => {
        const quick = files.filter((f) => path.basename(f).startsWith("00"));
        const report = await browserCheck({ files: quick, frontEnds: ["classic"], preset: "smoke", params: {}, outDir: `${outDir}-classic`, chromiumPath: chromiumPath!, log: () => {} });
        const failures = [...report.runs, ...report.shared, ...report.html].filter((r) => !r.ok).map((r) => `${r.name}: ${r.problems.join("; ")}`);
        expect([...report.missing, ...failures].join("\n")).toBe("");
        expect(report.runs.map((r) => [r.frontEnd, r.drawn === r.plots && r.plots > 0])).toEqual([["classic", true]]);
        // classic's sanitiser keeps the pictures of an untrusted notebook too
        expect(report.shared.map((s) => [s.frontEnd, s.trusted, s.shown.every((x) => x.kind === "picture")])).toEqual([["classic", false, true]]);
      },
      ((files.length ? budgetOf(files[0]) : 0) + 600) * 1000,
    );
  });

  describe.skipIf(missing.length > 0)("the browser check fails loudly (JupyterLab 4)", () => {
    const dir = path.resolve("runs", "notebooks", "browser-test");
    const make = (name: string, cells: string[], infifpo: Record<string, unknown> = {}) => makeNotebook(dir, name, cells, infifpo);
    let server: NotebookServer;
    let browser: Browser;
    beforeAll(async () => {
      server = await startJupyterServer("lab", pythons.lab!, { plotlyExtension: false });
      browser = await chromium.launch({ executablePath: chromiumPath!, args: CHROMIUM_ARGS, headless: true });
    }, 120_000);
    afterAll(async () => {
      await browser?.close();
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it(
      "a type error: the failing cell's source and tslab's message; later cells are reported as not run",
      async () => {
        const file = make("typeerr", ["let n = 1;", "const s: string = n;", "console.log('never')"]);
        const r = await runNotebookInBrowser(browser, server, file, { preset: "smoke", params: { n: 2 }, outDir: path.join(dir, "out"), log: () => {} });
        expect(r.ok).toBe(false);
        expect(r.problems[0]).toContain("cell 2 failed");
        expect(r.problems[0]).toContain("| const s: string = n;");
        expect(r.problems[0]).toContain("Type 'number' is not assignable to type 'string'");
        expect(r.problems[1]).toContain("cell 3 was not run (an earlier cell failed)");
        expect(cellSource(readNotebook(r.notebook).cells[1])).toContain("n = 2;");
      },
      180_000,
    );

    it(
      "a thrown error and a missing plot",
      async () => {
        const thrown = make("thrown", ["let x = 1;", 'throw new Error("boom " + x);']);
        const r = await runNotebookInBrowser(browser, server, thrown, { preset: "smoke", params: {}, outDir: path.join(dir, "out"), log: () => {} });
        expect(r.problems.join("\n")).toMatch(/cell 1 failed[\s\S]*boom 1/);
        const noPlots = make("noplots", ["let x = 1;", "x + 1"], { expected_plots: 1 });
        const r2 = await runNotebookInBrowser(browser, server, noPlots, { preset: "smoke", params: {}, outDir: path.join(dir, "out"), log: () => {} });
        expect(r2.problems).toEqual(["expected at least 1 drawn plot(s) (metadata.infifpo.expected_plots), found 0"]);
      },
      240_000,
    );
  });
}

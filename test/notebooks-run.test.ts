import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { readNotebook } from "../scripts/notebooks-core";
import { makeNotebook } from "./notebook-fixtures";
import { findChromium } from "../scripts/figures";
import { JUPYTER_INSTALL_HINT, checkRunHtml, findJupyterPython, resolveNotebooks, runNotebook, runNotebooks } from "../scripts/notebooks";
import { figureOutputs } from "../scripts/notebooks-figures";

// Executes every notebook in notebooks/ on the smoke preset through Jupyter and the committed tslab
// kernelspec: a cell error, a type error, an exceeded budget or a missing plot fails `npm test`.
// Without Jupyter the suite is skipped locally (with the install command) but FAILS under CI=true.
// Where chromium is installed, each HTML export is also opened headlessly and every plot must be drawn.
const python = findJupyterPython();
const chromiumPath = findChromium();
const ci = !!process.env.CI && process.env.CI !== "false" && process.env.CI !== "0";
const outDir = path.resolve("runs", "notebooks", "smoke");

if (!python && !ci) {
  describe("notebooks (smoke)", () => {
    it.skip(`SKIPPED: Jupyter is not installed. ${JUPYTER_INSTALL_HINT.replace(/\n/g, " ")}`, () => {});
  });
} else {
  describe("notebooks (smoke)", () => {
    it("Jupyter is installed (required under CI)", () => {
      if (!python) throw new Error(JUPYTER_INSTALL_HINT);
    });

    for (const file of python ? resolveNotebooks([]) : []) {
      const budget = ((readNotebook(file).metadata.infifpo as { budget_s?: { smoke?: number } }) ?? {}).budget_s?.smoke ?? 300;
      it(
        `${path.basename(file)} runs clean on the smoke preset`,
        async () => {
          const r = runNotebook(file, { preset: "smoke", params: {}, outDir, python: python!, log: () => {} });
          expect(r.problems.join("\n\n")).toBe("");
          if (chromiumPath) await checkRunHtml(r, chromiumPath, () => {});
          expect(r.problems.join("\n\n")).toBe("");
          expect(r.ok).toBe(true);
        },
        (budget + 240) * 1000,
      );
    }
  });

  describe.skipIf(!python)("the runner fails loudly", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "infifpo-nb-"));
    const make = (name: string, cells: string[], infifpo: Record<string, unknown>) => makeNotebook(dir, name, cells, infifpo);

    it(
      "a type error: failing cell's source and tslab's message (with the injected parameter applied)",
      () => {
        const file = make("typeerr", ["let n = 1;", "const s: string = n;", "console.log('never')"], {});
        const r = runNotebook(file, { preset: "smoke", params: { n: 2 }, outDir: dir, python: python!, log: () => {} });
        expect(r.ok).toBe(false);
        expect(r.problems[0]).toContain("cell 2 failed");
        expect(r.problems[0]).toContain("| const s: string = n;");
        expect(r.problems[0]).toContain("Type 'number' is not assignable to type 'string'");
        expect(readNotebook(r.executed).cells[1].source).toContain("n = 2;");
      },
      90_000,
    );

    it.skipIf(!chromiumPath)(
      "a figure the kernel drew no picture for: it says so in words, and the runner adds the picture after the run",
      async () => {
        const file = make(
          "nopicture",
          [
            "let x = 1;",
            'import { showPlot } from "./lib/viz/notebook";\nimport { lineChart } from "./lib/viz/charts";\n' +
              'process.env.INFIFPO_NOTEBOOK_PICTURES = "0";\nshowPlot(lineChart({ loss: [0.7, 0.5] }, { title: "late picture" }));',
          ],
          { expected_plots: 1 },
        );
        const out = path.join(dir, "nopicture-out");
        const [r] = await runNotebooks([file], { preset: "smoke", params: {}, outDir: out, python: python!, chromiumPath, checkHtml: true, log: () => {} });
        expect(r.problems).toEqual([]);
        expect(r.pictures).toEqual({ kernel: 0, added: 1 });
        const [fig] = figureOutputs(readNotebook(r.executed));
        expect(fig.hasPicture).toBe(true);
        expect(Buffer.from(String(fig.output.data!["image/png"]), "base64").subarray(1, 4).toString()).toBe("PNG");
        // what the kernel wrote before: the words, kept in the input's run only
        const kernelOnly = runNotebook(file, { preset: "smoke", params: {}, outDir: path.join(dir, "nopicture-raw"), python: python!, log: () => {} });
        const html = String(figureOutputs(readNotebook(kernelOnly.executed))[0].output.data!["text/html"]);
        expect(html).toContain("Figure “late picture” (1 trace) is not drawn here: it has no static picture (INFIFPO_NOTEBOOK_PICTURES=0 in the kernel");
      },
      180_000,
    );

    it(
      "a budget overrun and too few plots",
      () => {
        const slow = make("slow", ["let x = 1;", "await new Promise((r) => setTimeout(r, 30_000));"], { budget_s: { smoke: 2 } });
        const r = runNotebook(slow, { preset: "smoke", params: {}, outDir: dir, python: python!, log: () => {} });
        expect(r.problems.join("\n")).toMatch(/cell 1 exceeded the 2 s budget \(preset smoke\)/);
        const noPlots = make("noplots", ["let x = 1;", "x + 1"], { expected_plots: 1 });
        const r2 = runNotebook(noPlots, { preset: "smoke", params: {}, outDir: dir, python: python!, log: () => {} });
        expect(r2.problems).toEqual(["expected at least 1 plot(s) (metadata.infifpo.expected_plots), found 0"]);
      },
      120_000,
    );
  });
}

import { describe, expect, it } from "vitest";
import {
  INJECTED_TAG,
  cellErrorText,
  cellSource,
  cleanNotebook,
  cleanlinessProblems,
  countPlots,
  declaredParameters,
  expectedPlotsFor,
  budgetFor,
  injectParameters,
  notebookJson,
  parametersSource,
  parseParam,
  toSourceLines,
  type Notebook,
} from "../scripts/notebooks-core";

function nb(): Notebook {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: "tslab", display_name: "TypeScript", language: "typescript" },
      language_info: { name: "typescript", version: "5.0.4" },
      infifpo: { budget_s: { smoke: 60, quick: 120 }, expected_plots: { smoke: 1, full: 3 } },
    },
    cells: [
      { cell_type: "markdown", id: "m0", metadata: {}, source: ["# Title"] },
      {
        cell_type: "code",
        id: "p1",
        metadata: { tags: ["parameters"], collapsed: false },
        source: ['let preset: "smoke" | "quick" = "quick";\n', "let beta = 2.5;\n", '  let input = "a.jsonl";'],
        outputs: [],
        execution_count: null,
      },
      {
        cell_type: "code",
        id: "c2",
        metadata: { execution: { "iopub.status.busy": "2026-01-01" }, scrolled: true },
        source: "showPlot(fig)",
        outputs: [
          { output_type: "display_data", data: { "text/html": ['<div class="infifpo-plot">'], "text/plain": ["x"] }, metadata: {} },
          { output_type: "display_data", data: { "application/vnd.plotly.v1+json": { data: [] } }, metadata: {} },
          { output_type: "display_data", data: { "text/html": "<b>table</b>" }, metadata: {} },
          { output_type: "stream", name: "stderr", text: ["lib/x.ts 3:1 - Type 'string' is not assignable to type 'number'.\n"] },
        ],
        execution_count: 7,
      },
    ],
  };
}

describe("parameters", () => {
  it("declaredParameters reads `let` names at line starts only", () => {
    expect(declaredParameters(cellSource(nb().cells[1]))).toEqual(["preset", "beta", "input"]);
    expect(declaredParameters("const x = 1;\n// let y = 2\nfoo(); let z = 3;")).toEqual([]);
  });

  it("parseParam: JSON when it parses, else a string", () => {
    expect(parseParam("beta=0.1")).toEqual(["beta", 0.1]);
    expect(parseParam("flag=true")).toEqual(["flag", true]);
    expect(parseParam('name="q"')).toEqual(["name", "q"]);
    expect(parseParam("input=data/x.jsonl")).toEqual(["input", "data/x.jsonl"]);
    expect(parseParam("list=[1,2]")).toEqual(["list", [1, 2]]);
    expect(parseParam("s=a=b")).toEqual(["s", "a=b"]);
    expect(() => parseParam("novalue")).toThrow(/key=value/);
    expect(() => parseParam("bad-key=1")).toThrow(/not a TypeScript identifier/);
  });

  it("parametersSource: one JSON-encoded assignment per line after a comment", () => {
    expect(parametersSource({ preset: "smoke", beta: 0.5, path: 'a"b' }, "injected")).toBe(
      '// injected\npreset = "smoke";\nbeta = 0.5;\npath = "a\\"b";',
    );
  });

  it("injectParameters: new tagged cell right after the parameters cell, preset included, input untouched", () => {
    const before = nb();
    const out = injectParameters(before, { beta: 0.1 }, { preset: "smoke", comment: "c" });
    expect(out.cells).toHaveLength(4);
    const cell = out.cells[2];
    expect(cell.metadata.tags).toEqual([INJECTED_TAG]);
    expect(cell.cell_type).toBe("code");
    expect(cellSource(cell)).toBe('// c\npreset = "smoke";\nbeta = 0.1;');
    expect(before.cells).toHaveLength(3);
    // Re-injecting replaces the earlier cell instead of stacking another.
    const again = injectParameters(out, { beta: 0.2 });
    expect(again.cells.filter((c) => (c.metadata.tags ?? []).includes(INJECTED_TAG))).toHaveLength(1);
    expect(cellSource(again.cells[2])).toContain("beta = 0.2;");
  });

  it("injectParameters rejects unknown names, listing the declared ones", () => {
    expect(() => injectParameters(nb(), { gamma: 1 })).toThrow(/unknown parameter\(s\) "gamma".*declares: preset, beta, input/);
  });

  it("injectParameters: preset skipped when undeclared; no parameters cell → error only if parameters were given", () => {
    const noParams = nb();
    noParams.cells[1].metadata = {};
    expect(injectParameters(noParams, {}, { preset: "smoke" }).cells).toHaveLength(3);
    expect(() => injectParameters(noParams, { beta: 1 })).toThrow(/no code cell is tagged "parameters"/);
  });

  it("toSourceLines keeps newlines on every line but the last", () => {
    expect(toSourceLines("a\nb\n")).toEqual(["a\n", "b\n"]);
    expect(toSourceLines("a\nb")).toEqual(["a\n", "b"]);
    expect(toSourceLines("")).toEqual([]);
  });
});

describe("cleaning", () => {
  it("cleanNotebook strips outputs, counts, injected cells and volatile metadata; keeps tags, ids, kernelspec, infifpo", () => {
    const dirty = injectParameters(nb(), { beta: 1 });
    const clean = cleanNotebook(dirty);
    expect(clean.cells).toHaveLength(3);
    expect(clean.metadata).toEqual({ kernelspec: nb().metadata.kernelspec, infifpo: nb().metadata.infifpo });
    expect(clean.cells[1].metadata).toEqual({ tags: ["parameters"] });
    expect(clean.cells[2]).toEqual({ cell_type: "code", id: "c2", metadata: {}, source: "showPlot(fig)", outputs: [], execution_count: null });
    expect(clean.cells[0]).toEqual({ cell_type: "markdown", id: "m0", metadata: {}, source: ["# Title"] });
  });

  it("cleanNotebook is idempotent and its JSON is what the clean check expects", () => {
    const once = cleanNotebook(nb());
    expect(cleanNotebook(once)).toEqual(once);
    const text = notebookJson(once);
    expect(cleanlinessProblems(JSON.parse(text), text)).toEqual([]);
    expect(text.endsWith("}\n")).toBe(true);
    // nbformat's layout: sorted keys, one-space indent.
    expect(text.split("\n")[1]).toBe(' "cells": [');
  });

  it("cleanlinessProblems names each problem", () => {
    const problems = cleanlinessProblems(nb());
    expect(problems).toEqual([
      "cell 1: volatile metadata collapsed",
      "cell 2: has 4 output(s)",
      "cell 2: execution_count 7",
      "cell 2: volatile metadata execution, scrolled",
      "notebook metadata: language_info",
    ]);
    const clean = cleanNotebook(nb());
    expect(cleanlinessProblems(clean, JSON.stringify(clean))).toEqual(["formatting differs from `npm run notebooks:clean` output"]);
  });
});

describe("inspecting executed notebooks", () => {
  it("countPlots counts outputs with the plotly mime or a figure div, once each", () => {
    expect(countPlots(nb())).toBe(2);
  });

  it("cellErrorText prefers error outputs, else stderr (where tslab writes)", () => {
    const cell = nb().cells[2];
    expect(cellErrorText(cell)).toBe("lib/x.ts 3:1 - Type 'string' is not assignable to type 'number'.");
    cell.outputs!.push({ output_type: "error", ename: "Error", evalue: "boom", traceback: ["\u001b[31mError\u001b[0m: boom"] });
    expect(cellErrorText(cell)).toBe("Error: boom\nError: boom");
    expect(cellErrorText({ cell_type: "code", metadata: {}, source: "" })).toMatch(/no message/);
  });

  it("budgets and expected plots per preset", () => {
    expect(budgetFor(nb(), "smoke")).toBe(60);
    expect(budgetFor(nb(), "full")).toBeUndefined();
    expect(expectedPlotsFor(nb(), "smoke")).toBe(1);
    expect(expectedPlotsFor(nb(), "quick")).toBeUndefined();
    const flat = nb();
    flat.metadata.infifpo = { expected_plots: 4 };
    expect(expectedPlotsFor(flat, "quick")).toBe(4);
  });
});

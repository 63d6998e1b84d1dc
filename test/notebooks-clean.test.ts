import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { cleanlinessProblems, parametersCellIndex, readNotebook } from "../scripts/notebooks-core";
import { committedNotebooks } from "../scripts/notebooks-clean";

// Committed notebooks carry no outputs, execution counts or volatile metadata (`npm run notebooks:clean`),
// and declare what the runner checks: a tslab kernelspec, a time budget per preset, the plots they must show.
const files = committedNotebooks();

describe("committed notebooks", () => {
  it("there is at least one", () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const file of files) {
    const name = path.basename(file);
    it(`${name} is clean (run \`npm run notebooks:clean\`)`, () => {
      expect(cleanlinessProblems(readNotebook(file), readFileSync(file, "utf8"))).toEqual([]);
    });

    it(`${name} declares its kernel, budgets, expected plots and a parameters cell with \`let\``, () => {
      const nb = readNotebook(file);
      expect((nb.metadata.kernelspec as { name?: string } | undefined)?.name).toBe("tslab");
      const spec = nb.metadata.infifpo as { budget_s?: Record<string, number>; expected_plots?: unknown } | undefined;
      expect(spec?.budget_s?.smoke).toBeGreaterThan(0);
      expect(spec?.expected_plots).toBeDefined();
      const p = parametersCellIndex(nb);
      expect(p).toBeGreaterThanOrEqual(0);
      const src = ([] as string[]).concat(nb.cells[p].source).join("");
      expect(src).not.toMatch(/^\s*const\s/m);
    });

    it(`${name} defines no functions (notebooks call the library only)`, () => {
      const nb = readNotebook(file);
      for (const c of nb.cells) {
        if (c.cell_type !== "code") continue;
        const src = ([] as string[]).concat(c.source).join("");
        expect(src).not.toMatch(/\bfunction\b|^\s*(export\s+)?class\s/m);
        // A named arrow function (`const f = (…) => …`) is a definition too.
        expect(src).not.toMatch(/^\s*(const|let)\s+\w+\s*=\s*(async\s*)?\([^)]*\)\s*(:[^=]+)?=>/m);
      }
    });
  }
});

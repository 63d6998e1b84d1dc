// A small notebook for the runners' failure tests (test/notebooks-run.test.ts, test/notebooks-browser.test.ts).
// Not a test file itself.
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { notebookJson, type Notebook } from "../scripts/notebooks-core";

/** Writes `<dir>/<name>.ipynb`: tslab kernel, one code cell per source, the first tagged `parameters`. */
export function makeNotebook(dir: string, name: string, cells: string[], infifpo: Record<string, unknown> = {}): string {
  const nb: Notebook = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "tslab", display_name: "TypeScript", language: "typescript" }, infifpo },
    cells: cells.map((source, i) => ({
      cell_type: "code",
      id: `c${i}`,
      metadata: i === 0 ? { tags: ["parameters"] } : {},
      source,
      outputs: [],
      execution_count: null,
    })),
  };
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.ipynb`);
  writeFileSync(file, notebookJson(nb));
  return file;
}

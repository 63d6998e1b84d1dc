/**
 * `npm run notebooks:share [-- NAME ...] [--preset smoke|quick|full] [--param key=value ...]`
 * `npm run notebooks:share -- --executed FILE.ipynb ...`   (package notebooks already run, e.g. saved from JupyterLab)
 *
 * Makes write-ups to hand on: executes the notebooks as `npm run notebooks` does (outputs in runs/notebooks/), then
 * writes for each, into runs/notebooks/share/:
 * - NAME.ipynb: every figure output with its static picture (added here where the kernel made none) and without
 *   the plotly.js bundle (4.8 MB): it opens with every figure visible in an untrusted JupyterLab / Notebook 7, on
 *   GitHub or nbviewer; JupyterLab with `pip install plotly` draws the interactive plots from the same outputs;
 * - NAME.html: one self-contained page (no network), plotly.js included once: interactive with JavaScript on,
 *   the pictures without it.
 * Exit 0 all shared, 1 a notebook failed or a figure has no picture, 2 bad usage, 3 Jupyter or Chromium missing.
 */
import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { CHROMIUM_INSTALL_HINT, FigureRenderer, findChromium } from "../lib/viz/render";
import { type Preset, parseParam, readNotebook, writeNotebook } from "./notebooks-core";
import { addPictures, pictureCounts, plotlyBundleOutputs, withPlotlyBundles } from "./notebooks-figures";
import { JUPYTER_INSTALL_HINT, exportHtml, findJupyterPython, resolveNotebooks, runNotebooks, withRunOptions } from "./notebooks";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export interface ShareResult {
  name: string;
  ok: boolean;
  figures: number;
  /** Pictures the executed notebook had, and how many were added here. */
  pictures: number;
  added: number;
  notebook: string;
  html: string;
  problems: string[];
}

/**
 * Packages one executed notebook into `outDir`: NAME.ipynb (pictures, no plotly.js) and NAME.html (pictures and
 * one plotly.js). `renderer` adds the pictures the notebook lacks.
 */
export async function shareNotebook(
  executed: string,
  opts: { outDir: string; python: string; renderer: FigureRenderer; name?: string },
): Promise<ShareResult> {
  const name = opts.name ?? path.basename(executed, ".ipynb");
  mkdirSync(opts.outDir, { recursive: true });
  const nb = readNotebook(executed);
  const before = pictureCounts(nb);
  const added = await addPictures(nb, (fig) => opts.renderer.picture(fig));
  const after = pictureCounts(nb);
  const problems: string[] = [];
  if (after.pictures < after.figures) problems.push(`${after.figures - after.pictures} figure(s) without a picture`);
  const notebook = path.join(opts.outDir, `${name}.ipynb`);
  const html = path.join(opts.outDir, `${name}.html`);
  // The page keeps one plotly.js (interactive where scripts run); the notebook none (the pictures stand in).
  const forHtml = withPlotlyBundles(nb, 1);
  const htmlSource = path.join(opts.outDir, `${name}.html-source.ipynb`);
  writeNotebook(htmlSource, forHtml);
  try {
    exportHtml(opts.python, htmlSource, html);
  } finally {
    rmSync(htmlSource, { force: true });
  }
  writeNotebook(notebook, withPlotlyBundles(nb, 0));
  if (plotlyBundleOutputs(readNotebook(notebook)).length !== 0) problems.push("the shared notebook still carries plotly.js");
  return { name, ok: problems.length === 0, figures: after.figures, pictures: before.pictures, added, notebook, html, problems };
}

function mb(file: string): string {
  return `${(statSync(file).size / 1e6).toFixed(2)} MB`;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = withRunOptions(
    new Command()
      .name("npm run notebooks:share --")
      .description(
        "Run notebooks (as `npm run notebooks`) and write, per notebook, a shareable executed .ipynb (every figure with its\n" +
          "static picture, no plotly.js) and a self-contained HTML page to runs/notebooks/share/.",
      ),
    "size preset, injected as `preset`",
  )
    .option("--executed <file...>", "package these executed notebooks (e.g. saved from JupyterLab) instead of running any")
    .option("--out <dir>", "output folder", path.join(ROOT, "runs", "notebooks", "share"))
    .option("--run-out <dir>", "where the executed notebooks go", path.join(ROOT, "runs", "notebooks"))
    .exitOverride();
  try {
    program.parse(argv);
  } catch (e) {
    return (e as { exitCode?: number }).exitCode ?? 2;
  }
  const o = program.opts<{ preset: Preset; param: string[]; executed?: string[]; out: string; runOut: string }>();
  const python = findJupyterPython();
  if (!python) {
    process.stderr.write(JUPYTER_INSTALL_HINT + "\n");
    return 3;
  }
  const chromiumPath = findChromium();
  if (!chromiumPath) {
    process.stderr.write(`a shareable notebook needs a static picture of every figure. ${CHROMIUM_INSTALL_HINT}\n`);
    return 3;
  }
  let executed: string[];
  let failed = 0;
  if (o.executed) {
    if (program.args.length) {
      process.stderr.write("error: give notebook names or --executed files, not both\n");
      return 2;
    }
    executed = o.executed.map((f) => path.resolve(f));
    const missing = executed.filter((f) => !existsSync(f));
    if (missing.length) {
      process.stderr.write(`error: no such file: ${missing.join(", ")}\n`);
      return 2;
    }
  } else {
    let files: string[];
    let params: Record<string, unknown>;
    try {
      files = resolveNotebooks(program.args);
      params = Object.fromEntries(o.param.map(parseParam));
    } catch (e) {
      process.stderr.write(`error: ${(e as Error).message}\n`);
      return 2;
    }
    const runs = await runNotebooks(files, { preset: o.preset, params, outDir: path.resolve(o.runOut), python, chromiumPath });
    executed = [];
    for (const r of runs) {
      if (r.ok) executed.push(r.executed);
      else {
        failed++;
        process.stderr.write(`FAIL ${r.name}: not shared\n${r.problems.join("\n")}\n`);
      }
    }
  }
  const renderer = await FigureRenderer.open(chromiumPath, ROOT);
  try {
    for (const f of executed) {
      const s = await shareNotebook(f, { outDir: path.resolve(o.out), python, renderer });
      if (!s.ok) failed++;
      process.stderr.write(
        `${s.ok ? "ok  " : "FAIL"} ${s.name}: ${s.figures} figure(s), ${s.pictures} picture(s) from the run, ${s.added} added; ` +
          `${path.relative(process.cwd(), s.notebook)} ${mb(s.notebook)}, ${path.relative(process.cwd(), s.html)} ${mb(s.html)}\n` +
          s.problems.map((p) => `  ${p}\n`).join(""),
      );
    }
  } finally {
    await renderer.close();
  }
  const total = o.executed ? executed.length : executed.length + failed;
  process.stderr.write(`${total - failed}/${total} notebook(s) shared in ${path.relative(process.cwd(), path.resolve(o.out)) || "."}\n`);
  return failed ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => process.exit(code));
}

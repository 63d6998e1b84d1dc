/**
 * `npm run notebooks [-- NAME ...] [--preset smoke|quick|full] [--param key=value ...]`
 *
 * Executes notebooks headlessly through Jupyter (nbclient) with the committed tslab kernelspec
 * (JUPYTER_PATH=<root>/jupyter), after injecting parameters below the cell tagged `parameters`. Writes the
 * executed notebook and its HTML export to runs/notebooks/. Fails (exit 1) on a cell error — printing the
 * cell's source and tslab's real message —, on an exceeded time budget and on missing plots. Exit 3 when
 * Jupyter is not installed.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Command, Option } from "commander";
import {
  PRESETS,
  type Preset,
  budgetFor,
  cellErrorText,
  cellSource,
  countPlots,
  expectedPlotsFor,
  injectParameters,
  parseParam,
  readNotebook,
  writeNotebook,
} from "./notebooks-core";
import { CHROMIUM_INSTALL_HINT, FigureRenderer, findChromium } from "../lib/viz/render";
import { checkNotebookHtml } from "./html-check";
import { addPictures, pictureCounts } from "./notebooks-figures";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const NOTEBOOK_DIR = path.join(ROOT, "notebooks");
const HELPER = path.join(ROOT, "scripts", "run_notebook.py");
const EXPORT_HELPER = path.join(ROOT, "scripts", "nb_export.py");
const DEFAULT_BUDGET_S = 300;

export const JUPYTER_INSTALL_HINT =
  "Jupyter (nbclient, nbformat, nbconvert, jupyter_client) is needed to run notebooks. On Debian/Ubuntu:\n" +
  "  sudo apt-get update && sudo apt-get install -y --no-install-recommends jupyter-nbconvert jupyter-core python3-nbclient jupyter-client\n" +
  "or with pip: python3 -m pip install nbclient nbconvert jupyter_client\n" +
  "If Jupyter lives in a Python that is not the first python3 on PATH, set INFIFPO_PYTHON=/path/to/python3.";

/** The first of $INFIFPO_PYTHON, Debian's /usr/bin/python3 and `python3` on PATH (often a pyenv interpreter without
 *  Jupyter), or of `candidates`, for which the Python `check` exits 0, or null. */
export function findPython(check: string, candidates: readonly string[] = defaultPythons()): string | null {
  for (const py of candidates) {
    if (spawnSync(py, ["-c", check], { stdio: "ignore" }).status === 0) return py;
  }
  return null;
}

function defaultPythons(): string[] {
  return [process.env.INFIFPO_PYTHON, "/usr/bin/python3", "python3"].filter((c): c is string => !!c);
}

/** The first Python that can import nbclient, nbformat, nbconvert and jupyter_client, or null. */
export function findJupyterPython(): string | null {
  return findPython("import nbclient, nbformat, nbconvert, jupyter_client");
}

/** Notebook files to run: every notebooks/*.ipynb, or the given names (with or without .ipynb / folder). */
export function resolveNotebooks(names: readonly string[]): string[] {
  const all = existsSync(NOTEBOOK_DIR) ? readdirSync(NOTEBOOK_DIR).filter((f) => f.endsWith(".ipynb")).sort() : [];
  if (names.length === 0) return all.map((f) => path.join(NOTEBOOK_DIR, f));
  return names.map((n) => {
    const direct = path.resolve(n);
    if (n.endsWith(".ipynb") && existsSync(direct)) return direct;
    const base = path.basename(n).replace(/\.ipynb$/, "");
    const hit = all.find((f) => f === `${base}.ipynb`) ?? all.find((f) => f.startsWith(base));
    if (!hit) throw new Error(`no notebook "${n}" in notebooks/; available: ${all.join(", ") || "(none)"}`);
    return path.join(NOTEBOOK_DIR, hit);
  });
}

export interface RunResult {
  name: string;
  ok: boolean;
  elapsed_s: number;
  kernel_start_s: number | null;
  plots: number;
  /** Figures with a static picture: made by the kernel, and added by the runner after the run. */
  pictures: { kernel: number; added: number };
  problems: string[];
  executed: string;
  html: string;
}

interface HelperResult {
  status: "ok" | "error" | "timeout";
  failed_cell: number | null;
  message: string;
  elapsed_s: number;
  /** Time in cells (what the budget limits). */
  cells_s: number;
  kernel_start_s: number | null;
  cells: { index: number; elapsed_s: number }[];
  html_error?: string;
}

/** Runs one notebook; never throws for notebook failures (they are in `problems`). */
export function runNotebook(
  file: string,
  opts: { preset: Preset; params: Record<string, unknown>; outDir: string; python: string; budgetS?: number; log?: (s: string) => void },
): RunResult {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + "\n"));
  const name = path.basename(file, ".ipynb");
  const nb = readNotebook(file);
  const injected = injectParameters(nb, opts.params, {
    preset: opts.preset,
    comment: `Parameters injected by \`npm run notebooks\` (preset ${opts.preset})`,
  });
  injected.metadata.infifpo_run = { preset: opts.preset, parameters: opts.params, source: path.relative(ROOT, file) };
  mkdirSync(opts.outDir, { recursive: true });
  const input = path.join(opts.outDir, `${name}.input.ipynb`);
  const executed = path.join(opts.outDir, `${name}.ipynb`);
  const html = path.join(opts.outDir, `${name}.html`);
  const resultFile = path.join(opts.outDir, `${name}.result.json`);
  writeNotebook(input, injected);
  const budget = opts.budgetS ?? budgetFor(nb, opts.preset) ?? DEFAULT_BUDGET_S;

  const env = {
    ...process.env,
    JUPYTER_PATH: [path.join(ROOT, "jupyter"), process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter),
    JUPYTER_PLATFORM_DIRS: "1",
  };
  const r = spawnSync(
    opts.python,
    [HELPER, input, executed, html, resultFile, "--kernel", "tslab", "--budget", String(budget), "--cwd", ROOT],
    { env, encoding: "utf8", timeout: (budget + 120) * 1000 },
  );
  const problems: string[] = [];
  if (r.status !== 0 || !existsSync(resultFile)) {
    problems.push(`the Jupyter helper failed (exit ${r.status ?? r.signal}):\n${(r.stderr || r.stdout || "").trim()}`);
    return { name, ok: false, elapsed_s: NaN, kernel_start_s: null, plots: 0, pictures: { kernel: 0, added: 0 }, problems, executed, html };
  }
  const res = JSON.parse(readFileSync(resultFile, "utf8")) as HelperResult;
  const out = readNotebook(executed);
  if (res.status === "error" || res.status === "timeout") {
    const idx = res.failed_cell;
    if (idx !== null && out.cells[idx]) {
      const cell = out.cells[idx];
      const what = res.status === "timeout" ? `exceeded the ${budget} s budget (preset ${opts.preset})` : "failed";
      problems.push(
        `cell ${idx} ${what}:\n` +
          indent(cellSource(cell), "  | ") +
          "\n" +
          (res.status === "error" ? indent(cellErrorText(cell), "  ! ") : `  ${res.message}`),
      );
    } else {
      problems.push(`${res.status}: ${res.message}`);
    }
  }
  const plots = countPlots(out);
  const pictures = { kernel: pictureCounts(out).pictures, added: 0 };
  const expected = expectedPlotsFor(nb, opts.preset);
  if (res.status === "ok" && expected !== undefined && plots < expected) {
    problems.push(`expected at least ${expected} plot(s) (metadata.infifpo.expected_plots), found ${plots}`);
  }
  if (res.html_error) problems.push(`HTML export failed: ${res.html_error}`);
  const timing = res.cells
    .slice()
    .sort((a, b) => b.elapsed_s - a.elapsed_s)
    .slice(0, 3)
    .map((c) => `cell ${c.index} ${c.elapsed_s.toFixed(1)} s`)
    .join(", ");
  log(
    `${problems.length ? "FAIL" : "ok  "} ${name} [${opts.preset}] cells ${res.cells_s.toFixed(1)} s of ${budget} s budget, ` +
      `kernel start ${res.kernel_start_s?.toFixed(1) ?? "?"} s (slowest: ${timing || "-"}), ${plots} plot(s)` +
      (expected !== undefined ? ` of ${expected} expected` : "") +
      (plots ? `, ${pictures.kernel} with the kernel's picture` : ""),
  );
  return { name, ok: problems.length === 0, elapsed_s: res.elapsed_s, kernel_start_s: res.kernel_start_s, plots, pictures, problems, executed, html };
}

/** Exports `notebook` to a self-contained HTML page (scripts/nb_export.py: nbconvert, remote scripts removed). */
export function exportHtml(python: string, notebook: string, html: string): void {
  const r = spawnSync(python, [EXPORT_HELPER, notebook, html], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`HTML export of ${path.basename(notebook)} failed (exit ${r.status ?? r.signal}): ${(r.stderr || r.stdout || "").trim()}`);
}

/**
 * Adds the static picture to every figure the kernel could not draw one for (no Chromium in the kernel, or
 * INFIFPO_NOTEBOOK_PICTURES=0), rewrites the executed notebook and its HTML export. Needs Chromium; mutates and
 * returns `r`. `renderer` may be shared between notebooks (else one is opened and closed here).
 */
export async function addRunPictures(
  r: RunResult,
  opts: { executablePath: string; python: string; renderer?: FigureRenderer; log?: (s: string) => void },
): Promise<RunResult> {
  const log = opts.log ?? ((s: string) => void process.stderr.write(s + "\n"));
  if (!existsSync(r.executed)) return r;
  const nb = readNotebook(r.executed);
  if (pictureCounts(nb).pictures === pictureCounts(nb).figures) return r;
  const t0 = performance.now();
  const renderer = opts.renderer ?? (await FigureRenderer.open(opts.executablePath, ROOT));
  try {
    r.pictures.added = await addPictures(nb, (fig) => renderer.picture(fig));
  } finally {
    if (!opts.renderer) await renderer.close();
  }
  writeNotebook(r.executed, nb);
  exportHtml(opts.python, r.executed, r.html);
  log(`     ${r.name}: ${r.pictures.added} picture(s) added after the run (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  return r;
}

/**
 * Opens the run's HTML export in headless chromium (as exported, and with an AMD `define` present) and adds a
 * problem for every figure plotly did not draw. Mutates and returns `r`.
 */
export async function checkRunHtml(
  r: RunResult,
  executablePath: string,
  log: (s: string) => void = (s) => void process.stderr.write(s + "\n"),
): Promise<RunResult> {
  const t0 = performance.now();
  const checks = await checkNotebookHtml(r.html, executablePath);
  for (const c of checks) {
    if (c.drawn < c.plots) r.problems.push(`HTML export (${c.mode}): ${c.drawn} of ${c.plots} plot(s) drawn`);
    for (const p of c.problems) r.problems.push(`HTML export (${c.mode}): ${p}`);
  }
  const how = { plain: "as exported", amd: "with an AMD define", noscript: "as pictures without JavaScript" } as const;
  const counts = checks.map((c) => `${c.drawn}/${c.plots} ${how[c.mode]}`).join(", ");
  log(`     ${r.name}: HTML export in chromium draws ${counts} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  r.ok = r.problems.length === 0;
  return r;
}

/**
 * Runs notebooks one after another (see {@link runNotebook}); where Chromium is there, adds the pictures the kernel
 * did not make ({@link addRunPictures}) and, with `checkHtml`, checks each HTML export ({@link checkRunHtml}).
 * A notebook that throws becomes a failed result.
 */
export async function runNotebooks(
  files: readonly string[],
  opts: { preset: Preset; params: Record<string, unknown>; outDir: string; python: string; budgetS?: number; chromiumPath: string | null; checkHtml?: boolean; log?: (s: string) => void },
): Promise<RunResult[]> {
  const results: RunResult[] = [];
  let renderer: FigureRenderer | undefined;
  try {
    for (const f of files) {
      let r: RunResult | undefined;
      try {
        r = runNotebook(f, opts);
        if (r.ok && opts.chromiumPath && r.pictures.kernel < r.plots) {
          renderer ??= await FigureRenderer.open(opts.chromiumPath, ROOT);
          await addRunPictures(r, { executablePath: opts.chromiumPath, python: opts.python, renderer, log: opts.log });
        }
        if (r.ok && opts.chromiumPath && opts.checkHtml) await checkRunHtml(r, opts.chromiumPath, opts.log);
      } catch (e) {
        const name = path.basename(f, ".ipynb");
        r ??= { name, ok: false, elapsed_s: NaN, kernel_start_s: null, plots: 0, pictures: { kernel: 0, added: 0 }, problems: [], executed: "", html: "" };
        r.problems.push((e as Error).message);
        r.ok = false;
      }
      results.push(r);
    }
  } finally {
    await renderer?.close();
  }
  return results;
}

export function indent(text: string, prefix: string): string {
  return text
    .trimEnd()
    .split("\n")
    .map((l) => prefix + l)
    .join("\n");
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The options every notebook-running command takes: the notebooks to run, `--preset` and `--param`. */
export function withRunOptions(program: Command, presetHelp: string): Command {
  return program
    .argument("[names...]", "notebooks to run (file name, with or without .ipynb, or a prefix such as 00); default: all")
    .addOption(new Option("--preset <preset>", presetHelp).choices(PRESETS).default("quick"))
    .option("--param <key=value>", "set a parameter of the `parameters` cell (value parsed as JSON, else a string); repeatable", collect, []);
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = withRunOptions(
    new Command()
      .name("npm run notebooks --")
      .description(
        "Execute notebooks/*.ipynb headlessly (tslab kernel via Jupyter), write executed .ipynb + HTML to runs/notebooks/,\n" +
          "fail on any cell error, exceeded time budget (metadata.infifpo.budget_s) or missing plots (metadata.infifpo.expected_plots).",
      ),
    "size preset, injected as `preset`; selects the time budget",
  )
    .option("--out <dir>", "output folder", path.join(ROOT, "runs", "notebooks"))
    .option("--budget <seconds>", "override the notebook's time budget", (v) => Number(v))
    .option("--check-html", "also open each HTML export in headless chromium and check every plot is drawn")
    .option("--list", "list the notebooks and their declared budgets, run nothing")
    .exitOverride();
  try {
    program.parse(argv);
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    return code ?? 2;
  }
  const o = program.opts<{ preset: Preset; param: string[]; out: string; budget?: number; list?: boolean; checkHtml?: boolean }>();
  let files: string[];
  let params: Record<string, unknown>;
  try {
    files = resolveNotebooks(program.args);
    params = Object.fromEntries(o.param.map(parseParam));
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 2;
  }
  if (o.list) {
    for (const f of files) {
      const nb = readNotebook(f);
      process.stdout.write(`${path.basename(f)}  metadata.infifpo=${JSON.stringify(nb.metadata.infifpo ?? {})}\n`);
    }
    return 0;
  }
  if (files.length === 0) {
    process.stderr.write("no notebooks found in notebooks/\n");
    return 1;
  }
  const python = findJupyterPython();
  if (!python) {
    process.stderr.write(JUPYTER_INSTALL_HINT + "\n");
    return 3;
  }
  const chromiumPath = findChromium();
  if (o.checkHtml && !chromiumPath) {
    process.stderr.write("--check-html needs chromium: sudo apt-get install -y --no-install-recommends chromium (or set CHROMIUM_PATH)\n");
    return 3;
  }
  const results = await runNotebooks(files, { preset: o.preset, params, outDir: path.resolve(o.out), python, budgetS: o.budget, chromiumPath, checkHtml: !!o.checkHtml });
  let failed = 0;
  for (const r of results) {
    if (!r.ok) {
      failed++;
      for (const p of r.problems) process.stderr.write(p + "\n");
      process.stderr.write(`  executed notebook: ${path.relative(process.cwd(), r.executed)}\n`);
    }
  }
  if (!chromiumPath) process.stderr.write(`note: no Chromium, so figures the kernel drew no picture for keep a note instead of one. ${CHROMIUM_INSTALL_HINT}\n`);
  process.stderr.write(`${files.length - failed}/${files.length} notebook(s) passed; outputs in ${path.relative(process.cwd(), path.resolve(o.out)) || "."}\n`);
  return failed ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => process.exit(code));
}

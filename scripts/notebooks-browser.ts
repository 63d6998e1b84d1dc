/**
 * `npm run notebooks:browser [-- NAME ...] [--preset smoke|quick|full] [--param key=value ...]`
 *
 * Runs notebooks the way a person does: a real classic Jupyter Notebook server (Debian's `jupyter-notebook`
 * 6.x, the committed tslab kernelspec via JUPYTER_PATH) on 127.0.0.1 with a random token, driven by headless
 * Chromium through playwright-core. For each notebook it opens a copy with the parameters injected
 * (runs/notebooks/browser/NAME.ipynb), presses "run all" (`Jupyter.notebook.execute_all_cells()`), waits for
 * every code cell's execute reply, and then checks what the page shows: no cell replied with an error (tslab
 * reports type errors as a bare error reply plus a stderr stream), no error output is on the page, every
 * lib/viz figure holds a plotly SVG, and at least `metadata.infifpo.expected_plots` of them are there.
 * The executed notebook is saved by the front end itself, and a full-page screenshot goes beside it.
 * Exit 0 all passed, 1 a notebook failed, 2 bad usage, 3 a requirement (classic Notebook, Chromium) missing.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Command, Option } from "commander";
import { chromium, type Browser, type Page } from "playwright-core";
import { PRESETS, type Preset, budgetFor, expectedPlotsFor, injectParameters, parseParam, readNotebook, writeNotebook } from "./notebooks-core";
import { CHROMIUM_ARGS, CHROMIUM_INSTALL_HINT, findChromium } from "./figures";
import { collect, findPython, indent, resolveNotebooks } from "./notebooks";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DEFAULT_BUDGET_S = 300;

export const NOTEBOOK_INSTALL_HINT =
  "The browser check needs the classic Jupyter Notebook 6.x server. On Debian/Ubuntu:\n" +
  "  sudo apt-get update && sudo apt-get install -y --no-install-recommends jupyter-notebook chromium\n" +
  "or with pip: python3 -m pip install 'notebook<7'\n" +
  "If it lives in a Python that is not /usr/bin/python3 or the first python3 on PATH, set INFIFPO_PYTHON.";

/** The first Python whose `notebook` package is the classic 6.x server (7.x has another front end), or null. */
export function findNotebookPython(): string | null {
  return findPython("import notebook, sys; sys.exit(0 if int(notebook.__version__.split('.')[0]) < 7 else 1)");
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface NotebookServer {
  /** Base URL, e.g. http://127.0.0.1:PORT */
  url: string;
  token: string;
  /** The server's own log (stderr), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts a classic Notebook server on 127.0.0.1 serving the project root, with a private config/runtime folder
 * (nothing from ~/.jupyter leaks in) and the committed kernelspecs; resolves once its REST API answers.
 */
export async function startNotebookServer(python: string, opts: { startupTimeoutMs?: number } = {}): Promise<NotebookServer> {
  const port = await freePort();
  const token = randomBytes(16).toString("hex");
  const home = mkdtempSync(path.join(tmpdir(), "infifpo-jupyter-"));
  const env = {
    ...process.env,
    JUPYTER_PATH: [path.join(ROOT, "jupyter"), process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter),
    JUPYTER_CONFIG_DIR: path.join(home, "config"),
    JUPYTER_RUNTIME_DIR: path.join(home, "runtime"),
    JUPYTER_DATA_DIR: path.join(home, "data"),
    JUPYTER_PLATFORM_DIRS: "1",
  };
  const args = [
    "-m",
    "notebook",
    "--no-browser",
    "--ip=127.0.0.1",
    `--port=${port}`,
    "--port-retries=0",
    `--notebook-dir=${ROOT}`,
    `--NotebookApp.token=${token}`,
    "--NotebookApp.password=",
    // the project's own kernelspec only; ipykernel's python3 spec is not needed here
    "--KernelSpecManager.ensure_native_kernel=False",
    // CI and these machines run as root; the server refuses that without the flag
    ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
  ];
  const proc: ChildProcess = spawn(python, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stdout!.on("data", (d) => (log += String(d)));
  proc.stderr!.on("data", (d) => (log += String(d)));
  let exited: number | string | null = null;
  proc.on("exit", (code, signal) => (exited = code ?? signal ?? "?"));
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (exited === null) {
      proc.kill("SIGTERM");
      const deadline = Date.now() + 5000;
      while (exited === null && Date.now() < deadline) await sleep(50);
      if (exited === null) proc.kill("SIGKILL");
    }
    rmSync(home, { recursive: true, force: true });
  };
  const deadline = Date.now() + (opts.startupTimeoutMs ?? 60_000);
  for (;;) {
    if (exited !== null) {
      await stop();
      throw new Error(`the Notebook server exited (${exited}) before it answered:\n${log.trim()}`);
    }
    try {
      const r = await fetch(`${url}/api/kernelspecs?token=${token}`);
      if (r.ok) {
        const specs = (await r.json()) as { kernelspecs: Record<string, unknown> };
        if (!specs.kernelspecs.tslab) {
          await stop();
          throw new Error(`the Notebook server does not see the tslab kernelspec (JUPYTER_PATH=${env.JUPYTER_PATH}); it has: ${Object.keys(specs.kernelspecs).join(", ")}`);
        }
        break;
      }
    } catch (e) {
      if ((e as Error).message.startsWith("the Notebook server")) throw e;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the Notebook server did not answer on ${url} within ${opts.startupTimeoutMs ?? 60_000} ms:\n${log.trim()}`);
    }
    await sleep(200);
  }
  return { url, token, log: () => log, stop };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface BrowserRunResult {
  name: string;
  ok: boolean;
  /** Seconds from "run all" to the last execute reply. */
  elapsed_s: number;
  codeCells: number;
  /** Figures (lib/viz plot divs) on the page, and how many of them hold a plotly SVG. */
  plots: number;
  drawn: number;
  problems: string[];
  /** The notebook as the front end saved it (outputs included), and a full-page screenshot. */
  notebook: string;
  screenshot: string;
}

interface CellReport {
  index: number;
  type: string;
  status: string | null;
  count: number | null;
  errors: string[];
  stderr: string;
  source: string;
}

// Page-side code, kept as strings: the page is classic Notebook's (jQuery + RequireJS), not this TypeScript.
const PAGE_READY =
  "!!(window.Jupyter && Jupyter.notebook && Jupyter.notebook._fully_loaded && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected())";
// Records every code cell's execute_reply status (ok / error / aborted) before the cell handles it.
const PAGE_HOOK = `(() => {
  const CodeCell = require('notebook/js/codecell').CodeCell;
  if (!CodeCell.prototype.__infifpoHooked) {
    const orig = CodeCell.prototype._handle_execute_reply;
    CodeCell.prototype._handle_execute_reply = function (msg) {
      this.__infifpoStatus = msg && msg.content ? msg.content.status : 'missing';
      return orig.apply(this, arguments);
    };
    CodeCell.prototype.__infifpoHooked = true;
  }
  return Jupyter.notebook.kernel.name;
})()`;
const PAGE_PENDING = `Jupyter.notebook.get_cells().filter(c => c.cell_type === 'code' && !c.__infifpoStatus).length`;
const PAGE_REPORT = `Jupyter.notebook.get_cells().map((c, index) => {
  const outs = c.cell_type === 'code' ? c.output_area.outputs : [];
  const text = (o) => [].concat(o.text || []).join('');
  return {
    index, type: c.cell_type, status: c.__infifpoStatus || null,
    count: c.cell_type === 'code' ? (c.input_prompt_number === undefined || c.input_prompt_number === '*' ? null : c.input_prompt_number) : null,
    errors: outs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
    stderr: outs.filter(o => o.output_type === 'stream' && o.name === 'stderr').map(text).join(''),
    source: c.get_text(),
  };
})`;
const PAGE_PLOTS = `(() => {
  const divs = Array.from(document.querySelectorAll('.infifpo-plot'));
  return { plots: divs.length, drawn: divs.filter(d => d.querySelector('.main-svg')).length,
           notes: divs.filter(d => !d.querySelector('.main-svg')).map(d => d.textContent.trim()).filter(Boolean),
           errorOutputs: document.querySelectorAll('.output_error').length };
})()`;

/**
 * Opens `file` (with parameters injected) in the running server, runs all cells in the browser and checks the
 * page. Never throws for notebook failures: they are in `problems`.
 */
export async function runNotebookInBrowser(
  browser: Browser,
  server: NotebookServer,
  file: string,
  opts: { preset: Preset; params: Record<string, unknown>; outDir: string; budgetS?: number; log?: (s: string) => void },
): Promise<BrowserRunResult> {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + "\n"));
  const name = path.basename(file, ".ipynb");
  const nb = readNotebook(file);
  const injected = injectParameters(nb, opts.params, {
    preset: opts.preset,
    comment: `Parameters injected by \`npm run notebooks:browser\` (preset ${opts.preset})`,
  });
  mkdirSync(opts.outDir, { recursive: true });
  const copy = path.join(opts.outDir, `${name}.ipynb`);
  const screenshot = path.join(opts.outDir, `${name}.png`);
  writeNotebook(copy, injected);
  const rel = path.relative(ROOT, copy);
  if (rel.startsWith("..")) throw new Error(`--out must be inside the project (the server serves ${ROOT}); got ${opts.outDir}`);
  const budget = opts.budgetS ?? budgetFor(nb, opts.preset) ?? DEFAULT_BUDGET_S;
  const expected = expectedPlotsFor(nb, opts.preset);
  const problems: string[] = [];
  const result: BrowserRunResult = { name, ok: false, elapsed_s: NaN, codeCells: 0, plots: 0, drawn: 0, problems, notebook: copy, screenshot };

  const page: Page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const pageErrors: string[] = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  // Only the local server: CDN links (MathJax etc.) are cut so nothing waits on a network that is not there.
  await page.route((u) => !u.href.startsWith(server.url), (route) => route.abort());
  try {
    const urlPath = rel.split(path.sep).map(encodeURIComponent).join("/");
    await page.goto(`${server.url}/notebooks/${urlPath}?token=${server.token}`, { waitUntil: "load", timeout: 60_000 });
    await page.waitForFunction(PAGE_READY, undefined, { timeout: 90_000, polling: 200 });
    const kernel = (await page.evaluate(PAGE_HOOK)) as string;
    if (kernel !== "tslab") problems.push(`the notebook opened with kernel "${kernel}", not tslab`);
    const t0 = performance.now();
    await page.evaluate("Jupyter.notebook.execute_all_cells()");
    try {
      await page.waitForFunction(`${PAGE_PENDING} === 0`, undefined, { timeout: budget * 1000, polling: 250 });
    } catch {
      const pending = (await page.evaluate(PAGE_PENDING)) as number;
      problems.push(`${pending} cell(s) still running after the ${budget} s budget (preset ${opts.preset})`);
    }
    result.elapsed_s = (performance.now() - t0) / 1000;
    const cells = (await page.evaluate(PAGE_REPORT)) as CellReport[];
    const code = cells.filter((c) => c.type === "code");
    result.codeCells = code.length;
    for (const c of code) {
      if (c.status === null) continue; // reported above as still running
      if (c.status !== "ok" || c.errors.length > 0) {
        // tslab answers the cells queued behind a failure with status "abort" (the protocol's word is "aborted")
        const what = c.status === "aborted" || c.status === "abort" ? "was not run (an earlier cell failed)" : `failed (reply: ${c.status})`;
        problems.push(
          `cell ${c.index} ${what}:\n` +
            indent(c.source, "  | ") +
            (c.errors.length || c.stderr ? "\n" + indent([...c.errors, c.stderr].filter(Boolean).join("\n"), "  ! ") : ""),
        );
      } else if (c.count === null) {
        problems.push(`cell ${c.index} replied ok but shows no execution count`);
      }
    }
    // Figures are drawn by Plotly.newPlot after the cell's output is in the page: give them a moment.
    try {
      await page.waitForFunction(
        "Array.from(document.querySelectorAll('.infifpo-plot')).every(d => d.querySelector('.main-svg') || d.textContent.trim())",
        undefined,
        { timeout: 20_000, polling: 200 },
      );
    } catch {
      /* counted below */
    }
    const shown = (await page.evaluate(PAGE_PLOTS)) as { plots: number; drawn: number; notes: string[]; errorOutputs: number };
    result.plots = shown.plots;
    result.drawn = shown.drawn;
    if (shown.drawn < shown.plots) problems.push(`${shown.drawn} of ${shown.plots} plot(s) drawn in the page${shown.notes.length ? ": " + shown.notes.join("; ") : ""}`);
    if (expected !== undefined && shown.drawn < expected) problems.push(`expected at least ${expected} drawn plot(s) (metadata.infifpo.expected_plots), found ${shown.drawn}`);
    if (shown.errorOutputs > 0 && !problems.some((p) => p.includes("failed"))) problems.push(`${shown.errorOutputs} error output(s) shown in the page`);
    for (const e of pageErrors) problems.push(`page error: ${e}`);
    await page.evaluate("Jupyter.notebook.save_notebook()");
    await page.waitForFunction("!Jupyter.notebook.dirty", undefined, { timeout: 20_000, polling: 200 }).catch(() => {
      problems.push("the front end did not save the executed notebook");
    });
    // Classic Notebook scrolls inside #site; let the page grow to the notebook's height for a full screenshot.
    await page.addStyleTag({
      content: "html, body, #site { height: auto !important; overflow: visible !important; } #header { position: static !important; }",
    });
    await page.screenshot({ path: screenshot, fullPage: true });
  } catch (e) {
    problems.push(`browser: ${(e as Error).message.split("\n")[0]}`);
  } finally {
    // Shut the kernel down through the page's session so the next notebook starts on a quiet machine.
    await page.evaluate("Jupyter.notebook.session && Jupyter.notebook.session.delete()").catch(() => {});
    await page.close();
  }
  result.ok = problems.length === 0;
  log(
    `${result.ok ? "ok  " : "FAIL"} ${name} [${opts.preset}] in the browser: ${result.codeCells} code cell(s) in ` +
      `${Number.isFinite(result.elapsed_s) ? result.elapsed_s.toFixed(1) : "?"} s of ${budget} s budget, ` +
      `${result.drawn}/${result.plots} plot(s) drawn` +
      (expected !== undefined ? ` (${expected} expected)` : ""),
  );
  return result;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = new Command()
    .name("npm run notebooks:browser --")
    .description(
      "Open notebooks in a real classic Jupyter Notebook served on 127.0.0.1 and drive it with headless Chromium: " +
        "run all cells, then fail on any cell error, any plot plotly did not draw, fewer plots than " +
        "metadata.infifpo.expected_plots, or an exceeded time budget. Executed notebooks (saved by the front end) " +
        "and full-page screenshots go to runs/notebooks/browser/.",
    )
    .argument("[names...]", "notebooks to run (file name, with or without .ipynb, or a prefix such as 00); default: all")
    .addOption(new Option("--preset <preset>", "size preset, injected as `preset`; selects the time budget").choices(PRESETS).default("smoke"))
    .option("--param <key=value>", "set a parameter of the `parameters` cell (value parsed as JSON, else a string); repeatable", collect, [])
    .option("--out <dir>", "output folder (inside the project: the server serves the project root)", path.join(ROOT, "runs", "notebooks", "browser"))
    .option("--budget <seconds>", "override the notebook's time budget", (v) => Number(v))
    .exitOverride();
  try {
    program.parse(argv);
  } catch (e) {
    return (e as { exitCode?: number }).exitCode ?? 2;
  }
  const o = program.opts<{ preset: Preset; param: string[]; out: string; budget?: number }>();
  let files: string[];
  let params: Record<string, unknown>;
  try {
    files = resolveNotebooks(program.args);
    params = Object.fromEntries(o.param.map(parseParam));
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 2;
  }
  if (path.relative(ROOT, path.resolve(o.out)).startsWith("..")) {
    process.stderr.write(`error: --out must be inside the project (the server serves ${ROOT}); got ${o.out}\n`);
    return 2;
  }
  const python = findNotebookPython();
  if (!python) {
    process.stderr.write(NOTEBOOK_INSTALL_HINT + "\n");
    return 3;
  }
  const chromiumPath = findChromium();
  if (!chromiumPath) {
    process.stderr.write(CHROMIUM_INSTALL_HINT + "\n");
    return 3;
  }
  const server = await startNotebookServer(python);
  const browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS, headless: true });
  let failed = 0;
  try {
    process.stderr.write(`notebooks:browser: classic Notebook at ${server.url}, Chromium ${browser.version()}\n`);
    for (const f of files) {
      const r = await runNotebookInBrowser(browser, server, f, { preset: o.preset, params, outDir: path.resolve(o.out), budgetS: o.budget });
      if (!r.ok) {
        failed++;
        for (const p of r.problems) process.stderr.write(p + "\n");
        process.stderr.write(`  screenshot: ${path.relative(process.cwd(), r.screenshot)}\n`);
      }
    }
  } finally {
    await browser.close();
    await server.stop();
  }
  process.stderr.write(`${files.length - failed}/${files.length} notebook(s) passed in the browser; outputs in ${path.relative(process.cwd(), path.resolve(o.out)) || "."}\n`);
  return failed ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => process.exit(code));
}

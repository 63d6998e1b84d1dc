/**
 * `npm run notebooks:browser [-- NAME ...] [--preset smoke|quick|full] [--front-ends lab,notebook7,classic] [--param key=value ...]`
 *
 * Runs notebooks the way a person does, in the front ends people use, driven by headless Chromium (playwright-core):
 * JupyterLab 4 and Notebook 7 (jupyter/.venv, made by scripts/jupyter-venv.sh) and the classic Notebook 6 (Debian's
 * `jupyter-notebook`), each a real server on 127.0.0.1 with a random token, a private config / data / runtime folder
 * (nothing from ~/.jupyter leaks in) and the committed tslab kernelspec. For every notebook and front end:
 *
 * 1. **run all**: a copy with the parameters injected (runs/notebooks/browser/FRONTEND/NAME.ipynb) is opened, "run all"
 *    pressed, and every code cell's execute reply recorded: no cell may reply with an error (tslab reports type errors
 *    as a bare error reply plus a stderr stream) or be left unrun, no error output may show;
 * 2. **every figure drawn**: each figure output (the plotly JSON mime lib/viz/notebook.ts sends) is scrolled into view
 *    and must hold a plotly SVG (the live notebook is trusted, so its scripts run); at least
 *    `metadata.infifpo.expected_plots` of them;
 * 3. **save and reload**: the front end saves the notebook, the page is reloaded, and every figure must still be drawn.
 *
 * Then the notebooks as JupyterLab saved them are packaged by `npm run notebooks:share`'s step
 * (runs/notebooks/browser/share/NAME.ipynb + NAME.html) and checked where a colleague would open them:
 *
 * 4. **shared, untrusted**: each front end is started afresh (a new notary secret, so the file is untrusted); every
 *    figure must show as a picture or a plot, none blank; JupyterLab again with `jupyterlab-plotly` enabled, where
 *    every figure must be an interactive plot;
 * 5. **HTML without scripts**: the shared page opened with JavaScript off shows every figure's picture.
 *
 * Screenshots (PNG) go beside each notebook. Exit 0 all passed, 1 a check failed, 2 bad usage, 3 a requirement
 * (a front end asked for, Chromium, Jupyter) missing.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Command, Option } from "commander";
import { chromium, type Browser, type Page } from "playwright-core";
import { CHROMIUM_ARGS, CHROMIUM_INSTALL_HINT, FigureRenderer, findChromium } from "../lib/viz/render";
import { checkNotebookHtml } from "./html-check";
import { PRESETS, type Preset, budgetFor, expectedPlotsFor, injectParameters, parseParam, readNotebook, writeNotebook } from "./notebooks-core";
import { collect, findJupyterPython, findPython, indent, resolveNotebooks } from "./notebooks";
import { shareNotebook } from "./notebooks-share";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DEFAULT_BUDGET_S = 300;

export const FRONT_ENDS = ["lab", "notebook7", "classic"] as const;
export type FrontEnd = (typeof FRONT_ENDS)[number];
export const FRONT_END_NAMES: Record<FrontEnd, string> = { lab: "JupyterLab 4", notebook7: "Notebook 7", classic: "classic Notebook 6" };

/** The Python that jupyter/.venv holds (scripts/jupyter-venv.sh), if it is there. */
export const VENV_PYTHON = path.join(ROOT, "jupyter", ".venv", "bin", "python");

export const FRONT_END_INSTALL_HINT =
  "The browser check drives JupyterLab 4 and Notebook 7 from jupyter/.venv and the classic Notebook 6 from Debian:\n" +
  "  bash scripts/jupyter-venv.sh            # jupyterlab==4.6.4 notebook==7.6.3 plotly==7.1.0 into jupyter/.venv\n" +
  "  sudo apt-get update && sudo apt-get install -y --no-install-recommends jupyter-notebook chromium\n" +
  "INFIFPO_JUPYTERLAB_PYTHON / INFIFPO_PYTHON point at other Pythons (with jupyterlab + notebook 7 / notebook 6).";

/** The Python that serves `fe`, or null: JupyterLab 4 and Notebook 7 from jupyter/.venv (or $INFIFPO_JUPYTERLAB_PYTHON),
 *  the classic 6.x from Debian's (or $INFIFPO_PYTHON). */
export function findFrontEndPython(fe: FrontEnd): string | null {
  if (fe === "classic") return findNotebookPython();
  const check =
    fe === "lab"
      ? "import jupyterlab, sys; sys.exit(0 if int(jupyterlab.__version__.split('.')[0]) == 4 else 1)"
      : "import notebook, sys; sys.exit(0 if int(notebook.__version__.split('.')[0]) == 7 else 1)";
  const candidates = [process.env.INFIFPO_JUPYTERLAB_PYTHON, existsSync(VENV_PYTHON) ? VENV_PYTHON : undefined].filter((c): c is string => !!c);
  for (const py of candidates) if (findPython(check, [py])) return py;
  return null;
}

/** The first Python whose `notebook` package is the classic 6.x server, or null. */
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
  frontEnd: FrontEnd;
  /** Base URL, e.g. http://127.0.0.1:PORT */
  url: string;
  token: string;
  /** The server's own log, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts a Jupyter server for `frontEnd` on 127.0.0.1 serving the project root, with private config / data / runtime
 * folders (a fresh notary secret each time: notebooks saved elsewhere open untrusted) and the committed kernelspecs;
 * resolves once its REST API answers and lists the tslab kernel. `plotlyExtension: false` disables JupyterLab's
 * `jupyterlab-plotly` (a stock Lab without a plotly renderer); JupyterLab and Notebook 7 expose `window.jupyterapp`.
 */
export async function startJupyterServer(
  frontEnd: FrontEnd,
  python: string,
  opts: { startupTimeoutMs?: number; plotlyExtension?: boolean } = {},
): Promise<NotebookServer> {
  const port = await freePort();
  const token = randomBytes(16).toString("hex");
  const home = mkdtempSync(path.join(tmpdir(), "infifpo-jupyter-"));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JUPYTER_PATH: [path.join(ROOT, "jupyter"), process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter),
    JUPYTER_CONFIG_DIR: path.join(home, "config"),
    JUPYTER_RUNTIME_DIR: path.join(home, "runtime"),
    JUPYTER_DATA_DIR: path.join(home, "data"),
    JUPYTERLAB_SETTINGS_DIR: path.join(home, "lab-settings"),
    JUPYTERLAB_WORKSPACES_DIR: path.join(home, "lab-workspaces"),
    JUPYTER_PLATFORM_DIRS: "1",
  };
  const common = [
    "--no-browser",
    "--ip=127.0.0.1",
    `--port=${port}`,
    "--port-retries=0",
    // the project's own kernelspec only; ipykernel's python3 spec is not needed here
    "--KernelSpecManager.ensure_native_kernel=False",
    // CI and these machines run as root; the server refuses that without the flag
    ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
  ];
  let args: string[];
  if (frontEnd === "classic") {
    args = ["-m", "notebook", ...common, `--notebook-dir=${ROOT}`, `--NotebookApp.token=${token}`, "--NotebookApp.password="];
  } else {
    const app = frontEnd === "lab" ? "LabApp" : "JupyterNotebookApp";
    args = [
      "-m",
      frontEnd === "lab" ? "jupyterlab" : "notebook",
      ...common,
      `--ServerApp.root_dir=${ROOT}`,
      `--IdentityProvider.token=${token}`,
      "--ServerApp.password=",
      `--${app}.expose_app_in_browser=True`,
    ];
    const labconfig = path.join(home, "config", "labconfig");
    mkdirSync(labconfig, { recursive: true });
    // No news / update pop-ups (they ask the network); plotly's renderer only when asked for.
    const disabled: Record<string, boolean> = { "@jupyterlab/apputils-extension:announcements": true };
    // jupyterlab-plotly's renderer plugin is "@jupyterlab/plotly-extension:factory": the package name alone does not
    // disable it (Lab 4.6 lists the extension as disabled and still loads the renderer).
    if (opts.plotlyExtension === false) Object.assign(disabled, { "jupyterlab-plotly": true, "@jupyterlab/plotly-extension": true });
    writeFileSync(path.join(labconfig, "page_config.json"), JSON.stringify({ disabledExtensions: disabled }));
  }
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
      const deadline = Date.now() + 8000;
      while (exited === null && Date.now() < deadline) await sleep(50);
      if (exited === null) proc.kill("SIGKILL");
    }
    rmSync(home, { recursive: true, force: true });
  };
  const name = FRONT_END_NAMES[frontEnd];
  const timeout = opts.startupTimeoutMs ?? 90_000;
  const deadline = Date.now() + timeout;
  for (;;) {
    if (exited !== null) {
      await stop();
      throw new Error(`the ${name} server exited (${exited}) before it answered:\n${log.trim()}`);
    }
    let specs: { kernelspecs: Record<string, unknown> } | undefined;
    try {
      const r = await fetch(`${url}/api/kernelspecs?token=${token}`);
      if (r.ok) specs = (await r.json()) as { kernelspecs: Record<string, unknown> };
    } catch {
      /* not up yet */
    }
    if (specs) {
      if (!specs.kernelspecs.tslab) {
        await stop();
        throw new Error(`the ${name} server does not see the tslab kernelspec (JUPYTER_PATH=${env.JUPYTER_PATH}); it has: ${Object.keys(specs.kernelspecs).join(", ")}`);
      }
      break;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the ${name} server did not answer on ${url} within ${timeout} ms:\n${log.trim()}`);
    }
    await sleep(250);
  }
  return { frontEnd, url, token, log: () => log, stop };
}

/**
 * Shuts down every kernel of the server through its REST API, so the next notebook starts on a quiet machine (the
 * page's own session shutdown does not always get through before the page closes: kernels piled up in JupyterLab).
 */
export async function shutdownKernels(server: NotebookServer): Promise<number> {
  const auth = { headers: { Authorization: `token ${server.token}` } };
  try {
    const r = await fetch(`${server.url}/api/kernels`, auth);
    if (!r.ok) return 0;
    const kernels = (await r.json()) as { id: string }[];
    await Promise.all(kernels.map((k) => fetch(`${server.url}/api/kernels/${k.id}`, { ...auth, method: "DELETE" })));
    return kernels.length;
  } catch {
    return 0;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------------------------------------------------------
// Page-side code, kept as strings: the pages are the front ends', not this TypeScript (no DOM types here).

interface CellReport {
  index: number;
  type: string;
  status: string | null;
  count: number | null;
  errors: string[];
  stderr: string;
  source: string;
}

/** What one front end's page offers the checks. Every entry is a JavaScript expression evaluated in the page. */
interface PageDriver {
  url(server: NotebookServer, rel: string): string;
  /** The notebook is loaded and its kernel connected and idle. */
  ready: string;
  /** Starts recording execute replies; evaluates to the kernel's name. */
  hook: string;
  /** Starts "run all"; `done` turns true when it has finished. */
  runAll: string;
  done: string;
  report: string;
  /** Marks every figure output's node with data-infifpo-fig="i" and evaluates to how many there are. */
  markFigures: string;
  /** Whether the notebook's outputs are trusted. */
  trusted: string;
  errorOutputs: string;
  save: string;
  saved: string;
  /** Lets the notebook's content grow to its full height, for a full-page screenshot (classic only). */
  unscroll?: string;
  shutdown: string;
}

const PLOTLY_MIME_JS = "'application/vnd.plotly.v1+json'";

// JupyterLab 4 and Notebook 7: the same application object (`--expose-app-in-browser`) and notebook model.
const LAB_PANEL = "jupyterapp.shell.currentWidget";
const LAB_DRIVER: Omit<PageDriver, "url"> = {
  ready: `(() => {
    const app = window.jupyterapp; const w = app && app.shell && app.shell.currentWidget;
    if (!w || !w.content || !w.context || !w.context.isReady || !w.sessionContext) return false;
    const k = w.sessionContext.session && w.sessionContext.session.kernel;
    return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
  })()`,
  hook: `(() => {
    const k = ${LAB_PANEL}.sessionContext.session.kernel;
    const st = window.__infifpo = { requests: {}, replies: [], done: false, result: null };
    k.anyMessage.connect((_, a) => {
      const m = a.msg;
      if (a.direction === 'send' && m.header.msg_type === 'execute_request') st.requests[m.header.msg_id] = m.content.code;
      else if (a.direction === 'recv' && m.header.msg_type === 'execute_reply')
        st.replies.push({ code: st.requests[m.parent_header.msg_id], status: m.content.status });
    });
    return k.name;
  })()`,
  runAll: `(() => {
    const st = window.__infifpo;
    jupyterapp.commands.execute('notebook:run-all-cells').then(
      (r) => { st.result = r; st.done = true; },
      (e) => { st.result = String(e); st.done = true; });
  })()`,
  done: "window.__infifpo.done",
  report: `${LAB_PANEL}.content.widgets.map((c, index) => {
    const m = c.model, src = m.sharedModel.getSource();
    if (m.type !== 'code') return { index, type: m.type, status: null, count: null, errors: [], stderr: '', source: src };
    const outs = m.outputs.toJSON();
    const reply = (window.__infifpo ? window.__infifpo.replies : []).filter((r) => r.code === src).pop();
    return {
      index, type: 'code', status: reply ? reply.status : null, count: m.executionCount === null ? null : m.executionCount,
      errors: outs.filter((o) => o.output_type === 'error').map((o) => o.ename + ': ' + o.evalue),
      stderr: outs.filter((o) => o.output_type === 'stream' && o.name === 'stderr').map((o) => [].concat(o.text).join('')).join(''),
      source: src,
    };
  })`,
  markFigures: `(() => {
    let n = 0;
    for (const c of ${LAB_PANEL}.content.widgets) {
      if (c.model.type !== 'code') continue;
      const area = c.outputArea;
      for (let j = 0; j < area.model.length; j++) {
        const data = area.model.get(j).data || {};
        if (!data[${PLOTLY_MIME_JS}]) continue;
        const w = area.widgets[j];
        if (w) w.node.setAttribute('data-infifpo-fig', String(n));
        n++;
      }
    }
    return n;
  })()`,
  trusted: `${LAB_PANEL}.content.model.cells.length > 0 && Array.from(${LAB_PANEL}.content.model.cells).filter((c) => c.type === 'code').every((c) => c.trusted)`,
  errorOutputs: "document.querySelectorAll('.jp-OutputArea-output[data-mime-type=\"application/vnd.jupyter.stderr\"] .jp-RenderedText, .jp-OutputArea-output.jp-mod-error').length",
  save: "jupyterapp.commands.execute('docmanager:save')",
  saved: `!${LAB_PANEL}.context.model.dirty`,
  shutdown: `${LAB_PANEL}.sessionContext.shutdown()`,
};

const DRIVERS: Record<FrontEnd, PageDriver> = {
  lab: { ...LAB_DRIVER, url: (s, rel) => `${s.url}/lab/tree/${rel}?token=${s.token}` },
  notebook7: { ...LAB_DRIVER, url: (s, rel) => `${s.url}/notebooks/${rel}?token=${s.token}` },
  classic: {
    url: (s, rel) => `${s.url}/notebooks/${rel}?token=${s.token}`,
    ready: "!!(window.Jupyter && Jupyter.notebook && Jupyter.notebook._fully_loaded && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected())",
    // Records every code cell's execute_reply status (ok / error / aborted) before the cell handles it.
    hook: `(() => {
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
    })()`,
    runAll: "Jupyter.notebook.execute_all_cells()",
    done: "Jupyter.notebook.get_cells().filter(c => c.cell_type === 'code' && !c.__infifpoStatus).length === 0",
    report: `Jupyter.notebook.get_cells().map((c, index) => {
      const outs = c.cell_type === 'code' ? c.output_area.outputs : [];
      const text = (o) => [].concat(o.text || []).join('');
      return {
        index, type: c.cell_type, status: c.__infifpoStatus || null,
        count: c.cell_type === 'code' ? (c.input_prompt_number === undefined || c.input_prompt_number === '*' || c.input_prompt_number === null ? null : c.input_prompt_number) : null,
        errors: outs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
        stderr: outs.filter(o => o.output_type === 'stream' && o.name === 'stderr').map(text).join(''),
        source: c.get_text(),
      };
    })`,
    markFigures: `(() => {
      let n = 0;
      for (const c of Jupyter.notebook.get_cells()) {
        if (c.cell_type !== 'code') continue;
        const nodes = c.output_area.element.children('.output_area');
        c.output_area.outputs.forEach((o, j) => {
          if (!o.data || !o.data[${PLOTLY_MIME_JS}]) return;
          if (nodes[j]) nodes[j].setAttribute('data-infifpo-fig', String(n));
          n++;
        });
      }
      return n;
    })()`,
    trusted: "Jupyter.notebook.trusted",
    errorOutputs: "document.querySelectorAll('.output_error').length",
    save: "Jupyter.notebook.save_notebook()",
    saved: "!Jupyter.notebook.dirty",
    unscroll: "html, body, #site { height: auto !important; overflow: visible !important; } #header { position: static !important; }",
    shutdown: "Jupyter.notebook.session && Jupyter.notebook.session.delete()",
  },
};

/** How one figure output shows: an interactive plotly plot, its static picture, or neither (with its text). */
export type FigureShown = { kind: "plot" } | { kind: "picture" } | { kind: "blank"; text: string };

// Classifies the node marked data-infifpo-fig=i. A picture counts when it decoded and takes up room.
const pageFigure = (i: number) => `(() => {
  const node = document.querySelector('[data-infifpo-fig="${i}"]');
  if (!node) return { kind: 'blank', text: 'no node for this output in the page' };
  if (node.querySelector('.main-svg')) return { kind: 'plot' };
  const img = Array.from(node.querySelectorAll('img')).find((im) => {
    const r = im.getBoundingClientRect();
    return im.complete && im.naturalWidth > 0 && r.width > 50 && r.height > 50;
  });
  if (img) return { kind: 'picture' };
  return { kind: 'blank', text: (node.textContent || '').trim().slice(0, 300) || 'an empty box' };
})()`;

/** Scrolls to each figure output in turn (as a reader would) and says how it shows. */
async function figuresShown(page: Page, driver: PageDriver, opts: { want: "plot" | "any"; waitMs?: number }): Promise<FigureShown[]> {
  const n = (await page.evaluate(driver.markFigures)) as number;
  const shown: FigureShown[] = [];
  for (let i = 0; i < n; i++) {
    const loc = page.locator(`[data-infifpo-fig="${i}"]`);
    await loc.scrollIntoViewIfNeeded({ timeout: 10_000 }).catch(() => {});
    // Plotly draws after the output is attached and its script ran; pictures decode: give each a moment.
    const ok = opts.want === "plot" ? "s.kind === 'plot'" : "s.kind !== 'blank'";
    // jupyterlab-plotly shows an output's image/png and draws the plot when the pointer enters it, as a reader's does.
    if (opts.want === "plot") await loc.hover({ timeout: 5_000 }).catch(() => {});
    await page
      .waitForFunction(`(() => { const s = ${pageFigure(i)}; return ${ok}; })()`, undefined, { timeout: opts.waitMs ?? 15_000, polling: 200 })
      .catch(() => {});
    shown.push((await page.evaluate(pageFigure(i))) as FigureShown);
  }
  return shown;
}

function describeShown(shown: readonly FigureShown[]): string {
  const plots = shown.filter((s) => s.kind === "plot").length;
  const pictures = shown.filter((s) => s.kind === "picture").length;
  const blank = shown.length - plots - pictures;
  return `${plots + pictures}/${shown.length} figure(s) drawn (${plots} plot(s), ${pictures} picture(s)${blank ? `, ${blank} blank` : ""})`;
}

/** Takes a screenshot with the first figure (else the top) in view; classic Notebook gets a full-page one. */
async function screenshot(page: Page, driver: PageDriver, file: string): Promise<void> {
  if (driver.unscroll) {
    await page.addStyleTag({ content: driver.unscroll });
    await page.screenshot({ path: file, fullPage: true });
    return;
  }
  const first = page.locator('[data-infifpo-fig="0"]');
  if ((await first.count()) > 0) await first.evaluate("(el) => el.scrollIntoView({ block: 'start' })").catch(() => {});
  await sleep(300);
  await page.screenshot({ path: file });
}

/**
 * Page errors thrown by the front end's own code (the first stack frame in one of the server's /static/ bundles):
 * JupyterLab's debugger panel asking tslab (which has no debugger) for a session, a Notebook 7 plugin racing the
 * page. They are reported as notes, not failures; errors from the notebook's outputs (inline scripts, plotly.js)
 * fail the check.
 */
export function isFrontEndError(stack: string | undefined, serverUrl: string): boolean {
  const top = /\(?(https?:\/\/[^\s)]+?)(?::\d+){0,2}\)?$/m.exec((stack ?? "").split("\n").find((l) => /^\s+at /.test(l)) ?? "")?.[1];
  return !!top && top.startsWith(serverUrl) && top.includes("/static/");
}

async function openNotebook(
  browser: Browser,
  server: NotebookServer,
  file: string,
): Promise<{ page: Page; pageErrors: string[]; frontEndErrors: string[]; driver: PageDriver }> {
  const rel = path.relative(ROOT, file);
  if (rel.startsWith("..")) throw new Error(`${file} is outside the project the server serves (${ROOT})`);
  const driver = DRIVERS[server.frontEnd];
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const pageErrors: string[] = [];
  const frontEndErrors: string[] = [];
  page.on("pageerror", (e) => {
    if (isFrontEndError(e.stack, server.url)) {
      if (!frontEndErrors.includes(e.message)) frontEndErrors.push(e.message);
    } else pageErrors.push(e.message);
  });
  // Only the local server: CDN links (MathJax etc.) are cut so nothing waits on a network that is not there.
  await page.route((u) => !u.href.startsWith(server.url), (route) => route.abort());
  await page.goto(driver.url(server, rel.split(path.sep).map(encodeURIComponent).join("/")), { waitUntil: "load", timeout: 60_000 });
  await page.waitForFunction(driver.ready, undefined, { timeout: 120_000, polling: 250 });
  return { page, pageErrors, frontEndErrors, driver };
}

export interface BrowserRunResult {
  name: string;
  frontEnd: FrontEnd;
  ok: boolean;
  /** Seconds from "run all" to its end. */
  elapsed_s: number;
  codeCells: number;
  /** Figure outputs in the page, and how they showed after the run and after save + reload. */
  plots: number;
  drawn: number;
  shown: FigureShown[];
  reloaded: FigureShown[];
  problems: string[];
  /** Errors the front end's own code threw (see isFrontEndError): reported, not failures. */
  notes: string[];
  /** The notebook as the front end saved it (outputs included), and screenshots after the run and the reload. */
  notebook: string;
  screenshot: string;
  reloadScreenshot: string;
}

/**
 * Opens `file` (with parameters injected) in the running server, runs all cells in the browser, checks the page,
 * saves, reloads and checks again. Never throws for notebook failures: they are in `problems`.
 */
export async function runNotebookInBrowser(
  browser: Browser,
  server: NotebookServer,
  file: string,
  opts: { preset: Preset; params: Record<string, unknown>; outDir: string; budgetS?: number; reload?: boolean; log?: (s: string) => void },
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
  writeNotebook(copy, injected);
  const budget = opts.budgetS ?? budgetFor(nb, opts.preset) ?? DEFAULT_BUDGET_S;
  const expected = expectedPlotsFor(nb, opts.preset);
  const problems: string[] = [];
  const result: BrowserRunResult = {
    name, frontEnd: server.frontEnd, ok: false, elapsed_s: NaN, codeCells: 0, plots: 0, drawn: 0, shown: [], reloaded: [], problems, notes: [],
    notebook: copy, screenshot: path.join(opts.outDir, `${name}.png`), reloadScreenshot: path.join(opts.outDir, `${name}.reload.png`),
  };
  let page: Page | undefined;
  let driver: PageDriver = DRIVERS[server.frontEnd];
  try {
    const opened = await openNotebook(browser, server, copy);
    page = opened.page;
    driver = opened.driver;
    const kernel = (await page.evaluate(driver.hook)) as string;
    if (kernel !== "tslab") problems.push(`the notebook opened with kernel "${kernel}", not tslab`);
    const t0 = performance.now();
    await page.evaluate(driver.runAll);
    try {
      await page.waitForFunction(driver.done, undefined, { timeout: budget * 1000, polling: 250 });
    } catch {
      problems.push(`"run all" still running after the ${budget} s budget (preset ${opts.preset})`);
    }
    result.elapsed_s = (performance.now() - t0) / 1000;
    const cells = (await page.evaluate(driver.report)) as CellReport[];
    const code = cells.filter((c) => c.type === "code");
    result.codeCells = code.length;
    let failed = false;
    for (const c of code) {
      if (c.status !== "ok" || c.errors.length > 0) {
        // tslab answers the cells queued behind a failure with status "abort" (the protocol's word is "aborted")
        const what =
          c.status === null
            ? failed ? "was not run (an earlier cell failed)" : "got no execute reply"
            : c.status === "aborted" || c.status === "abort"
              ? "was not run (an earlier cell failed)"
              : `failed (reply: ${c.status})`;
        if (c.status === "error" || c.errors.length) failed = true;
        problems.push(
          `cell ${c.index} ${what}:\n` +
            indent(c.source, "  | ") +
            (c.errors.length || c.stderr ? "\n" + indent([...c.errors, c.stderr].filter(Boolean).join("\n"), "  ! ") : ""),
        );
      } else if (c.count === null) {
        problems.push(`cell ${c.index} replied ok but shows no execution count`);
      }
    }
    result.shown = await figuresShown(page, driver, { want: "plot" });
    result.plots = result.shown.length;
    result.drawn = result.shown.filter((s) => s.kind === "plot").length;
    for (const [i, s] of result.shown.entries()) {
      if (s.kind !== "plot") problems.push(`figure ${i + 1} is not an interactive plot after the run (${s.kind}${s.kind === "blank" ? `: ${s.text}` : ""})`);
    }
    if (expected !== undefined && result.drawn < expected) problems.push(`expected at least ${expected} drawn plot(s) (metadata.infifpo.expected_plots), found ${result.drawn}`);
    const errorOutputs = (await page.evaluate(driver.errorOutputs)) as number;
    if (errorOutputs > 0 && !failed) problems.push(`${errorOutputs} error output(s) shown in the page`);
    for (const e of opened.pageErrors) problems.push(`page error: ${e}`);
    result.notes = opened.frontEndErrors;
    await screenshot(page, driver, result.screenshot);
    await page.evaluate(driver.save);
    await page.waitForFunction(driver.saved, undefined, { timeout: 30_000, polling: 200 }).catch(() => {
      problems.push("the front end did not save the executed notebook");
    });
    if (opts.reload !== false && !failed) {
      await page.reload({ waitUntil: "load", timeout: 60_000 });
      await page.waitForFunction(driver.ready, undefined, { timeout: 120_000, polling: 250 });
      result.reloaded = await figuresShown(page, driver, { want: "plot" });
      if (result.reloaded.length !== result.plots) problems.push(`after save and reload: ${result.reloaded.length} figure output(s), before: ${result.plots}`);
      for (const [i, s] of result.reloaded.entries()) {
        if (s.kind === "blank") problems.push(`figure ${i + 1} is blank after save and reload: ${s.text}`);
      }
      await screenshot(page, driver, result.reloadScreenshot);
    }
  } catch (e) {
    problems.push(`browser: ${(e as Error).message.split("\n")[0]}`);
  } finally {
    await closeNotebook(server, page, driver);
  }
  result.ok = problems.length === 0;
  log(
    `${result.ok ? "ok  " : "FAIL"} ${name} in ${FRONT_END_NAMES[server.frontEnd]} [${opts.preset}]: ${result.codeCells} code cell(s) run in ` +
      `${Number.isFinite(result.elapsed_s) ? result.elapsed_s.toFixed(1) : "?"} s of ${budget} s budget, ${describeShown(result.shown)}` +
      (result.reloaded.length ? `; after save + reload ${describeShown(result.reloaded)}` : ""),
  );
  return result;
}

/** Shuts the notebook's kernel down through the page's session and closes the page, so the next notebook starts on a quiet machine. */
async function closeNotebook(server: NotebookServer, page: Page | undefined, driver: PageDriver): Promise<void> {
  if (page) {
    await page.evaluate(driver.shutdown).catch(() => {});
    await page.close();
  }
  await shutdownKernels(server);
}

export interface SharedViewResult {
  name: string;
  frontEnd: FrontEnd;
  plotlyExtension: boolean;
  ok: boolean;
  trusted: boolean | null;
  shown: FigureShown[];
  problems: string[];
  notes: string[];
  screenshot: string;
}

/**
 * Opens an already executed (shared) notebook in a server that has never seen it, runs nothing, and checks that every
 * figure shows (as a plot where `want` is "plot", else as a picture or a plot) and that the notebook is untrusted there.
 */
export async function viewSharedNotebook(
  browser: Browser,
  server: NotebookServer,
  file: string,
  opts: { outDir: string; want: "plot" | "any"; plotlyExtension?: boolean; log?: (s: string) => void },
): Promise<SharedViewResult> {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + "\n"));
  const name = path.basename(file, ".ipynb");
  mkdirSync(opts.outDir, { recursive: true });
  const problems: string[] = [];
  const result: SharedViewResult = {
    name, frontEnd: server.frontEnd, plotlyExtension: !!opts.plotlyExtension, ok: false, trusted: null, shown: [], problems, notes: [],
    screenshot: path.join(opts.outDir, `${name}.png`),
  };
  let page: Page | undefined;
  let driver = DRIVERS[server.frontEnd];
  try {
    const opened = await openNotebook(browser, server, file);
    page = opened.page;
    driver = opened.driver;
    result.trusted = (await page.evaluate(driver.trusted)) as boolean;
    if (result.trusted) problems.push("the shared notebook opened trusted in a fresh server: this check would not test the untrusted view");
    result.shown = await figuresShown(page, driver, { want: opts.want });
    if (result.shown.length === 0) problems.push("no figure outputs in the page");
    for (const [i, s] of result.shown.entries()) {
      if (s.kind === "blank") problems.push(`figure ${i + 1} is blank: ${s.text}`);
      else if (opts.want === "plot" && s.kind !== "plot") problems.push(`figure ${i + 1} shows as a ${s.kind}, not an interactive plot`);
    }
    for (const e of opened.pageErrors) problems.push(`page error: ${e}`);
    result.notes = opened.frontEndErrors;
    await screenshot(page, driver, result.screenshot);
  } catch (e) {
    problems.push(`browser: ${(e as Error).message.split("\n")[0]}`);
  } finally {
    await closeNotebook(server, page, driver);
  }
  result.ok = problems.length === 0;
  log(
    `${result.ok ? "ok  " : "FAIL"} ${name} shared, opened in a fresh ${FRONT_END_NAMES[server.frontEnd]}` +
      `${server.frontEnd === "lab" ? (opts.plotlyExtension ? " with jupyterlab-plotly" : " without a plotly extension") : ""}` +
      ` (${result.trusted ? "trusted" : "untrusted"}): ${describeShown(result.shown)}`,
  );
  return result;
}

export interface BrowserCheckReport {
  runs: BrowserRunResult[];
  shared: SharedViewResult[];
  html: { name: string; ok: boolean; plots: number; drawn: number; problems: string[]; screenshot: string; file: string }[];
  /** Front ends asked for but not installed (with the reason). */
  missing: string[];
  ok: boolean;
}

/**
 * The whole check: every notebook in every front end (run all, figures, save + reload), then the notebooks as the
 * first front end saved them, shared, opened untrusted in fresh servers, and their HTML without scripts.
 */
export async function browserCheck(opts: {
  files: readonly string[];
  frontEnds: readonly FrontEnd[];
  preset: Preset;
  params: Record<string, unknown>;
  outDir: string;
  chromiumPath: string;
  budgetS?: number;
  share?: boolean;
  log?: (s: string) => void;
}): Promise<BrowserCheckReport> {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + "\n"));
  const report: BrowserCheckReport = { runs: [], shared: [], html: [], missing: [], ok: false };
  const pythons = new Map<FrontEnd, string>();
  for (const fe of opts.frontEnds) {
    const py = findFrontEndPython(fe);
    if (py) pythons.set(fe, py);
    else report.missing.push(`${FRONT_END_NAMES[fe]} is not installed`);
  }
  const browser = await chromium.launch({ executablePath: opts.chromiumPath, args: CHROMIUM_ARGS, headless: true });
  const savedBy = new Map<string, string>(); // notebook name → the first front end's saved copy
  try {
    log(`notebooks:browser: Chromium ${browser.version()}; ${[...pythons.keys()].map((fe) => FRONT_END_NAMES[fe]).join(", ") || "no front end"}`);
    for (const [fe, py] of pythons) {
      const t0 = performance.now();
      const server = await startJupyterServer(fe, py, { plotlyExtension: false });
      log(`  ${FRONT_END_NAMES[fe]} up in ${((performance.now() - t0) / 1000).toFixed(1)} s at ${server.url}`);
      try {
        for (const f of opts.files) {
          const r = await runNotebookInBrowser(browser, server, f, { preset: opts.preset, params: opts.params, outDir: path.join(opts.outDir, fe), budgetS: opts.budgetS, log });
          report.runs.push(r);
          if (r.ok && !savedBy.has(r.name)) savedBy.set(r.name, r.notebook);
        }
      } finally {
        await server.stop();
      }
    }
    if (opts.share !== false && savedBy.size > 0) {
      const python = findJupyterPython() ?? pythons.get("lab") ?? [...pythons.values()][0];
      const shareDir = path.join(opts.outDir, "share");
      const renderer = await FigureRenderer.open(opts.chromiumPath, ROOT);
      const sharedFiles: string[] = [];
      try {
        for (const [name, saved] of savedBy) {
          const s = await shareNotebook(saved, { outDir: shareDir, python, renderer, name });
          sharedFiles.push(s.notebook);
          const shot = path.join(shareDir, `${name}.html.png`);
          const checks = await checkNotebookHtml(s.html, opts.chromiumPath, 20_000, { modes: ["noscript", "plain"], screenshot: shot });
          for (const c of checks) {
            const problems = [...c.problems, ...(c.drawn < c.plots ? [`${c.drawn} of ${c.plots} figure(s) drawn`] : []), ...(c.plots === 0 ? ["no figures"] : [])];
            report.html.push({ name: `${name} (${c.mode === "noscript" ? "JavaScript off" : "JavaScript on"})`, ok: problems.length === 0 && s.ok, plots: c.plots, drawn: c.drawn, problems: [...s.problems, ...problems], screenshot: shot, file: s.html });
            log(
              `${problems.length === 0 && s.ok ? "ok  " : "FAIL"} ${name} shared as HTML, ${c.mode === "noscript" ? "JavaScript off" : "JavaScript on"}: ` +
                `${c.drawn}/${c.plots} figure(s) shown${c.mode === "noscript" ? " as pictures" : " as plots"}`,
            );
          }
        }
      } finally {
        await renderer.close();
      }
      const views: { fe: FrontEnd; plotlyExtension: boolean; want: "plot" | "any" }[] = [];
      for (const fe of pythons.keys()) views.push({ fe, plotlyExtension: false, want: "any" });
      if (pythons.has("lab") && hasPlotlyExtension(pythons.get("lab")!)) views.push({ fe: "lab", plotlyExtension: true, want: "plot" });
      for (const v of views) {
        const server = await startJupyterServer(v.fe, pythons.get(v.fe)!, { plotlyExtension: v.plotlyExtension });
        try {
          const dir = path.join(opts.outDir, `share-${v.fe}${v.plotlyExtension ? "-plotly" : ""}`);
          for (const f of sharedFiles) report.shared.push(await viewSharedNotebook(browser, server, f, { outDir: dir, want: v.want, plotlyExtension: v.plotlyExtension, log }));
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    await browser.close();
  }
  report.ok = report.missing.length === 0 && [...report.runs, ...report.shared, ...report.html].every((r) => r.ok) && report.runs.length > 0;
  return report;
}

/** Whether `python`'s Jupyter has plotly's JupyterLab extension (`pip install plotly` brings it). */
export function hasPlotlyExtension(python: string): boolean {
  return findPython(
    "import os, sys; sys.exit(0 if os.path.isdir(os.path.join(sys.prefix, 'share', 'jupyter', 'labextensions', 'jupyterlab-plotly')) else 1)",
    [python],
  ) !== null;
}

export function parseFrontEnds(list: string): FrontEnd[] {
  const out = list.split(",").map((s) => s.trim()).filter(Boolean);
  const bad = out.filter((s) => !(FRONT_ENDS as readonly string[]).includes(s));
  if (bad.length) throw new Error(`unknown front end(s) ${bad.join(", ")}; valid: ${FRONT_ENDS.join(", ")}`);
  return out as FrontEnd[];
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = new Command()
    .name("npm run notebooks:browser --")
    .description(
      "Open notebooks in JupyterLab 4, Notebook 7 and the classic Notebook 6, served on 127.0.0.1 and driven by headless\n" +
        "Chromium: run all, check every figure is drawn, save, reload and check again; then share the notebooks as JupyterLab\n" +
        "saved them and check every figure shows in fresh (untrusted) servers and in the HTML page without JavaScript.\n" +
        "Notebooks, shared files and screenshots go to runs/notebooks/browser/.",
    )
    .argument("[names...]", "notebooks to run (file name, with or without .ipynb, or a prefix such as 00); default: all")
    .addOption(new Option("--preset <preset>", "size preset, injected as `preset`; selects the time budget").choices(PRESETS).default("smoke"))
    .option("--front-ends <list>", `comma-separated: ${FRONT_ENDS.join(", ")} (default: all; each must be installed)`, FRONT_ENDS.join(","))
    .option("--param <key=value>", "set a parameter of the `parameters` cell (value parsed as JSON, else a string); repeatable", collect, [])
    .option("--out <dir>", "output folder (inside the project: the servers serve the project root)", path.join(ROOT, "runs", "notebooks", "browser"))
    .option("--budget <seconds>", "override the notebook's time budget", (v) => Number(v))
    .option("--no-share", "skip the shared-file checks (fresh untrusted servers, HTML without JavaScript)")
    .exitOverride();
  try {
    program.parse(argv);
  } catch (e) {
    return (e as { exitCode?: number }).exitCode ?? 2;
  }
  const o = program.opts<{ preset: Preset; frontEnds: string; param: string[]; out: string; budget?: number; share: boolean }>();
  let files: string[];
  let params: Record<string, unknown>;
  let frontEnds: FrontEnd[];
  try {
    files = resolveNotebooks(program.args);
    params = Object.fromEntries(o.param.map(parseParam));
    frontEnds = parseFrontEnds(o.frontEnds);
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 2;
  }
  if (path.relative(ROOT, path.resolve(o.out)).startsWith("..")) {
    process.stderr.write(`error: --out must be inside the project (the servers serve ${ROOT}); got ${o.out}\n`);
    return 2;
  }
  const missing = frontEnds.filter((fe) => !findFrontEndPython(fe));
  if (missing.length) {
    process.stderr.write(`not installed: ${missing.map((fe) => FRONT_END_NAMES[fe]).join(", ")} (or pick others with --front-ends)\n${FRONT_END_INSTALL_HINT}\n`);
    return 3;
  }
  const chromiumPath = findChromium();
  if (!chromiumPath) {
    process.stderr.write(CHROMIUM_INSTALL_HINT + "\n");
    return 3;
  }
  const t0 = performance.now();
  const report = await browserCheck({ files, frontEnds, preset: o.preset, params, outDir: path.resolve(o.out), chromiumPath, budgetS: o.budget, share: o.share });
  const failures = [...report.runs, ...report.shared, ...report.html].filter((r) => !r.ok);
  for (const r of failures) {
    const where = "frontEnd" in r ? ` (${FRONT_END_NAMES[r.frontEnd]})` : "";
    process.stderr.write(`\nFAIL ${r.name}${where}:\n${r.problems.map((p) => indent(p, "  ")).join("\n")}\n  screenshot: ${path.relative(process.cwd(), r.screenshot)}\n`);
  }
  const notes = new Map<string, string[]>();
  for (const r of [...report.runs, ...report.shared]) for (const n of r.notes) notes.set(n, [...(notes.get(n) ?? []), `${r.name} (${FRONT_END_NAMES[r.frontEnd]})`]);
  for (const [n, where] of notes) process.stderr.write(`note: the front end's own code threw "${n}" in ${where.join(", ")} (not counted as a failure)\n`);
  const checks = report.runs.length + report.shared.length + report.html.length;
  process.stderr.write(
    `${checks - failures.length}/${checks} browser check(s) passed in ${((performance.now() - t0) / 1000).toFixed(0)} s; ` +
      `outputs and screenshots in ${path.relative(process.cwd(), path.resolve(o.out)) || "."}\n`,
  );
  return report.ok ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => process.exit(code));
}

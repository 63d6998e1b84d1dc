/**
 * Static pictures of plotly figures: headless Chromium (Debian's `chromium`, driven by playwright-core) with the
 * plotly.js bundle loaded once into one page, then `Plotly.toImage` per figure (docs/stack.md, "Notebooks").
 *
 * Two ways in, one page-side renderer:
 * - {@link FigureRenderer} (async): `npm run figures`, the notebook runner and `npm run notebooks:share`;
 * - {@link renderPictureSync} (blocking, for `showPlot` in a tslab kernel, whose display calls cannot await):
 *   the same renderer in a worker thread, waited for with `Atomics.wait`. The browser is started on the first
 *   figure and kept for the kernel's life.
 *
 * playwright-core is a development dependency: it is loaded only when a picture is asked for, and where it or
 * Chromium is missing the caller gets the reason as text, never an exception.
 *
 *   const r = await FigureRenderer.open(findChromium()!);
 *   const png = await r.render(lineChart({ loss: [0.69, 0.5] }), "png", 800, 420); // Buffer, 1600 × 840 at scale 2
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import type { Browser, Page } from "playwright-core";
import { plotlyBundlePath, type Picture } from "./html";
import type { Figure } from "./types";

export const CHROMIUM_INSTALL_HINT =
  "Chromium is needed to render figures. On Debian/Ubuntu:\n" +
  "  sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium\n" +
  "or point CHROMIUM_PATH at a Chrome/Chromium binary. (Do not run `npx playwright install`.)";

/** Launch flags for Debian's chromium in containers and CI (docs/stack.md). */
export const CHROMIUM_ARGS: string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/** $CHROMIUM_PATH, else the first Chromium/Chrome binary at the usual Debian paths, else null. */
export function findChromium(): string | null {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
  for (const c of candidates) if (c && existsSync(c)) return c;
  return null;
}

export type ImageFormat = "png" | "svg";

/** Default picture size of a figure without layout.width / layout.height (the notebook div is 420 px high). */
export const DEFAULT_PICTURE_WIDTH = 800;
export const DEFAULT_PICTURE_HEIGHT = 420;

/** The size a figure's static picture is drawn at, in CSS pixels: its layout's, else the defaults. */
export function pictureSize(fig: Figure): { width: number; height: number } {
  const width = typeof fig.layout.width === "number" ? fig.layout.width : DEFAULT_PICTURE_WIDTH;
  const height = typeof fig.layout.height === "number" ? fig.layout.height : DEFAULT_PICTURE_HEIGHT;
  return { width, height };
}

// The page-side renderer, as a string because this project compiles without DOM types: draw into a div of the
// requested size, export, clean up. Fixed trace uids: plotly writes random ones into an SVG otherwise.
const PAGE_RENDERER = `
window.renderFigure = async function (fig, format, width, height, scale) {
  var div = document.createElement("div");
  div.style.width = width + "px";
  div.style.height = height + "px";
  document.body.appendChild(div);
  try {
    var data = fig.data.map(function (t, i) { return Object.assign({ uid: "t" + i }, t); });
    var layout = Object.assign({}, fig.layout, { width: width, height: height });
    var config = Object.assign({}, fig.config || {}, { staticPlot: true, responsive: false });
    await Plotly.newPlot(div, data, layout, config);
    return await Plotly.toImage(div, { format: format, width: width, height: height, scale: scale });
  } finally {
    Plotly.purge(div);
    div.remove();
  }
};`;

type Playwright = typeof import("playwright-core");

/** A browser page with plotly loaded, reused for every figure. */
export class FigureRenderer {
  private constructor(
    private readonly browser: Browser,
    private readonly page: Page,
  ) {}

  static async open(executablePath: string, root: string = process.cwd()): Promise<FigureRenderer> {
    const { chromium } = (await import("playwright-core")) as Playwright;
    const browser = await chromium.launch({ executablePath, args: [...CHROMIUM_ARGS], headless: true });
    try {
      const page = await browser.newPage();
      await page.setContent("<!doctype html><html><head><meta charset='utf-8'></head><body></body></html>");
      await page.addScriptTag({ path: plotlyBundlePath(root) });
      await page.addScriptTag({ content: PAGE_RENDERER });
      const ok = await page.evaluate("typeof window.Plotly === 'object' && typeof window.renderFigure === 'function'");
      if (!ok) throw new Error("plotly.js did not load in the page");
      return new FigureRenderer(browser, page);
    } catch (e) {
      await browser.close();
      throw e;
    }
  }

  /** Renders one figure; PNG bytes or SVG text as a Buffer. `scale` multiplies the PNG's pixels (default 2 for
   *  PNG, 1 for SVG). */
  async render(fig: Figure, format: ImageFormat, width: number, height: number, scale?: number): Promise<Buffer> {
    const s = scale ?? (format === "png" ? 2 : 1);
    const url = (await this.page.evaluate(
      ([f, fmt, w, h, sc]) => (globalThis as unknown as { renderFigure: (...a: unknown[]) => Promise<string> }).renderFigure(f, fmt, w, h, sc),
      [fig, format, width, height, s] as const,
    )) as string;
    return dataUrlBytes(url);
  }

  /** The figure's static picture as notebooks embed it: a PNG at {@link pictureSize}, scale {@link NOTEBOOK_PICTURE_SCALE}. */
  async picture(fig: Figure): Promise<Picture> {
    const { width, height } = pictureSize(fig);
    const png = await this.render(fig, "png", width, height, NOTEBOOK_PICTURE_SCALE);
    return { png: png.toString("base64"), width, height };
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}

/** The bytes of a `data:` URL (base64 or percent-encoded). */
export function dataUrlBytes(url: string): Buffer {
  const comma = url.indexOf(",");
  if (!url.startsWith("data:") || comma < 0) throw new Error(`not a data: URL: ${url.slice(0, 40)}…`);
  const head = url.slice(0, comma);
  const body = url.slice(comma + 1);
  return head.endsWith(";base64") ? Buffer.from(body, "base64") : Buffer.from(decodeURIComponent(body), "utf8");
}

/** A static picture of a figure, or why there is none. */
export type PictureResult =
  | { ok: true; png: string; width: number; height: number; ms: number }
  | { ok: false; reason: string };

/** Pixels per CSS pixel of the pictures notebooks embed: sharper than 1, and a third of scale 2's bytes. */
export const NOTEBOOK_PICTURE_SCALE = 1.5;

// ---------------------------------------------------------------------------------------------------------------
// Blocking rendering for the tslab kernel

// The worker: a CommonJS script (eval: true) that loads playwright-core from the project, starts Chromium on the
// first request and answers each request on its port, then wakes the waiting thread through the shared flag.
const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const { createRequire } = require("node:module");
const { port, flag, root, executablePath, args, bundle, renderer } = workerData;
const signal = new Int32Array(flag);
let pagePromise = null;
function page() {
  if (!pagePromise) {
    pagePromise = (async () => {
      const { chromium } = createRequire(root + "/package.json")("playwright-core");
      const browser = await chromium.launch({ executablePath, args, headless: true });
      const p = await browser.newPage();
      await p.setContent("<!doctype html><html><head><meta charset='utf-8'></head><body></body></html>");
      await p.addScriptTag({ path: bundle });
      await p.addScriptTag({ content: renderer });
      return p;
    })();
  }
  return pagePromise;
}
port.on("message", async (req) => {
  let reply;
  try {
    const p = await page();
    const url = await p.evaluate((a) => window.renderFigure(a[0], "png", a[1], a[2], a[3]), [req.fig, req.width, req.height, req.scale]);
    reply = { ok: true, png: url.slice(url.indexOf(",") + 1) };
  } catch (e) {
    reply = { ok: false, reason: String((e && e.message) || e).split("\\n")[0] };
    if (!reply.reason) reply.reason = "unknown error";
  }
  port.postMessage(reply);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
});
`;

interface SyncRenderer {
  worker: Worker;
  port: MessagePort;
  signal: Int32Array;
  /** Set once a request failed or timed out: later figures are not tried again (same reason). */
  broken?: string;
  first: boolean;
}

const SYNC_KEY = "__infifpoSyncRenderer";

function syncRenderer(root: string): SyncRenderer | string {
  const g = globalThis as unknown as Record<string, SyncRenderer | string | undefined>;
  const existing = g[SYNC_KEY];
  if (existing !== undefined) return existing;
  const exe = findChromium();
  let made: SyncRenderer | string;
  if (!exe) {
    made = "Chromium was not found (install Debian's chromium or set CHROMIUM_PATH)";
  } else {
    let bundle: string;
    try {
      bundle = plotlyBundlePath(root);
      // resolve here, so that a missing package is reported as such; the worker loads it
      createRequire(path.join(root, "package.json")).resolve("playwright-core");
      const { port1, port2 } = new MessageChannel();
      const flag = new SharedArrayBuffer(4);
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { port: port2, flag, root, executablePath: exe, args: [...CHROMIUM_ARGS], bundle, renderer: PAGE_RENDERER },
        transferList: [port2],
      });
      worker.unref();
      port1.unref();
      made = { worker, port: port1, signal: new Int32Array(flag), first: true };
    } catch (e) {
      made = `the picture renderer could not start: ${(e as Error).message.split("\n")[0]}`;
    }
  }
  g[SYNC_KEY] = made;
  return made;
}

/**
 * Renders `fig` to a PNG synchronously (blocking the calling thread): what `showPlot` uses to put a static picture
 * into each figure output. The first call starts Chromium (a few seconds; `firstTimeoutMs`), later ones take tens
 * of milliseconds. After one failure or timeout every later call returns the same reason at once.
 *   renderPictureSync(lineChart({ loss: [0.69, 0.5] })) → { ok: true, png: "iVBORw0…", width: 800, height: 420, ms: 55 }
 */
export function renderPictureSync(
  fig: Figure,
  opts: { root?: string; scale?: number; timeoutMs?: number; firstTimeoutMs?: number } = {},
): PictureResult {
  const r = syncRenderer(opts.root ?? process.cwd());
  if (typeof r === "string") return { ok: false, reason: r };
  if (r.broken) return { ok: false, reason: r.broken };
  const { width, height } = pictureSize(fig);
  const t0 = performance.now();
  Atomics.store(r.signal, 0, 0);
  r.port.postMessage({ fig: JSON.parse(JSON.stringify(fig)), width, height, scale: opts.scale ?? NOTEBOOK_PICTURE_SCALE });
  const timeout = r.first ? (opts.firstTimeoutMs ?? 60_000) : (opts.timeoutMs ?? 20_000);
  const waited = Atomics.wait(r.signal, 0, 0, timeout);
  const msg = receiveMessageOnPort(r.port)?.message as { ok: boolean; png?: string; reason?: string } | undefined;
  r.first = false;
  if (!msg) {
    r.broken = `the picture renderer did not answer within ${timeout} ms (${waited})`;
    void r.worker.terminate();
    return { ok: false, reason: r.broken };
  }
  if (!msg.ok || !msg.png) {
    r.broken = `the picture renderer failed: ${msg.reason ?? "no picture"}`;
    return { ok: false, reason: r.broken };
  }
  return { ok: true, png: msg.png, width, height, ms: performance.now() - t0 };
}

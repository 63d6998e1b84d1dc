/**
 * `npm run figures [-- NAME ...] [--format png,svg] [--out docs/figures] [--input FILE] [--beta B]`
 *
 * Renders the library's figures to PNG and SVG headlessly: Debian's chromium driven by playwright-core, the
 * plotly.js bundle loaded ONCE into one page, then `Plotly.toImage` per figure (see docs/stack.md).
 * The figures come from lib/viz (the same builders the notebooks show), computed on the shipped sample data.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { chromium, type Browser, type Page } from "playwright-core";
import { plotlyBundlePath } from "../lib/viz/html";
import type { Figure } from "../lib/viz/types";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export const CHROMIUM_INSTALL_HINT =
  "Chromium is needed to render figures. On Debian/Ubuntu:\n" +
  "  sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium\n" +
  "or point CHROMIUM_PATH at a Chrome/Chromium binary. (Do not run `npx playwright install`.)";

/** Launch flags for Debian's chromium in containers and CI (docs/stack.md). */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

export function findChromium(): string | null {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
  for (const c of candidates) if (c && existsSync(c)) return c;
  return null;
}

export type ImageFormat = "png" | "svg";

export interface NamedFigure {
  name: string;
  figure: Figure;
  width?: number;
  height?: number;
}

/** A browser page with plotly loaded, reused for every figure. */
export class FigureRenderer {
  private constructor(
    private readonly browser: Browser,
    private readonly page: Page,
  ) {}

  static async open(executablePath: string): Promise<FigureRenderer> {
    const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
    try {
      const page = await browser.newPage();
      await page.setContent("<!doctype html><html><head><meta charset='utf-8'></head><body></body></html>");
      await page.addScriptTag({ path: plotlyBundlePath(ROOT) });
      // The page-side renderer: draw into a detached-size div, export, clean up. Written as a string because
      // this project compiles without DOM types.
      await page.addScriptTag({
        content: `
          window.renderFigure = async function (fig, format, width, height) {
            var div = document.createElement("div");
            div.style.width = width + "px";
            div.style.height = height + "px";
            document.body.appendChild(div);
            try {
              var layout = Object.assign({}, fig.layout, { width: width, height: height });
              var config = Object.assign({ staticPlot: true }, fig.config || {});
              await Plotly.newPlot(div, fig.data, layout, config);
              return await Plotly.toImage(div, { format: format, width: width, height: height, scale: format === "png" ? 2 : 1 });
            } finally {
              Plotly.purge(div);
              div.remove();
            }
          };`,
      });
      const ok = await page.evaluate("typeof window.Plotly === 'object' && typeof window.renderFigure === 'function'");
      if (!ok) throw new Error("plotly.js did not load in the page");
      return new FigureRenderer(browser, page);
    } catch (e) {
      await browser.close();
      throw e;
    }
  }

  /** Renders one figure; PNG bytes or SVG text as a Buffer. */
  async render(fig: Figure, format: ImageFormat, width: number, height: number): Promise<Buffer> {
    const url = (await this.page.evaluate(
      ([f, fmt, w, h]) => (globalThis as unknown as { renderFigure: (...a: unknown[]) => Promise<string> }).renderFigure(f, fmt, w, h),
      [fig, format, width, height] as const,
    )) as string;
    const comma = url.indexOf(",");
    const head = url.slice(0, comma);
    const body = url.slice(comma + 1);
    return head.endsWith(";base64") ? Buffer.from(body, "base64") : Buffer.from(decodeURIComponent(body), "utf8");
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}

/** Renders every figure in every format into `outDir` as NAME.png / NAME.svg; returns the files written. */
export async function renderFigures(
  figures: readonly NamedFigure[],
  opts: { outDir: string; formats: readonly ImageFormat[]; executablePath: string; log?: (s: string) => void },
): Promise<{ files: string[]; launchMs: number; renderMs: number }> {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + "\n"));
  mkdirSync(opts.outDir, { recursive: true });
  const t0 = performance.now();
  const renderer = await FigureRenderer.open(opts.executablePath);
  const launchMs = performance.now() - t0;
  const files: string[] = [];
  const t1 = performance.now();
  try {
    for (const f of figures) {
      const width = f.width ?? (typeof f.figure.layout.width === "number" ? f.figure.layout.width : 800);
      const height = f.height ?? (typeof f.figure.layout.height === "number" ? f.figure.layout.height : 480);
      for (const fmt of opts.formats) {
        const s = performance.now();
        const bytes = await renderer.render(f.figure, fmt, width, height);
        const file = path.join(opts.outDir, `${f.name}.${fmt}`);
        writeFileSync(file, bytes);
        files.push(file);
        log(`  ${path.relative(process.cwd(), file)}  ${(bytes.length / 1024).toFixed(0)} KiB  ${(performance.now() - s).toFixed(0)} ms`);
      }
    }
  } finally {
    await renderer.close();
  }
  return { files, launchMs, renderMs: performance.now() - t1 };
}

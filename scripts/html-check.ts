/**
 * Opens an exported notebook HTML in headless chromium and checks that every lib/viz figure is drawn: by plotly
 * once as exported and once with a RequireJS-style AMD `define` present from the start (what classic Notebook and
 * an online nbconvert export load, the trap lib/viz/html.ts guards against), and as its static picture with
 * JavaScript turned off. Network requests other than file:// are aborted.
 */
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS } from "../lib/viz/render";

export interface HtmlCheck {
  /** plain: as exported; amd: with a RequireJS-style `define` present; noscript: JavaScript off, so every figure
   *  must show its static picture. */
  mode: "plain" | "amd" | "noscript";
  plots: number;
  drawn: number;
  /** Page errors, "plotly is not loaded" notes, or an AMD registration of plotly. */
  problems: string[];
}

// A picture counts as shown when it decoded and takes up room on the page.
const PAGE_PICTURES = `Array.from(document.querySelectorAll('.infifpo-plot')).map(function (d) {
  var img = d.querySelector('img');
  var r = img ? img.getBoundingClientRect() : null;
  return img && img.complete && img.naturalWidth > 0 && r.width > 50 && r.height > 50 ? '' : (d.textContent.trim() || 'an empty box');
})`;

/**
 * Counts figure divs and how many are drawn: by plotly (an SVG) with JavaScript on, as a static picture with it off.
 * `modes` defaults to all three; a screenshot of the script-less page goes to `screenshot` when given.
 */
export async function checkNotebookHtml(
  htmlFile: string,
  executablePath: string,
  timeoutMs = 20_000,
  opts: { modes?: HtmlCheck["mode"][]; screenshot?: string } = {},
): Promise<HtmlCheck[]> {
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
  const results: HtmlCheck[] = [];
  try {
    for (const mode of opts.modes ?? (["plain", "amd", "noscript"] as const)) {
      if (mode === "noscript") {
        const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1100, height: 900 } });
        const page = await context.newPage();
        await page.route(/^(?!file:)/, (route) => route.abort());
        await page.goto(pathToFileURL(htmlFile).href, { waitUntil: "load", timeout: timeoutMs });
        const shown = (await page.evaluate(PAGE_PICTURES)) as string[];
        const problems = shown.filter(Boolean).map((t) => `not shown without JavaScript: ${t.slice(0, 200)}`);
        if (opts.screenshot) await page.screenshot({ path: opts.screenshot, fullPage: true });
        results.push({ mode, plots: shown.length, drawn: shown.filter((t) => !t).length, problems });
        await context.close();
        continue;
      }
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      await page.route(/^(?!file:)/, (route) => route.abort());
      if (mode === "amd") {
        // A minimal RequireJS stand-in: records anonymous module registrations.
        await page.addInitScript(
          "window.__amdCalls = 0; window.define = function () { window.__amdCalls++; }; window.define.amd = { jQuery: true };",
        );
      }
      await page.goto(pathToFileURL(htmlFile).href, { waitUntil: "load", timeout: timeoutMs });
      const plots = (await page.evaluate("document.querySelectorAll('.infifpo-plot').length")) as number;
      try {
        await page.waitForFunction(
          "Array.from(document.querySelectorAll('.infifpo-plot')).every(function (d) { return d.querySelector('.main-svg') || d.textContent; })",
          undefined,
          { timeout: timeoutMs },
        );
      } catch {
        problems.push(`timed out after ${timeoutMs} ms waiting for the plots`);
      }
      const drawn = (await page.evaluate("document.querySelectorAll('.infifpo-plot .main-svg').length > 0 ? Array.from(document.querySelectorAll('.infifpo-plot')).filter(function (d) { return d.querySelector('.main-svg'); }).length : 0")) as number;
      const notes = (await page.evaluate(
        "Array.from(document.querySelectorAll('.infifpo-plot')).map(function (d) { return d.querySelector('.main-svg') ? '' : d.textContent; }).filter(Boolean)",
      )) as string[];
      problems.push(...notes);
      if (mode === "amd") {
        const calls = (await page.evaluate("window.__amdCalls")) as number;
        if (calls > 0) problems.push(`plotly registered itself with AMD define ${calls} time(s)`);
        const restored = (await page.evaluate("typeof window.define === 'function' && !!window.define.amd")) as boolean;
        if (!restored) problems.push("window.define was not restored after loading plotly");
      }
      results.push({ mode, plots, drawn, problems });
      await page.close();
    }
  } finally {
    await browser.close();
  }
  return results;
}

/**
 * Opens an exported notebook HTML in headless chromium and checks that every lib/viz figure was drawn by
 * plotly — once as exported, once with a RequireJS-style AMD `define` present from the start (what classic
 * Notebook and an online nbconvert export load), the trap lib/viz/html.ts guards against.
 * Network requests other than file:// are aborted (the export links require.js and MathJax on a CDN).
 */
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS } from "./figures";

export interface HtmlCheck {
  mode: "plain" | "amd";
  plots: number;
  drawn: number;
  /** Page errors, "plotly is not loaded" notes, or an AMD registration of plotly. */
  problems: string[];
}

/** Counts figure divs and how many hold a drawn plotly SVG, in both modes. */
export async function checkNotebookHtml(htmlFile: string, executablePath: string, timeoutMs = 20_000): Promise<HtmlCheck[]> {
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
  const results: HtmlCheck[] = [];
  try {
    for (const mode of ["plain", "amd"] as const) {
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

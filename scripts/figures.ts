/**
 * `npm run figures [-- NAME ...] [--format png,svg] [--out docs/figures] [--input FILE] [--beta B]`
 *
 * Renders the library's figures to PNG and SVG headlessly with lib/viz/render.ts (Debian's chromium driven by
 * playwright-core, the plotly.js bundle loaded ONCE into one page, then `Plotly.toImage` per figure).
 * The figures come from lib/viz (the same builders the notebooks show), computed on the shipped sample data.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { CHROMIUM_INSTALL_HINT, FigureRenderer, findChromium, type ImageFormat } from "../lib/viz/render";
import type { Figure } from "../lib/viz/types";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export { CHROMIUM_ARGS, CHROMIUM_INSTALL_HINT, FigureRenderer, findChromium, type ImageFormat } from "../lib/viz/render";

export interface NamedFigure {
  name: string;
  figure: Figure;
  width?: number;
  height?: number;
}

/**
 * Plotly names the SVG's clip paths and defs after a random 6-hex uid per plot, so every render of the same
 * figure differed. Replace it with one derived from the figure's name: committed SVGs change only with content.
 */
export function stabilizeSvgIds(svg: string, name: string): string {
  const m = /id="defs-([0-9a-f]{6})"/.exec(svg);
  if (!m) return svg;
  let h = 0x811c9dc5;
  for (const ch of name) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  const uid = (h & 0xffffff).toString(16).padStart(6, "0");
  // Only where it is part of a name (after a letter, "-" or "#"), never inside a number of the path data.
  return svg.replace(new RegExp(`(?<=[A-Za-z#-])${m[1]}(?![0-9.])`, "g"), uid);
}

/** Renders every figure in every format into `outDir` as NAME.png / NAME.svg; returns the files written. */
export async function renderFigures(
  figures: readonly NamedFigure[],
  opts: { outDir: string; formats: readonly ImageFormat[]; executablePath: string; log?: (s: string) => void },
): Promise<{ files: string[]; launchMs: number; renderMs: number }> {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + "\n"));
  mkdirSync(opts.outDir, { recursive: true });
  const t0 = performance.now();
  const renderer = await FigureRenderer.open(opts.executablePath, ROOT);
  const launchMs = performance.now() - t0;
  const files: string[] = [];
  const t1 = performance.now();
  try {
    for (const f of figures) {
      const width = f.width ?? (typeof f.figure.layout.width === "number" ? f.figure.layout.width : 800);
      const height = f.height ?? (typeof f.figure.layout.height === "number" ? f.figure.layout.height : 480);
      for (const fmt of opts.formats) {
        const s = performance.now();
        let bytes = await renderer.render(f.figure, fmt, width, height);
        if (fmt === "svg") bytes = Buffer.from(stabilizeSvgIds(bytes.toString("utf8"), f.name), "utf8");
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

/** The figures `npm run figures` renders: the quickstart notebook's plots on the given records file. */
export async function sampleFigures(input: string, beta: number, betaSum: number): Promise<NamedFigure[]> {
  // Imported here so `--help` and the renderer's tests need neither the data layer nor a records file.
  const { loadRecords } = await import("../lib/data/jsonl");
  const { clipRatePlot, fusedVsPivotMarginPlot, selectionPlot, settingsComparisonPlot } = await import("../lib/viz/fusion");
  const { sweepFusionSettings } = await import("../lib/records/sweep");
  const records = await loadRecords(input);
  const [paper] = sweepFusionSettings(records, { strategies: ["max-margin"], clip: [true], lengthNorm: [true], betaLN: beta });
  const margins = sweepFusionSettings(records, { strategies: ["max-margin", "mean"], lengthNorm: [true], betaLN: beta });
  const sweep = sweepFusionSettings(records, { betaLN: beta, betaSum });
  return [
    { name: "fused-vs-pivot-margin", figure: fusedVsPivotMarginPlot(margins), width: 800, height: 560 },
    { name: "clip-rate", figure: clipRatePlot(paper.summary, { title: `Clip rate per source and side (${paper.label})` }), width: 700, height: 420 },
    { name: "max-margin-selection", figure: selectionPlot(paper.summary, { title: `Max-margin selection per source (${paper.label})`, pivotKept: paper.pivotKept }), width: 700, height: 420 },
    { name: "settings-loss-disparity", figure: settingsComparisonPlot(sweep), width: 900, height: 640 },
  ];
}

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name("npm run figures --")
    .description("Render the library's figures (computed on a records file) to PNG and SVG with headless chromium.")
    .argument("[names...]", "figures to render (default: all); see --list")
    .option("--format <list>", "comma-separated formats: png, svg", "png,svg")
    .option("--out <dir>", "output folder", path.join(ROOT, "docs", "figures"))
    .option("--input <file>", "records in the published InfiFPO JSONL format", path.join(ROOT, "data", "sample", "pairs.jsonl"))
    .option("--beta <number>", "β on per-token means (LN on)", Number, 2.5)
    .option("--beta-sum <number>", "β on sums (LN off)", Number, 0.1)
    .option("--list", "list the figure names and exit")
    .parse(argv);
  const o = program.opts<{ format: string; out: string; input: string; beta: number; betaSum: number; list?: boolean }>();
  const formats = o.format.split(",").map((f) => f.trim());
  for (const f of formats) {
    if (f !== "png" && f !== "svg") {
      process.stderr.write(`error: unknown format "${f}"; valid: png, svg\n`);
      return 2;
    }
  }
  const t0 = performance.now();
  let figures = await sampleFigures(o.input, o.beta, o.betaSum);
  const buildMs = performance.now() - t0;
  if (o.list) {
    for (const f of figures) process.stdout.write(`${f.name}\n`);
    return 0;
  }
  if (program.args.length) {
    const unknown = program.args.filter((n) => !figures.some((f) => f.name === n));
    if (unknown.length) {
      process.stderr.write(`error: unknown figure(s) ${unknown.join(", ")}; valid: ${figures.map((f) => f.name).join(", ")}\n`);
      return 2;
    }
    figures = figures.filter((f) => program.args.includes(f.name));
  }
  const exe = findChromium();
  if (!exe) {
    process.stderr.write(CHROMIUM_INSTALL_HINT + "\n");
    return 3;
  }
  process.stderr.write(`rendering ${figures.length} figure(s) × ${formats.join("+")} with ${exe}\n`);
  const r = await renderFigures(figures, { outDir: path.resolve(o.out), formats: formats as ImageFormat[], executablePath: exe });
  process.stderr.write(
    `${r.files.length} file(s) in ${path.relative(process.cwd(), path.resolve(o.out)) || "."}: data + specs ${buildMs.toFixed(0)} ms, ` +
      `browser + plotly load ${r.launchMs.toFixed(0)} ms, rendering ${r.renderMs.toFixed(0)} ms\n`,
  );
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`error: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}

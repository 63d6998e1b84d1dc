/**
 * Notebook plumbing without Jupyter: read/write .ipynb JSON, papermill-style parameter injection for tslab
 * (TypeScript) notebooks, output cleaning, and inspection of executed outputs (errors, plots, timing).
 * scripts/notebooks.ts (the runner) and scripts/notebooks-clean.ts are thin CLIs over these functions.
 */
import { readFileSync, writeFileSync } from "node:fs";

export const PRESETS = ["smoke", "quick", "full"] as const;
export type Preset = (typeof PRESETS)[number];

/** Tag of the cell whose `let` declarations are the notebook's parameters (papermill's convention). */
export const PARAMETERS_TAG = "parameters";
/** Tag of the cell the runner inserts after it. */
export const INJECTED_TAG = "injected-parameters";
/** The same markers lib/viz/html.ts writes: one per displayed figure. */
export const PLOTLY_MIME = "application/vnd.plotly.v1+json";
export const PLOT_DIV_MARKER = 'class="infifpo-plot"';

export interface NotebookOutput {
  output_type: "stream" | "display_data" | "execute_result" | "error";
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  execution_count?: number | null;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}

export interface NotebookCell {
  cell_type: "code" | "markdown" | "raw";
  id?: string;
  source: string | string[];
  metadata: Record<string, unknown> & { tags?: string[] };
  outputs?: NotebookOutput[];
  execution_count?: number | null;
  attachments?: unknown;
}

export interface Notebook {
  cells: NotebookCell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

/** What a notebook declares about itself in `metadata.infifpo`. */
export interface NotebookSpec {
  /** Wall-clock budget in seconds per preset (kernel start included). */
  budget_s?: Partial<Record<Preset, number>>;
  /** Plots the executed notebook must contain: one number for every preset, or per preset. */
  expected_plots?: number | Partial<Record<Preset, number>>;
}

export function readNotebook(file: string): Notebook {
  let nb: Notebook;
  try {
    nb = JSON.parse(readFileSync(file, "utf8")) as Notebook;
  } catch (e) {
    throw new Error(`${file}: not a readable notebook (${(e as Error).message})`);
  }
  if (!Array.isArray(nb.cells) || nb.nbformat !== 4) throw new Error(`${file}: not an nbformat 4 notebook`);
  return nb;
}

/** Serialises like nbformat does (keys sorted, 1-space indent, trailing newline), so a notebook saved by
 *  Jupyter and then cleaned diffs minimally. */
export function notebookJson(nb: Notebook): string {
  return JSON.stringify(sortKeys(nb), null, 1) + "\n";
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sortKeys(o[k])]));
  }
  return v;
}

export function writeNotebook(file: string, nb: Notebook): void {
  writeFileSync(file, notebookJson(nb));
}

export function cellSource(cell: NotebookCell): string {
  return Array.isArray(cell.source) ? cell.source.join("") : cell.source;
}

/** Splits text into Jupyter's list-of-lines form (each line keeps its "\n"). */
export function toSourceLines(text: string): string[] {
  const lines = text.split(/(?<=\n)/);
  return lines.length === 1 && lines[0] === "" ? [] : lines;
}

export function notebookSpec(nb: Notebook): NotebookSpec {
  return (nb.metadata.infifpo as NotebookSpec | undefined) ?? {};
}

export function budgetFor(nb: Notebook, preset: Preset): number | undefined {
  return notebookSpec(nb).budget_s?.[preset];
}

export function expectedPlotsFor(nb: Notebook, preset: Preset): number | undefined {
  const e = notebookSpec(nb).expected_plots;
  return typeof e === "number" ? e : e?.[preset];
}

/** Index of the cell tagged `parameters`, or -1. */
export function parametersCellIndex(nb: Notebook): number {
  return nb.cells.findIndex((c) => c.cell_type === "code" && (c.metadata.tags ?? []).includes(PARAMETERS_TAG));
}

/**
 * Names declared by `let` at the start of a line in the parameters cell: `let beta = 2.5;`,
 * `let preset: "smoke" | "quick" | "full" = "quick";`. (`const` would make reassignment a type error.)
 */
export function declaredParameters(source: string): string[] {
  const names: string[] = [];
  for (const m of source.matchAll(/^\s*let\s+([A-Za-z_$][\w$]*)/gm)) names.push(m[1]);
  return names;
}

/**
 * Parses `key=value` from the command line: the value as JSON when it parses (numbers, booleans, null,
 * quoted strings, arrays), otherwise as a plain string.
 *   parseParam("beta=0.1") → ["beta", 0.1];  parseParam("input=data/x.jsonl") → ["input", "data/x.jsonl"]
 */
export function parseParam(arg: string): [string, unknown] {
  const eq = arg.indexOf("=");
  if (eq <= 0) throw new Error(`--param expects key=value, got "${arg}"`);
  const key = arg.slice(0, eq).trim();
  const raw = arg.slice(eq + 1);
  if (!/^[A-Za-z_$][\w$]*$/.test(key)) throw new Error(`--param: "${key}" is not a TypeScript identifier`);
  try {
    return [key, JSON.parse(raw)];
  } catch {
    return [key, raw];
  }
}

/** The TypeScript source of the injected cell: one JSON-encoded assignment per parameter. */
export function parametersSource(params: Readonly<Record<string, unknown>>, comment: string): string {
  const lines = [`// ${comment}`];
  for (const [k, v] of Object.entries(params)) {
    const json = JSON.stringify(v);
    if (json === undefined) throw new Error(`parameter "${k}" has no JSON form`);
    lines.push(`${k} = ${json};`);
  }
  return lines.join("\n");
}

/**
 * Returns a copy of `nb` with a code cell tagged `injected-parameters` right after the `parameters` cell
 * (replacing one left by an earlier run). Unknown names are rejected with the declared ones listed;
 * `preset` is injected only when the notebook declares it. No parameters → the notebook unchanged.
 */
export function injectParameters(
  nb: Notebook,
  params: Readonly<Record<string, unknown>>,
  opts: { preset?: Preset; comment?: string } = {},
): Notebook {
  const out: Notebook = JSON.parse(JSON.stringify(nb));
  out.cells = out.cells.filter((c) => !(c.metadata.tags ?? []).includes(INJECTED_TAG));
  const idx = parametersCellIndex(out);
  const all: Record<string, unknown> = {};
  const declared = idx >= 0 ? declaredParameters(cellSource(out.cells[idx])) : [];
  if (opts.preset !== undefined && declared.includes("preset")) all.preset = opts.preset;
  Object.assign(all, params);
  if (Object.keys(all).length === 0) return out;
  if (idx < 0) {
    throw new Error(`parameters given (${Object.keys(all).join(", ")}) but no code cell is tagged "${PARAMETERS_TAG}"`);
  }
  const unknown = Object.keys(all).filter((k) => !declared.includes(k));
  if (unknown.length > 0) {
    throw new Error(
      `unknown parameter(s) ${unknown.map((k) => `"${k}"`).join(", ")}; the parameters cell declares: ${declared.join(", ") || "(none)"}`,
    );
  }
  const cell: NotebookCell = {
    cell_type: "code",
    id: "injected-parameters",
    metadata: { tags: [INJECTED_TAG] },
    source: toSourceLines(parametersSource(all, opts.comment ?? "Parameters injected by `npm run notebooks`")),
    outputs: [],
    execution_count: null,
  };
  out.cells.splice(idx + 1, 0, cell);
  return out;
}

/** Notebook-level metadata a clean notebook keeps; everything else (language_info, widgets …) is volatile. */
export const KEPT_NOTEBOOK_METADATA = ["kernelspec", "infifpo"] as const;
/** Cell metadata a clean notebook keeps. */
export const KEPT_CELL_METADATA = ["tags"] as const;

/**
 * Returns a clean copy: no outputs, no execution counts, no injected-parameters cell, only the metadata in
 * KEPT_* (so reruns and front ends do not produce diffs). Cell ids are kept: they are stable.
 */
export function cleanNotebook(nb: Notebook): Notebook {
  const metadata: Record<string, unknown> = {};
  for (const k of KEPT_NOTEBOOK_METADATA) if (nb.metadata[k] !== undefined) metadata[k] = nb.metadata[k];
  const cells = nb.cells
    .filter((c) => !(c.metadata.tags ?? []).includes(INJECTED_TAG))
    .map((c): NotebookCell => {
      const meta: NotebookCell["metadata"] = {};
      for (const k of KEPT_CELL_METADATA) {
        const v = c.metadata[k];
        if (v !== undefined && !(Array.isArray(v) && v.length === 0)) meta[k] = v as string[];
      }
      const clean: NotebookCell = { cell_type: c.cell_type, metadata: meta, source: c.source };
      if (c.id !== undefined) clean.id = c.id;
      if (c.attachments !== undefined && c.cell_type !== "code") clean.attachments = c.attachments;
      if (c.cell_type === "code") {
        clean.execution_count = null;
        clean.outputs = [];
      }
      return clean;
    });
  return { cells, metadata, nbformat: nb.nbformat, nbformat_minor: nb.nbformat_minor };
}

/** Why a notebook is not clean ([] when it is): compares with {@link cleanNotebook}. */
export function cleanlinessProblems(nb: Notebook, rawText?: string): string[] {
  const problems: string[] = [];
  nb.cells.forEach((c, i) => {
    if ((c.outputs ?? []).length > 0) problems.push(`cell ${i}: has ${c.outputs!.length} output(s)`);
    if (c.execution_count !== undefined && c.execution_count !== null) problems.push(`cell ${i}: execution_count ${c.execution_count}`);
    if ((c.metadata.tags ?? []).includes(INJECTED_TAG)) problems.push(`cell ${i}: an injected-parameters cell`);
    const extra = Object.keys(c.metadata).filter((k) => !(KEPT_CELL_METADATA as readonly string[]).includes(k));
    if (extra.length) problems.push(`cell ${i}: volatile metadata ${extra.join(", ")}`);
  });
  const extra = Object.keys(nb.metadata).filter((k) => !(KEPT_NOTEBOOK_METADATA as readonly string[]).includes(k));
  if (extra.length) problems.push(`notebook metadata: ${extra.join(", ")}`);
  if (problems.length === 0 && rawText !== undefined && rawText !== notebookJson(cleanNotebook(nb))) {
    problems.push("formatting differs from `npm run notebooks:clean` output");
  }
  return problems;
}

/** Text of a stream output or an error output (ANSI colours removed). */
export function outputText(o: NotebookOutput): string {
  const strip = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, "");
  if (o.output_type === "stream") return strip(Array.isArray(o.text) ? o.text.join("") : (o.text ?? ""));
  if (o.output_type === "error") return strip([`${o.ename}: ${o.evalue}`, ...(o.traceback ?? [])].join("\n"));
  return "";
}

/** Counts displayed figures: outputs carrying the plotly mime or a lib/viz figure `<div>`. */
export function countPlots(nb: Notebook): number {
  let n = 0;
  for (const c of nb.cells) {
    for (const o of c.outputs ?? []) {
      if (o.output_type !== "display_data" && o.output_type !== "execute_result") continue;
      const data = o.data ?? {};
      const html = data["text/html"];
      const htmlText = Array.isArray(html) ? html.join("") : typeof html === "string" ? html : "";
      if (data[PLOTLY_MIME] !== undefined || htmlText.includes(PLOT_DIV_MARKER)) n++;
    }
  }
  return n;
}

/** The error text of a failed cell: its `error` outputs, else its stderr (where tslab writes type errors and
 *  thrown exceptions; its execute reply carries no ename/evalue). */
export function cellErrorText(cell: NotebookCell): string {
  const outs = cell.outputs ?? [];
  const errors = outs.filter((o) => o.output_type === "error").map(outputText);
  if (errors.length) return errors.join("\n");
  const stderr = outs.filter((o) => o.output_type === "stream" && o.name === "stderr").map(outputText);
  return stderr.join("").trimEnd() || "(the kernel reported an error but wrote no message)";
}

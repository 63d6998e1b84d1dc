/**
 * A lab run as the CLI and notebooks start it: run (or resume) the pipeline, aggregate, and write
 * `runs/<run-id>/{results.json, results.csv, report.html, headline.txt}`. Also `shipLabModels`, which writes the
 * shipped checkpoints (`data/lab-models/`) with their manifest.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../errors";
import { writeFileAtomic } from "../train/checkpoint";
import { checkOutputs, copyFileSafe } from "../data/safe-output";
import { backendInfo } from "../backend";
import { aggregate, headlineTable, resultsCsv, type LabResults } from "./aggregate";
import { configKey, type LabConfig } from "./config";
import { labModels, modelKey, runLab, type LabOutputs, type LabRunOptions } from "./pipeline";
import { reportHtml, type Curves } from "./report";
import { MANIFEST, fileSha256, type ShippedManifest } from "./shipped";

export interface LabRunResult {
  runDir: string;
  results: LabResults;
  outputs: LabOutputs;
  files: { results: string; csv: string; report: string; headline: string };
}

/** A default run id: `<preset>-YYYYMMDD-HHMMSS` (UTC). */
export function defaultRunId(preset: string, now = new Date()): string {
  return `${preset}-${now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15)}`;
}

/** Loss curves of the first seed's variants, read from their metrics.jsonl. */
function readCurves(out: LabOutputs): Curves {
  const first = out.seeds[0];
  const curves: Curves = {};
  if (!first) return curves;
  for (const v of out.variants) {
    const f = first.metrics[v.name];
    if (!f || !fs.existsSync(f)) continue;
    curves[v.name] = fs.readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, number>)
      .filter((r) => typeof r.loss === "number" && typeof r.step === "number").map((r) => ({ step: r.step, loss: r.loss }));
  }
  return curves;
}

/**
 * Makes `runDir` this run's folder and writes its config.json. A folder that holds a run of another config is refused
 * (rerunning a config under its own id resumes it from the cache and rewrites the same files).
 */
export function claimRunDir(runDir: string, cfg: LabConfig): string {
  const file = path.join(runDir, "config.json");
  const text = JSON.stringify(cfg, null, 2) + "\n";
  if (fs.existsSync(file)) {
    let same = false;
    try {
      same = configKey(JSON.parse(fs.readFileSync(file, "utf8"))) === configKey(cfg);
    } catch {
      /* unreadable: not ours to overwrite */
    }
    if (!same) throw new UserError(`run folder ${runDir} already holds a run of another config (its config.json differs); choose another --run-id or delete the folder`);
  } else if (fs.existsSync(runDir) && fs.readdirSync(runDir).length > 0) {
    throw new UserError(`run folder ${runDir} exists and is not a lab run (no config.json); choose another --run-id or delete it`);
  }
  fs.mkdirSync(runDir, { recursive: true });
  writeFileAtomic(file, text);
  return runDir;
}

/** Runs the lab and writes its artifacts under `<runsDir>/<runId>/`. */
export async function runLabAndReport(
  cfg: LabConfig,
  opts: LabRunOptions & { runsDir: string; runId: string; preset: string },
): Promise<LabRunResult> {
  const runDir = claimRunDir(path.join(opts.runsDir, opts.runId), cfg);
  const outputs = await runLab(cfg, opts);
  const results = aggregate(outputs, { runId: opts.runId, preset: opts.preset, configKey: configKey(cfg) });
  const files = {
    results: path.join(runDir, "results.json"),
    csv: path.join(runDir, "results.csv"),
    report: path.join(runDir, "report.html"),
    headline: path.join(runDir, "headline.txt"),
  };
  writeFileAtomic(files.results, JSON.stringify(results, null, 1) + "\n");
  writeFileAtomic(files.csv, resultsCsv(results));
  writeFileAtomic(files.report, reportHtml(results, { curves: readCurves(outputs) }));
  writeFileAtomic(files.headline, headlineTable(results) + "\n");
  return { runDir, results, outputs, files };
}

/**
 * Trains (or takes from the stage cache) the lab's from-scratch models for `cfg` and copies them into `outDir`
 * with a manifest: each model's config key, SHA-256, size and the command that reproduces it.
 */
export async function shipLabModels(cfg: LabConfig, opts: LabRunOptions & { outDir: string; command: string }): Promise<ShippedManifest> {
  const { specs, files } = await labModels({ ...cfg, shipped: null }, { ...opts, retrain: true });
  // --out must not be (or hold) the cache's own model files: a copy onto itself would destroy them
  checkOutputs(
    files.map((f) => ({ path: f, label: "a cached model" })),
    [...specs.map((spec) => ({ path: path.join(opts.outDir, `${spec.name}.infifpo`), label: "--out" })), { path: path.join(opts.outDir, MANIFEST), label: "--out" }],
  );
  fs.mkdirSync(opts.outDir, { recursive: true });
  const manifest: ShippedManifest = { format: "infifpo-lab-models", version: 1, models: {} };
  for (const [i, spec] of specs.entries()) {
    const name = `${spec.name}.infifpo`;
    const dest = path.join(opts.outDir, name);
    copyFileSafe(files[i], dest);
    manifest.models[spec.name] = {
      key: modelKey(spec, cfg),
      file: name,
      sha256: fileSha256(dest),
      bytes: fs.statSync(dest).size,
      command: opts.command,
      backend: backendInfo().name,
      trainedAt: fs.statSync(files[i]).mtime.toISOString(),
    };
  }
  writeFileAtomic(path.join(opts.outDir, MANIFEST), JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

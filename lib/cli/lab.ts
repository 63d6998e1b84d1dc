/**
 * `infifpo lab [--preset smoke|quick|full] [--set key=value ...] [--run-id ID] [--runs-dir DIR] [--cache-dir DIR]
 *              [--retrain] [--backend NAME] [--progress MODE]`
 * `infifpo lab-models [--preset quick] [--out data/lab-models] [--cache-dir DIR]`
 *
 * The fusion lab (lib/lab): sources with their own tokenizers, preference pairs, every variant and ablation,
 * multi-seed evaluation with CIs. Every stage is cached under its config key in --cache-dir, so a rerun skips
 * finished stages and an interrupted run resumes where it stopped.
 */
import type { Command } from "commander";

/**
 * Wall time of each preset (minutes, 2 cores, cold stage cache, shipped models; README "Fusion lab"), for the
 * start-up notice. Measured 2026-12-07 (quick 8 min 32 s native, 11 min 16 s wasm; full 71 min by stage times)
 * except where estimated: smoke on wasm and full on wasm (quick's wasm ÷ native ratio, 1.32).
 */
export const PRESET_MINUTES: Record<string, { native: number; wasm: number; wasmEstimated?: boolean }> = {
  smoke: { native: 2, wasm: 3, wasmEstimated: true },
  quick: { native: 9, wasm: 12 },
  full: { native: 71, wasm: 94, wasmEstimated: true },
};

const collect = (v: string, acc: string[]) => [...acc, v];

export function register(program: Command): void {
  program
    .command("lab")
    .description("run the fusion lab: build sources and pivot, make preference pairs, train every variant, evaluate over seeds")
    .option("--preset <name>", `smoke (the tests' run), quick (npm start), full (5 seeds, the README's numbers); wall times below`, "quick")
    .option("--set <key=value>", "override one lab config field (JSON value), e.g. --set seeds=[1,2] --set data.k=8 (repeatable)", collect, [] as string[])
    .option("--run-id <id>", "name of the run folder under --runs-dir (default <preset>-<UTC time>); the same config under the same id resumes, a folder of another config is refused")
    .option("--runs-dir <dir>", "where run folders go", "runs")
    .option("--cache-dir <dir>", "stage cache shared by runs (delete it to start over)", "runs/lab-cache")
    .option("--retrain", "train the sources and the pivot even when shipped checkpoints match")
    .option("--backend <name>", "tensorflow (native) | wasm | cpu | auto (default: INFIFPO_BACKEND or auto)")
    .option("--progress <mode>", "auto | bar | lines | none", "auto")
    .addHelpText(
      "after",
      `\nOutputs in <runs-dir>/<run-id>/: report.html (self-contained: gates, tables, plotly charts, config),\n` +
        `results.json, results.csv, headline.txt, config.json. Stage artifacts (models, pairs.jsonl in the published\n` +
        `TRL-named format, training logs) are in --cache-dir.\n` +
        `Presets' wall time on 2 cores (measured; * estimated): ${Object.entries(PRESET_MINUTES).map(([k, v]) => `${k} ~${v.native} min native / ~${v.wasm}${v.wasmEstimated ? "*" : ""} min wasm`).join("; ")}.\n` +
        `Examples:\n  infifpo lab --preset smoke\n  infifpo lab --preset quick --set 'variants=["sft","dpo","infifpo"]'\n  infifpo lab --preset full --run-id full-5seeds`,
    )
    .action(async (opts: { preset: string; set: string[]; runId?: string; runsDir: string; cacheDir: string; retrain?: boolean; backend?: string; progress: string }) => {
      const { UserError } = await import("../errors");
      const { resolveLabConfig, parseLabSetting } = await import("../lab/config");
      const modes = ["auto", "bar", "lines", "none"];
      if (!modes.includes(opts.progress)) throw new UserError(`--progress must be one of ${modes.join(", ")}, got "${opts.progress}"`);
      const cfg = resolveLabConfig(opts.preset, opts.set.map((s) => ({ where: `--set ${s}`, values: parseLabSetting(s) })));
      const { initBackend } = await import("../backend");
      const info = await initBackend({ backend: opts.backend });
      const est = PRESET_MINUTES[opts.preset];
      if (info.kind === "wasm" || info.kind === "cpu") {
        process.stderr.write(
          `[lab] NOTE: running on the ${info.kind} backend (single-threaded: training runs about 3x slower than native, sampling about as fast)` +
            (est ? `; the ${opts.preset} preset takes about ${info.kind === "wasm" ? est.wasm : est.wasm * 20} min here (native: ~${est.native} min; \`npm run native\` installs it)` : "") + "\n",
        );
      } else if (est) process.stderr.write(`[lab] preset ${opts.preset}: about ${est.native} min on 2 cores (less when stages are cached)\n`);
      const { defaultRunId, runLabAndReport } = await import("../lab/run");
      const { summaryText } = await import("../lab/aggregate");
      const runId = opts.runId ?? defaultRunId(opts.preset);
      if (!/^[\w.-]+$/.test(runId)) throw new UserError(`--run-id "${runId}": use letters, digits, '.', '_' and '-' only`);
      const t0 = performance.now();
      const r = await runLabAndReport(cfg, {
        cacheDir: opts.cacheDir, runsDir: opts.runsDir, runId, preset: opts.preset,
        backend: opts.backend, retrain: !!opts.retrain, progress: opts.progress as never,
      });
      const secs = (performance.now() - t0) / 1000;
      const failed = r.results.gates.filter((g) => !g.pass);
      const out = process.stdout;
      out.write(`\nInfiFPO fusion lab — ${opts.preset}, ${r.results.seeds.length} seed(s), backend ${r.results.backend}, ${(secs / 60).toFixed(1)} min\n`);
      out.write(summaryText(r.results));
      if (failed.length) out.write(`\n*** ${failed.length} GATE(S) FAILED (${failed.map((g) => g.kind).join(", ")}) — ${r.results.claimsAreEvidence ? "the pipeline did not do what it says" : "the claims of this run are not evidence"} ***\n`);
      out.write(`\nreport:  ${r.files.report}\nresults: ${r.files.results}\n         ${r.files.csv}\n`);
    });

  program
    .command("lab-results")
    .description("print a lab run's headline table, sanity gates and claims from its results.json (text or markdown)")
    .requiredOption("-i, --input <file>", "a results.json written by `infifpo lab`")
    .option("--markdown", "markdown tables (what the README's Fusion lab section shows)")
    .addHelpText("after", "\nExample:\n  infifpo lab-results -i data/results/results.json --markdown\n")
    .action(async (opts: { input: string; markdown?: boolean }) => {
      const a = await import("../lab/aggregate");
      const { readLabResults } = await import("../lab/results-file");
      const r = readLabResults(opts.input);
      const out = process.stdout;
      const head = `${r.runId}: preset ${r.preset}, ${r.seeds.length} seed(s) [${r.seeds.join(", ")}], backend ${r.backend}, ${r.createdAt}`;
      if (opts.markdown) {
        out.write(`${head}\n\n${a.headlineMarkdown(r)}\n\n${a.gatesMarkdown(r)}\n\n${a.hparamsMarkdown(r)}\n\n${a.claimsMarkdown(r)}\n`);
      } else {
        out.write(`${head}\n${a.summaryText(r)}\n`);
        for (const c of r.claims) out.write(`  ${c.verdict.padEnd(14)}  ${c.claim}: ${c.evidence}\n`);
      }
    });

  program
    .command("lab-models")
    .description("train the lab's sources and initial pivot and write them, with a checksummed manifest, for shipping")
    .option("--preset <name>", "lab preset whose models to train", "quick")
    .option("--set <key=value>", "override one lab config field (repeatable)", collect, [] as string[])
    .option("--out <dir>", "folder for the model files and manifest.json", "data/lab-models")
    .option("--cache-dir <dir>", "stage cache (reused: a model already trained with the same config is copied)", "runs/lab-cache")
    .option("--backend <name>", "tensorflow (native) | wasm | cpu | auto")
    .action(async (opts: { preset: string; set: string[]; out: string; cacheDir: string; backend?: string }) => {
      const { resolveLabConfig, parseLabSetting } = await import("../lab/config");
      const cfg = resolveLabConfig(opts.preset, opts.set.map((s) => ({ where: `--set ${s}`, values: parseLabSetting(s) })));
      const { initBackend } = await import("../backend");
      await initBackend({ backend: opts.backend });
      const { shipLabModels } = await import("../lab/run");
      const command = `infifpo lab-models --preset ${opts.preset}${opts.set.map((s) => ` --set '${s}'`).join("")} --out ${opts.out}`;
      const m = await shipLabModels(cfg, { cacheDir: opts.cacheDir, outDir: opts.out, backend: opts.backend, command, progress: "auto" });
      for (const [name, e] of Object.entries(m.models)) process.stdout.write(`${name}: ${e.file} ${(e.bytes / 1024).toFixed(0)} KiB sha256 ${e.sha256.slice(0, 16)}…\n`);
    });
}

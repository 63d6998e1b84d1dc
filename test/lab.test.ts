/**
 * The fusion lab end to end on the `smoke` preset (issue 9 §5, issue 19): the shipped models, two seeds, every
 * variant and control, the hyper-parameter selection on validation; checks that the artifacts exist, every variant
 * is evaluated on every benchmark for every seed, the preference files validate in the published format, the
 * regime is measured, and every number is finite. Then a rerun must come from the cache.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { resolveLabConfig } from "../lib/lab/config";
import { modelKey, modelSpecs } from "../lib/lab/pipeline";
import { readManifest } from "../lib/lab/shipped";
import { runLabAndReport, type LabRunResult } from "../lib/lab/run";
import { readJsonl, recordValidator } from "../lib/data/jsonl";
import { initBackend } from "../lib/backend";

const cfg = resolveLabConfig("smoke");
const root = fs.mkdtempSync(path.join(os.tmpdir(), "lab-smoke-"));
const opts = { cacheDir: path.join(root, "cache"), runsDir: path.join(root, "runs"), preset: "smoke", progress: "none" as const, log: () => {} };
let run: LabRunResult;

describe("lab smoke run", () => {
  beforeAll(async () => {
    // without matching shipped checkpoints the smoke preset would train the sources for minutes: say so instead
    const m = readManifest(cfg.shipped!);
    for (const sp of modelSpecs(cfg)) {
      if (m?.models[sp.name]?.key !== modelKey(sp, cfg)) {
        throw new Error(`data/lab-models does not hold ${sp.name} for the current config; run \`node bin/infifpo.mjs lab-models --preset quick\``);
      }
    }
    await initBackend({ quiet: true });
    run = await runLabAndReport(cfg, { ...opts, runId: "smoke-a" });
  }, 600_000);

  it("writes the report, results.json, results.csv and the headline", () => {
    for (const f of Object.values(run.files)) expect(fs.statSync(f).size).toBeGreaterThan(100);
    const html = fs.readFileSync(run.files.report, "utf8");
    expect(html).toContain("Regime gates");
    expect(html).toContain("Sanity gates");
    expect(html).toContain("Plotly.newPlot");
    expect(JSON.parse(fs.readFileSync(run.files.results, "utf8")).rows.length).toBe(run.results.rows.length);
    expect(run.outputs.models.every((m) => m.shipped)).toBe(true);
  });

  it("evaluates every variant on every benchmark for every seed", () => {
    expect(run.outputs.seeds.map((s) => s.seed)).toEqual(cfg.seeds);
    for (const s of run.outputs.seeds) {
      expect(Object.keys(s.evals).sort()).toEqual([...cfg.variants].sort());
      for (const v of cfg.variants) {
        for (const f of cfg.benchmarks.families) expect(s.evals[v][f]).toHaveLength(cfg.benchmarks.testSize);
      }
    }
    expect(run.results.rows.map((r) => r.name)).toEqual(["pivot (init)", ...cfg.sources.map((s) => s.name), ...cfg.variants]);
  });

  it("controls: sft-cont continues the SFT checkpoint for a preference run's steps on the pairs' chosen; sft-all is SFT of the initial pivot on both halves", () => {
    const runCfg = (metrics: string) => JSON.parse(fs.readFileSync(path.join(path.dirname(metrics), "config.json"), "utf8"));
    const lines = (f: string) => fs.readFileSync(f, "utf8").split("\n").filter(Boolean);
    for (const s of run.outputs.seeds) {
      const cont = runCfg(s.metrics["sft-cont"]!), dpo = runCfg(s.metrics.dpo!), all = runCfg(s.metrics["sft-all"]!), sft = runCfg(s.metrics.sft!);
      expect(cont.model.init).toBe(s.sftModel);
      expect(dpo.model.init).toBe(s.sftModel);
      expect(cont.loop.maxSteps).toBe(dpo.loop.maxSteps);
      expect(lines(cont.data.train).map((l) => JSON.parse(l).completion)).toEqual(lines(s.pairsFile).map((l) => JSON.parse(l).chosen));
      expect(all.model.init).toBe(sft.model.init); // the initial pivot
      expect(lines(all.data.train).length).toBeGreaterThan(lines(sft.data.train).length);
      expect(lines(all.data.train).slice(0, lines(sft.data.train).length)).toEqual(lines(sft.data.train));
      expect(all.loop.maxSteps).toBeGreaterThan(sft.loop.maxSteps);
      const rpo = runCfg(s.metrics.rpo!);
      expect(rpo.loss.name).toBe("rpo");
    }
  });

  it("selects every tuned method's hyper-parameters on validation from the same grid, and trains every seed with them", () => {
    const sel = run.outputs.selection!;
    expect(sel.seed).toBe(cfg.seeds[0]);
    for (const v of cfg.variants) {
      const h = run.outputs.hparams[v];
      if (v === "sft" || v === "sft-all") expect(h.source).toBe("sft");
      else if (v.startsWith("infifpo-")) {
        // an ablation of InfiFPO is not selected on its own: it takes InfiFPO's choice
        expect(sel.variants[v]).toBeUndefined();
        expect(h).toEqual({ ...sel.variants.infifpo.chosen, source: "infifpo's" });
      } else {
        const grid = v === "sft-cont" ? cfg.selection!.lr.length : cfg.selection!.lr.length * cfg.selection!.betaScale.length;
        expect(sel.variants[v].candidates, v).toHaveLength(grid);
        expect(h).toEqual({ ...sel.variants[v].chosen, source: "selected" });
        const best = Math.max(...sel.variants[v].candidates.map((c) => c.validation));
        expect(sel.variants[v].candidates.find((c) => c.lr === h.lr && c.betaScale === h.betaScale)!.validation).toBe(best);
      }
    }
  });

  it("the preference files validate in the published format (TRL names, fractional log-probs, no nulls)", async () => {
    for (const s of run.outputs.seeds) {
      let n = 0;
      for await (const { record } of readJsonl(s.pairsFile, recordValidator(cfg.sources.length))) {
        n++;
        expect(typeof record.prompt).toBe("string");
        expect(typeof record.chosen).toBe("string");
        expect(typeof record.rejected).toBe("string");
      }
      expect(n).toBe(s.pairStats.pairs);
      const text = fs.readFileSync(s.pairsFile, "utf8");
      expect(text).not.toContain("null");
      expect(text).not.toMatch(/_logps":\[?-?\d+[,\]}]/); // every log-prob has a fractional part
      expect(s.pairStats.verified).toBe(1); // the verifier re-run on the written file
      for (const k of ["chosenMedian", "rejectedMedian"] as const) expect(s.regime.lengths[k]).toBeGreaterThan(0);
      expect(s.regime.tokens.maxOverMinMedian).toBeGreaterThanOrEqual(1);
      expect(Number.isFinite(s.regime.fused.gapMedian)).toBe(true);
    }
  });

  it("every number is finite: estimates, differences, training losses", () => {
    const nums: number[] = [];
    for (const r of run.results.rows) {
      for (const e of [r.overall, ...Object.values(r.perCategory), ...Object.values(r.perBenchmark)]) nums.push(e.mean, e.lo, e.hi);
      if (r.vsDpo) nums.push(r.vsDpo.overall.mean, r.vsDpo.overall.lo, r.vsDpo.overall.hi);
    }
    for (const s of run.outputs.seeds) {
      for (const f of Object.values(s.metrics)) {
        if (!f) continue;
        for (const l of fs.readFileSync(f, "utf8").split("\n").filter(Boolean)) nums.push(JSON.parse(l).loss);
      }
    }
    expect(nums.length).toBeGreaterThan(100);
    expect(nums.filter((x) => !Number.isFinite(x))).toEqual([]);
  });

  it("a rerun is served from the cache and gives the same numbers", async () => {
    const t0 = performance.now();
    const again = await runLabAndReport(cfg, { ...opts, runId: "smoke-b" });
    expect((performance.now() - t0) / 1000).toBeLessThan(30);
    expect(again.results.rows).toEqual(run.results.rows);
  }, 120_000);
});

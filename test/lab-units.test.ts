/** lib/lab's pure parts: pair building, config and keys, the stage cache, the variant registry, aggregation. */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { buildPair, wrpoTriple, type Sample } from "../lib/lab/pairs";
import { LAB_PRESETS, canonicalJson, configKey, parseLabSetting, resolveLabConfig } from "../lib/lab/config";
import { cachedStage, stageDir } from "../lib/lab/cache";
import { variantSpec } from "../lib/lab/variants";
import { aggregate, claimsMarkdown, gatesMarkdown, headlineMarkdown, headlineTable, resultsCsv, summaryText } from "../lib/lab/aggregate";
import { asLabResults, readLabResults } from "../lib/lab/results-file";
import { reportHtml } from "../lib/lab/report";
import { ablationChart, categoryChart, claimsChart } from "../lib/lab/figures";
import { labBenchmarks, modelKey, modelSpecs, type LabOutputs, type PairStats } from "../lib/lab/pipeline";

const s = (model: number, reward: number, finished = true, text = `${model}:${reward}`): Sample => ({ model, text, finished, reward });

describe("preference pairs", () => {
  it("chosen = best finished, rejected = worst; ties and < 2 finished are dropped", () => {
    const o = buildPair([s(0, 0.5), s(1, 1), s(2, 0), s(3, 1, false)]);
    expect(o).toEqual({ pair: { chosen: s(1, 1), rejected: s(2, 0) } });
    expect(buildPair([s(0, 1), s(1, 1)])).toEqual({ dropped: "tie" });
    expect(buildPair([s(0, 1), s(1, 0, false)])).toEqual({ dropped: "too-few" });
  });
  it("equal rewards: the earlier sample wins (deterministic)", () => {
    const o = buildPair([s(0, 1, true, "a"), s(1, 1, true, "b"), s(2, 0, true, "c"), s(3, 0, true, "d")]);
    expect("pair" in o && [o.pair.chosen.text, o.pair.rejected.text]).toEqual(["a", "c"]);
  });
  it("WRPO triple: best source and best pivot response, falling back to the chosen when they do not beat y_l", () => {
    const samples = [s(0, 0.2), s(0, 0), s(1, 1), s(2, 0.5)];
    const o = buildPair(samples);
    if (!("pair" in o)) throw new Error("expected a pair");
    const w = wrpoTriple(samples, o.pair);
    expect(w.sourceChosen).toEqual(s(1, 1));
    expect(w.chosen).toEqual(s(0, 0.2));
    expect(w.rejected).toEqual(s(0, 0));
    const only = [s(0, 0), s(1, 1), s(2, 0)];
    const p = buildPair(only);
    if (!("pair" in p)) throw new Error("expected a pair");
    expect(wrpoTriple(only, p.pair).chosen).toEqual(s(1, 1)); // the pivot never beat y_l
  });
});

describe("lab config", () => {
  it("canonical JSON sorts keys at every level, so keys ignore key order", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 1 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"e":1,"f":2}]},"b":1}');
    expect(configKey({ a: 1, b: 2 })).toBe(configKey({ b: 2, a: 1 }));
    expect(configKey({ a: 1 })).not.toBe(configKey({ a: 2 }));
  });
  it("--set parses JSON values and nested keys; unknown keys and wrong types are named", () => {
    expect(parseLabSetting("data.k=8")).toEqual({ data: { k: 8 } });
    expect(parseLabSetting("pivot.name=p0")).toEqual({ pivot: { name: "p0" } });
    const c = resolveLabConfig("quick", [{ where: "--set data.k=8", values: parseLabSetting("data.k=8") }]);
    expect(c.data.k).toBe(8);
    expect(() => resolveLabConfig("quick", [{ where: "--set data.kk=1", values: { data: { kk: 1 } } }])).toThrow(/--set data\.kk=1: unknown lab key "data\.kk"/);
    expect(() => resolveLabConfig("quick", [{ where: "x", values: { data: { k: "many" } } }])).toThrow(/"data\.k" must be a number/);
    expect(() => resolveLabConfig("quick", [{ where: "x", values: { seeds: [1, 1] } }])).toThrow(/duplicates/);
    expect(() => resolveLabConfig("quick", [{ where: "x", values: { variants: ["dpo", "kto"] } }])).toThrow(/unknown variant "kto"/);
    expect(() => resolveLabConfig("quick", [{ where: "x", values: { benchmarks: { testSize: 501 } } }])).toThrow(/excludeSize/);
    expect(() => resolveLabConfig("nope")).toThrow(/unknown lab preset "nope"; valid: smoke, quick, full/);
  });
  it("presets share their models: model keys ignore the test size and the per-seed knobs", () => {
    const keys = (p: string) => modelSpecs(resolveLabConfig(p)).map((sp) => modelKey(sp, resolveLabConfig(p)));
    expect(keys("smoke")).toEqual(keys("quick"));
    expect(keys("full")).toEqual(keys("quick"));
    const other = resolveLabConfig("quick", [{ where: "x", values: { pretrain: { seed: 8 } } }]);
    expect(modelSpecs(other).map((sp) => modelKey(sp, other))).not.toEqual(keys("quick"));
    expect(new Set(keys("quick")).size).toBe(LAB_PRESETS.quick.sources.length + 1);
  });
  it("the test sets are prefixes of the excluded prompts, and every test prompt is excluded", () => {
    const small = labBenchmarks(resolveLabConfig("smoke"));
    const big = labBenchmarks(resolveLabConfig("full"));
    for (const [i, b] of small.benchmarks.entries()) {
      expect(big.benchmarks[i].items.slice(0, b.items.length)).toEqual(b.items);
      for (const it of big.benchmarks[i].items) expect(small.exclude.has(it.prompt)).toBe(true);
    }
  });
});

describe("stage cache", () => {
  it("runs a stage once per key, and again after an interrupted attempt", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "lab-cache-"));
    let runs = 0;
    const a = await cachedStage(root, "x", "k1", async () => ({ n: ++runs }));
    const b = await cachedStage(root, "x", "k1", async () => ({ n: ++runs }));
    expect([a.cached, b.cached, b.result]).toEqual([false, true, { n: 1 }]);
    await expect(cachedStage(root, "x", "k2", async () => {
      runs++;
      throw new Error("crash");
    })).rejects.toThrow("crash");
    const c = await cachedStage(root, "x", "k2", async () => ({ n: ++runs }));
    expect([c.cached, c.result]).toEqual([false, { n: 3 }]);
  });
});

describe("stage cache lock", () => {
  it("concurrent calls for one stage run it once; the others read its result", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "lab-cache-"));
    let runs = 0;
    const slow = async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 100));
      return { n: runs };
    };
    const all = await Promise.all([0, 1, 2].map(() => cachedStage(root, "x", "k", slow, { pollMs: 10 })));
    expect(runs).toBe(1);
    expect(all.map((a) => a.cached).sort()).toEqual([false, true, true]);
    expect(all.map((a) => a.result)).toEqual([{ n: 1 }, { n: 1 }, { n: 1 }]);
    expect(fs.existsSync(`${stageDir(root, "x", "k")}.lock`)).toBe(false);
  });

  it("waits for a live process's lock, takes over a dead one's", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "lab-cache-"));
    // a live holder: another process; it "finishes" the stage after 200 ms
    const other = spawn(process.execPath, ["-e", "setTimeout(() => {}, 5000)"], { stdio: "ignore" });
    const dir = stageDir(root, "x", "k");
    fs.mkdirSync(`${dir}.lock`, { recursive: true });
    fs.writeFileSync(path.join(`${dir}.lock`, "pid"), String(other.pid));
    setTimeout(() => {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, "done.json"), JSON.stringify({ key: "k", result: { by: "other" }, seconds: 1 }));
      fs.rmSync(`${dir}.lock`, { recursive: true });
    }, 200);
    let runs = 0;
    const a = await cachedStage(root, "x", "k", async () => ({ by: `me${++runs}` }), { pollMs: 20 });
    other.kill();
    expect([a.cached, a.result, runs]).toEqual([true, { by: "other" }, 0]);

    // a dead holder: its lock is taken over and the stage runs here
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    const dir2 = stageDir(root, "y", "k");
    fs.mkdirSync(`${dir2}.lock`, { recursive: true });
    fs.writeFileSync(path.join(`${dir2}.lock`, "pid"), dead.stdout);
    const b = await cachedStage(root, "y", "k", async () => ({ by: "me" }), { pollMs: 20 });
    expect([b.cached, b.result]).toEqual([false, { by: "me" }]);
    expect(fs.existsSync(`${dir2}.lock`)).toBe(false);
  });
  it("records its owner in the lock while the stage runs (pid, host, start), written whole", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "lab-cache-"));
    const lock = `${stageDir(root, "x", "k")}.lock`;
    let seen: Record<string, unknown> = {};
    await cachedStage(root, "x", "k", async () => {
      seen = JSON.parse(fs.readFileSync(lock, "utf8"));
      return 1;
    }, { log: () => {} });
    expect(seen).toMatchObject({ pid: process.pid, host: os.hostname(), stage: path.basename(stageDir(root, "x", "k")) });
    expect(fs.existsSync(lock)).toBe(false);
    expect(fs.readdirSync(root).filter((n) => n.includes(".tmp-"))).toEqual([]);
  });

  it("takes over a lock folder without a pid file (a kill between mkdir and writing the pid), saying so", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "lab-cache-"));
    const dir = stageDir(root, "x", "k");
    fs.mkdirSync(`${dir}.lock`, { recursive: true });
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(`${dir}.lock`, old, old);
    const lines: string[] = [];
    const run = cachedStage(root, "x", "k", async () => ({ by: "me" }), { pollMs: 10, log: (l) => lines.push(l) });
    const r = await Promise.race([run, new Promise((_, reject) => setTimeout(() => reject(new Error("still waiting after 5 s")), 5000))]);
    expect(r).toMatchObject({ cached: false, result: { by: "me" } });
    expect(lines.join("\n")).toMatch(/taking over its lock .*\.lock \(a lock folder without a pid file, \d+ s old\)/);
  });

  it("takes over a lock left by an earlier process that had this process's pid (containers reuse pids)", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "lab-cache-"));
    const dir = stageDir(root, "x", "k");
    fs.writeFileSync(`${dir}.lock`, JSON.stringify({ pid: process.pid, host: os.hostname(), startedAt: "2020-01-01T00:00:00Z", token: "0123456789abcdef", stage: "x" }));
    const lines: string[] = [];
    const r = await cachedStage(root, "x", "k", async () => 7, { pollMs: 10, log: (l) => lines.push(l) });
    expect(r.result).toBe(7);
    expect(lines.join("\n")).toMatch(/left by an earlier process with this pid/);
  });

  it("a waiter says what it waits for: the stage, the holder's pid and host, and the lock to delete if it is gone", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "lab-cache-"));
    const other = spawn(process.execPath, ["-e", "setTimeout(() => {}, 5000)"], { stdio: "ignore" });
    const dir = stageDir(root, "x", "k");
    fs.writeFileSync(`${dir}.lock`, JSON.stringify({ pid: other.pid, host: os.hostname(), startedAt: "2026-01-01T00:00:00Z", token: "ffff", stage: "x" }));
    setTimeout(() => {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, "done.json"), JSON.stringify({ key: "k", result: "theirs", seconds: 1 }));
      fs.rmSync(`${dir}.lock`);
    }, 150);
    const lines: string[] = [];
    const r = await cachedStage(root, "x", "k", async () => "mine", { pollMs: 10, log: (l) => lines.push(l) });
    other.kill();
    expect(r).toMatchObject({ cached: true, result: "theirs" });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`stage x-k is being computed by pid ${other.pid} on ${os.hostname()} since 2026-01-01T00:00:00Z: waiting .*delete .*x-k\\.lock`));
  });
});

describe("variant registry", () => {
  it("maps names to losses, options and data files", () => {
    expect(variantSpec("sft", 4).loss).toBeNull();
    expect(variantSpec("wrpo", 4).data).toEqual({ kind: "wrpo" });
    expect(variantSpec("infifpo-live", 4).options).toMatchObject({ fusion: { strategy: "max-margin", marginTo: "policy" } });
    expect(variantSpec("infifpo-n2", 4).data).toEqual({ kind: "sources", n: 2 });
    expect(() => variantSpec("infifpo-n5", 4)).toThrow(/4 sources/);
    expect(() => variantSpec("orpo", 4)).toThrow(/unknown variant "orpo"/);
  });
});

describe("aggregation", () => {
  // two benchmarks in two categories, 4 items each; pivot + one math source; sft / dpo / infifpo over 2 seeds
  const ev = (a: number[], b: number[]) => ({ arith: a.map((c) => ({ correct: c, score: c })), bool: b.map((c) => ({ correct: c, score: c })) });
  const ps: PairStats = {
    prompts: 4, sft: 2, pairs: 2, dropped: { tie: 0, "too-few": 0 }, chosenBy: { "src-math": 2 }, rejectedBy: { pivot: 2 },
    meanRewardChosen: 1, meanRewardRejected: 0, chosenBeatsRejected: 1, samples: { pivot: { finished: 1, meanReward: 0.2 } },
  };
  const cfg = { ...resolveLabConfig("smoke"), bootstrap: 300 };
  const out: LabOutputs = {
    config: cfg, backend: "cpu",
    benchmarks: [{ family: "arith", category: "math", items: 4, eval: "generate" }, { family: "bool", category: "reasoning", items: 4, eval: "generate" }],
    models: [
      { name: "pivot", role: "pivot", specialty: [], tokenizer: "char", vocabSize: 10, file: "p", shipped: true },
      { name: "src-math", role: "source", specialty: ["math"], tokenizer: "digit", vocabSize: 10, file: "s", shipped: true },
    ],
    baseEvals: { pivot: ev([0, 0, 0, 1], [0, 1, 0, 0]), "src-math": ev([1, 1, 1, 0], [0, 0, 0, 0]) },
    seeds: [1, 2].map((seed) => ({
      seed, pairsFile: "", pairStats: ps, sftModel: "", models: {}, metrics: {},
      evals: { sft: ev([1, 0, 0, 1], [1, 1, 0, 0]), dpo: ev([1, 1, 0, 1], [1, 1, 0, 0]), infifpo: seed === 1 ? ev([1, 1, 1, 1], [1, 1, 0, 0]) : ev([1, 1, 0, 1], [1, 1, 1, 0]) },
    })),
    variants: ["sft", "dpo", "infifpo"].map((v) => variantSpec(v, 1)),
    timings: { models: 1 },
    stageSeconds: { "seed1.train.dpo": 2, "seed2.train.dpo": 2, "seed1.train.infifpo": 2.2, "seed2.train.infifpo": 2.2, "seed1.score": 1, "seed2.score": 1 },
  };
  const r = aggregate(out, { runId: "t", preset: "smoke", configKey: "k", createdAt: "2026-01-01T00:00:00Z" });
  const row = (n: string) => r.rows.find((x) => x.name === n)!;

  it("point estimates: category = mean of its benchmarks, overall = mean of categories", () => {
    expect(r.categories).toEqual(["math", "reasoning"]);
    expect(row("pivot (init)").perCategory.math.mean).toBe(0.25);
    expect(row("pivot (init)").overall.mean).toBe(0.25);
    expect(row("infifpo").perBenchmark.arith.mean).toBe(7 / 8);
    expect(row("infifpo").overall.mean).toBeCloseTo((7 / 8 + 5 / 8) / 2, 15);
    for (const x of r.rows) for (const e of [x.overall, ...Object.values(x.perCategory)]) expect(e.lo <= e.mean + 1e-12 && e.mean <= e.hi + 1e-12).toBe(true);
  });
  it("paired differences against DPO and SFT, none for the baseline itself or the base models", () => {
    expect(row("dpo").vsDpo).toBeUndefined();
    expect(row("sft").vsSft).toBeUndefined();
    expect(row("src-math").vsDpo).toBeUndefined();
    expect(row("infifpo").vsDpo!.overall.mean).toBeCloseTo((7 / 8 + 5 / 8) / 2 - (6 / 8 + 4 / 8) / 2, 15);
    expect(row("infifpo").vsDpo!.overall.pPositive).toBeGreaterThan(0.5);
    expect(row("infifpo").vsDpo!.overall.lo).toBeGreaterThanOrEqual(0); // infifpo ≥ dpo on every item of every seed
  });
  it("gates: a source on its specialty, SFT overall, chosen > rejected", () => {
    expect(r.gates.map((g) => [g.name, g.pass])).toEqual([
      ["src-math beats the initial pivot on math", true],
      ["the SFT pivot beats the initial pivot overall", true],
      ["chosen responses score higher than rejected ones under the verifier", true],
    ]);
    const bad = aggregate({ ...out, baseEvals: { ...out.baseEvals, "src-math": ev([0, 0, 0, 0], [1, 1, 1, 1]) } }, { runId: "t", preset: "smoke", configKey: "k" });
    expect(bad.gates[0].pass).toBe(false);
    expect(reportHtml(bad, { plotly: "window.Plotly={}" })).toContain("1 of 3 sanity gates FAILED");
  });
  it("the paper's claims: verdicts from the paired CI, cost from the stage times", () => {
    const c = (t: string) => r.claims.find((x) => x.claim === t)!;
    expect(c("InfiFPO beats DPO overall").verdict).not.toBe("not reproduced");
    expect(c("InfiFPO beats DPO on math").difference!.mean).toBeCloseTo(1 / 8, 15);
    expect(c("SFT improves on the initial pivot").verdict).toBe(c("SFT improves on the initial pivot").difference!.lo > 0 ? "reproduced" : "inconclusive");
    expect(r.claims.find((x) => x.claim.startsWith("InfiFPO beats IPO"))).toBeUndefined(); // no IPO variant in this run
    expect(c("InfiFPO costs about as much as DPO once source log-probs are precomputed")).toMatchObject({ verdict: "reproduced", difference: null });
    expect(c("InfiFPO costs about as much as DPO once source log-probs are precomputed").evidence).toContain("1.10x");
  });
  it("CSV, headline table and report carry every model", () => {
    const csv = resultsCsv(r).trim().split("\n");
    expect(csv[0]).toMatch(/^model,group,scope,key,mean,lo,hi,vs_dpo/);
    expect(csv.length).toBe(1 + r.rows.length * (2 + 2 + 1));
    const t = headlineTable(r);
    for (const x of r.rows) expect(t).toContain(x.name);
    const html = reportHtml(r, { plotly: "window.Plotly={}" });
    expect(html).toContain("All 3 sanity gates pass.");
    expect(html).not.toMatch(/<script[^>]+src=/); // self-contained
  });
  it("figures: categories with CIs, ablation levels present in the run, claims coloured by verdict", () => {
    const c = categoryChart(r, ["sft", "infifpo"]);
    expect(c.data.map((t) => t.name)).toEqual(["sft", "infifpo"]);
    expect(c.data[1].y).toEqual([...r.categories.map((k) => 100 * row("infifpo").perCategory[k].mean), 100 * row("infifpo").overall.mean]);
    expect(() => categoryChart(r, ["orpo"])).toThrow(/no model "orpo"/);
    const a = ablationChart(r); // only infifpo trained: each factor shows its default level alone
    expect(a.data.flatMap((t) => t.x as string[])).toEqual(["fusion: max-margin", "clipping: on", "length-norm: on", "max-margin to: pivot at init", "sources: all"]);
    expect((a.layout as { shapes: unknown[] }).shapes.length).toBe(2); // DPO and SFT lines
    const cc = claimsChart(r)!;
    const withDiff = r.claims.filter((x) => x.difference);
    expect(cc.data[0].y).toEqual(withDiff.map((x) => x.claim));
    expect(claimsChart(r, () => false)).toBeNull();
  });
  it("markdown tables for the README, and results files are checked when read back", () => {
    const md = headlineMarkdown(r).split("\n");
    expect(md.length).toBe(2 + r.rows.length);
    expect(md[0]).toMatch(/^\| model \| math \|.*\| overall \| Δ overall vs DPO \(pp\) \| Δ overall vs SFT \(pp\) \|$/);
    expect(claimsMarkdown(r).split("\n").length).toBe(2 + r.claims.length);
    expect(gatesMarkdown(r)).toMatch(/^- pass — /);
    expect(asLabResults(JSON.parse(JSON.stringify(r)), "r.json").rows.length).toBe(r.rows.length);
    expect(() => asLabResults({ format: "x" }, "r.json")).toThrow(/r\.json: not a lab results file/);
    expect(() => asLabResults({ ...r, version: 2 }, "r.json")).toThrow(/r\.json: field "version": 2 is not supported/);
    expect(() => asLabResults({ ...r, rows: undefined }, "r.json")).toThrow(/field "rows": missing/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-results-"));
    fs.writeFileSync(path.join(dir, "ok.json"), JSON.stringify(r));
    fs.writeFileSync(path.join(dir, "bad.json"), "{ not json");
    expect(readLabResults(path.join(dir, "ok.json")).claims.length).toBe(r.claims.length);
    expect(() => readLabResults(path.join(dir, "bad.json"))).toThrow(/bad\.json: invalid JSON/);
    expect(() => readLabResults(path.join(dir, "none.json"))).toThrow(/none\.json: cannot read/);
    const text = summaryText(r);
    expect(text).toContain(headlineTable(r));
    expect(text.trimEnd().split("\n").slice(-r.gates.length).every((l) => /^ {2}(pass|FAIL) {2}/.test(l))).toBe(true);
  });
});

describe("public API", () => {
  it("lib/index exports the lab, the task families, served-model scoring and the TRL hand-off", async () => {
    const api = await import("../lib/index");
    for (const name of ["runLabAndReport", "runLab", "resolveLabConfig", "aggregate", "reportHtml", "headlineMarkdown", "evaluateModel", "TASKS", "testSet",
      "JsonClient", "makeDialect", "detectDialect", "scoreRemote", "serveModel", "trlRow", "trlLossType"])
      expect(typeof (api as Record<string, unknown>)[name], name).not.toBe("undefined");
    expect(Object.keys(api.LAB_PRESETS)).toEqual(["smoke", "quick", "full"]);
  });
});

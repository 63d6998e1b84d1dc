/** lib/lab's pure parts: pair building, config and keys, the stage cache, the variant registry, aggregation. */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { buildPair, sftExample, wrpoTriple, type Sample } from "../lib/lab/pairs";
import { LAB_PRESETS, canonicalJson, configKey, parseLabSetting, resolveLabConfig, type LabConfig } from "../lib/lab/config";
import { seedKeys, testKey, validationKey } from "../lib/lab/keys";
import { cachedStage, stageDir } from "../lib/lab/cache";
import { selectedWith, tunedKnobs, variantSpec } from "../lib/lab/variants";
import { aggregate, claimsMarkdown, gatesMarkdown, headlineMarkdown, hparamsMarkdown, headlineTable, resultsCsv, summaryText } from "../lib/lab/aggregate";
import { asLabResults, readLabResults } from "../lib/lab/results-file";
import { reportHtml } from "../lib/lab/report";
import { claimRunDir } from "../lib/lab/run";
import { ablationChart, categoryChart, claimsChart } from "../lib/lab/figures";
import { drawPrompts, labBenchmarks, modelKey, modelSpecs, selectionGrid, type LabOutputs, type PairStats, type SeedRegime } from "../lib/lab/pipeline";
import { answerAlphabet, fusedGapStats, lengthStats, logpsDrift, median, nonsenseRate, tokenStats } from "../lib/lab/regime";
import type { LabResults } from "../lib/lab/aggregate";
import { workedExampleRecord } from "./worked-example";
import { mixWeights } from "../lib/lab/mix";
import { TASKS } from "../lib/tasks";

const s = (model: number, reward: number, finished = true, text = `${model}:${reward}`): Sample => ({ model, text, finished, reward });

describe("preference pairs and SFT examples", () => {
  it("chosen = best finished, rejected = worst; ties and < 2 finished are dropped", () => {
    const o = buildPair([s(0, 0.5), s(1, 1), s(2, 0), s(3, 1, false)]);
    expect(o).toEqual({ pair: { chosen: s(1, 1), rejected: s(2, 0) } });
    expect(buildPair([s(0, 1), s(1, 1)])).toEqual({ dropped: "tie" });
    expect(buildPair([s(0, 1), s(1, 0, false)])).toEqual({ dropped: "too-few" });
  });
  it("on-policy: the rejected response is the pivot's worst (model 0), chosen the best of any model", () => {
    const samples = [s(0, 0.5), s(0, 0.25), s(1, 1), s(2, 0)];
    expect(buildPair(samples, "policy")).toEqual({ pair: { chosen: s(1, 1), rejected: s(0, 0.25) } });
    expect(buildPair(samples, "pool")).toEqual({ pair: { chosen: s(1, 1), rejected: s(2, 0) } });
    expect(buildPair([s(0, 1), s(1, 1), s(2, 0)], "policy")).toEqual({ dropped: "tie" }); // the pivot was right
    expect(buildPair([s(0, 0, false), s(1, 1), s(2, 0)], "policy")).toEqual({ dropped: "too-few" }); // no finished pivot sample
  });
  it("equal rewards: the earlier sample wins (deterministic)", () => {
    const o = buildPair([s(0, 1, true, "a"), s(1, 1, true, "b"), s(2, 0, true, "c"), s(3, 0, true, "d")]);
    expect("pair" in o && [o.pair.chosen.text, o.pair.rejected.text]).toEqual(["a", "c"]);
  });
  it("an SFT example is the best finished sample, only when it is correct", () => {
    expect(sftExample([s(0, 0.5), s(1, 1, true, "x"), s(2, 1, true, "y")])).toEqual(s(1, 1, true, "x"));
    expect(sftExample([s(0, 0.5), s(1, 1, false)])).toBeNull();
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
    expect(() => resolveLabConfig("quick", [{ where: "--set data.kk=1", values: { data: { kk: 1 } } }])).toThrow(/--set data\.kk=1: unknown key "data\.kk"/);
    expect(() => resolveLabConfig("quick", [{ where: "x", values: { data: { k: "many" } } }])).toThrow(/"data\.k" must be a number/);
    expect(() => resolveLabConfig("quick", [{ where: "x", values: { seeds: [1, 1] } }])).toThrow(/duplicates/);
    expect(() => resolveLabConfig("quick", [{ where: "x", values: { variants: ["dpo", "kto"] } }])).toThrow(/unknown variant "kto"/);
    expect(() => resolveLabConfig("quick", [{ where: "x", values: { benchmarks: { testSize: 501 } } }])).toThrow(/validationSize.*excludeSize/);
    expect(() => resolveLabConfig("quick", [{ where: "x", values: { data: { rejected: "best" } } }])).toThrow(/"data\.rejected" must be "policy" or "pool"/);
    expect(() => resolveLabConfig("quick", [{ where: "x", values: { pref: { schedule: "step" } } }])).toThrow(/"pref\.schedule" must be cosine/);
    expect(() => resolveLabConfig("quick", [{ where: "x", values: { selection: { lr: [], betaScale: [1] } } }])).toThrow(/"selection" needs non-empty lists/);
    expect(() => resolveLabConfig("quick", [{ where: "x", values: { hparams: { orpo: { lr: 1e-4, betaScale: 1 } } } }])).toThrow(/unknown variant "orpo"/);
    expect(resolveLabConfig("quick", [{ where: "x", values: { selection: { lr: [1e-4], betaScale: [1] } } }]).selection).toEqual({ lr: [1e-4], betaScale: [1] });
    expect(() => resolveLabConfig("nope")).toThrow(/unknown lab preset "nope"; valid: smoke, quick, full/);
  });
  it("the paper's protocol by default: one epoch, cosine with 10% warm-up, for every method alike", () => {
    for (const p of ["quick", "full"]) expect(resolveLabConfig(p).pref).toMatchObject({ epochs: 1, schedule: "cosine", warmupRatio: 0.1 });
    const full = resolveLabConfig("full");
    expect(full.selection).toEqual({ lr: [1e-5, 3e-5, 1e-4], betaScale: [0.5, 2] });
  });
  it("presets share their models: model keys ignore the test size and the per-seed knobs", () => {
    const keys = (p: string) => modelSpecs(resolveLabConfig(p)).map((sp) => modelKey(sp, resolveLabConfig(p)));
    expect(keys("smoke")).toEqual(keys("quick"));
    expect(keys("full")).toEqual(keys("quick"));
    const other = resolveLabConfig("quick", [{ where: "x", values: { pretrain: { seed: 8 } } }]);
    expect(modelSpecs(other).map((sp) => modelKey(sp, other))).not.toEqual(keys("quick"));
    expect(new Set(keys("quick")).size).toBe(LAB_PRESETS.quick.sources.length + 1);
  });
  it("the pivot's general mix: relative family weights (missing = 1) that sum to 1; they key the pivot alone", () => {
    const fams = Object.values(TASKS);
    const w = (general: Record<string, number>, specialty: string[] = []) =>
      Object.fromEntries(mixWeights(specialty as never, 0.4, fams, {}, general).map((p) => [p.family.name, p.weight]));
    const uniform = w({});
    for (const f of fams) expect(uniform[f.name]).toBe(1 / 9);
    // chain 2, dyck 0.5, the other seven 1: total 9.5
    const leaned = w({ chain: 2, dyck: 0.5 });
    expect(leaned.chain).toBeCloseTo(2 / 9.5, 15);
    expect(leaned.dyck).toBeCloseTo(0.5 / 9.5, 15);
    expect(leaned.arith).toBeCloseTo(1 / 9.5, 15);
    expect(Object.values(leaned).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 14);
    // a source: 60% general (here leaned), 40% on its specialty's families
    const src = w({ chain: 2, dyck: 0.5 }, ["math"]);
    expect(src.arith).toBeCloseTo(0.6 / 9.5 + 0.2, 15);
    expect(src.dyck).toBeCloseTo(0.6 * 0.5 / 9.5, 15);
    expect(() => w({ chian: 2 })).toThrow(/general mix: unknown family "chian"/);
    expect(() => w({ chain: 0 })).toThrow(/weight of "chain" must be a finite number > 0/);
    // the config: the preset's weights reach the pivot's spec only; changing them re-keys the pivot and no source
    const q = resolveLabConfig("quick");
    const [pivot, ...sources] = modelSpecs(q);
    expect(pivot.mix.find((m) => m.family === "dyck")!.weight).toBeLessThan(1 / 9);
    for (const sp of sources) expect(sp.mix.filter((m) => !sp.specialty.includes(TASKS[m.family].category)).every((m) => m.weight === 0.6 / 9)).toBe(true);
    const other = resolveLabConfig("quick", [{ where: "x", values: { pivot: { weights: { chain: 1 } } } }]);
    const k0 = modelSpecs(q).map((sp) => modelKey(sp, q)), k1 = modelSpecs(other).map((sp) => modelKey(sp, other));
    expect(k1[0]).not.toBe(k0[0]);
    expect(k1.slice(1)).toEqual(k0.slice(1));
    expect(() => resolveLabConfig("quick", [{ where: "x", values: { pivot: { weights: { chian: 1 } } } }])).toThrow(/"pivot\.weights": unknown family "chian"/);
    expect(() => resolveLabConfig("quick", [{ where: "x", values: { pivot: { weights: { chain: -1 } } } }])).toThrow(/"pivot\.weights\.chain" must be a finite number > 0/);
  });
  it("test and validation sets are disjoint slices of the held-out prompts, which training prompts never touch", () => {
    const small = labBenchmarks(resolveLabConfig("smoke"));
    const big = labBenchmarks(resolveLabConfig("full"));
    for (const [i, b] of small.test.entries()) {
      expect(big.test[i].items.slice(0, b.items.length)).toEqual(b.items);
      const val = new Set(big.validation[i].items.map((x) => x.prompt));
      expect(val.size).toBe(resolveLabConfig("full").benchmarks.validationSize);
      for (const it of big.test[i].items) {
        expect(small.exclude.has(it.prompt)).toBe(true);
        expect(val.has(it.prompt)).toBe(false);
      }
      for (const p of val) expect(small.exclude.has(p)).toBe(true);
      // smoke's validation items are the last ones of the same held-out prefix, so they are full's last ones too
      expect(big.validation[i].items.slice(-small.validation[i].items.length)).toEqual(small.validation[i].items);
    }
    const cfg = resolveLabConfig("quick");
    const { sft, pref } = drawPrompts(cfg, 1, big.exclude);
    expect(sft.length + pref.length).toBe(cfg.data.prompts);
    expect(new Set([...sft, ...pref].map((x) => x.prompt)).size).toBe(cfg.data.prompts);
    for (const it of [...sft, ...pref]) expect(big.exclude.has(it.prompt)).toBe(false);
  });
});

/** Every stage key of a config: the base models, the evaluation sets, and per seed every stage and variant. */
function allKeys(cfg: LabConfig): Record<string, string> {
  const specs = modelSpecs(cfg);
  const models = specs.map((sp) => modelKey(sp, cfg));
  const out: Record<string, string> = { test: testKey(cfg), validation: validationKey(cfg) };
  specs.forEach((sp, i) => (out[`model.${sp.name}`] = models[i]));
  for (const seed of cfg.seeds) {
    const k = seedKeys(cfg, seed, models);
    for (const st of ["prompts", "sftData", "sft", "pairs", "scored"] as const) out[`seed${seed}.${st}`] = k[st];
    for (const name of cfg.variants) {
      const v = variantSpec(name, cfg.sources.length);
      const key = k.variant(v, cfg.hparams[name] ?? { lr: cfg.pref.lr, betaScale: 1 });
      if (key) out[`seed${seed}.${name}`] = key;
      // with a selection grid, every grid point is a stage too
      for (const hp of cfg.selection ? selectionGrid(cfg.selection, v) : []) out[`seed${seed}.${name}@${hp.lr}/${hp.betaScale}`] = k.variant(v, hp)!;
    }
  }
  return out;
}

/** Leaf paths of a config object (arrays are leaves). */
function leaves(x: unknown, prefix = ""): string[] {
  if (x !== null && typeof x === "object" && !Array.isArray(x)) return Object.entries(x).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
  return [prefix];
}

function mutated(cfg: LabConfig, p: string): LabConfig {
  const c = structuredClone(cfg) as unknown as Record<string, unknown>;
  const keys = p.split(".");
  let at = c;
  for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>;
  const last = keys[keys.length - 1];
  const v = at[last];
  at[last] = typeof v === "number" ? (Number.isInteger(v) ? v + 1 : v / 2) : typeof v === "string" ? `${v}-x` : typeof v === "boolean" ? !v : v === null ? 1 : Array.isArray(v) ? (p === "seeds" ? [...v, 99] : v.slice(0, -1)) : v;
  return c as unknown as LabConfig;
}

describe("cache keys cover every knob", () => {
  const base = resolveLabConfig("smoke");
  const before = allKeys(base);
  /** Knobs that change no cached result, with the reason. */
  const NEUTRAL: Record<string, string> = {
    bootstrap: "aggregation only (not cached)",
    shipped: "where checkpoints are found; their checksums key the stages",
  };
  const changedBy = (p: string) => {
    const after = allKeys(mutated(base, p));
    return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => after[k] !== before[k]); // changed, added or gone
  };

  it("every knob of the config changes some stage's key (or is declared result-neutral)", () => {
    const paths = leaves(base).filter((p) => !(p in NEUTRAL));
    const missing = paths.filter((p) => !["variants", "seeds"].includes(p) && changedBy(p).length === 0);
    expect(missing).toEqual([]);
    // the trainers' schedules, optimisers and checkpoint cadence are in the config (pipeline.ts used to hard-code them)
    for (const k of ["pretrain", "sft", "pref"]) for (const knob of ["schedule", "warmupRatio", "beta2", "weightDecay", "maxGradNorm", "checkpointEvery"]) expect(paths).toContain(`${k}.${knob}`);
  });

  it("a changed knob re-keys exactly the stages downstream of where it acts", () => {
    const seedStages = (...st: string[]) => base.seeds.flatMap((s) => st.map((x) => `seed${s}.${x}`));
    const variants = (names: string[]) => base.seeds.flatMap((s) => Object.keys(before).filter((k) => names.some((n) => k === `seed${s}.${n}` || k.startsWith(`seed${s}.${n}@`))));
    const prefNames = base.variants.filter((n) => variantSpec(n, 4).kind === "pref" || n === "sft-cont");
    const trained = base.variants.filter((n) => n !== "sft");
    const sorted = (xs: string[]) => [...new Set(xs)].sort();
    // the preference stage's optimiser: only preference runs and sft-cont
    expect(sorted(changedBy("pref.beta2"))).toEqual(sorted(variants(prefNames)));
    expect(sorted(changedBy("pref.checkpointEvery"))).toEqual(sorted(variants(prefNames)));
    // SFT's schedule: SFT and everything after it (the on-policy samples come from the SFT pivot), sft-all included
    expect(sorted(changedBy("sft.schedule"))).toEqual(sorted([...seedStages("sft", "pairs", "scored"), ...variants(trained)]));
    // where rejected responses come from: pairs onwards, not SFT
    expect(sorted(changedBy("data.rejected"))).toEqual(sorted([...seedStages("pairs", "scored"), ...variants(trained)]));
    // the test and validation sizes: only their evaluations
    expect(changedBy("benchmarks.testSize")).toEqual(["test"]);
    expect(changedBy("benchmarks.validationSize")).toEqual(["validation"]);
    // pretraining: every base model, so everything
    expect(sorted(changedBy("pretrain.weightDecay"))).toEqual(sorted(Object.keys(before).filter((k) => !["test", "validation", ...seedStages("prompts")].includes(k))));
    // a source's tokenizer: that source and everything per seed, not the pivot
    const tok = changedBy("sources.0.tokenizer.options.chunk");
    expect(tok).toContain("model.src-math");
    expect(tok).not.toContain("model.pivot");
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
  it("selection: every method is tuned on the same grid; InfiFPO's ablations use InfiFPO's choice when it is in the run", () => {
    const all = ["sft", "sft-all", "sft-cont", "dpo", "rpo", "ipo", "simpo", "wrpo", "infifpo", "infifpo-mean", "infifpo-noln", "infifpo-live", "infifpo-n2"];
    const v = (n: string) => variantSpec(n, 4);
    expect(all.map((n) => tunedKnobs(v(n)))).toEqual(["none", "none", "lr", ...Array(10).fill("lr+beta")]);
    expect(all.map((n) => selectedWith(v(n), all))).toEqual([...Array(9).fill(null), "infifpo", "infifpo", "infifpo", "infifpo"]);
    // without InfiFPO in the run, an ablation is selected on its own
    expect(selectedWith(v("infifpo-mean"), ["sft", "dpo", "infifpo-mean"])).toBeNull();
  });
});

describe("aggregation", () => {
  // two benchmarks in two categories, 20 items each; pivot + one math source; sft, the two SFT controls, dpo and
  // infifpo over 2 seeds. ev(a, b): the first a (b) items of arith (bool) right, so paired items line up.
  const ones = (k: number) => Array.from({ length: 20 }, (_, i) => (i < k ? 1 : 0));
  const ev = (a: number, b: number) => ({ arith: ones(a).map((c) => ({ correct: c, score: c })), bool: ones(b).map((c) => ({ correct: c, score: c })) });
  const ps: PairStats = {
    prompts: 4, sft: 2, sftBy: { "src-math": 2 }, pairs: 2, dropped: { tie: 0, "too-few": 0 }, chosenBy: { "src-math": 2 }, rejectedBy: { "pivot (SFT)": 2 },
    meanRewardChosen: 1, meanRewardRejected: 0, verified: 1, samples: { "pivot (SFT)": { finished: 1, meanReward: 0.2 } }, sftSamples: { pivot: { finished: 1, meanReward: 0.1 } },
  };
  const regime = (gap: number): SeedRegime => ({
    lengths: { chosenMedian: 24, chosenP90: 40, rejectedMedian: 22, chosenMean: 25, rejectedMean: 23, chosenLonger: 0.4, chosenShorter: 0.3 },
    tokens: { maxOverMinMedian: 2.1, ratioToPivot: { pivot: 1, "src-math": 0.5 }, meanCount: { pivot: 25, "src-math": 12.5 } },
    fused: { settings: "max-margin + clip + LN, β 2.5", gapMedian: gap, gapP10: 0.05, gapP90: 0.9, z0Median: -2.5 * gap, z0BelowMinus5: 0, disparityMean: 0.7 },
  });
  const names = ["sft", "sft-all", "sft-cont", "dpo", "infifpo"];
  const cfg = { ...resolveLabConfig("smoke"), bootstrap: 300 };
  const out: LabOutputs = {
    config: cfg, backend: "cpu",
    benchmarks: [{ family: "arith", category: "math", items: 20, validationItems: 8, eval: "generate" }, { family: "bool", category: "reasoning", items: 20, validationItems: 8, eval: "generate" }],
    models: [
      { name: "pivot", role: "pivot", specialty: [], tokenizer: "char", vocabSize: 10, file: "p", shipped: true },
      { name: "src-math", role: "source", specialty: ["math"], tokenizer: "digit", vocabSize: 10, file: "s", shipped: true },
    ],
    baseEvals: { pivot: ev(2, 4), "src-math": ev(18, 0) },
    baseNonsense: { pivot: 0.1, "src-math": 0 },
    seeds: [1, 2].map((seed) => ({
      seed, pairsFile: "", pairStats: ps, sftModel: "", models: {}, metrics: {}, regime: regime(0.3),
      evals: { sft: ev(8, 10), "sft-all": ev(9, 10), "sft-cont": ev(8, 11), dpo: ev(9, 10), infifpo: seed === 1 ? ev(12, 11) : ev(10, 11) },
      nonsense: { sft: 0, "sft-all": 0, "sft-cont": 0.01, dpo: 0.02, infifpo: 0.03 },
      drift: { sft: null, "sft-all": { start: -12, end: -6, change: 6 }, "sft-cont": { start: -8, end: -5, change: 3 }, dpo: { start: -8, end: -9.6, change: -1.6 }, infifpo: { start: -8, end: -10, change: -2 } },
    })),
    variants: names.map((v) => variantSpec(v, 1)),
    hparams: { sft: { lr: 1e-3, betaScale: 1, source: "sft" }, "sft-all": { lr: 1e-3, betaScale: 1, source: "sft" }, "sft-cont": { lr: 1e-4, betaScale: 1, source: "selected" }, dpo: { lr: 1e-4, betaScale: 2, source: "selected" }, infifpo: { lr: 5e-5, betaScale: 1, source: "selected" } },
    selection: { seed: 1, grid: { lr: [5e-5, 1e-4], betaScale: [1, 2] }, variants: { dpo: { candidates: [{ lr: 5e-5, betaScale: 1, validation: 0.4 }, { lr: 1e-4, betaScale: 2, validation: 0.5 }], chosen: { lr: 1e-4, betaScale: 2 } } } },
    timings: { models: 1 },
    stageSeconds: { "seed1.train.dpo": 2, "seed2.train.dpo": 2, "seed1.train.infifpo": 2.2, "seed2.train.infifpo": 2.2, "seed1.score": 1, "seed2.score": 1 },
  };
  const meta = { runId: "t", preset: "smoke", configKey: "k", createdAt: "2026-01-01T00:00:00Z" };
  const r = aggregate(out, meta);
  const row = (n: string) => r.rows.find((x) => x.name === n)!;
  const gateOf = (res: LabResults, re: RegExp) => res.gates.find((g) => re.test(g.name))!;

  it("point estimates: category = mean of its benchmarks, overall = mean of categories", () => {
    expect(r.categories).toEqual(["math", "reasoning"]);
    expect(row("pivot (init)").perCategory.math.mean).toBeCloseTo(0.1, 15);
    expect(row("pivot (init)").overall.mean).toBeCloseTo(0.15, 15);
    expect(row("infifpo").perBenchmark.arith.mean).toBeCloseTo(11 / 20, 15);
    expect(row("infifpo").overall.mean).toBeCloseTo((11 / 20 + 11 / 20) / 2, 15);
    for (const x of r.rows) for (const e of [x.overall, ...Object.values(x.perCategory)]) expect(e.lo <= e.mean + 1e-12 && e.mean <= e.hi + 1e-12).toBe(true);
  });
  it("paired differences against DPO and SFT, none for the baseline itself or the base models", () => {
    expect(row("dpo").vsDpo).toBeUndefined();
    expect(row("sft").vsSft).toBeUndefined();
    expect(row("src-math").vsDpo).toBeUndefined();
    expect(row("infifpo").vsDpo!.overall.mean).toBeCloseTo(11 / 20 - (9 / 20 + 10 / 20) / 2, 15);
    expect(row("infifpo").vsDpo!.overall.pPositive).toBeGreaterThan(0.5);
    expect(row("infifpo").vsDpo!.overall.lo).toBeGreaterThanOrEqual(0); // infifpo ≥ dpo on every item of every seed
  });
  it("gates: the regime first (length, tokenizers, pivot band, sources' lead, fused gap, nonsense, drift), then sanity", () => {
    expect(r.gates.map((g) => [g.kind, g.pass])).toEqual([
      ["regime", true], ["regime", true], ["regime", true], ["regime", true], ["regime", true], ["regime", true], ["regime", true],
      ["sanity", true], ["sanity", true], ["sanity", true],
    ]);
    expect(gateOf(r, /beats the SFT pivot on math/).detail).toContain("90.0% vs 40.0% (difference 50.0 pp");
    expect(gateOf(r, /neither hopeless nor saturated/).detail).toMatch(/^2 of 2 in the band: arith 40\.0%, bool 50\.0%/);
    expect(gateOf(r, /unlearns/).detail).toContain("dpo -8.0 → -9.6");
    expect(r.claimsAreEvidence).toBe(true);
  });
  it("the number-of-sources claims compare the arms that were trained (of 4 sources: 1, 2 and 4)", () => {
    const src = (name: string) => ({ ...out.models[1], name, file: name });
    const n = ["infifpo-n1", "infifpo-n2"];
    const o: LabOutputs = {
      ...out,
      models: [...out.models, src("s2"), src("s3"), src("s4")],
      baseEvals: { ...out.baseEvals, s2: ev(18, 0), s3: ev(18, 0), s4: ev(18, 0) },
      baseNonsense: { ...out.baseNonsense, s2: 0, s3: 0, s4: 0 },
      seeds: out.seeds.map((x) => ({
        ...x,
        evals: { ...x.evals, "infifpo-n1": ev(9, 10), "infifpo-n2": ev(10, 10) },
        nonsense: { ...x.nonsense, "infifpo-n1": 0, "infifpo-n2": 0 },
        drift: { ...x.drift, "infifpo-n1": null, "infifpo-n2": null },
      })),
      variants: [...names, ...n].map((v) => variantSpec(v, 4)),
      hparams: { ...out.hparams, "infifpo-n1": out.hparams.infifpo, "infifpo-n2": out.hparams.infifpo },
    };
    const claims = aggregate(o, meta).claims.filter((c) => /sources help/.test(c.claim)).map((c) => c.claim);
    expect(claims).toEqual(["more sources help: 2 beat 1", "more sources help: 4 beat 2", "more sources help: 4 beat 1"]);
  });
  it("a failed regime gate is loud and makes the claims not evidence; each gate can fail", () => {
    const fails = (o: LabOutputs, re: RegExp) => {
      const x = aggregate(o, meta);
      expect(gateOf(x, re).pass, re.source).toBe(false);
      expect(x.claimsAreEvidence).toBe(false);
      return x;
    };
    const withSeeds = (f: (s: LabOutputs["seeds"][number]) => Partial<LabOutputs["seeds"][number]>): LabOutputs => ({ ...out, seeds: out.seeds.map((x) => ({ ...x, ...f(x) })) });
    const far = fails(withSeeds(() => ({ regime: regime(5.1) })), /fused reference sits/);
    fails(withSeeds(() => ({ regime: { ...regime(0.3), lengths: { ...regime(0.3).lengths, chosenMedian: 2 } } })), /multi-token text/);
    fails(withSeeds(() => ({ regime: { ...regime(0.3), tokens: { ...regime(0.3).tokens, maxOverMinMedian: 1 } } })), /tokenizers differ/);
    fails(withSeeds((x) => ({ evals: { ...x.evals, sft: ev(1, 20) } })), /neither hopeless nor saturated/);
    fails({ ...out, baseEvals: { ...out.baseEvals, "src-math": ev(9, 0) } }, /src-math beats the SFT pivot/);
    fails(withSeeds((x) => ({ nonsense: { ...x.nonsense, dpo: 0.18 } })), /junk/);
    fails(withSeeds((x) => ({ drift: { ...x.drift, infifpo: { start: -7.4, end: -12.7, change: -5.3 } } })), /unlearns/);
    const html = reportHtml(far, { plotly: "window.Plotly={}" });
    expect(html).toContain("1 of 7 regime gates FAILED");
    expect(html).toContain("not evidence");
    expect(summaryText(far)).toContain("NOT EVIDENCE");
    expect(claimsMarkdown(far)).toMatch(/^\*\*A regime gate failed/);
    // a sanity failure: the written pairs file disagrees with the verifier
    const bad = aggregate(withSeeds((x) => ({ pairStats: { ...x.pairStats, verified: 0.5 } })), meta);
    expect(gateOf(bad, /verifier re-run/).pass).toBe(false);
    expect(bad.claimsAreEvidence).toBe(true);
    expect(reportHtml(bad, { plotly: "window.Plotly={}" })).toContain("1 of 3 sanity gates FAILED");
  });
  it("the paper's claims: verdicts from the paired CI against SFT and both controls, cost from the stage times", () => {
    const c = (t: string) => r.claims.find((x) => x.claim === t)!;
    expect(c("InfiFPO beats DPO overall").verdict).not.toBe("not reproduced");
    expect(c("InfiFPO beats DPO on math").difference!.mean).toBeCloseTo(11 / 20 - 9 / 20, 15);
    for (const ref of ["SFT", "continued SFT (sft-cont)", "SFT on both halves (sft-all)"]) expect(c(`DPO improves on ${ref}`)).toBeDefined();
    expect(c("DPO improves on continued SFT (sft-cont)").difference!.mean).toBeCloseTo((9 / 20 + 10 / 20) / 2 - (8 / 20 + 11 / 20) / 2, 15);
    expect(c("InfiFPO improves on SFT").verdict).toBe("reproduced");
    expect(r.claims.find((x) => x.claim.startsWith("InfiFPO beats IPO"))).toBeUndefined(); // no IPO variant in this run
    expect(c("InfiFPO costs about as much as DPO once source log-probs are precomputed")).toMatchObject({ verdict: "reproduced", difference: null });
    expect(c("InfiFPO costs about as much as DPO once source log-probs are precomputed").evidence).toContain("1.10x");
  });
  it("diagnostics and selection travel into the results: hyper-parameters, nonsense rate, drift", () => {
    expect(r.diagnostics.dpo).toEqual({ nonsense: 0.02, drift: { start: -8, end: -9.6, change: -1.6 }, hparams: { lr: 1e-4, betaScale: 2, source: "selected" } });
    expect(r.selection?.variants.dpo.chosen).toEqual({ lr: 1e-4, betaScale: 2 });
    const html = reportHtml(r, { plotly: "window.Plotly={}" });
    expect(html).toContain("Hyper-parameters");
    expect(html).toMatch(/<td class="up"><b>50\.0<\/b><\/td>/); // the winning grid point
  });
  it("CSV, headline table and report carry every model", () => {
    const csv = resultsCsv(r).trim().split("\n");
    expect(csv[0]).toMatch(/^model,group,scope,key,mean,lo,hi,vs_dpo/);
    expect(csv.length).toBe(1 + r.rows.length * (2 + 2 + 1));
    const t = headlineTable(r);
    for (const x of r.rows) expect(t).toContain(x.name);
    const html = reportHtml(r, { plotly: "window.Plotly={}" });
    expect(html).toContain("All 7 regime gates pass");
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
    expect(gatesMarkdown(r)).toMatch(/^Regime gates \(all pass\):\n\n- pass — /);
    const hp = hparamsMarkdown(r).split("\n");
    expect(hp[0]).toMatch(/^Selected on validation \(seed 1\) from lr 0.00005, 0.0001 × β 1, 2/);
    expect(hp.filter((l) => l.startsWith("| dpo |"))).toEqual(["| dpo | 0.0001 | 2 | selected | 50.0% | " + (100 * r.diagnostics.dpo.nonsense).toFixed(1) + "% | " + (r.diagnostics.dpo.drift ? `${r.diagnostics.dpo.drift.start.toFixed(1)} → ${r.diagnostics.dpo.drift.end.toFixed(1)}` : "—") + " |"]);
    expect(asLabResults(JSON.parse(JSON.stringify(r)), "r.json").rows.length).toBe(r.rows.length);
    expect(() => asLabResults({ format: "x" }, "r.json")).toThrow(/r\.json: not a lab results file/);
    expect(() => asLabResults({ ...r, version: 1 }, "r.json")).toThrow(/r\.json: field "version": 1 is not supported/);
    expect(() => asLabResults({ ...r, rows: undefined }, "r.json")).toThrow(/field "rows": missing/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-results-"));
    fs.writeFileSync(path.join(dir, "ok.json"), JSON.stringify(r));
    fs.writeFileSync(path.join(dir, "bad.json"), "{ not json");
    expect(readLabResults(path.join(dir, "ok.json")).claims.length).toBe(r.claims.length);
    expect(() => readLabResults(path.join(dir, "bad.json"))).toThrow(/bad\.json: invalid JSON/);
    expect(() => readLabResults(path.join(dir, "none.json"))).toThrow(/none\.json: cannot read/);
    const text = summaryText(r);
    expect(text).toContain(headlineTable(r));
    expect(text.split("\n").filter((l) => /^ {2}(pass|FAIL) {2}/.test(l)).length).toBe(r.gates.length);
  });
});

describe("regime measurements (hand-computed)", () => {
  it("lengths, token counts, nonsense outputs, drift", () => {
    expect(lengthStats([{ chosen: "abcd", rejected: "ab" }, { chosen: "a", rejected: "abc" }, { chosen: "xy", rejected: "xy" }])).toMatchObject({
      chosenMedian: 2, rejectedMedian: 2, chosenMean: 7 / 3, chosenLonger: 1 / 3, chosenShorter: 1 / 3,
    });
    const t = tokenStats([[10, 10, 4], [6, 3, 3], [5, 0, 5]], ["pivot", "a", "b"]); // the response with a 0 count is skipped
    expect(t.maxOverMinMedian).toBeCloseTo((2.5 + 2) / 2, 15);
    expect(t.ratioToPivot).toEqual({ pivot: 1, a: 0.75, b: 0.45 });
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(nonsenseRate(["12", "1?", "??"], new Set("0123456789"))).toBeCloseTo(2 / 3, 15);
    expect(answerAlphabet(["ab", "bc"])).toEqual(new Set("abc"));
    expect(logpsDrift([{ "logps/chosen": -8 }, { "logps/chosen": -9 }, { "logps/chosen": -10 }, { "logps/chosen": -12 }], 2)).toEqual({ start: -8.5, end: -11, change: -2.5 });
    expect(logpsDrift([])).toBeNull();
  });
  it("the fused gap and step-0 logit on the spec's worked example: gap 0.198 nats/token, z₀ = −2.5 · gap, loss 0.970", () => {
    const rec = workedExampleRecord();
    const f = fusedGapStats([rec]);
    // clip + max-margin: ℓ_fu(y_w) = −0.06975 (the pivot), ℓ_fu(y_l) = −0.33685; pivot margin −0.06975 + 0.13945
    const gap = (-0.06975 + 0.33685) - (-0.06975 + 0.13945);
    expect(f.gapMedian).toBeCloseTo(gap, 12);
    expect(f.z0Median).toBeCloseTo(-2.5 * gap, 12);
    expect(f.disparityMean).toBeCloseTo(0.621, 3);
    expect(f.z0BelowMinus5).toBe(0);
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

describe("run folders", () => {
  it("a run id is reused only by its own config; another config's or a foreign folder is refused, untouched", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "lab-run-dir-"));
    const quick = resolveLabConfig("quick"), full = resolveLabConfig("full");
    const dir = path.join(root, "r1");
    expect(claimRunDir(dir, quick)).toBe(dir);
    const written = fs.readFileSync(path.join(dir, "config.json"), "utf8");
    expect(configKey(JSON.parse(written))).toBe(configKey(quick));
    expect(() => claimRunDir(dir, quick)).not.toThrow(); // a rerun / resume of the same config
    expect(() => claimRunDir(dir, full)).toThrow(/run folder .*r1 already holds a run of another config/);
    expect(fs.readFileSync(path.join(dir, "config.json"), "utf8")).toBe(written);
    const foreign = path.join(root, "mine");
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, "notes.txt"), "keep me");
    expect(() => claimRunDir(foreign, quick)).toThrow(/exists and is not a lab run/);
    expect(fs.readdirSync(foreign)).toEqual(["notes.txt"]);
    fs.writeFileSync(path.join(dir, "config.json"), "{ broken");
    expect(() => claimRunDir(dir, quick)).toThrow(/another config/);
    fs.rmSync(root, { recursive: true, force: true });
  });
});

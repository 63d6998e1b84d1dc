import { beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { TRAIN_DEFAULTS, parseSetting, resolveTrainConfig } from "../lib/train/config";
import { runTraining } from "../lib/train/run";
import { readMetrics } from "../lib/train/metrics";
import { listCheckpoints } from "../lib/train/checkpoint";
import { LOSS_NAMES, getLoss, resolveLossConfig } from "../lib/losses";
import { loadModel, modelVariables, disposeModel } from "../lib/model";
import { loadRecords } from "../lib/data/jsonl";
import { AdamW } from "../lib/train/optim";
import { LOOP_DEFAULTS, Trainer } from "../lib/train/trainer";
import { encodePreferenceExample, preferenceLossFn, type PreferenceExample } from "../lib/train/preference";
import { tmpDir, writePairs, writeTinyModel } from "./train-fixtures";

const CLI = path.join(__dirname, "..", "bin", "infifpo.mjs");

// the pure-JS cpu backend is ~10x slower than wasm on these shapes
beforeAll(async () => {
  const { initBackend } = await import("../lib/backend");
  await initBackend({ backend: "wasm", quiet: true });
});

describe("TrainConfig", () => {
  it("presets change only what differs; overrides are strict", () => {
    const base = { where: "t.json", values: { data: { train: "x.jsonl" }, model: { init: "m.infifpo" } } };
    const smoke = resolveTrainConfig("smoke", [base]);
    expect(smoke.loop.maxSteps).toBe(4);
    expect(smoke.optim.beta2).toBe(TRAIN_DEFAULTS.optim.beta2);
    expect(smoke.loss.name).toBe("infifpo");
    expect(() => resolveTrainConfig(null, [base, { where: "t.json", values: { loop: { batchSize: 8, bathSize: 2 } } }])).toThrow(
      /t\.json: unknown key "loop\.bathSize"; valid: loop\.maxSteps, loop\.epochs, loop\.batchSize/,
    );
    expect(() => resolveTrainConfig(null, [base, { where: "t.json", values: { optim: { lr: "fast" } } }])).toThrow(/"optim\.lr" must be a number/);
    expect(() => resolveTrainConfig("tiny", [base])).toThrow(/unknown preset "tiny"; valid: smoke, quick, full/);
    expect(() => resolveTrainConfig(null, [base, { where: "--set", values: { loop: { batchSize: 6, gradAccumSteps: 4 } } }])).toThrow(/must divide loop\.batchSize/);
    expect(() => resolveTrainConfig(null, [{ where: "t.json", values: { data: { train: "x" } } }])).toThrow(/"model\.init" is required for preference/);
    expect(resolveTrainConfig(null, [base, { where: "x", values: { loop: { maxGradNorm: null } } }]).loop.maxGradNorm).toBeNull();
    expect(parseSetting("loss.options.beta=0.5")).toEqual({ loss: { options: { beta: 0.5 } } });
    expect(parseSetting("loss.name=dpo")).toEqual({ loss: { name: "dpo" } });
  });
});

function setup(n = 24, extra: Record<string, unknown> = {}) {
  const dir = tmpDir("run");
  const pairs = path.join(dir, "pairs.jsonl");
  writePairs(pairs, n);
  const pivot = writeTinyModel(path.join(dir, "pivot.infifpo"), { seed: 1 });
  const cfgFile = path.join(dir, "config.json");
  const cfg = {
    preset: "smoke",
    outDir: "out",
    data: { train: "pairs.jsonl", eval: "pairs.jsonl", maxExamples: 12 },
    model: { init: "pivot.infifpo" },
    progress: "lines",
    ...extra,
  };
  fs.writeFileSync(cfgFile, JSON.stringify(cfg));
  return { dir, pairs, pivot, cfgFile, out: path.join(dir, "out") };
}

describe("infifpo train (CLI)", () => {
  it("trains InfiFPO on the published format and writes every output", () => {
    const s = setup();
    const stdout = execFileSync(process.execPath, [CLI, "train", "--config", s.cfgFile, "--set", "loop.logEvery=1"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    expect(JSON.parse(stdout.trim().split("\n").pop()!)).toMatchObject({ step: 4 });
    for (const f of ["config.json", "metrics.jsonl", "model.infifpo", "final/params.bin", "checkpoints/step-00000004/optim.bin"])
      expect(fs.existsSync(path.join(s.out, f)), f).toBe(true);
    const saved = JSON.parse(fs.readFileSync(path.join(s.out, "config.json"), "utf8"));
    expect(saved.loop.maxSteps).toBe(4);
    expect(saved.data.train).toBe(s.pairs); // made absolute, relative to the config file
    const m = readMetrics(path.join(s.out, "metrics.jsonl"));
    const train = m.filter((r) => "loss" in r);
    expect(train.map((r) => r.step)).toEqual([1, 2, 3, 4]);
    expect(Object.keys(train[0])).toEqual(
      expect.arrayContaining(["loss", "learning_rate", "grad_norm", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen", "logps/rejected", "tokens_per_s"]),
    );
    // policy = pivot at step 1, so the chosen/rejected rewards are β(ℓ̄θ − ℓ̄fu) with ℓ̄θ from the live model
    expect(Number.isFinite(train[0].loss as number)).toBe(true);
    const evals = m.filter((r) => "eval_loss" in r);
    expect(evals.map((r) => r.step)).toEqual([2, 4]);
    expect(Object.keys(evals[0])).toEqual(expect.arrayContaining(["eval_loss", "eval_rewards/accuracies"]));
    // the trained model loads and differs from the pivot
    const a = loadModel(path.join(s.out, "model.infifpo")), b = loadModel(s.pivot);
    expect(Array.from(modelVariables(a.model)[0].dataSync())).not.toEqual(Array.from(modelVariables(b.model)[0].dataSync()));
    disposeModel(a.model);
    disposeModel(b.model);
    // a second run into the same outDir refuses without --resume
    const again = spawnSync(process.execPath, [CLI, "train", "--config", s.cfgFile], { encoding: "utf8" });
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/already holds checkpoints .* pass --resume/);
    // --resume with a different config is refused, and config.json is left as it was
    const before = fs.readFileSync(path.join(s.out, "config.json"), "utf8");
    const changed = spawnSync(process.execPath, [CLI, "train", "--config", s.cfgFile, "--resume", "--set", "optim.lr=0.5"], { encoding: "utf8" });
    expect(changed.status).toBe(2);
    expect(changed.stderr).toMatch(/step-00000004: the checkpoint was written with a different config/);
    expect(fs.readFileSync(path.join(s.out, "config.json"), "utf8")).toBe(before);
  });

  it("rejects unknown config keys and bad data with messages naming file, line and field", () => {
    const s = setup(6, { loop: { batchSize: 4, maxStep: 3 } });
    const r = spawnSync(process.execPath, [CLI, "train", "--config", s.cfgFile], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${s.cfgFile}: unknown key "loop.maxStep"`);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    const bad = setup(6);
    const lines = fs.readFileSync(bad.pairs, "utf8").split("\n");
    lines[2] = lines[2].replace(/"ref_mean_chosen_logps":[^,]+/, '"ref_mean_chosen_logps":"abc"');
    fs.writeFileSync(bad.pairs, lines.join("\n"));
    const r2 = spawnSync(process.execPath, [CLI, "train", "--config", bad.cfgFile], { encoding: "utf8" });
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/pairs\.jsonl:3: field "ref_mean_chosen_logps"/);
  });

  it("DPO / IPO / hinge / SimPO / SFT train from TRL-shaped files with only ref_* columns; InfiFPO names the missing fuse_* field", async () => {
    const s = setup(8);
    const lines = fs.readFileSync(s.pairs, "utf8").trim().split("\n").map((l) => {
      const o = JSON.parse(l);
      for (const k of Object.keys(o)) if (k.startsWith("fuse_")) delete o[k];
      return JSON.stringify(o);
    });
    fs.writeFileSync(s.pairs, lines.join("\n") + "\n");
    for (const name of ["dpo", "ipo", "hinge", "simpo", "sft"]) {
      const cfg = resolveTrainConfig("smoke", [{ where: "t", values: { outDir: path.join(s.dir, `o-${name}`), data: { train: s.pairs }, model: { init: s.pivot }, loss: { name }, progress: "none", loop: { maxSteps: 2, evalEvery: 0 } } }]);
      const r = await runTraining(cfg, { log: () => {} });
      expect(r.history.at(-1)!.loss, name).toBeGreaterThan(0);
    }
    const cfg = resolveTrainConfig("smoke", [{ where: "t", values: { outDir: path.join(s.dir, "o-infifpo"), data: { train: s.pairs }, model: { init: s.pivot }, progress: "none" } }]);
    await expect(runTraining(cfg, { log: () => {} })).rejects.toThrow(/pairs\.jsonl:1: field "fuse_chosen_logps": missing \(loss infifpo reads the sources' fuse_\* columns\)/);
  });

  it("a config's backend \"auto\" leaves the choice to INFIFPO_BACKEND (the lab on wasm must not switch to native)", async () => {
    const s = setup(8);
    const old = process.env.INFIFPO_BACKEND;
    process.env.INFIFPO_BACKEND = "cpu";
    try {
      const cfg = resolveTrainConfig("smoke", [{ where: "t", values: { outDir: path.join(s.dir, "o-env"), data: { train: s.pairs }, model: { init: s.pivot }, loss: { name: "dpo" }, progress: "none", loop: { maxSteps: 1, evalEvery: 0 } } }]);
      expect(cfg.backend).toBe("auto");
      const r = await runTraining(cfg, { log: () => {} });
      expect(r.backend).toBe("cpu");
    } finally {
      if (old === undefined) delete process.env.INFIFPO_BACKEND;
      else process.env.INFIFPO_BACKEND = old;
      const { initBackend } = await import("../lib/backend");
      await initBackend({ backend: "wasm", quiet: true });
    }
  });

  it("kill -9 mid-run, then --resume: final weights byte-identical to an uninterrupted run", async () => {
    const extra = { preset: null, progress: "none", data: { train: "pairs.jsonl", maxExamples: 16 }, loop: { maxSteps: 40, batchSize: 4, checkpointEvery: 5, evalEvery: 0, logEvery: 1 }, optim: { lr: 0.003, warmupSteps: 3 } };
    const a = setup(16, extra);
    execFileSync(process.execPath, [CLI, "train", "--config", a.cfgFile], { stdio: "ignore" });
    const b = setup(16, extra);
    const ckRoot = path.join(b.out, "checkpoints");
    const killed = await new Promise<{ signal: string | null }>((resolve) => {
      const p = spawn(process.execPath, [CLI, "train", "--config", b.cfgFile], { stdio: "ignore" });
      const t = setInterval(() => {
        if (listCheckpoints(ckRoot).some((c) => c.step >= 10)) {
          clearInterval(t);
          p.kill("SIGKILL");
        }
      }, 5);
      p.on("exit", (_c, signal) => (clearInterval(t), resolve({ signal })));
    });
    expect(killed.signal).toBe("SIGKILL");
    expect(fs.existsSync(path.join(b.out, "model.infifpo"))).toBe(false);
    const resumed = spawnSync(process.execPath, [CLI, "train", "--config", b.cfgFile, "--resume"], { encoding: "utf8" });
    expect(resumed.status).toBe(0);
    expect(resumed.stderr).toMatch(/resumed from step (10|15|20|25|30|35)/);
    expect(resumed.stderr).toMatch(/taking over the lock .*run\.lock \(left by pid \d+, which is no longer running\)/);
    const pa = fs.readFileSync(path.join(a.out, "final", "params.bin")), pb = fs.readFileSync(path.join(b.out, "final", "params.bin"));
    expect(pa.length).toBeGreaterThan(1000);
    expect(Buffer.compare(pa, pb)).toBe(0);
    const losses = (d: string) => readMetrics(path.join(d, "metrics.jsonl")).map((r) => [r.step, r.loss]);
    expect(losses(b.out)).toEqual(losses(a.out));
  });

  it("two processes on one outDir: the second is refused while the first trains, naming its pid; nothing of the first is touched", async () => {
    const extra = { preset: null, progress: "none", data: { train: "pairs.jsonl", maxExamples: 16 }, loop: { maxSteps: 400, batchSize: 4, checkpointEvery: 5, evalEvery: 0, logEvery: 1 }, optim: { lr: 0.003, warmupSteps: 3 } };
    const a = setup(16, extra);
    const lock = path.join(a.out, "run.lock");
    const first = spawn(process.execPath, [CLI, "train", "--config", a.cfgFile], { stdio: "ignore" });
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setInterval(() => {
          if (listCheckpoints(path.join(a.out, "checkpoints")).length > 0) (clearInterval(t), resolve());
        }, 10);
        first.on("exit", (code) => (clearInterval(t), reject(new Error(`the first run ended (${code}) before its first checkpoint`))));
      });
      expect(JSON.parse(fs.readFileSync(lock, "utf8")).pid).toBe(first.pid);
      for (const args of [[], ["--resume"]]) {
        const second = spawnSync(process.execPath, [CLI, "train", "--config", a.cfgFile, ...args], { encoding: "utf8" });
        expect(second.status, second.stderr).toBe(2);
        expect(second.stderr).toMatch(new RegExp(`is being trained by pid ${first.pid} .*choose another outDir`));
      }
      expect(JSON.parse(fs.readFileSync(lock, "utf8")).pid).toBe(first.pid);
    } finally {
      first.kill("SIGKILL");
      await new Promise((r) => first.on("exit", r));
    }
  });
});

describe("every registry loss trains through the preference trainer", () => {
  it.each(LOSS_NAMES)("%s", async (name) => {
    const s = setup(8);
    if (name.includes("wrpo")) {
      // y_ws columns (choice documented in lib/train/preference.ts): here the source's best = the chosen text
      const recs = fs.readFileSync(s.pairs, "utf8").trim().split("\n").map((l) => JSON.parse(l));
      for (const r of recs) {
        r.source_chosen = r.chosen;
        r.ref_source_chosen_logps = r.ref_chosen_logps;
        r.ref_mean_source_chosen_logps = r.ref_mean_chosen_logps;
        r.fuse_source_chosen_logps = r.fuse_chosen_logps;
        r.fuse_mean_source_chosen_logps = r.fuse_mean_chosen_logps;
      }
      fs.writeFileSync(s.pairs, recs.map((r) => JSON.stringify(r)).join("\n") + "\n");
    }
    const cfg = resolveTrainConfig("smoke", [
      { where: "test", values: { outDir: path.join(s.dir, "o"), data: { train: s.pairs }, model: { init: s.pivot }, loss: { name }, progress: "none", loop: { maxSteps: 2, checkpointEvery: 0, evalEvery: 0 } } },
    ]);
    const r = await runTraining(cfg, { log: () => {} });
    expect(r.step).toBe(2);
    const rec = r.history[0];
    expect(Number.isFinite(rec.loss as number)).toBe(true);
    expect(rec.grad_norm as number).toBeGreaterThan(0);
    if (name !== "sft") expect(rec).toHaveProperty("rewards/margins");
  });
});

describe("SFT trainer", () => {
  it("learns prompt/completion data from a fresh model (loss falls), saves a loadable model", async () => {
    const dir = tmpDir("sft");
    const { saveTokenizer, trainCharTokenizer } = await import("../lib/tokenizers");
    const tokFile = path.join(dir, "tok.json");
    saveTokenizer(tokFile, trainCharTokenizer("0123456789+= ", { fallback: "unk" }));
    const data = path.join(dir, "sft.jsonl");
    fs.writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ prompt: `${i}+${i}=`, completion: String(2 * i) })).join("\n") + "\n");
    const cfg = resolveTrainConfig(null, [
      {
        where: "test",
        values: {
          kind: "sft",
          outDir: path.join(dir, "o"),
          data: { train: data, eval: data },
          model: { init: null, tokenizer: tokFile, preset: "tiny", overrides: { contextLength: 16 } },
          optim: { lr: 1e-2, warmupSteps: 5 },
          loop: { maxSteps: 60, batchSize: 8, evalEvery: 30, checkpointEvery: 0 },
          progress: "none",
        },
      },
    ]);
    const r = await runTraining(cfg, { log: () => {} });
    const evals = r.history.filter((h) => "eval_loss" in h);
    expect(evals).toHaveLength(2);
    const first = r.history[0].loss as number;
    expect(first).toBeGreaterThan(2); // ≈ ln(vocab) at init
    expect(evals[1].eval_loss as number).toBeLessThan(first / 2);
    const m = loadModel(r.modelFile);
    expect(m.model.config.contextLength).toBe(16);
    disposeModel(m.model);
  });
});

describe("preference trainer on the real model", () => {
  async function fixture(n: number) {
    const s = setup(n);
    const records = await loadRecords(s.pairs);
    const { model, tokenizer } = loadModel(s.pivot, { trainable: true });
    const spec = getLoss("dpo");
    const data = records.map((r, i) => encodePreferenceExample(r, { file: s.pairs, line: i + 1 }, spec, tokenizer, model.config.contextLength));
    return { model, tokenizer, spec, data };
  }
  function trainer(f: Awaited<ReturnType<typeof fixture>>, data: PreferenceExample[], batchSize: number, accum: number) {
    const params = modelVariables(f.model);
    return new Trainer<PreferenceExample>({
      params,
      optimizer: new AdamW(params),
      schedule: () => 1e-3,
      data,
      lossFn: preferenceLossFn(f.model, f.tokenizer, f.spec, resolveLossConfig(f.spec)),
      loop: { ...LOOP_DEFAULTS, maxSteps: 1000, batchSize, gradAccumSteps: accum, shuffle: false },
      progress: "none",
    });
  }

  it("accumulation 4×2 gives the same step as 1×8 (float32 tolerance)", async () => {
    const f = await fixture(8);
    const before = modelVariables(f.model).map((v) => v.dataSync().slice());
    const t1 = trainer(f, f.data, 8, 1);
    const r1 = t1.trainStep();
    const after1 = modelVariables(f.model).map((v) => v.dataSync().slice());
    modelVariables(f.model).forEach((v, i) => v.assign(tf.tensor(before[i], v.shape)));
    const t4 = trainer(f, f.data, 8, 4);
    const r4 = t4.trainStep();
    expect(r4.loss as number).toBeCloseTo(r1.loss as number, 5);
    expect(Math.abs((r4.grad_norm as number) - (r1.grad_norm as number)) / (r1.grad_norm as number)).toBeLessThan(1e-4);
    const after4 = modelVariables(f.model).map((v) => v.dataSync());
    let maxDiff = 0;
    after1.forEach((a, i) => a.forEach((x, j) => (maxDiff = Math.max(maxDiff, Math.abs(x - after4[i][j])))));
    expect(maxDiff).toBeLessThan(1e-5);
    // DPO at init: policy == pivot only if ref columns came from this model; here they are synthetic, so just sanity
    expect(Number.isFinite(r1.loss as number)).toBe(true);
    t1.opts.optimizer.dispose();
    t4.opts.optimizer.dispose();
    disposeModel(f.model);
  });

  it("keeps tf.memory().numTensors flat over 200 steps", async () => {
    const f = await fixture(4);
    const { encodePair } = await import("../lib/model");
    const C = f.model.config.contextLength;
    // short pairs keep 200 steps fast; columns from the fixture
    const short = f.data.map((e, i) => ({ ...e, chosen: encodePair(f.tokenizer, "1+1", ` ${i}`, C), rejected: encodePair(f.tokenizer, "1+1", " 3", C) }));
    const t = trainer(f, short, 1, 1);
    t.trainStep();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 200; i++) t.trainStep();
    expect(tf.memory().numTensors).toBe(before);
    t.opts.optimizer.dispose();
    disposeModel(f.model);
  });
});

import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../lib/rng";
import { EpochSampler } from "../lib/train/sampler";
import { warmupCosine } from "../lib/train/schedule";
import { AdamW } from "../lib/train/optim";
import { clipCoefficient, globalNorm } from "../lib/train/clip";
import { LOOP_DEFAULTS, NonFiniteError, Trainer, type LoopConfig } from "../lib/train/trainer";
import { readCheckpoint, listCheckpoints } from "../lib/train/checkpoint";
import { readMetrics } from "../lib/train/metrics";
import { createProgress } from "../lib/train/progress";
import { runReference } from "../lib/seam";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "infifpo-train-"));

describe("EpochSampler", () => {
  it("sampler restores mid-epoch and across epoch boundaries", () => {
    const s = new EpochSampler(5, 9);
    const first = s.next(5);
    expect([...first].sort()).toEqual([0, 1, 2, 3, 4]);
    s.next(2);
    const saved = s.state();
    const rest = s.next(11); // crosses two epoch boundaries
    expect(EpochSampler.fromState(5, 9, saved).next(11)).toEqual(rest);
    expect(new EpochSampler(4, 1, false).next(6)).toEqual([0, 1, 2, 3, 0, 1]);
  });
});

describe("warmupCosine", () => {
  it("matches hand values", () => {
    const f = warmupCosine({ lr: 1e-3, warmupSteps: 10, totalSteps: 110 });
    expect(f(0)).toBe(0);
    expect(f(5)).toBeCloseTo(5e-4, 15);
    expect(f(10)).toBeCloseTo(1e-3, 15);
    expect(f(35)).toBeCloseTo(1e-3 * 0.5 * (1 + Math.SQRT1_2), 15); // p = 1/4: cos(π/4)
    expect(f(60)).toBeCloseTo(5e-4, 15);
    expect(f(110)).toBeCloseTo(0, 15);
    expect(f(500)).toBeCloseTo(0, 15);
    const g = warmupCosine({ lr: 2, warmupSteps: 0, totalSteps: 4, minLrRatio: 0.1 });
    expect([0, 2, 4].map(g)).toEqual([2, expect.closeTo(0.2 + 1.8 * 0.5, 12), expect.closeTo(0.2, 12)]);
    const lin = warmupCosine({ lr: 1, warmupSteps: 2, totalSteps: 6, kind: "linear" });
    expect([0, 1, 2, 4, 6].map(lin)).toEqual([0, 0.5, 1, 0.5, 0]);
    expect(() => warmupCosine({ lr: 1, warmupSteps: -1, totalSteps: 3 })).toThrow(/warmupSteps/);
  });
});

/** Float64 AdamW, written from the formulas in torch.optim.AdamW's documentation. */
function adamwOracle(theta: number[], grads: number[][], lrs: number[], b1: number, b2: number, eps: number, wd: number) {
  const m = theta.map(() => 0), v = theta.map(() => 0), p = [...theta];
  grads.forEach((g, s) => {
    const t = s + 1, lr = lrs[s];
    for (let i = 0; i < p.length; i++) {
      p[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const mh = m[i] / (1 - b1 ** t), vh = v[i] / (1 - b2 ** t);
      p[i] -= (lr * mh) / (Math.sqrt(vh) + eps);
    }
  });
  return p;
}

describe("AdamW", () => {
  it("equals a float64 oracle over 6 steps (weight decay on matrices only)", () => {
    const rng = new Rng(3);
    const w0 = Array.from({ length: 6 }, () => rng.next() * 2 - 1);
    const b0 = [0.5, -0.25];
    const grads = Array.from({ length: 6 }, () => Array.from({ length: 8 }, () => (rng.next() - 0.5) * (rng.next() < 0.2 ? 1e-4 : 3)));
    const lrs = [1e-2, 3e-2, 3e-2, 1e-2, 5e-3, 1e-3];
    const W = tf.variable(tf.tensor2d(w0, [2, 3]), true, "oracle/W");
    const b = tf.variable(tf.tensor1d(b0), true, "oracle/b");
    const opt = new AdamW([W, b], { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
    grads.forEach((g, s) => {
      const gw = tf.tensor2d(g.slice(0, 6), [2, 3]), gb = tf.tensor1d(g.slice(6));
      opt.apply({ [W.name]: gw, [b.name]: gb }, lrs[s]);
      tf.dispose([gw, gb]);
    });
    const wantW = adamwOracle(w0, grads.map((g) => g.slice(0, 6)), lrs, 0.9, 0.95, 1e-8, 0.1);
    const wantB = adamwOracle(b0, grads.map((g) => g.slice(6)), lrs, 0.9, 0.95, 1e-8, 0); // rank-1: no decay
    const gotW = Array.from(W.dataSync()), gotB = Array.from(b.dataSync());
    gotW.forEach((x, i) => expect(Math.abs(x - wantW[i])).toBeLessThan(2e-6));
    gotB.forEach((x, i) => expect(Math.abs(x - wantB[i])).toBeLessThan(2e-6));
    expect(opt.step).toBe(6);
    // state round trip
    const st = opt.state();
    const opt2 = new AdamW([W, b], { beta2: 0.95 });
    opt2.loadState(st);
    expect(opt2.state().m[0]).toEqual(st.m[0]);
    expect(opt2.step).toBe(6);
    opt.dispose();
    opt2.dispose();
    tf.dispose([W, b]);
  });

  it("matches torch.optim.AdamW (PyTorch 2.13, float32, foreach=False) to float32 precision", () => {
    // Pinned numbers from an independent implementation: bench/torch_step.py's venv, a 4-step script with
    // W [2,3] decayed (λ 0.1) and b [2] not, betas (0.9, 0.95), eps 1e-8, lr per step as below.
    const grads = [[0.3, -0.2, 1.5, -0.7, 0.01, 2.5, 0.9, -1.1], [-0.4, 0.6, 0.2, 0.05, -3.0, 1.0, 0.1, 0.2], [0.0001, -0.0002, 0.5, 0.5, -0.5, 0.0, -0.3, 0.7], [0.25, 0.25, -0.25, 1.0, 2.0, -1.0, 0.0, -0.5]];
    const lrs = [0.01, 0.03, 0.02, 0.005];
    const torchW = [0.49483737349510193, -1.2567883729934692, 0.6938759088516235, 2.0138182640075684, -0.07326887547969818, 0.24507999420166016];
    const torchB = [0.15870316326618195, -0.3728537857532501];
    // the backend's AdamW kernel (where it has one) and the plain reference (lib/seam.ts runReference)
    for (const reference of [false, true]) {
      const W = tf.variable(tf.tensor2d([0.5, -1.25, 0.75, 2.0, -0.1, 0.3], [2, 3]), true, `torch${reference}/W`);
      const b = tf.variable(tf.tensor1d([0.2, -0.4]), true, `torch${reference}/b`);
      const opt = new AdamW([W, b], { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
      grads.forEach((g, s) => {
        const gw = tf.tensor2d(g.slice(0, 6), [2, 3]), gb = tf.tensor1d(g.slice(6));
        const step = () => opt.apply({ [W.name]: gw, [b.name]: gb }, lrs[s]);
        if (reference) runReference(step);
        else step();
        tf.dispose([gw, gb]);
      });
      Array.from(W.dataSync()).forEach((x, i) => expect(Math.abs(x - torchW[i])).toBeLessThan(1e-6));
      Array.from(b.dataSync()).forEach((x, i) => expect(Math.abs(x - torchB[i])).toBeLessThan(1e-6));
      opt.dispose();
      tf.dispose([W, b]);
    }
  });

  it("skips parameters without a gradient", () => {
    const a = tf.variable(tf.ones([2, 2]), true, "skip/a");
    const opt = new AdamW([a], { weightDecay: 0.5 });
    opt.apply({}, 1.0);
    expect(Array.from(a.dataSync())).toEqual([1, 1, 1, 1]);
    opt.dispose();
    a.dispose();
  });
});

describe("global norm clipping", () => {
  it("computes ‖g‖ over all tensors and PyTorch's clip coefficient", () => {
    const g = [tf.tensor1d([3, 0]), tf.tensor2d([[0, 4]])];
    const n = globalNorm(g);
    expect(n.dataSync()[0]).toBeCloseTo(5, 6);
    expect(clipCoefficient(5, 1)).toBeCloseTo(1 / (5 + 1e-6), 12);
    expect(clipCoefficient(0.5, 1)).toBe(1);
    expect(clipCoefficient(5, null)).toBe(1);
    tf.dispose([...g, n]);
  });
});

// ---- a stand-in model: linear regression y = x·W + b on seeded data ----
interface Ex { x: number[]; y: number }
function regressionData(n: number, seed: number): Ex[] {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => {
    const x = [r.next() - 0.5, r.next() - 0.5, r.next() - 0.5];
    return { x, y: 2 * x[0] - x[1] + 0.5 * x[2] + 0.1 + 0.01 * (r.next() - 0.5) };
  });
}
let setupId = 0;
function linearSetup(loop: Partial<LoopConfig>, extra: { outDir?: string; lr?: number; nanAtStep?: number } = {}) {
  const id = setupId++;
  const W = tf.variable(tf.tensor2d([[0.1], [-0.2], [0.3]]), true, `lin${id}/W`);
  const b = tf.variable(tf.zeros([1]), true, `lin${id}/b`);
  const params = [W, b];
  const trainer = new Trainer({
    params,
    optimizer: new AdamW(params, { weightDecay: 0.01 }),
    schedule: warmupCosine({ lr: extra.lr ?? 0.05, warmupSteps: 2, totalSteps: loop.maxSteps ?? 10 }),
    data: regressionData(64, 1),
    evalData: regressionData(10, 2),
    lossFn: {
      prepare: (batch, ctx) => ({
        x: tf.tensor2d(batch.map((e) => e.x)), // [B, 3]
        y: tf.tensor2d(batch.map((e) => [e.y])), // [B, 1]
        poison: tf.scalar(extra.nanAtStep !== undefined && ctx.step + 1 === extra.nanAtStep && ctx.training ? NaN : 1),
      }),
      compute: ({ x, y, poison }) => {
        const err = x.matMul(W).add(b).sub(y).mul(poison);
        const loss = err.square().mean() as tf.Scalar;
        return { loss, metrics: { "abs_err": err.abs().mean() as tf.Scalar } };
      },
    },
    loop: { ...LOOP_DEFAULTS, progress: undefined, ...loop } as LoopConfig,
    outDir: extra.outDir,
    countTokens: (batch) => batch.length,
    progress: "none",
  });
  const dispose = () => {
    trainer.opts.optimizer.dispose();
    tf.dispose(params);
  };
  return { trainer, W, b, dispose };
}

describe("Trainer (stand-in linear model)", () => {
  it("learns, logs TRL-style keys, evaluates with eval_ prefix", async () => {
    const dir = tmp();
    const { trainer, dispose } = linearSetup({ maxSteps: 60, batchSize: 8, evalEvery: 20, logEvery: 10 }, { outDir: dir, lr: 0.1 });
    const r = await trainer.train();
    const lines = readMetrics(path.join(dir, "metrics.jsonl"));
    const train = lines.filter((l) => "loss" in l), evals = lines.filter((l) => "eval_loss" in l);
    // every logEvery-th step, and step 1 always (the start: the policy still equals the reference)
    expect(train.map((l) => l.step)).toEqual([1, 10, 20, 30, 40, 50, 60]);
    expect(evals.map((l) => l.step)).toEqual([20, 40, 60]);
    expect(Object.keys(train[0])).toEqual(expect.arrayContaining(["step", "loss", "learning_rate", "grad_norm", "abs_err", "epoch"]));
    expect(Object.keys(evals[0])).toEqual(["step", "eval_loss", "eval_abs_err"]);
    expect(evals[2].eval_loss as number).toBeLessThan((evals[0].eval_loss as number) * 0.5);
    expect(r.finalDir && fs.existsSync(path.join(r.finalDir, "params.bin"))).toBeTruthy();
    dispose();
  });

  it("a run killed before its first checkpoint and rerun logs each step once (the dead run's lines are dropped)", async () => {
    const dir = tmp();
    const dead = linearSetup({ maxSteps: 4, batchSize: 8, logEvery: 1, checkpointEvery: 100, evalEvery: 0 }, { outDir: dir });
    await dead.trainer.train(); // stands for a run killed after step 4: metrics written, no checkpoint
    dead.dispose();
    fs.rmSync(path.join(dir, "checkpoints"), { recursive: true, force: true });
    fs.rmSync(path.join(dir, "final"), { recursive: true, force: true });
    for (const resume of [false, true]) {
      const again = linearSetup({ maxSteps: 6, batchSize: 8, logEvery: 1, checkpointEvery: 100, evalEvery: 0 }, { outDir: dir });
      if (resume) expect(again.trainer.resume()).toBe(0); // --resume without a checkpoint starts from step 0 too
      await again.trainer.train();
      again.dispose();
      fs.rmSync(path.join(dir, "final"), { recursive: true, force: true });
      expect(readMetrics(path.join(dir, "metrics.jsonl")).map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
    }
  });

  it("gradient accumulation 4×2 equals 1×8 (float32 tolerance)", async () => {
    const a = linearSetup({ maxSteps: 3, batchSize: 8, gradAccumSteps: 1, maxGradNorm: 0.5 });
    const b = linearSetup({ maxSteps: 3, batchSize: 8, gradAccumSteps: 4, maxGradNorm: 0.5 });
    const ra = await a.trainer.train(), rb = await b.trainer.train();
    ra.history.forEach((h, i) => {
      expect(rb.history[i].loss as number).toBeCloseTo(h.loss as number, 6);
      expect(rb.history[i].grad_norm as number).toBeCloseTo(h.grad_norm as number, 6);
    });
    const wa = Array.from(a.W.dataSync()), wb = Array.from(b.W.dataSync());
    wa.forEach((x, i) => expect(Math.abs(x - wb[i])).toBeLessThan(1e-6));
    expect(Math.abs(a.b.dataSync()[0] - b.b.dataSync()[0])).toBeLessThan(1e-6);
    a.dispose();
    b.dispose();
  });

  it("does not leak tensors over 200 steps", async () => {
    const { trainer, dispose } = linearSetup({ maxSteps: 5, batchSize: 4, gradAccumSteps: 2, evalEvery: 0 });
    trainer.trainStep();
    trainer.evaluate();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 200; i++) trainer.trainStep();
    trainer.evaluate();
    expect(tf.memory().numTensors).toBe(before);
    dispose();
  });

  it("stops on a NaN loss, naming the step, and keeps the last good checkpoint", async () => {
    const dir = tmp();
    const { trainer, dispose } = linearSetup({ maxSteps: 10, batchSize: 4, checkpointEvery: 4 }, { outDir: dir, nanAtStep: 7 });
    const err = await trainer.train().catch((e) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect(err.message).toMatch(/step 7: loss is NaN/);
    expect(err.message).toContain("step-00000004");
    const cks = listCheckpoints(path.join(dir, "checkpoints"));
    expect(cks.map((c) => c.step)).toEqual([4]);
    const ck = readCheckpoint(cks[0].dir);
    expect(ck.params.every((p) => p.every(Number.isFinite))).toBe(true);
    expect(trainer.step).toBe(6);
    dispose();
  });

  it("stops when a huge learning rate blows the model up", async () => {
    const dir = tmp();
    const { trainer, dispose } = linearSetup({ maxSteps: 50, batchSize: 4, checkpointEvery: 1, maxGradNorm: null }, { outDir: dir, lr: 1e38 });
    const err = await trainer.train().catch((e) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect(err.message).toMatch(/training stopped at step \d+/);
    for (const c of listCheckpoints(path.join(dir, "checkpoints")))
      expect(readCheckpoint(c.dir).params.every((p) => p.every(Number.isFinite))).toBe(true);
    dispose();
  });

  it("resume in-process continues bit-identically", async () => {
    const d1 = tmp(), d2 = tmp();
    const full = linearSetup({ maxSteps: 12, batchSize: 8, gradAccumSteps: 2, checkpointEvery: 5 }, { outDir: d1 });
    await full.trainer.train();
    full.dispose();
    const part = linearSetup({ maxSteps: 12, batchSize: 8, gradAccumSteps: 2, checkpointEvery: 5 }, { outDir: d2 });
    for (let i = 0; i < 5; i++) part.trainer.trainStep();
    part.trainer.saveCheckpoint();
    for (let i = 0; i < 3; i++) part.trainer.trainStep(); // lost work
    part.dispose();
    const again = linearSetup({ maxSteps: 12, batchSize: 8, gradAccumSteps: 2, checkpointEvery: 5 }, { outDir: d2 });
    expect(again.trainer.resume()).toBe(5);
    await again.trainer.train();
    again.dispose();
    const a = fs.readFileSync(path.join(d1, "final", "params.bin")), b = fs.readFileSync(path.join(d2, "final", "params.bin"));
    expect(Buffer.compare(a, b)).toBe(0);
  });
});

describe("checkpoint files", () => {
  it("a writer killed mid-checkpoint leaves only a temp dir, which is ignored and cleaned", async () => {
    const dir = tmp();
    const { trainer, dispose } = linearSetup({ maxSteps: 6, batchSize: 4, checkpointEvery: 3 }, { outDir: dir });
    await trainer.train();
    dispose();
    const root = path.join(dir, "checkpoints");
    // what a SIGKILL during writeCheckpoint leaves behind: a half-written temp directory
    fs.mkdirSync(path.join(root, "step-00000009.tmp-999-1"));
    fs.writeFileSync(path.join(root, "step-00000009.tmp-999-1", "params.bin"), Buffer.alloc(3));
    expect(listCheckpoints(root).map((c) => c.step)).toEqual([3, 6]);
    const again = linearSetup({ maxSteps: 6, batchSize: 4, checkpointEvery: 3 }, { outDir: dir });
    expect(again.trainer.resume()).toBe(6);
    await again.trainer.train(); // nothing left to do, but it cleans up
    again.dispose();
    expect(fs.readdirSync(root).sort()).toEqual(["step-00000003", "step-00000006"]);
    // a truncated params.bin is reported with its path, not loaded
    fs.truncateSync(path.join(root, "step-00000006", "params.bin"), 5);
    expect(() => readCheckpoint(path.join(root, "step-00000006"))).toThrow(/params\.bin: 5 bytes, expected 16/);
  });
});

describe("progress", () => {
  it("prints plain lines when not a TTY", () => {
    const out: string[] = [];
    const stream = { isTTY: false, write: (s: string) => (out.push(s), true) } as unknown as NodeJS.WriteStream;
    const p = createProgress("train", "auto", { stream, every: 2 });
    p.start(4, 0);
    for (let i = 1; i <= 4; i++) p.update(i, { loss: 0.5, tokensPerS: 1000 });
    p.stop();
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(/^train 2\/4 loss 0\.5000 tok\/s 1000 eta/);
  });
});

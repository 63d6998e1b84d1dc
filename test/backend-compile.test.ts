/**
 * Graph replay (lib/backend/compile.ts). The replay tests run on the native backend only and are skipped, saying
 * why, without it — except under CI=true after .ci/run installed it (INFIFPO_EXPECT_NATIVE=1), where a missing
 * backend fails. Elsewhere `run(fn)` is `fn()`: the last describe checks that on the cpu backend, everywhere.
 */
import { beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { availableBackends, initBackend } from "../lib/backend";
import { CompiledSite, compileAvailable } from "../lib/backend/compile";
import { batchTensors, collateForModel, collatePairs, createModel, sequenceLogProbsFromTensors, disposeModel, modelVariables, resolveModelConfig, scoreFromBatch, sequenceLogProbsFromBatch, type BatchTensors, type PairBatch } from "../lib/model";
import { Rng } from "../lib/rng";

const native = (await availableBackends()).includes("tensorflow");
const ci = !!process.env.CI && process.env.CI !== "false" && process.env.CI !== "0";
/** .ci/run exports INFIFPO_EXPECT_NATIVE=1 after `npm run native` succeeded: then a missing backend is a failure. */
const nativeRequired = ci && process.env.INFIFPO_EXPECT_NATIVE === "1";
const itNative = it.skipIf(!native);
beforeAll(async () => {
  if (native) await initBackend({ backend: "tensorflow", quiet: true });
});

const values = (ts: tf.Tensor[]) => ts.map((t) => Array.from(t.dataSync()));
/** Every number of `got` within tol · max(1, |want|) of `want` (lists of tensor values, as `values` gives). */
function expectClose(got: number[][], want: number[][], tol: number): void {
  want.forEach((w, i) => w.forEach((x, j) => expect(Math.abs(got[i][j] - x)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(x)))));
}
/** A batch's tensors as the flat list `runPure` takes, and back. */
const FIELDS = ["ids", "targets", "mask", "sel", "row", "weight"] as const;
const asList = (t: BatchTensors): tf.Tensor[] => FIELDS.map((k) => t[k]);
const fromList = (xs: tf.Tensor[]) => Object.fromEntries(FIELDS.map((k, i) => [k, xs[i]])) as BatchTensors;
function randomBatch(rng: Rng, B: number, T: number, V: number): PairBatch {
  return collatePairs(
    Array.from({ length: B }, () => ({ ids: Array.from({ length: T + 1 }, () => 3 + (rng.nextU32() % (V - 3))), responseStart: 1 + (T >> 1), promptTokensDropped: 0 })),
    0,
  );
}

describe("graph replay on the native backend", () => {
  if (!native) it.skip("SKIPPED: the native TensorFlow backend is not installed (npm run native)", () => {});
  it.runIf(nativeRequired)("the native backend loads (required: .ci/run installed it, INFIFPO_EXPECT_NATIVE=1)", () => {
    expect(native, "npm run native succeeded in .ci/run, yet the tensorflow backend does not load").toBe(true);
  });
  const model = () => createModel(resolveModelConfig({ vocabSize: 40, dModel: 32, nHeads: 4, nLayers: 2, contextLength: 16, seed: 3 }));

  itNative("is available exactly on the native backend", () => {
    expect(compileAvailable()).toBe(true);
  });

  itNative("replays forward + backward: same numbers as the trace call, eager within float32, fresh data each call", () => {
    const m = model();
    const vars = modelVariables(m);
    const rng = new Rng(5);
    const batches = [randomBatch(rng, 4, 12, 40), randomBatch(rng, 4, 12, 40), randomBatch(rng, 4, 12, 40)];
    const step = (b: PairBatch) => () => {
      const { value, grads } = tf.variableGrads(() => tf.neg(tf.mean(sequenceLogProbsFromBatch(m, b).mean)) as tf.Scalar, vars);
      return [value, ...vars.map((v) => grads[v.name])];
    };
    const site = new CompiledSite("test-step");
    const before = tf.memory().numTensors;
    const first = site.run(step(batches[0]));
    const firstVals = values(first);
    tf.dispose(first);
    for (const b of [...batches, ...batches]) {
      const eager = step(b)();
      const graph = site.run(step(b));
      const [ev, gv] = [values(eager), values(graph)];
      tf.dispose([...eager, ...graph]);
      expect(gv[0][0]).toBeCloseTo(ev[0][0], 5); // loss
      expectClose(gv, ev, 1e-4);
    }
    // the first (traced) call already returned graph results: a replay of the same batch is bit-identical
    const again = site.run(step(batches[0]));
    expect(values(again)).toEqual(firstVals);
    tf.dispose(again);
    expect(site.stats).toMatchObject({ traces: 1, replays: 7, misses: 0, eager: 0 });
    expect(tf.memory().numTensors).toBe(before);
    site.dispose();
    disposeModel(m);
  });

  itNative("traces each batch shape once, keeps the graphs, and leaks nothing on misses", () => {
    const m = model();
    const rng = new Rng(9);
    const shapes = [8, 12, 8, 16, 12, 8];
    const site = new CompiledSite("test-score");
    const before = tf.memory().numTensors;
    for (const T of shapes) {
      const b = randomBatch(rng, 3, T, 40);
      const e = sequenceLogProbsFromBatch(m, b);
      const g = site.run(() => sequenceLogProbsFromBatch(m, b));
      expect(g.sum.shape).toEqual([3]);
      Array.from(g.sum.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(e.sum.dataSync()[i], 4));
      tf.dispose([e.sum, e.mean, e.count, g.sum, g.mean, g.count]);
    }
    expect(site.stats.traces).toBe(3);
    expect(site.stats.replays).toBe(3);
    expect(tf.memory().numTensors).toBe(before);
    site.dispose();
    disposeModel(m);
  });

  itNative("guards the values that decide shapes (a reshape target), not only the shapes of uploads", () => {
    const site = new CompiledSite("test-reshape");
    const x = tf.tensor1d([1, 2, 3, 4, 5, 6]);
    for (const shape of [[2, 3], [3, 2], [2, 3], [6, 1]] as [number, number][]) {
      const y = site.run(() => tf.tidy(() => tf.mul(tf.reshape(x, shape), 2)));
      expect(y.shape).toEqual(shape);
      expect(Array.from(y.dataSync())).toEqual([2, 4, 6, 8, 10, 12]);
      y.dispose();
    }
    expect(site.stats.traces).toBe(3);
    site.dispose();
    x.dispose();
  });

  itNative("feeds every value computed in JS (scalars such as a learning rate) instead of baking it in", () => {
    const site = new CompiledSite("test-scalars");
    const w = tf.variable(tf.tensor1d([1, 2, 3]));
    for (const lr of [0.5, 0.25, 2]) {
      const next = site.run(() => tf.tidy(() => tf.sub(w, tf.mul(w, lr))));
      expect(Array.from(next.dataSync())).toEqual([1, 2, 3].map((v) => Math.fround(v - Math.fround(v * lr))));
      next.dispose();
    }
    expect(site.stats).toMatchObject({ traces: 1, replays: 2 });
    site.dispose();
    w.dispose();
  });

  itNative("falls back to eager (with its reason) when the function reads tensor data", () => {
    const site = new CompiledSite("test-read");
    const x = tf.tensor1d([1, 2, 3]);
    const before = tf.memory().numTensors;
    const err = console.error;
    const logged: string[] = [];
    console.error = (m: string) => void logged.push(m);
    try {
      for (let i = 0; i < 2; i++) {
        const y = site.run(() => tf.tidy(() => tf.mul(x, tf.sum(x).dataSync()[0])));
        expect(Array.from(y.dataSync())).toEqual([6, 12, 18]);
        y.dispose();
      }
    } finally {
      console.error = err;
    }
    expect(site.disabledReason).toMatch(/reads tensor data/);
    expect(logged.join("\n")).toMatch(/graph replay off for "test-read"/);
    expect(site.stats.eager).toBe(2);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  itNative("scoreFromBatch gives sequenceLogProbsFromBatch's numbers (float32) on repeated calls", () => {
    const m = model();
    const b = randomBatch(new Rng(2), 5, 10, 40);
    const e = sequenceLogProbsFromBatch(m, b);
    for (let i = 0; i < 3; i++) {
      const g = scoreFromBatch(m, b);
      Array.from(g.mean.dataSync()).forEach((x, j) => expect(x).toBeCloseTo(e.mean.dataSync()[j], 5));
      tf.dispose([g.sum, g.mean, g.count]);
    }
    tf.dispose([e.sum, e.mean, e.count]);
    disposeModel(m);
  });

  itNative("an out-of-range token id fails loudly in a replayed graph too (TensorFlow checks the gather)", () => {
    const m = model();
    const site = new CompiledSite("test-range");
    const ok = randomBatch(new Rng(3), 2, 6, 40);
    const r = site.run(() => sequenceLogProbsFromBatch(m, ok));
    tf.dispose([r.sum, r.mean, r.count]);
    const bad = { ...ok, inputIds: ok.inputIds.map((v, i) => (i === 3 ? 99 : v)) as Int32Array };
    expect(() => site.run(() => sequenceLogProbsFromBatch(m, bad))).toThrow(/indices\[3\] = 99 is not in \[0, 40\)/);
    site.dispose();
    disposeModel(m);
  });

  itNative("training batches are padded to multiples of 8 within the context (few graph shapes), not at all without replay", () => {
    const m = model(); // context 16
    const pair = (n: number) => ({ ids: Array.from({ length: n + 1 }, () => 3), responseStart: 1, promptTokensDropped: 0 });
    expect([1, 7, 8, 9, 13, 16].map((n) => collateForModel(m, [pair(2), pair(n)], 0).length)).toEqual([8, 8, 8, 16, 16, 16]);
    process.env.INFIFPO_COMPILE = "0";
    try {
      expect(collateForModel(m, [pair(5)], 0).length).toBe(5);
    } finally {
      delete process.env.INFIFPO_COMPILE;
    }
    disposeModel(m);
  });

  itNative("runPure replays without running the function: same numbers as op by op, fresh inputs and variables each call", () => {
    const m = model();
    const vars = modelVariables(m);
    const rng = new Rng(8);
    const batches = Array.from({ length: 6 }, () => randomBatch(rng, 4, 12, 40));
    let jsRuns = 0;
    const step = (xs: tf.Tensor[]) => {
      jsRuns++;
      const { value, grads } = tf.variableGrads(() => tf.neg(tf.mean(sequenceLogProbsFromTensors(m, fromList(xs)).mean)) as tf.Scalar, vars);
      return { loss: value, grads: vars.map((v) => grads[v.name]), tag: "kept" };
    };
    const site = new CompiledSite("test-pure");
    const before = tf.memory().numTensors;
    for (const [i, b] of [...batches, ...batches].entries()) {
      const xs = asList(batchTensors(b));
      const eager = tf.tidy(() => { const r = step(xs); return [r.loss, ...r.grads]; });
      const out = site.runPure(xs, step);
      expect(out.tag).toBe("kept");
      const [ev, gv] = [values(eager), values([out.loss, ...out.grads])];
      tf.dispose([...eager, out.loss, ...out.grads, ...xs]);
      expectClose(gv, ev, 1e-4);
      if (i === 6) {
        // the parameters change between calls (an optimizer step): the pure replay reads their new values
        const moved = tf.tidy(() => tf.add(vars[0], 0.01));
        vars[0].assign(moved);
        moved.dispose();
      }
    }
    // 12 eager calls + the trace + the 2 verification calls ran the JS; the 9 other calls did not
    expect(jsRuns).toBe(12 + 3);
    expect(site.stats.pureReplays).toBe(9);
    expect(tf.memory().numTensors).toBe(before);
    site.dispose();
    disposeModel(m);
  });

  itNative("runPure fails loudly when the function reads a JS value that changes between calls", () => {
    const w = tf.variable(tf.tensor1d([1, 2, 3]));
    const site = new CompiledSite("test-impure");
    let lr = 0.1;
    const x = tf.tensor1d([1, 1, 1]);
    const call = () => {
      const [y] = site.runPure([x], ([xi]) => [tf.tidy(() => tf.mul(tf.add(xi, w), lr))]);
      const v = Array.from(y.dataSync());
      y.dispose();
      return v;
    };
    expect(call()[0]).toBeCloseTo(0.2, 6);
    lr = 0.5; // not an input: the verification replay sees a different constant
    expect(() => call()).toThrow(/changed between calls.*JS values/);
    site.dispose();
    tf.dispose([w, x]);
  });

  itNative("runPure falls back to guarded replay when the function leaves tensors alive outside its result", () => {
    const site = new CompiledSite("test-escape");
    const x = tf.tensor1d([1, 2]);
    const kept: tf.Tensor[] = [];
    for (let i = 0; i < 5; i++) {
      const [y] = site.runPure([x], ([xi]) => {
        kept.push(tf.keep(tf.mul(xi, 3)));
        return [tf.add(xi, 1)];
      });
      expect(Array.from(y.dataSync())).toEqual([2, 3]);
      expect(Array.from(kept[i].dataSync())).toEqual([3, 6]); // patched by the guarded replay
      y.dispose();
    }
    expect(site.stats.pureReplays).toBe(0);
    expect(site.stats.replays).toBe(4);
    site.dispose();
    tf.dispose([x, ...kept]);
  });

  itNative("INFIFPO_COMPILE=0 runs op by op", () => {
    process.env.INFIFPO_COMPILE = "0";
    try {
      const site = new CompiledSite("test-off");
      const y = site.run(() => tf.add(tf.scalar(1), 2));
      expect(y.dataSync()[0]).toBe(3);
      y.dispose();
      expect(site.stats).toMatchObject({ eager: 1, traces: 0 });
    } finally {
      delete process.env.INFIFPO_COMPILE;
    }
  });
});

describe("graph replay elsewhere", () => {
  it("on a backend other than the native one, run(fn) is fn(): no trace, no replay, same result", async () => {
    const prev = tf.getBackend();
    await initBackend({ backend: "cpu", quiet: true });
    try {
      expect(compileAvailable()).toBe(false);
      const site = new CompiledSite("test-cpu");
      let calls = 0;
      for (let i = 0; i < 3; i++) {
        const y = site.run(() => {
          calls++;
          return tf.add(tf.scalar(i), 2);
        });
        expect(y.dataSync()[0]).toBe(i + 2);
        y.dispose();
      }
      expect(calls).toBe(3);
      expect(site.stats).toMatchObject({ eager: 3, traces: 0, replays: 0 });
    } finally {
      if (native && prev === "tensorflow") await initBackend({ backend: "tensorflow", quiet: true });
    }
  });
});

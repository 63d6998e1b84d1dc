import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../lib/errors";
import {
  collatePairs,
  countParameters,
  createModel,
  describeModel,
  disposeModel,
  encodePair,
  forward,
  MODEL_PRESETS,
  modelVariables,
  namedParameters,
  resolveModelConfig,
  sequenceLogProbsFromBatch,
  trunk,
  cloneModel,
} from "../lib/model";
import { CharTokenizer } from "../lib/tokenizers";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const tok = new CharTokenizer({ alphabet: "0123456789+=", fallback: "unk" }); // 16 ids
const tinyCfg = (o = {}) => resolveModelConfig("tiny", { vocabSize: tok.vocabSize, ...o });

describe("config", () => {
  it("resolves presets and rejects unknown keys, presets and bad shapes", () => {
    expect(resolveModelConfig("lab")).toMatchObject({ dModel: 64, nLayers: 2, nHeads: 4, contextLength: 64, mlpRatio: 4 });
    expect(resolveModelConfig("bench-small", { seed: 5 }).seed).toBe(5);
    expect(() => resolveModelConfig("lab", { dmodel: 3 } as never)).toThrow(/unknown model config key "dmodel"/);
    expect(() => resolveModelConfig("huge")).toThrow(UserError);
    expect(() => resolveModelConfig("lab", { nHeads: 3 })).toThrow(/divisible/);
    expect(() => resolveModelConfig("lab", { nLayers: 0 })).toThrow(/nLayers/);
    expect(Object.keys(MODEL_PRESETS)).toEqual(["tiny", "lab", "bench-small"]);
  });

  it("parameter count: hand formula = sum of variable sizes; lab = 111,232 (lab-scale.md)", () => {
    expect(countParameters(resolveModelConfig("lab"))).toBe(111_232);
    for (const cfg of [tinyCfg(), tinyCfg({ tieEmbeddings: true }), tinyCfg({ mlpRatio: 2, nLayers: 3 }), resolveModelConfig("lab")]) {
      const m = createModel(cfg);
      const V = cfg.vocabSize, D = cfg.dModel, C = cfg.contextLength, L = cfg.nLayers, M = cfg.mlpRatio * D;
      const hand = V * D + C * D + L * (2 * D + 3 * D * D + 3 * D + D * D + D + 2 * D + D * M + M + M * D + D) + 2 * D + (cfg.tieEmbeddings ? 0 : D * V);
      const actual = modelVariables(m).reduce((n, v) => n + v.size, 0);
      expect(actual).toBe(hand);
      expect(countParameters(cfg)).toBe(hand);
      expect(describeModel(m)).toContain(hand.toLocaleString("en-US"));
      disposeModel(m);
    }
  });
});

describe("initialisation", () => {
  it("same seed ⇒ bit-identical weights; another seed differs; GPT-2 statistics", () => {
    const a = createModel(tinyCfg({ seed: 11 }));
    const b = createModel(tinyCfg({ seed: 11 }));
    const c = createModel(tinyCfg({ seed: 12 }));
    const pa = namedParameters(a), pb = namedParameters(b), pc = namedParameters(c);
    pa.forEach(([n, v], i) => {
      expect(pb[i][0]).toBe(n);
      expect(Buffer.from(v.dataSync().buffer).equals(Buffer.from(pb[i][1].dataSync().buffer))).toBe(true);
    });
    expect(Array.from(pa[0][1].dataSync())).not.toEqual(Array.from(pc[0][1].dataSync()));
    const lab = createModel(resolveModelConfig("lab"));
    const std = (v: tf.Variable) => tf.tidy(() => Math.sqrt(tf.moments(v).variance.dataSync()[0]));
    const p = new Map(namedParameters(lab));
    expect(std(p.get("wte")!)).toBeCloseTo(0.02, 3);
    expect(std(p.get("h.0.mlp.fc.w")!)).toBeCloseTo(0.02, 3);
    expect(std(p.get("h.0.attn.proj.w")!)).toBeCloseTo(0.02 / Math.sqrt(4), 3);
    expect(Array.from(p.get("h.1.ln2.g")!.dataSync()).every((x) => x === 1)).toBe(true);
    expect(Array.from(p.get("h.1.attn.qkv.b")!.dataSync()).every((x) => x === 0)).toBe(true);
    [a, b, c, lab].forEach(disposeModel);
  });

  it("cloneModel copies weights into independent variables", () => {
    const a = createModel(tinyCfg());
    const b = cloneModel(a, { trainable: false });
    expect(b.trainable).toBe(false);
    expect(Array.from(b.params.wte.dataSync())).toEqual(Array.from(a.params.wte.dataSync()));
    a.params.wte.assign(tf.zerosLike(a.params.wte));
    expect(b.params.wte.dataSync()[0]).not.toBe(0);
    disposeModel(a);
    disposeModel(b);
  });
});

describe("forward", () => {
  it("shapes, and the context limit", () => {
    const m = createModel(tinyCfg());
    const C = m.config.contextLength;
    tf.tidy(() => {
      expect(forward(m, tf.zeros([3, 5], "int32") as tf.Tensor2D).shape).toEqual([3, 5, tok.vocabSize]);
      expect(forward(m, tf.zeros([1, C], "int32") as tf.Tensor2D).shape).toEqual([1, C, tok.vocabSize]);
      expect(() => forward(m, tf.zeros([1, C + 1], "int32") as tf.Tensor2D)).toThrow(/context length/);
    });
    disposeModel(m);
  });

  it("is causal: changing a future token leaves earlier logits exactly unchanged", () => {
    const m = createModel(tinyCfg({ seed: 2 }));
    const base = [1, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    const j = 6;
    const alt = base.slice();
    alt[j] = 3;
    const [la, lb] = tf.tidy(() => [
      forward(m, tf.tensor2d([base], [1, 10], "int32")).arraySync()[0],
      forward(m, tf.tensor2d([alt], [1, 10], "int32")).arraySync()[0],
    ]);
    for (let t = 0; t < j; t++) expect(lb[t]).toEqual(la[t]);
    for (let t = j; t < 10; t++) expect(lb[t]).not.toEqual(la[t]);
    disposeModel(m);
  });

  it("KV-cached trunk (prefill + one position at a time) matches the full pass", () => {
    const m = createModel(tinyCfg({ seed: 5 }));
    const ids = [1, 4, 9, 6, 7, 13, 2];
    const full = tf.tidy(() => trunk(m, tf.tensor2d([ids], [1, 7], "int32")).h.arraySync());
    let cache = tf.tidy(() => trunk(m, tf.tensor2d([ids.slice(0, 3)], [1, 3], "int32"), { keepCache: true }).cache!);
    for (let t = 3; t < 7; t++) {
      const past = cache;
      const r = tf.tidy(() => {
        const o = trunk(m, tf.tensor2d([[ids[t]]], [1, 1], "int32"), { past });
        return { h: o.h, cache: o.cache! };
      });
      past.forEach((c) => (c.k.dispose(), c.v.dispose()));
      cache = r.cache;
      const step = r.h.arraySync()[0];
      r.h.dispose();
      step.forEach((v, k) => expect(v).toBeCloseTo(full[t][k], 5));
    }
    cache.forEach((c) => (c.k.dispose(), c.v.dispose()));
    disposeModel(m);
  });
});

describe("gradients", () => {
  it("flow to every variable through sequenceLogProbsFromBatch", () => {
    const m = createModel(tinyCfg({ seed: 1 }));
    const batch = collatePairs(
      [encodePair(tok, "1+2=", "3", 16), encodePair(tok, "12+30=", "42", 16)],
      tok.padId,
    );
    const { value, grads } = tf.variableGrads(
      () => tf.neg(tf.mean(sequenceLogProbsFromBatch(m, batch).mean)) as tf.Scalar,
      modelVariables(m),
    );
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    for (const [name, v] of namedParameters(m)) {
      const g = grads[v.name];
      expect(g, name).toBeDefined();
      const norm = tf.tidy(() => tf.norm(g).dataSync()[0]);
      expect(norm, name).toBeGreaterThan(0);
      expect(Number.isFinite(norm), name).toBe(true);
    }
    value.dispose();
    tf.dispose(grads);
    disposeModel(m);
  });
});

describe("memory", () => {
  it("forward, gradient steps and clone/dispose leave no tensors behind", () => {
    const m = createModel(tinyCfg());
    const ids = tf.ones([2, 4], "int32") as tf.Tensor2D;
    const n0 = tf.memory().numTensors;
    tf.dispose(forward(m, ids));
    expect(tf.memory().numTensors).toBe(n0);
    ids.dispose();
    const batch = collatePairs([encodePair(tok, "1=", "1", 16)], tok.padId);
    const n1 = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const { value, grads } = tf.variableGrads(() => tf.sum(sequenceLogProbsFromBatch(m, batch).sum) as tf.Scalar, modelVariables(m));
      value.dispose();
      tf.dispose(grads);
    }
    expect(tf.memory().numTensors).toBe(n1);
    const c = cloneModel(m);
    disposeModel(c);
    expect(tf.memory().numTensors).toBe(n1);
    disposeModel(m);
  });
});

/**
 * The tensor forward pass against a slow, obvious float64 re-implementation in plain JS (style.md §7):
 * same weights, written loop by loop from nanoGPT's definition. Also the response log-probs of one pair
 * recomputed in float64 from those reference logits.
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  createModel,
  encodePair,
  forward,
  namedParameters,
  resolveModelConfig,
  sequenceLogProbs,
  type Model,
} from "../lib/model";
import { CharTokenizer } from "../lib/tokenizers";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** erf in float64: Taylor series for |x| < 3, asymptotic erfc beyond (abs. error < 1e-9 at this scale). */
function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  if (a < 3) {
    let term = a, sum = a;
    for (let n = 1; n < 80; n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return (s * 2 * sum) / Math.sqrt(Math.PI);
  }
  const x2 = a * a;
  const series = 1 - 1 / (2 * x2) + 3 / (4 * x2 * x2) - 15 / (8 * x2 ** 3) + 105 / (16 * x2 ** 4);
  return s * (1 - (Math.exp(-x2) / (a * Math.sqrt(Math.PI))) * series);
}

/** Reference logits [T][V] for one sequence, in float64. */
function referenceLogits(model: Model, ids: number[]): number[][] {
  const c = model.config;
  const D = c.dModel, H = c.nHeads, d = D / H, V = c.vocabSize, M = c.mlpRatio * D, T = ids.length;
  const P = new Map(namedParameters(model).map(([n, v]) => [n, Float64Array.from(v.dataSync())]));
  const W = (n: string) => P.get(n)!;
  const ln = (x: number[], g: Float64Array, b: Float64Array) => {
    const mu = x.reduce((a, v) => a + v, 0) / x.length;
    const va = x.reduce((a, v) => a + (v - mu) ** 2, 0) / x.length;
    return x.map((v, i) => ((v - mu) / Math.sqrt(va + c.layerNormEps)) * g[i] + b[i]);
  };
  // y = x · W + b with W row-major [inDim, outDim]
  const dense = (x: number[], w: Float64Array, b: Float64Array | null, outDim: number) => {
    const y = new Array<number>(outDim).fill(0);
    for (let i = 0; i < x.length; i++) for (let j = 0; j < outDim; j++) y[j] += x[i] * w[i * outDim + j];
    if (b) for (let j = 0; j < outDim; j++) y[j] += b[j];
    return y;
  };
  let x = ids.map((id, t) => Array.from({ length: D }, (_, j) => W("wte")[id * D + j] + W("wpe")[t * D + j]));
  for (let l = 0; l < c.nLayers; l++) {
    const pre = `h.${l}.`;
    const qkv = x.map((row) => dense(ln(row, W(pre + "ln1.g"), W(pre + "ln1.b")), W(pre + "attn.qkv.w"), W(pre + "attn.qkv.b"), 3 * D));
    const y = x.map(() => new Array<number>(D).fill(0));
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        const scores: number[] = [];
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let j = 0; j < d; j++) dot += qkv[t][h * d + j] * qkv[s][D + h * d + j];
          scores.push(dot / Math.sqrt(d));
        }
        const mx = Math.max(...scores);
        const e = scores.map((v) => Math.exp(v - mx));
        const z = e.reduce((a, v) => a + v, 0);
        for (let s = 0; s <= t; s++) for (let j = 0; j < d; j++) y[t][h * d + j] += (e[s] / z) * qkv[s][2 * D + h * d + j];
      }
    }
    x = x.map((row, t) => {
      const a = dense(y[t], W(pre + "attn.proj.w"), W(pre + "attn.proj.b"), D);
      return row.map((v, j) => v + a[j]);
    });
    x = x.map((row) => {
      const hid = dense(ln(row, W(pre + "ln2.g"), W(pre + "ln2.b")), W(pre + "mlp.fc.w"), W(pre + "mlp.fc.b"), M);
      const g = hid.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
      const o = dense(g, W(pre + "mlp.proj.w"), W(pre + "mlp.proj.b"), D);
      return row.map((v, j) => v + o[j]);
    });
  }
  return x.map((row) => {
    const h = ln(row, W("lnf.g"), W("lnf.b"));
    if (c.tieEmbeddings) {
      return Array.from({ length: V }, (_, v) => h.reduce((a, hv, j) => a + hv * W("wte")[v * D + j], 0));
    }
    return dense(h, W("head"), null, V);
  });
}

/** A model with non-trivial weights: GPT-2 init is so small that attention is nearly uniform. */
function bumpedModel(overrides: Parameters<typeof resolveModelConfig>[1]): Model {
  const model = createModel(resolveModelConfig("tiny", overrides));
  for (const [name, v] of namedParameters(model)) {
    const scale = name.endsWith(".g") ? 0.3 : 8;
    v.assign(tf.tidy(() => tf.add(v, tf.mul(tf.randomNormal(v.shape, 0, 0.02 * scale, "float32", 7 + v.size), 1))));
  }
  return model;
}

describe("forward vs float64 reference", () => {
  for (const variant of [
    { name: "untied", cfg: { vocabSize: 19, seed: 3 } },
    { name: "tied, mlp 2x, 4 heads", cfg: { vocabSize: 19, seed: 4, tieEmbeddings: true, mlpRatio: 2, nHeads: 4 } },
  ]) {
    it(`matches logits (${variant.name})`, () => {
      const model = bumpedModel(variant.cfg);
      const seqs = [
        [1, 5, 9, 3, 17, 2, 8, 8, 4],
        [1, 18, 0, 7, 7, 7, 11, 12, 13],
      ];
      const got = tf.tidy(() => forward(model, tf.tensor2d(seqs, [2, 9], "int32")).arraySync());
      let maxErr = 0, maxAbs = 0;
      seqs.forEach((ids, b) => {
        const ref = referenceLogits(model, ids);
        ref.forEach((row, t) =>
          row.forEach((v, k) => {
            maxErr = Math.max(maxErr, Math.abs(v - got[b][t][k]));
            maxAbs = Math.max(maxAbs, Math.abs(v));
          }),
        );
      });
      expect(maxAbs).toBeGreaterThan(0.05); // the check is not vacuous
      expect(maxErr).toBeLessThan(2e-5);
    });
  }
});

describe("sequenceLogProbs vs float64 recomputation", () => {
  it("one pair: sum, mean and count from float64 log-softmax of the reference logits", async () => {
    const tok = new CharTokenizer({ alphabet: "0123456789+=abcde", fallback: "unk" }); // 4 + 17 = 21 ids
    const model = bumpedModel({ vocabSize: tok.vocabSize, seed: 9 });
    const prompt = "12+7=", response = "19";
    const enc = encodePair(tok, prompt, response, model.config.contextLength);
    const ref = referenceLogits(model, enc.ids.slice(0, -1));
    let sum = 0;
    for (let t = enc.responseStart - 1; t < enc.ids.length - 1; t++) {
      const row = ref[t];
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0));
      sum += row[enc.ids[t + 1]] - lse;
    }
    const count = tok.encode(response).length + 1; // EOS counts
    const [s] = await sequenceLogProbs(model, tok, [{ prompt, response }]);
    expect(s.count).toBe(count);
    expect(Math.abs(s.sum - sum)).toBeLessThan(1e-4);
    expect(Math.abs(s.mean - sum / count)).toBeLessThan(1e-4);
    expect(sum).toBeLessThan(-1); // not vacuous
  });
});

/**
 * Numbers pinned from PyTorch 2.13 in float64 (an independent implementation: F.layer_norm, F.gelu (erf),
 * masked_fill causal softmax, log_softmax), for the `tiny` preset at vocab 16, seed 0, every parameter × 8.
 * This also pins the seeded initialiser (lib/rng streams): changing it changes these numbers. Regenerate with
 * scripts/pins/dump-tiny-model.ts + scripts/pins/torch_logprobs.py (their header says how).
 */
const TORCH_FLOAT64 = [
  { prompt: "1+2=", response: "3", sum: -16.245756394926666, count: 2 },
  { prompt: "12+34=", response: "46", sum: -10.08351938603681, count: 3 },
  { prompt: "", response: "7", sum: -27.36225340454497, count: 2 },
  { prompt: "99+1=", response: "100", sum: -53.195279423710716, count: 4 },
];

describe("sequenceLogProbs vs PyTorch float64 (pinned)", () => {
  it("matches sums, means and counts for four pairs", async () => {
    const tok = new CharTokenizer({ alphabet: "0123456789+=", fallback: "unk" });
    const model = createModel(resolveModelConfig("tiny", { vocabSize: tok.vocabSize, seed: 0 }));
    for (const [, v] of namedParameters(model)) v.assign(tf.tidy(() => tf.mul(v, 8)));
    const got = await sequenceLogProbs(model, tok, TORCH_FLOAT64, { batchSize: 3 });
    TORCH_FLOAT64.forEach((ref, i) => {
      expect(got[i].count).toBe(ref.count);
      expect(Math.abs(got[i].sum - ref.sum)).toBeLessThan(1e-5 * Math.abs(ref.sum));
      expect(Math.abs(got[i].mean - ref.sum / ref.count)).toBeLessThan(1e-5 * Math.abs(ref.sum / ref.count));
    });
  });
});

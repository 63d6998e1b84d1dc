import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../lib/errors";
import {
  batchTensors,
  collatePairs,
  createModel,
  disposeModel,
  encodePair,
  modelVariables,
  namedParameters,
  resolveModelConfig,
  sequenceLogProbs,
  sequenceLogProbsFromBatch,
  sequenceLogProbsFromTensors,
  tokenLogProbs,
} from "../lib/model";
import { CharTokenizer, encodePromptResponse } from "../lib/tokenizers";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const tok = new CharTokenizer({ alphabet: "0123456789+=abcdefgh", fallback: "unk" }); // 24 ids
const C = 16;

function model(seed = 0) {
  const m = createModel(resolveModelConfig("tiny", { vocabSize: tok.vocabSize, contextLength: C, seed }));
  // Larger weights than GPT-2 init, so pairs' scores differ clearly.
  for (const [, v] of namedParameters(m)) v.assign(tf.tidy(() => tf.mul(v, 6)));
  return m;
}

const PAIRS = [
  { prompt: "1+2=", response: "3" },
  { prompt: "12+34=", response: "46" },
  { prompt: "", response: "abc" },
  { prompt: "7=", response: "" },
  { prompt: "99+99+99=", response: "297" },
  { prompt: "a", response: "bcdefgh" },
  { prompt: "1+1=", response: "2" },
];

describe("encodePair", () => {
  it("is [BOS] + prompt + response + [EOS], as tokenizers' encodePromptResponse; EOS is a response token", () => {
    const e = encodePair(tok, "12+3=", "15", C);
    const ref = encodePromptResponse(tok, "12+3=", "15");
    expect(e.ids).toEqual(ref.ids);
    expect(e.responseStart).toBe(ref.responseStart);
    expect(e.ids.length - e.responseStart).toBe(3); // "1", "5", EOS
    expect(e.promptTokensDropped).toBe(0);
  });

  it("truncates the prompt from the left (BOS kept), or errors; a too-long response is a UserError", () => {
    const prompt = "0123456789+0123456789=", response = "abc"; // 22 + 4 ids, C = 16 inputs
    const e = encodePair(tok, prompt, response, C);
    expect(e.ids.length).toBe(C + 1);
    expect(e.ids[0]).toBe(tok.bosId);
    expect(e.ids.slice(1, e.responseStart)).toEqual(tok.encode(prompt).slice(-12));
    expect(e.promptTokensDropped).toBe(10);
    expect(() => encodePair(tok, prompt, response, C, "error")).toThrow(UserError);
    expect(() => encodePair(tok, "", "abcdefghabcdefgh", C)).toThrow(/response needs 17 tokens/);
    expect(encodePair(tok, "", "abcdefghabcdefg", C).ids.length).toBe(C + 1); // exactly fits
  });

  it("collatePairs right-pads and masks exactly the response targets", () => {
    const b = collatePairs([encodePair(tok, "1=", "2", C), encodePair(tok, "12=", "34", C)], tok.padId);
    expect(b.length).toBe(6);
    // row 0: targets "1" "=" "2" EOS pad pad; row 1: "1" "2" "=" "3" "4" EOS
    expect(Array.from(b.mask)).toEqual([0, 0, 1, 1, 0, 0, /**/ 0, 0, 0, 1, 1, 1]);
    expect(Array.from(b.inputIds.subarray(4, 6))).toEqual([tok.padId, tok.padId]);
    expect(b.targets[3]).toBe(tok.eosId);
    expect(b.targets[11]).toBe(tok.eosId);
  });
});

describe("sequenceLogProbs", () => {
  it("a pair's result does not depend on the batch: sizes 1, 2, 3, 7 and reversed order agree exactly (cpu)", async () => {
    const m = model(1);
    const ref = await sequenceLogProbs(m, tok, PAIRS, { batchSize: 1 });
    for (const bs of [2, 3, 7]) expect(await sequenceLogProbs(m, tok, PAIRS, { batchSize: bs })).toEqual(ref);
    const rev = await sequenceLogProbs(m, tok, [...PAIRS].reverse(), { batchSize: 4 });
    expect(rev.reverse()).toEqual(ref);
    // and the tensor form on an arbitrary, unsorted batch
    const enc = PAIRS.map((p) => encodePair(tok, p.prompt, p.response, C));
    const r = sequenceLogProbsFromBatch(m, collatePairs([enc[4], enc[0], enc[5]], tok.padId));
    expect(Array.from(r.sum.dataSync())).toEqual([ref[4].sum, ref[0].sum, ref[5].sum]);
    tf.dispose([r.sum, r.mean, r.count]);
    // not vacuous: pairs score differently
    expect(new Set(ref.map((s) => s.sum)).size).toBe(PAIRS.length);
    disposeModel(m);
  });

  it("counts response tokens + EOS; mean = sum / count; sums are ≤ 0", async () => {
    const m = model(2);
    const res = await sequenceLogProbs(m, tok, PAIRS);
    res.forEach((s, i) => {
      expect(s.count).toBe(tok.encode(PAIRS[i].response).length + 1);
      expect(s.mean).toBeCloseTo(s.sum / s.count, 6);
      expect(s.sum).toBeLessThan(0);
    });
    disposeModel(m);
  });

  it("a left-truncated prompt is scored with the tokens that fit, and reported", async () => {
    const m = model(3);
    const long = "0123456789+0123456789=";
    const [a] = await sequenceLogProbs(m, tok, [{ prompt: long, response: "abc" }]);
    const [b] = await sequenceLogProbs(m, tok, [{ prompt: long.slice(10), response: "abc" }]);
    expect(a.promptTokensDropped).toBe(10);
    expect(a.sum).toBe(b.sum);
    await expect(sequenceLogProbs(m, tok, [{ prompt: long, response: "abc" }], { truncate: "error" })).rejects.toThrow(UserError);
    disposeModel(m);
  });

  it("rejects a tokenizer larger than the model's vocabulary", async () => {
    const m = createModel(resolveModelConfig("tiny", { vocabSize: 10 }));
    await expect(sequenceLogProbs(m, tok, PAIRS)).rejects.toThrow(/tokenizer has 24 ids/);
    disposeModel(m);
  });

  it("leaves no tensors behind", async () => {
    const m = model(4);
    await sequenceLogProbs(m, tok, PAIRS, { batchSize: 3 }); // warm-up
    const n0 = tf.memory().numTensors;
    await sequenceLogProbs(m, tok, PAIRS, { batchSize: 3 });
    const batch = collatePairs(PAIRS.map((p) => encodePair(tok, p.prompt, p.response, C)), tok.padId);
    tf.tidy(() => {
      sequenceLogProbsFromBatch(m, batch);
    });
    expect(tf.memory().numTensors).toBe(n0);
    disposeModel(m);
  });

  it("reports progress per batch", async () => {
    const m = model(5);
    const seen: [number, number][] = [];
    await sequenceLogProbs(m, tok, PAIRS, { batchSize: 3, onProgress: (d, t) => seen.push([d, t]) });
    expect(seen).toEqual([[3, 7], [6, 7], [7, 7]]);
    disposeModel(m);
  });
});

describe("sequenceLogProbsFromTensors", () => {
  it("runs the head on the response positions only and gives the full head's masked sums and gradients", () => {
    const m = model(4);
    const vars = modelVariables(m);
    // responses of different lengths (7 response positions: K = 64 rows, the rest padding with weight 0)
    const batch = collatePairs(PAIRS.slice(0, 3).map((p) => encodePair(tok, p.prompt, p.response, C)), tok.padId);
    const t = batchTensors(batch);
    expect(t.sel.shape).toEqual([Math.min(64, batch.batchSize * batch.length)]);
    const run = (sums: () => tf.Tensor1D) =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(sums(), tf.tensor1d([1, -0.5, 2]))) as tf.Scalar, vars);
        return [sums(), value, ...vars.map((v) => grads[v.name])].map((x) => Array.from(x.dataSync()));
      });
    const selected = run(() => sequenceLogProbsFromTensors(m, t).sum);
    const full = run(() => tf.sum(tf.mul(tokenLogProbs(m, t.ids, t.targets), t.mask), 1) as tf.Tensor1D); // every position's head
    full.forEach((want, i) => want.forEach((x, j) => expect(Math.abs(selected[i][j] - x)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(x)))));
    expect(full[2].some((g) => Math.abs(g) > 1e-4)).toBe(true); // the gradients are not trivially zero
    tf.dispose(Object.values(t));
    disposeModel(m);
  });
});

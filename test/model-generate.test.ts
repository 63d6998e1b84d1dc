import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../lib/errors";
import {
  createModel,
  disposeModel,
  forward,
  generate,
  generateIds,
  greedyMatches,
  namedParameters,
  pickToken,
  resolveModelConfig,
} from "../lib/model";
import { Rng } from "../lib/rng";
import { CharTokenizer } from "../lib/tokenizers";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const tok = new CharTokenizer({ alphabet: "0123456789+=", fallback: "unk" }); // 16 ids
const C = 16;

function model(seed = 0) {
  const m = createModel(resolveModelConfig("tiny", { vocabSize: tok.vocabSize, contextLength: C, seed }));
  for (const [, v] of namedParameters(m)) v.assign(tf.tidy(() => tf.mul(v, 8))); // peakier, varied outputs
  return m;
}

const PROMPTS = ["1+2=", "12+34=", "5", "9+9=", "0", "77+1="];

/** Greedy decoding the slow way: a full forward per token, argmax of the last position. */
function greedyByForward(m: ReturnType<typeof model>, ids: number[], maxNew: number, stop: number): number[] {
  const seq = [...ids];
  const out: number[] = [];
  for (let i = 0; i < maxNew && seq.length <= C; i++) {
    const last = tf.tidy(() => {
      const l = forward(m, tf.tensor2d([seq], [1, seq.length], "int32"));
      return Array.from(l.slice([0, seq.length - 1, 0], [1, 1, -1]).dataSync());
    });
    const next = last.indexOf(Math.max(...last));
    if (next === stop) break;
    out.push(next);
    seq.push(next);
  }
  return out;
}

describe("generate", () => {
  it("greedy: KV cache = no cache = argmax of full forward passes", async () => {
    const m = model(1);
    const cached = await generate(m, tok, PROMPTS, { maxNewTokens: 8 });
    const plain = await generate(m, tok, PROMPTS, { maxNewTokens: 8, useCache: false });
    expect(cached).toEqual(plain);
    PROMPTS.forEach((p, i) => {
      expect(cached[i].ids).toEqual(greedyByForward(m, [tok.bosId, ...tok.encode(p)], 8, tok.eosId));
      expect(cached[i].text).toBe(tok.decode(cached[i].ids));
    });
    expect(new Set(cached.map((g) => g.text)).size).toBeGreaterThan(1); // not vacuous
    disposeModel(m);
  });

  it("sampling is deterministic per seed and independent of batch size and of the other prompts", async () => {
    const m = model(2);
    const opts = { maxNewTokens: 10, temperature: 1.2, topK: 8, seed: 42, stopToken: null };
    const a = await generate(m, tok, PROMPTS, { ...opts, batchSize: 64 });
    const b = await generate(m, tok, PROMPTS, { ...opts, batchSize: 1 });
    const c = await generate(m, tok, PROMPTS, { ...opts, seed: 43 });
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    const noCache = await generate(m, tok, PROMPTS, { ...opts, useCache: false });
    expect(noCache).toEqual(a);
    disposeModel(m);
  });

  it("rows that stop early leave the batch (compaction) without changing any row's output; streams keep draws across splits", async () => {
    const m = model(4);
    // 40 prompts of one length: one chunk; a frequent stop id makes rows end at many different steps
    const prompts = Array.from({ length: 40 }, (_, i) => `${10 + i}+1=`);
    const opts = { maxNewTokens: 10, temperature: 1.5, seed: 7, stopToken: tok.encode("1")[0] };
    const batched = await generate(m, tok, prompts, { ...opts, batchSize: 64 });
    const lengths = new Set(batched.map((g) => g.ids.length));
    expect(lengths.size).toBeGreaterThan(3); // rows did stop at different steps, so the batch was compacted
    expect(batched.some((g) => g.finish === "stop") && batched.some((g) => g.finish === "length")).toBe(true);
    expect(await generate(m, tok, prompts, { ...opts, batchSize: 1 })).toEqual(batched);
    expect(await generate(m, tok, prompts, { ...opts, useCache: false })).toEqual(batched);
    // the second half alone, with its streams: the same draws as in the whole list
    const half = await generate(m, tok, prompts.slice(20), { ...opts, streams: Array.from({ length: 20 }, (_, i) => 20 + i) });
    expect(half).toEqual(batched.slice(20));
    await expect(generate(m, tok, prompts, { ...opts, streams: [1] })).rejects.toThrow(/streams has 1 entries for 40 prompts/);
    disposeModel(m);
  });

  it("topK 1 sampling equals greedy; stop token ends a row; maxNewTokens and context limits", async () => {
    const m = model(3);
    const greedy = await generate(m, tok, PROMPTS, { maxNewTokens: 6, stopToken: null });
    const top1 = await generate(m, tok, PROMPTS, { maxNewTokens: 6, stopToken: null, temperature: 3, topK: 1, seed: 9 });
    expect(top1.map((g) => g.ids)).toEqual(greedy.map((g) => g.ids));
    expect(greedy.every((g) => g.ids.length === 6 && g.finish === "length")).toBe(true);
    // Stop at the token greedy would produce third: the row ends after two tokens.
    const stop = greedy[0].ids[2];
    const [s] = await generateIds(m, [[tok.bosId, ...tok.encode(PROMPTS[0])]], { maxNewTokens: 6, stopToken: stop });
    const firstStop = greedy[0].ids.indexOf(stop);
    expect(s).toEqual({ ids: greedy[0].ids.slice(0, firstStop), finish: "stop" });
    // A 14-id prompt in a 16-position context: inputs of 14, 15, 16 positions → 3 tokens, then "context".
    const [g] = await generateIds(m, [[1, ...new Array(13).fill(5)]], { maxNewTokens: 10 });
    expect(g.ids.length).toBe(3);
    expect(g.finish).toBe("context");
    // Long prompts are left-truncated to the context.
    const [t] = await generate(m, tok, ["1234567890123456789+1="], { maxNewTokens: 2, stopToken: null });
    expect(t.promptTokensDropped).toBe(7);
    expect(t.finish).toBe("context");
    await expect(generate(m, tok, ["1"], { maxNewTokens: -1 })).rejects.toThrow(UserError);
    disposeModel(m);
  });

  it("never produces ids outside the tokenizer when the model's vocabulary is larger", async () => {
    const m = createModel(resolveModelConfig("tiny", { vocabSize: 64, contextLength: C, seed: 1 }));
    for (const [, v] of namedParameters(m)) v.assign(tf.tidy(() => tf.mul(v, 8)));
    const free = await generateIds(m, [[1, 5, 6]], { maxNewTokens: 12, temperature: 2, seed: 3 });
    expect(free[0].ids.some((id) => id >= tok.vocabSize)).toBe(true); // not vacuous
    const g = await generate(m, tok, PROMPTS, { maxNewTokens: 12, temperature: 2, seed: 3 });
    expect(g.every((r) => r.ids.every((id) => id < tok.vocabSize))).toBe(true);
    disposeModel(m);
  });

  it("leaves no tensors behind (cache on and off)", async () => {
    const m = model(4);
    await generate(m, tok, PROMPTS, { maxNewTokens: 3 });
    const n0 = tf.memory().numTensors;
    await generate(m, tok, PROMPTS, { maxNewTokens: 5, temperature: 1, seed: 1 });
    await generate(m, tok, PROMPTS, { maxNewTokens: 5, useCache: false });
    expect(tf.memory().numTensors).toBe(n0);
    disposeModel(m);
  });
});

describe("greedyMatches (teacher-forced)", () => {
  it("is true exactly when greedy decoding reproduces the response and then stops", async () => {
    const m = model(6);
    const greedy = await generate(m, tok, PROMPTS, { maxNewTokens: 4 });
    const wholeAnswer = PROMPTS.map((p, i) => ({ prompt: p, response: greedy[i].text }));
    // Greedy's own output matches only where greedy stopped at EOS within the budget.
    const ok = await greedyMatches(m, tok, wholeAnswer, { batchSize: 4 });
    ok.forEach((v, i) => expect(v).toBe(greedy[i].finish === "stop"));
    // A prefix of a longer greedy output never matches (the model would continue, not stop).
    const long = await generate(m, tok, PROMPTS, { maxNewTokens: 3, stopToken: null });
    const prefixes = PROMPTS.map((p, i) => ({ prompt: p, response: tok.decode(long[i].ids.slice(0, 2)) }));
    const full6 = await generate(m, tok, PROMPTS, { maxNewTokens: 6 });
    (await greedyMatches(m, tok, prefixes)).forEach((v, i) => {
      const stopsAfter2 = full6[i].finish === "stop" && full6[i].ids.length === 2;
      expect(v).toBe(stopsAfter2);
    });
    // A response that differs in its first token never matches.
    const wrong = PROMPTS.map((p, i) => ({ prompt: p, response: tok.decode([long[i].ids[0] === 5 ? 6 : 5]) }));
    expect((await greedyMatches(m, tok, wrong)).every((v) => !v)).toBe(true);
    disposeModel(m);
  });

  it("agrees with decoding on a model trained to answer (EOS reached)", async () => {
    // Make EOS the argmax everywhere (final LayerNorm outputs all ones, head column EOS is the largest):
    // greedy output is "", and the response "" matches.
    const m = model(7);
    const p = new Map(namedParameters(m));
    p.get("lnf.g")!.assign(tf.zerosLike(p.get("lnf.g")!));
    p.get("lnf.b")!.assign(tf.onesLike(p.get("lnf.b")!));
    const D = m.config.dModel;
    p.get("head")!.assign(tf.tidy(() => tf.tile(tf.oneHot([tok.eosId], tok.vocabSize).cast("float32"), [D, 1])) as tf.Tensor2D);
    const g = await generate(m, tok, PROMPTS, { maxNewTokens: 3 });
    expect(g.every((r) => r.finish === "stop" && r.ids.length === 0)).toBe(true);
    const ok = await greedyMatches(m, tok, PROMPTS.map((p) => ({ prompt: p, response: "" })));
    expect(ok.every(Boolean)).toBe(true);
    disposeModel(m);
  });
});

describe("pickToken", () => {
  it("draws with softmax(logits / T) frequencies, restricted to the top k", () => {
    const logits = Float32Array.from([0, Math.log(2), Math.log(4), -1e9]);
    const rng = new Rng(1);
    const n = 20000;
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) counts[pickToken(logits, 1, 0, rng)]++;
    [1 / 7, 2 / 7, 4 / 7, 0].forEach((p, i) => expect(Math.abs(counts[i] / n - p)).toBeLessThan(0.015));
    const top2 = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) top2[pickToken(logits, 1, 2, rng)]++;
    expect(top2[0]).toBe(0);
    expect(Math.abs(top2[2] / n - 2 / 3)).toBeLessThan(0.015);
    expect(pickToken(Float32Array.from([1, 3, 3]), 0, 0, rng)).toBe(1); // greedy ties → lowest id
  });
});

/**
 * The wasm-specific paths (one-hot embedding gradient, explicit-transpose dense gradient) against the cpu
 * backend's plain autodiff, on the same model in one process (tensors move between backends on read).
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../lib/backend";
import {
  collatePairs,
  createModel,
  disposeModel,
  encodePair,
  generate,
  modelVariables,
  namedParameters,
  resolveModelConfig,
  sequenceLogProbs,
  sequenceLogProbsFromBatch,
} from "../lib/model";
import { CharTokenizer } from "../lib/tokenizers";

beforeAll(async () => {
  await initBackend({ backend: "wasm", quiet: true });
});

const tok = new CharTokenizer({ alphabet: "0123456789+=", fallback: "unk" });

describe("wasm backend", () => {
  it("gradients on wasm equal the cpu backend's, for every variable (tied and untied)", async () => {
    for (const tieEmbeddings of [false, true]) {
      await tf.setBackend("wasm");
      const m = createModel(resolveModelConfig("tiny", { vocabSize: tok.vocabSize, seed: 3, tieEmbeddings }));
      const batch = collatePairs([encodePair(tok, "12+3=", "15", 16), encodePair(tok, "4=", "4", 16)], tok.padId);
      const grads = () =>
        tf.tidy(() => {
          const { grads: g } = tf.variableGrads(
            () => tf.neg(tf.mean(sequenceLogProbsFromBatch(m, batch).mean)) as tf.Scalar,
            modelVariables(m),
          );
          return modelVariables(m).map((v) => Array.from(g[v.name].dataSync()));
        });
      const onWasm = grads();
      expect(tf.getBackend()).toBe("wasm");
      await tf.setBackend("cpu");
      const onCpu = grads();
      await tf.setBackend("wasm");
      const names = namedParameters(m).map(([n]) => n);
      onCpu.forEach((g, i) => {
        const scale = Math.max(1e-6, ...g.map(Math.abs));
        expect(scale, names[i]).toBeGreaterThan(1e-6);
        const err = Math.max(...g.map((v, j) => Math.abs(v - onWasm[i][j])));
        expect(err / scale, names[i]).toBeLessThan(1e-4);
      });
      disposeModel(m);
    }
  });

  it("sequence log-probs and greedy generation on wasm equal the cpu backend's", async () => {
    await tf.setBackend("wasm");
    const m = createModel(resolveModelConfig("tiny", { vocabSize: tok.vocabSize, seed: 5 }));
    for (const [, v] of namedParameters(m)) v.assign(tf.tidy(() => tf.mul(v, 8)));
    const pairs = [{ prompt: "1+2=", response: "3" }, { prompt: "12+34=", response: "46" }, { prompt: "", response: "7" }];
    const prompts = ["1+2=", "9", "44+4="];
    const onWasm = await sequenceLogProbs(m, tok, pairs);
    const genWasm = await generate(m, tok, prompts, { maxNewTokens: 6 });
    await tf.setBackend("cpu");
    const onCpu = await sequenceLogProbs(m, tok, pairs);
    const genCpu = await generate(m, tok, prompts, { maxNewTokens: 6 });
    await tf.setBackend("wasm");
    onCpu.forEach((s, i) => {
      expect(onWasm[i].count).toBe(s.count);
      expect(Math.abs(onWasm[i].sum - s.sum)).toBeLessThan(1e-4);
    });
    expect(genWasm).toEqual(genCpu);
    disposeModel(m);
  });

  it("scores and generates without leaking tensors", async () => {
    await tf.setBackend("wasm");
    const m = createModel(resolveModelConfig("tiny", { vocabSize: tok.vocabSize, seed: 4 }));
    const pairs = [{ prompt: "1+2=", response: "3" }, { prompt: "5=", response: "5" }];
    await sequenceLogProbs(m, tok, pairs);
    const n0 = tf.memory().numTensors;
    const s = await sequenceLogProbs(m, tok, pairs, { batchSize: 1 });
    expect(s.every((x) => Number.isFinite(x.sum) && x.sum < 0)).toBe(true);
    const g = await generate(m, tok, ["1+2="], { maxNewTokens: 4, temperature: 1, seed: 2 });
    expect(g[0].ids.length).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(n0);
    disposeModel(m);
  });
});

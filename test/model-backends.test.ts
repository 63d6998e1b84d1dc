/**
 * Backend-specific paths against the cpu backend's plain autodiff, on the same model in one process (tensors
 * move between backends on read): wasm (one-hot embedding gradient, explicit-transpose dense gradient, the
 * OneHot dtype workaround) and, where installed, native tfjs-node (gather gradient, matMul + add).
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { availableBackends, requestFor } from "../lib/backend";
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

let others: string[] = [];
beforeAll(async () => {
  others = (await availableBackends()).filter((c) => c !== "cpu" && c !== "tensorflow-gpu").map(requestFor);
  // backend names as tfjs knows them
  others = others.map((r) => (r === "wasm" ? "wasm" : "tensorflow"));
});

const tok = new CharTokenizer({ alphabet: "0123456789+=", fallback: "unk" });

describe("wasm and native backends vs cpu", () => {
  it("wasm is available here (native is optional)", () => {
    expect(others).toContain("wasm");
  });

  it("gradients equal the cpu backend's, for every variable (tied and untied)", async () => {
    for (const [be, tieEmbeddings] of others.flatMap((b) => [[b, false], [b, true]] as [string, boolean][])) {
      await tf.setBackend(be);
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
      const onOther = grads();
      expect(tf.getBackend()).toBe(be);
      await tf.setBackend("cpu");
      const onCpu = grads();
      await tf.setBackend(be);
      const names = namedParameters(m).map(([n]) => n);
      onCpu.forEach((g, i) => {
        const scale = Math.max(1e-6, ...g.map(Math.abs));
        expect(scale, names[i]).toBeGreaterThan(1e-6);
        const err = Math.max(...g.map((v, j) => Math.abs(v - onOther[i][j])));
        expect(err / scale, `${be} ${names[i]}`).toBeLessThan(1e-4);
      });
      disposeModel(m);
    }
  });

  it("sequence log-probs and greedy generation equal the cpu backend's", async () => {
    for (const be of others) {
      await tf.setBackend(be);
      const m = createModel(resolveModelConfig("tiny", { vocabSize: tok.vocabSize, seed: 5 }));
      for (const [, v] of namedParameters(m)) v.assign(tf.tidy(() => tf.mul(v, 8)));
      const pairs = [{ prompt: "1+2=", response: "3" }, { prompt: "12+34=", response: "46" }, { prompt: "", response: "7" }];
      const prompts = ["1+2=", "9", "44+4="];
      const onOther = await sequenceLogProbs(m, tok, pairs);
      const genOther = await generate(m, tok, prompts, { maxNewTokens: 6 });
      await tf.setBackend("cpu");
      const onCpu = await sequenceLogProbs(m, tok, pairs);
      const genCpu = await generate(m, tok, prompts, { maxNewTokens: 6 });
      await tf.setBackend(be);
      onCpu.forEach((s, i) => {
        expect(onOther[i].count).toBe(s.count);
        expect(Math.abs(onOther[i].sum - s.sum), be).toBeLessThan(1e-4);
      });
      expect(genOther).toEqual(genCpu);
      disposeModel(m);
    }
  });

  it("a pair's log-prob does not depend on batch size beyond float32 rounding (exact on cpu, see model-logprobs)", async () => {
    for (const be of others) {
      await tf.setBackend(be);
      const m = createModel(resolveModelConfig("tiny", { vocabSize: tok.vocabSize, seed: 6 }));
      for (const [, v] of namedParameters(m)) v.assign(tf.tidy(() => tf.mul(v, 4)));
      const pairs = Array.from({ length: 12 }, (_, i) => ({ prompt: "1+2=".repeat(1 + (i % 3)), response: "1234567".slice(0, 1 + (i % 5)) }));
      const ref = await sequenceLogProbs(m, tok, pairs, { batchSize: 1 });
      for (const bs of [5, 12]) {
        (await sequenceLogProbs(m, tok, pairs, { batchSize: bs })).forEach((s, i) => {
          expect(s.count).toBe(ref[i].count);
          expect(Math.abs(s.sum - ref[i].sum), be).toBeLessThan(2e-6 * Math.abs(ref[i].sum));
        });
      }
      disposeModel(m);
    }
  });

  it("scores and generates without leaking tensors", async () => {
    for (const be of others) {
      await tf.setBackend(be);
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
    }
  });
});

/**
 * The whole model with the backend's kernels (written-out gradients on cpu: lib/backend/gradients.ts) against the
 * plain reference code (lib/seam.ts runReference: tfjs autodiff of lib/model/layers.ts): log-probs and gradients.
 * test/backend-kernels.test.ts checks each kernel alone, on every backend.
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../lib/backend";
import { collatePairs, createModel, disposeModel, encodePair, modelVariables, resolveModelConfig, sequenceLogProbsFromBatch } from "../lib/model";
import { kernelTable, runReference } from "../lib/seam";
import { CharTokenizer } from "../lib/tokenizers";

beforeAll(async () => {
  await initBackend({ backend: "cpu", quiet: true });
});

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).arraySync() as number);

describe("the model's kernels", () => {
  it("give the reference's log-probs and gradients on the whole model (tied and untied head)", () => {
    expect(kernelTable()).toMatchObject({ layerNorm: "*", gelu: "*", causalAttention: "*", targetLogProbs: "*" });
    const tok = new CharTokenizer({ alphabet: "0123456789+=", fallback: "unk" });
    for (const tieEmbeddings of [false, true]) {
      const model = createModel(resolveModelConfig("tiny", { vocabSize: tok.vocabSize, seed: 3, tieEmbeddings }));
      const batch = collatePairs(
        [["12+3=", "15"], ["7+7=", "14"], ["100+1=", "101"]].map(([p, r]) => encodePair(tok, p, r, model.config.contextLength)),
        tok.padId,
      );
      const vars = modelVariables(model);
      const run = () => {
        const { value, grads } = tf.variableGrads(() => {
          const lp = sequenceLogProbsFromBatch(model, batch);
          return tf.sum(tf.mul(lp.sum, tf.tensor1d([1, -0.5, 2]))) as tf.Scalar;
        }, vars);
        return { value: value.arraySync() as number, grads };
      };
      const fast = run();
      const plain = runReference(run);
      expect(Math.abs(fast.value - plain.value)).toBeLessThan(1e-4 * (1 + Math.abs(plain.value)));
      for (const name of Object.keys(plain.grads)) {
        const scale = tf.tidy(() => tf.max(tf.abs(plain.grads[name])).arraySync() as number);
        expect(maxAbsDiff(fast.grads[name], plain.grads[name]), name).toBeLessThanOrEqual(1e-5 * (1 + scale));
      }
      tf.dispose([...Object.values(fast.grads), ...Object.values(plain.grads)]);
      disposeModel(model);
    }
  });
});

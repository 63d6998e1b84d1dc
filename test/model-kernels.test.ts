/** The written-out kernels (token log-prob, causal attention) against tfjs autodiff, values and gradients. */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  collatePairs,
  createModel,
  disposeModel,
  encodePair,
  modelVariables,
  resolveModelConfig,
  sequenceLogProbsFromBatch,
  setKernelChoices,
  targetLogProbs,
  targetLogProbsPlain,
} from "../lib/model";
import { CharTokenizer } from "../lib/tokenizers";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).arraySync() as number);

describe("targetLogProbs", () => {
  it("equals log-softmax at the target, with the same gradient as autodiff", () => {
    const logits = tf.tidy(() => tf.randomNormal([12, 17], 0, 3, "float32", 7)) as tf.Tensor2D;
    const targets = tf.tensor1d([0, 3, 16, 5, 5, 9, 1, 2, 8, 13, 11, 4], "int32");
    const w = tf.tidy(() => tf.randomNormal([12], 0, 1, "float32", 8)) as tf.Tensor1D; // weights make the gradient non-trivial
    const fast = targetLogProbs(logits, targets);
    const plain = targetLogProbsPlain(logits, targets);
    expect(maxAbsDiff(fast, plain)).toBeLessThan(1e-6);
    const gFast = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(targetLogProbs(x as tf.Tensor2D, targets), w)))(logits);
    const gPlain = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(targetLogProbsPlain(x as tf.Tensor2D, targets), w)))(logits);
    expect(maxAbsDiff(gFast, gPlain)).toBeLessThan(1e-6);
    expect(tf.tidy(() => tf.max(tf.abs(gFast)).arraySync() as number)).toBeGreaterThan(1e-3);
    tf.dispose([logits, targets, w, fast, plain, gFast, gPlain]);
  });
});

describe("causal attention kernel", () => {
  it("the written-out attention gives the same log-probs and gradients as autodiff on the whole model", () => {
    const tok = new CharTokenizer({ alphabet: "0123456789+=", fallback: "unk" });
    const model = createModel(resolveModelConfig("tiny", { vocabSize: tok.vocabSize, seed: 3 }));
    const batch = collatePairs(
      [["12+3=", "15"], ["7+7=", "14"], ["100+1=", "101"]].map(([p, r]) => encodePair(tok, p, r, model.config.contextLength)),
      tok.padId,
    );
    const vars = modelVariables(model);
    const run = (attention: "custom" | "plain") => {
      const before = setKernelChoices({ attention });
      try {
        const { value, grads } = tf.variableGrads(() => {
          const lp = sequenceLogProbsFromBatch(model, batch);
          return tf.sum(tf.mul(lp.sum, tf.tensor1d([1, -0.5, 2]))) as tf.Scalar;
        }, vars);
        return { value: value.arraySync() as number, grads };
      } finally {
        setKernelChoices(before);
      }
    };
    const custom = run("custom");
    const plain = run("plain");
    expect(Math.abs(custom.value - plain.value)).toBeLessThan(1e-4 * (1 + Math.abs(plain.value)));
    for (const name of Object.keys(plain.grads)) {
      const scale = tf.tidy(() => tf.max(tf.abs(plain.grads[name])).arraySync() as number);
      expect(maxAbsDiff(custom.grads[name], plain.grads[name]), name).toBeLessThanOrEqual(1e-5 * (1 + scale));
    }
    tf.dispose([...Object.values(custom.grads), ...Object.values(plain.grads)]);
    disposeModel(model);
  });
});

/**
 * The SFT adapter: (prompt, response) examples → a `LossFn` for the generic Trainer. Loss: token-averaged
 * NLL of the response tokens (EOS included), −Σ_b ℓ_θ(y_b) / Σ_b n(y_b) over the micro-batch
 * (infifpo.md, "Baselines": SFT). With gradient accumulation the step's loss is the mean of the
 * micro-batches' token averages, as in transformers' Trainer.
 */
import * as tf from "@tensorflow/tfjs";
import { batchTensors, collateForModel, sequenceLogProbsFromTensors, type BatchTensors, type PairEncoding } from "../model/logprobs";
import type { Model } from "../model/transformer";
import type { Tokenizer } from "../tokenizers/types";
import type { LossFn } from "./trainer";

/**
 * @example
 * const data = examples.map((e) => encodePair(tok, e.prompt, e.response, model.config.contextLength));
 * new Trainer({ ..., data, lossFn: sftLossFn(model, tok), countTokens: sftTokens });
 */
export function sftLossFn(model: Model, tokenizer: Pick<Tokenizer, "padId">): LossFn<PairEncoding, BatchTensors> {
  return {
    prepare: (batch) => batchTensors(collateForModel(model, batch, tokenizer.padId)),
    compute(tokens) {
      const lp = sequenceLogProbsFromTensors(model, tokens); // each [B]
      const nTokens = tf.sum(lp.count);
      const loss = tf.div(tf.neg(tf.sum(lp.sum)), nTokens) as tf.Scalar;
      return { loss, metrics: { "logps/chosen": tf.mean(lp.sum) as tf.Scalar, num_response_tokens: nTokens as tf.Scalar } };
    },
  };
}

/** Input tokens of a batch (prompt + response), for tokens/s. */
export function sftTokens(batch: readonly PairEncoding[]): number {
  return batch.reduce((s, e) => s + e.ids.length - 1, 0);
}

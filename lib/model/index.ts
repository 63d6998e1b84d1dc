/**
 * The causal transformer used by every model in the lab: config and presets, the forward pass, response
 * log-probs (ℓ, ℓ/n, n) under the model's own tokenizer, generation, and save/load.
 *
 * Library code never picks a backend; call `initBackend()` (lib/backend) first. Everything here is plain tfjs and
 * works on every backend; the backend's fast paths (graph replay, fused ops, wasm workarounds) come through the
 * execution seam (lib/seam.ts), each tested equal to the plain code here.
 *
 * @example
 * const tok = trainTokenizer("char", corpus);
 * const model = createModel(resolveModelConfig("lab", { vocabSize: tok.vocabSize, seed: 1 }));
 * console.log(describeModel(model));
 * // training: a collated batch → differentiable [B] tensors
 * const batch = collatePairs(pairs.map((p) => encodePair(tok, p.prompt, p.response, 64)), tok.padId);
 * const { value, grads } = tf.variableGrads(
 *   () => tf.neg(tf.mean(sequenceLogProbsFromBatch(model, batch).mean)) as tf.Scalar, modelVariables(model));
 * // scoring files: plain numbers, input order
 * const scores = await sequenceLogProbs(model, tok, pairs); // [{ sum, mean, count, promptTokensDropped }]
 * const outs = await generate(model, tok, ["12+7="], { maxNewTokens: 8, temperature: 1, topK: 10, seed: 3 });
 * saveModel("runs/x/pivot.infifpo", model, tok, { step: 2000 });
 * const { model: again, tokenizer } = loadModel("runs/x/pivot.infifpo");
 */
export * from "./config";
export * from "./layers";
export * from "./transformer";
export * from "./logprobs";
export * from "./generate";
export * from "./io";
export * from "./tokenize";

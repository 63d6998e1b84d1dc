/**
 * The causal transformer used by every model in the lab: config and presets, the forward pass, response
 * log-probs (ℓ, ℓ/n, n) under the model's own tokenizer, generation, and save/load.
 */
export * from "./config";
export * from "./transformer";
export * from "./logprobs";
export * from "./generate";
export { Rng, hashSeed } from "./random";
export * from "./io";

/** Adding BOS/EOS, and encoding a prompt–response pair so the response's tokens (n_M(y)) are known exactly. */
import type { Tokenizer } from "./types";

export interface SpecialsOptions {
  /** Prepend BOS (default true). */
  bos?: boolean;
  /** Append EOS (default true). */
  eos?: boolean;
}

/**
 * `tok.encode(text)` with BOS in front and EOS behind (each optional).
 * @example encodeWithSpecials(tok, "55", { bos: false }) // → [...tok.encode("55"), tok.eosId]
 */
export function encodeWithSpecials(tok: Tokenizer, text: string, options: SpecialsOptions = {}): number[] {
  const ids = tok.encode(text);
  if (options.bos ?? true) ids.unshift(tok.bosId);
  if (options.eos ?? true) ids.push(tok.eosId);
  return ids;
}

export interface EncodedPair {
  /** [BOS?] prompt tokens, response tokens [EOS?]. */
  ids: number[];
  /** Index in `ids` of the first response token; tokens before it are masked out of ℓ_M(y|x). */
  responseStart: number;
  /** n_M(y): the scored tokens, i.e. the response tokens plus EOS when `eos` is on (ids.length - responseStart). */
  responseLength: number;
}

/**
 * Encodes prompt and response separately and concatenates them, so the prompt/response boundary is always a
 * token boundary under every tokenizer (infifpo.md, "Setting": ℓ_M(y|x) sums over response tokens only, and
 * each model counts n_M(y) with its own tokenizer).
 * @example encodePromptResponse(tok, "47+8=", "55") // → { ids: [1, ...enc("47+8="), ...enc("55"), 2], responseStart, responseLength }
 */
export function encodePromptResponse(tok: Tokenizer, prompt: string, response: string, options: SpecialsOptions = {}): EncodedPair {
  const ids = tok.encode(prompt);
  if (options.bos ?? true) ids.unshift(tok.bosId);
  const responseStart = ids.length;
  for (const id of tok.encode(response)) ids.push(id);
  if (options.eos ?? true) ids.push(tok.eosId);
  return { ids, responseStart, responseLength: ids.length - responseStart };
}

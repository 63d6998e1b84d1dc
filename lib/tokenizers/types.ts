/**
 * The tokenizer contract shared by every model in the lab (infifpo.md, "Setting"): each model scores a response
 * with its OWN tokenizer, and only sequence-level numbers (ℓ_M(y|x), n_M(y)) cross model boundaries, so nothing
 * here ever aligns two vocabularies.
 *
 * Contract, for every implementation:
 * - Fixed special ids, identical across kinds: PAD = 0, BOS = 1, EOS = 2. `unkId` (= 3) exists only on a
 *   tokenizer built with `fallback: "unk"`; the default byte fallback never needs it.
 * - `encode(text)` never adds specials (use `encodeWithSpecials` / `encodePromptResponse` from "./specials").
 * - `decode(encode(s)) === s` for EVERY JS string s (any Unicode, even lone surrogates), unless the tokenizer was
 *   built with `fallback: "unk"` and s has characters outside its alphabet.
 * - `decode(ids)` skips PAD/BOS/EOS, never throws on a valid id (any order, partial UTF-8 included: broken byte
 *   runs become U+FFFD), and throws `UserError` on an id outside [0, vocabSize).
 * - `toJSON()` is plain JSON data `{ kind, version: 1, ... }`; `tokenizerFromJSON(JSON.parse(JSON.stringify(t)))`
 *   encodes every string exactly as t does.
 * - Deterministic: the same corpus and options give the same JSON, byte for byte.
 *
 * Id layout (all kinds): [0..2] PAD BOS EOS, then either 256 byte tokens (ids 3..258, byte b = id 3 + b) or one
 * UNK (id 3), then the kind's own tokens (characters, merges, words, digit chunks) in the order stored in JSON.
 */

/** Which family a tokenizer belongs to; models built with different kinds segment the same text differently. */
export type TokenizerKind = "char" | "bpe" | "word" | "digit";

/** Every kind, in a fixed order (for option lists and error messages). */
export const TOKENIZER_KINDS: readonly TokenizerKind[] = Object.freeze(["char", "bpe", "word", "digit"]);

/** The only serialisation version this library reads and writes. */
export const TOKENIZER_JSON_VERSION = 1;

/** Fixed special-token ids, the same for every tokenizer. */
export const PAD_ID = 0;
export const BOS_ID = 1;
export const EOS_ID = 2;
/** Present only on tokenizers built with `fallback: "unk"`. */
export const UNK_ID = 3;
/** First byte-token id when the byte fallback is on: byte b has id BYTE_OFFSET + b. */
export const BYTE_OFFSET = 3;

/** What happens to a character outside a tokenizer's alphabet: UTF-8 byte tokens (lossless) or one UNK. */
export type Fallback = "byte" | "unk";

export interface Tokenizer {
  readonly kind: TokenizerKind;
  /** Number of ids, special tokens included; every id from encode is < vocabSize. */
  readonly vocabSize: number;
  readonly padId: number;
  readonly bosId: number;
  readonly eosId: number;
  /** Defined only when the tokenizer maps unknown characters to one UNK token (lossy). */
  readonly unkId?: number;
  /** Text → ids, no special tokens added. */
  encode(text: string): number[];
  /** Ids → text; PAD/BOS/EOS are skipped; never throws on valid ids. */
  decode(ids: readonly number[]): string;
  /** A readable name for one id, for displays: "a", "47", "<pad>", "<0xE2>". */
  idToToken(id: number): string;
  /** Plain JSON-serialisable description; `tokenizerFromJSON` rebuilds an identical tokenizer. */
  toJSON(): TokenizerJSON;
}

/** Character level: one token per code point of `alphabet` (in id order). */
export interface CharTokenizerJSON {
  kind: "char";
  version: 1;
  fallback: Fallback;
  alphabet: string[];
}

/** Pre-tokenisation rule applied before BPE merges (merges never cross a pre-token boundary). */
export type Pretokenizer = "gpt2" | "whitespace" | "none";

/** Byte-level BPE: merge k creates token id 259 + k from the two existing ids `merges[k]`. */
export interface BpeTokenizerJSON {
  kind: "bpe";
  version: 1;
  pretokenizer: Pretokenizer;
  merges: [number, number][];
}

/** Word/regex level: single code points `chars`, then multi-code-point pieces `words`, in id order. */
export interface WordTokenizerJSON {
  kind: "word";
  version: 1;
  fallback: Fallback;
  chars: string[];
  words: string[];
}

/**
 * Digit chunks: runs of ASCII digits split into chunks of at most `chunk` digits, counted from the left
 * (`align: "left"`, "12345" → "123","45") or the right ("12","345"); every digit string of length 1..chunk is a
 * token (in order of length, then value); other code points come from `alphabet`.
 */
export interface DigitTokenizerJSON {
  kind: "digit";
  version: 1;
  fallback: Fallback;
  chunk: number;
  align: "left" | "right";
  alphabet: string[];
}

export type TokenizerJSON = CharTokenizerJSON | BpeTokenizerJSON | WordTokenizerJSON | DigitTokenizerJSON;

/** Training text: one string, or many documents (pre-tokens and merges never cross document boundaries). */
export type Corpus = string | readonly string[];

/**
 * Tokenizers for the fusion lab: char, byte-level BPE, word/regex and digit-chunk, all with the same fixed
 * special ids and a lossless byte fallback (see ./types for the contract).
 */
export * from "./types";

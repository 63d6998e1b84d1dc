/**
 * Tokenizers for the fusion lab: char, byte-level BPE, word/regex and digit-chunk, all with the same fixed
 * special ids (PAD 0, BOS 1, EOS 2) and a lossless UTF-8 byte fallback (see ./types for the contract).
 * Models built on different kinds segment the same text differently; only sequence-level numbers cross.
 *
 * @example
 *   const tok = trainTokenizer("digit", ["47+8=55", "13+65=78"], { chunk: 3 });
 *   tok.encode("1234+5").map((id) => tok.idToToken(id)); // ["123", "4", "+", "5"]
 *   tokenizerFromJSON(tok.toJSON()).decode(encodeWithSpecials(tok, "1234+5")); // "1234+5"
 */
export * from "./types";
export { trainTokenizer, type TrainOptionsByKind, type TokenizerByKind } from "./train";
export { tokenizerFromJSON } from "./json";
export { saveTokenizer, loadTokenizer } from "./io";
export { encodeWithSpecials, encodePromptResponse, type SpecialsOptions, type EncodedPair } from "./specials";
export { CharTokenizer, trainCharTokenizer, type CharTokenizerOptions, type CharTrainOptions } from "./char";
export { BpeTokenizer, trainBpeTokenizer, pretokenize, PRETOKENIZERS, BPE_FIRST_MERGE_ID, type BpeTrainOptions } from "./bpe";
export { WordTokenizer, trainWordTokenizer, splitWords, WORD_PATTERN, type WordTokenizerOptions, type WordTrainOptions } from "./word";
export { DigitTokenizer, trainDigitTokenizer, MAX_DIGIT_CHUNK, type DigitTokenizerOptions, type DigitTrainOptions } from "./digit";
export { utf8Encode, utf8Decode } from "./utf8";
export { tokenPieces } from "./pieces";

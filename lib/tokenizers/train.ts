/** One entry point to build any kind of tokenizer from a corpus. */
import { UserError } from "../errors";
import { type BpeTokenizer, type BpeTrainOptions, trainBpeTokenizer } from "./bpe";
import { type CharTokenizer, type CharTrainOptions, trainCharTokenizer } from "./char";
import { type DigitTokenizer, type DigitTrainOptions, trainDigitTokenizer } from "./digit";
import { TOKENIZER_KINDS, type Corpus, type TokenizerKind } from "./types";
import { trainWordTokenizer, type WordTokenizer, type WordTrainOptions } from "./word";

export interface TrainOptionsByKind {
  char: CharTrainOptions;
  bpe: BpeTrainOptions;
  word: WordTrainOptions;
  digit: DigitTrainOptions;
}

export interface TokenizerByKind {
  char: CharTokenizer;
  bpe: BpeTokenizer;
  word: WordTokenizer;
  digit: DigitTokenizer;
}

const TRAINERS: { readonly [K in TokenizerKind]: (corpus: Corpus, options?: TrainOptionsByKind[K]) => TokenizerByKind[K] } =
  Object.freeze({
    char: trainCharTokenizer,
    bpe: trainBpeTokenizer,
    word: trainWordTokenizer,
    digit: trainDigitTokenizer,
  });

/**
 * Builds a tokenizer of `kind` from `corpus` (a string or a list of documents). Deterministic: the same corpus
 * and options give the same `toJSON()`.
 * @example trainTokenizer("bpe", labStrings, { vocabSize: 300, pretokenizer: "none" }).encode("47+8=55")
 * @throws UserError on an unknown kind (listing the valid ones) or a bad / unknown option.
 */
export function trainTokenizer<K extends TokenizerKind>(kind: K, corpus: Corpus, options?: TrainOptionsByKind[K]): TokenizerByKind[K] {
  if (!Object.hasOwn(TRAINERS, kind)) {
    throw new UserError(`unknown tokenizer kind ${JSON.stringify(kind)} (valid: ${TOKENIZER_KINDS.join(", ")})`);
  }
  const train = TRAINERS[kind] as (corpus: Corpus, options?: TrainOptionsByKind[K]) => TokenizerByKind[K];
  return train(corpus, options);
}

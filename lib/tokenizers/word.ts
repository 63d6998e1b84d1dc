/**
 * Word/regex-level tokenizer: text is split into letter runs, digit runs, whitespace runs and runs of other
 * symbols; the most frequent multi-character pieces of a corpus are tokens, and any other piece is spelled with
 * single-character tokens (then UTF-8 bytes, or UNK) so that decoding still returns the text exactly.
 */
import { UserError } from "../errors";
import {
  alphabetList,
  byCodePoint,
  checkFallback,
  checkKeys,
  checkPositiveInt,
  corpusDocs,
  countCodePoints,
  firstOwnId,
  isOneCodePoint,
  PieceTokenizer,
  pushCodePoints,
  splitByPattern,
  stringArrayField,
} from "./base";
import type { Corpus, Fallback, WordTokenizerJSON } from "./types";

/** Letters, numbers, whitespace, other symbols: each a maximal run. */
export const WORD_PATTERN = /\p{L}+|\p{N}+|\s+|[^\s\p{L}\p{N}]+/gu;

/** @example splitWords("map(+2,rev([3]))=") // → ["map", "(+", "2", ",", "rev", "([", "3", "]))="] */
export function splitWords(text: string): string[] {
  return splitByPattern(text, WORD_PATTERN);
}

export interface WordTokenizerOptions {
  /** Single code points, in id order. */
  chars: string | readonly string[];
  /** Pieces of two or more code points, each one whole match of WORD_PATTERN, in id order. */
  words: readonly string[];
  fallback?: Fallback;
}

export interface WordTrainOptions {
  /** Target vocabulary size, specials, fallback and characters included (default 512). */
  vocabSize?: number;
  /** A piece becomes a token only if it occurs at least this often (default 2). */
  minCount?: number;
  /** Keep a character only if it occurs at least this often (default 1). */
  minCharCount?: number;
  /** Characters always included. */
  extra?: string | readonly string[];
  fallback?: Fallback;
}

export class WordTokenizer extends PieceTokenizer {
  readonly kind = "word" as const;
  private readonly charIds = new Map<string, number>();
  private readonly wordIds = new Map<string, number>();
  private readonly nChars: number;

  constructor(options: WordTokenizerOptions, where = "word tokenizer") {
    checkKeys(options, ["chars", "words", "fallback"], `${where} options`);
    const fallback = checkFallback(options.fallback ?? "byte", `${where} fallback`);
    const chars = alphabetList(options.chars, `${where} chars`);
    const words = [...options.words];
    const seen = new Set<string>();
    words.forEach((w, i) => {
      if (typeof w !== "string" || w.length === 0 || isOneCodePoint(w)) {
        throw new UserError(`${where} words[${i}] must be a string of two or more code points, got ${JSON.stringify(w)}`);
      }
      const parts = splitWords(w);
      if (parts.length !== 1) {
        throw new UserError(`${where} words[${i}] ${JSON.stringify(w)} is not one piece of the word pattern (it splits into ${parts.length})`);
      }
      if (seen.has(w)) throw new UserError(`${where} words[${i}] repeats ${JSON.stringify(w)}`);
      seen.add(w);
    });
    super(fallback, [...chars, ...words]);
    this.nChars = chars.length;
    chars.forEach((ch, i) => this.charIds.set(ch, this.first + i));
    words.forEach((w, i) => this.wordIds.set(w, this.first + chars.length + i));
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const piece of splitWords(text)) {
      const id = this.wordIds.get(piece);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      pushCodePoints(piece, this.charIds, this.fallback, out);
    }
    return out;
  }

  toJSON(): WordTokenizerJSON {
    return {
      kind: "word",
      version: 1,
      fallback: this.fallback,
      chars: this.pieces.slice(0, this.nChars),
      words: this.pieces.slice(this.nChars),
    };
  }
}

/**
 * Keeps every corpus character, then the most frequent multi-character pieces (ties: code-unit string order)
 * until the vocabulary reaches `vocabSize`.
 */
export function trainWordTokenizer(corpus: Corpus, options: WordTrainOptions = {}): WordTokenizer {
  checkKeys(options, ["vocabSize", "minCount", "minCharCount", "extra", "fallback"], "word training options");
  const fallback = checkFallback(options.fallback ?? "byte", "word training option fallback");
  const vocabSize = checkPositiveInt(options.vocabSize ?? 512, "word training option vocabSize");
  const minCount = checkPositiveInt(options.minCount ?? 2, "word training option minCount");
  const minCharCount = checkPositiveInt(options.minCharCount ?? 1, "word training option minCharCount");
  const keep = new Set<string>();
  for (const [ch, n] of countCodePoints(corpus)) if (n >= minCharCount) keep.add(ch);
  for (const ch of alphabetList(options.extra ?? [], "word training option extra")) keep.add(ch);
  const chars = [...keep].sort(byCodePoint);
  const room = vocabSize - firstOwnId(fallback) - chars.length;
  if (room < 0) {
    throw new UserError(
      `word training option vocabSize ${vocabSize} is below the ${vocabSize - room} ids that specials, fallback and the corpus's ${chars.length} characters need`,
    );
  }
  const counts = new Map<string, number>();
  for (const doc of corpusDocs(corpus)) for (const p of splitWords(doc)) counts.set(p, (counts.get(p) ?? 0) + 1);
  const words = [...counts]
    .filter(([p, n]) => n >= minCount && !isOneCodePoint(p))
    .sort(([pa, na], [pb, nb]) => nb - na || (pa < pb ? -1 : pa > pb ? 1 : 0))
    .slice(0, room)
    .map(([p]) => p);
  return new WordTokenizer({ chars, words, fallback });
}

export function wordTokenizerFromJSON(obj: Record<string, unknown>, where: string): WordTokenizer {
  checkKeys(obj, ["kind", "version", "fallback", "chars", "words"], where);
  const fallback = checkFallback(obj.fallback, `${where}: field "fallback"`);
  const chars = stringArrayField(obj, "chars", where);
  const words = stringArrayField(obj, "words", where);
  return new WordTokenizer({ chars, words, fallback }, `${where}: field`);
}

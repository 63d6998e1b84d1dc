/** Character-level tokenizer: one token per code point of an alphabet, UTF-8 byte tokens (or UNK) for the rest. */
import {
  alphabetList,
  byCodePoint,
  checkFallback,
  checkKeys,
  checkPositiveInt,
  countCodePoints,
  PieceTokenizer,
  pushCodePoints,
  stringArrayField,
} from "./base";
import type { CharTokenizerJSON, Corpus, Fallback } from "./types";

export interface CharTokenizerOptions {
  /** The alphabet in id order: a string (split by code point) or a list of single code points. */
  alphabet: string | readonly string[];
  /** Characters outside the alphabet: "byte" (lossless, default) or "unk". */
  fallback?: Fallback;
}

export interface CharTrainOptions {
  fallback?: Fallback;
  /** Keep a code point only if it occurs at least this often (default 1). */
  minCount?: number;
  /** Code points always included (e.g. the EOS marker "$"), whether or not the corpus has them. */
  extra?: string | readonly string[];
}

export class CharTokenizer extends PieceTokenizer {
  readonly kind = "char" as const;
  private readonly ids = new Map<string, number>();

  constructor(options: CharTokenizerOptions) {
    checkKeys(options, ["alphabet", "fallback"], "char tokenizer options");
    const fallback = checkFallback(options.fallback ?? "byte", "char tokenizer option fallback");
    super(fallback, alphabetList(options.alphabet, "char tokenizer alphabet"));
    this.pieces.forEach((ch, i) => this.ids.set(ch, this.first + i));
  }

  encode(text: string): number[] {
    const out: number[] = [];
    pushCodePoints(text, this.ids, this.fallback, out);
    return out;
  }

  toJSON(): CharTokenizerJSON {
    return { kind: "char", version: 1, fallback: this.fallback, alphabet: [...this.pieces] };
  }
}

/**
 * A char tokenizer whose alphabet is the corpus's code points, sorted by code point.
 * @example trainCharTokenizer("47+8=55$").encode("58") // → [262, 264]: alphabet "$+4578=" starts at id 259
 */
export function trainCharTokenizer(corpus: Corpus, options: CharTrainOptions = {}): CharTokenizer {
  checkKeys(options, ["fallback", "minCount", "extra"], "char training options");
  const minCount = checkPositiveInt(options.minCount ?? 1, "char training option minCount");
  const keep = new Set<string>();
  for (const [ch, n] of countCodePoints(corpus)) if (n >= minCount) keep.add(ch);
  for (const ch of alphabetList(options.extra ?? [], "char training option extra")) keep.add(ch);
  return new CharTokenizer({ alphabet: [...keep].sort(byCodePoint), fallback: options.fallback ?? "byte" });
}

export function charTokenizerFromJSON(obj: Record<string, unknown>, where: string): CharTokenizer {
  checkKeys(obj, ["kind", "version", "fallback", "alphabet"], where);
  const fallback = checkFallback(obj.fallback, `${where}: field "fallback"`);
  const alphabet = alphabetList(stringArrayField(obj, "alphabet", where), `${where}: field "alphabet"`);
  return new CharTokenizer({ alphabet, fallback });
}


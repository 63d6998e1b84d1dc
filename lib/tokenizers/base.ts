/** Machinery shared by the tokenizers: id layout, byte fallback, decoding, code-point helpers. */
import { UserError } from "../errors";
import {
  BOS_ID,
  BYTE_OFFSET,
  EOS_ID,
  PAD_ID,
  UNK_ID,
  type Corpus,
  type Fallback,
  type Tokenizer,
  type TokenizerJSON,
  type TokenizerKind,
} from "./types";
import { utf8Decode, utf8EncodeInto } from "./utf8";

const SPECIAL_NAMES = ["<pad>", "<bos>", "<eos>"] as const;

/** First id after the specials and the fallback block: 259 with the byte fallback, 4 with UNK. */
export function firstOwnId(fallback: Fallback): number {
  return fallback === "byte" ? BYTE_OFFSET + 256 : UNK_ID + 1;
}

/** Appends the fallback ids of `text` (one code point, usually): its UTF-8 byte tokens, or one UNK. */
export function pushFallback(text: string, fallback: Fallback, out: number[]): void {
  if (fallback === "unk") {
    out.push(UNK_ID);
    return;
  }
  const start = out.length;
  utf8EncodeInto(text, out);
  for (let i = start; i < out.length; i++) out[i] += BYTE_OFFSET;
}

/** Appends the id of each code point of `text` found in `ids`, or its fallback tokens. */
export function pushCodePoints(text: string, ids: ReadonlyMap<string, number>, fallback: Fallback, out: number[]): void {
  for (const ch of text) {
    const id = ids.get(ch);
    if (id !== undefined) out.push(id);
    else pushFallback(ch, fallback, out);
  }
}

export function assertId(id: number, vocabSize: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    throw new UserError(`token id ${id} is outside the vocabulary [0, ${vocabSize})`);
  }
}

/** Display name of a special / fallback id, or undefined for a kind's own ids. */
export function baseTokenName(id: number, fallback: Fallback): string | undefined {
  if (id < BYTE_OFFSET) return SPECIAL_NAMES[id];
  if (fallback === "unk") return id === UNK_ID ? "<unk>" : undefined;
  if (id < BYTE_OFFSET + 256) return `<0x${(id - BYTE_OFFSET).toString(16).toUpperCase().padStart(2, "0")}>`;
  return undefined;
}

/** Shown for UNK when decoding (the replacement character). */
export const UNK_TEXT = "\uFFFD";

/**
 * Base of the char, word and digit tokenizers: every own id stands for one string (`pieces[id - first]`).
 * Byte tokens are gathered into runs and UTF-8-decoded together, so a character split into bytes comes back whole.
 */
export abstract class PieceTokenizer implements Tokenizer {
  abstract readonly kind: TokenizerKind;
  readonly padId = PAD_ID;
  readonly bosId = BOS_ID;
  readonly eosId = EOS_ID;
  readonly unkId?: number;
  readonly vocabSize: number;
  protected readonly first: number;

  protected constructor(
    readonly fallback: Fallback,
    protected readonly pieces: readonly string[],
  ) {
    this.first = firstOwnId(fallback);
    this.vocabSize = this.first + pieces.length;
    if (fallback === "unk") this.unkId = UNK_ID;
  }

  abstract encode(text: string): number[];
  abstract toJSON(): TokenizerJSON;

  decode(ids: readonly number[]): string {
    const out: string[] = [];
    const bytes: number[] = [];
    for (const id of ids) {
      assertId(id, this.vocabSize);
      if (id < BYTE_OFFSET) continue;
      if (id < this.first) {
        if (this.fallback === "byte") {
          bytes.push(id - BYTE_OFFSET);
          continue;
        }
        out.push(UNK_TEXT);
        continue;
      }
      if (bytes.length > 0) {
        out.push(utf8Decode(bytes));
        bytes.length = 0;
      }
      out.push(this.pieces[id - this.first]);
    }
    if (bytes.length > 0) out.push(utf8Decode(bytes));
    return out.join("");
  }

  idToToken(id: number): string {
    assertId(id, this.vocabSize);
    return baseTokenName(id, this.fallback) ?? this.pieces[id - this.first];
  }
}

/** The documents of a corpus. */
export function corpusDocs(corpus: Corpus): readonly string[] {
  return typeof corpus === "string" ? [corpus] : corpus;
}

export function codePointOf(ch: string): number {
  return ch.codePointAt(0) ?? 0;
}

/** Orders single code points by code point value (not by UTF-16 units). */
export function byCodePoint(a: string, b: string): number {
  return codePointOf(a) - codePointOf(b);
}

/** Counts every code point of the corpus. */
export function countCodePoints(corpus: Corpus): Map<string, number> {
  const counts = new Map<string, number>();
  for (const doc of corpusDocs(corpus)) for (const ch of doc) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  return counts;
}

/** True when `s` is exactly one code point (a lone surrogate counts as one). */
export function isOneCodePoint(s: string): boolean {
  if (s.length === 1) return true;
  if (s.length !== 2) return false;
  const hi = s.charCodeAt(0);
  const lo = s.charCodeAt(1);
  return hi >= 0xd800 && hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff;
}

/**
 * An alphabet given as a string (split into code points) or as a list of single code points; duplicates and
 * multi-code-point entries are errors naming the entry.
 */
export function alphabetList(alphabet: string | readonly string[], where: string): string[] {
  const list = typeof alphabet === "string" ? Array.from(alphabet) : [...alphabet];
  const seen = new Set<string>();
  list.forEach((ch, i) => {
    if (typeof ch !== "string" || !isOneCodePoint(ch)) {
      throw new UserError(`${where}[${i}] must be exactly one code point, got ${JSON.stringify(ch)}`);
    }
    if (seen.has(ch)) throw new UserError(`${where}[${i}] repeats ${JSON.stringify(ch)}`);
    seen.add(ch);
  });
  return list;
}

export function checkFallback(fallback: unknown, where: string): Fallback {
  if (fallback !== "byte" && fallback !== "unk") {
    throw new UserError(`${where} must be "byte" or "unk", got ${JSON.stringify(fallback)}`);
  }
  return fallback;
}

export function checkPositiveInt(value: unknown, where: string, min = 1): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new UserError(`${where} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** `value` as a plain object, or an error naming `where`. */
export function asRecord(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UserError(`${where} must be an object, got ${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value}`);
  }
  return value as Record<string, unknown>;
}

/** Rejects keys outside `allowed` (typos fail loudly instead of being ignored). */
export function checkKeys(obj: object, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new UserError(`${where}: unknown field "${key}" (valid: ${allowed.join(", ")})`);
    }
  }
}

/** A JSON field that must be an array of strings. */
export function stringArrayField(obj: Record<string, unknown>, name: string, where: string): string[] {
  const value = obj[name];
  if (!Array.isArray(value)) throw new UserError(`${where}: field "${name}" must be an array of strings`);
  value.forEach((s, i) => {
    if (typeof s !== "string") throw new UserError(`${where}: field "${name}[${i}]" must be a string, got ${JSON.stringify(s)}`);
  });
  return value as string[];
}

/**
 * Splits `text` at the matches of a global pattern; any gap between matches becomes a piece of its own, so
 * the pieces always concatenate back to `text`.
 */
export function splitByPattern(text: string, re: RegExp): string[] {
  const out: string[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    const at = m.index ?? 0;
    if (m[0].length === 0) continue;
    if (at > last) out.push(text.slice(last, at));
    out.push(m[0]);
    last = at + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

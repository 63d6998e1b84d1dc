/**
 * Digit-chunk tokenizer: runs of ASCII digits are cut into chunks of at most k digits (from the left by default,
 * "12345" → "123","45" for k = 3; or from the right, "12","345"), everything else is character level with a byte
 * (or UNK) fallback. Real LLM tokenizers differ exactly here (GPT-2 merges digits arbitrarily, LLaMA splits
 * single digits, GPT-4 uses 1–3-digit chunks), which changes n_M(y) on arithmetic answers.
 */
import { UserError } from "../errors";
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
import type { Corpus, DigitTokenizerJSON, Fallback } from "./types";

/** Largest chunk length (k = 4 already needs 11,110 chunk tokens). */
export const MAX_DIGIT_CHUNK = 4;
const DIGIT_RUN = /[0-9]+|[^0-9]+/g;

export interface DigitTokenizerOptions {
  /** k: most digits per chunk (1..4; default 3). */
  chunk?: number;
  /** Where chunking starts (default "left"). */
  align?: "left" | "right";
  /** Non-digit code points in id order (ASCII digits are not allowed: they are chunk tokens). */
  alphabet: string | readonly string[];
  fallback?: Fallback;
}

export interface DigitTrainOptions {
  chunk?: number;
  align?: "left" | "right";
  fallback?: Fallback;
  /** Keep a character only if it occurs at least this often (default 1). */
  minCount?: number;
  /** Characters always included. */
  extra?: string | readonly string[];
}

/** Every digit string of length 1..k, by length then value: "0".."9", "00".."99", ... */
function digitChunks(k: number): string[] {
  const out: string[] = [];
  for (let len = 1; len <= k; len++) for (let v = 0; v < 10 ** len; v++) out.push(String(v).padStart(len, "0"));
  return out;
}

function isAsciiDigit(ch: string): boolean {
  return ch.length === 1 && ch >= "0" && ch <= "9";
}

export class DigitTokenizer extends PieceTokenizer {
  readonly kind = "digit" as const;
  readonly chunk: number;
  readonly align: "left" | "right";
  private readonly charIds = new Map<string, number>();
  /** chunkStart[len]: id of the all-zero chunk of `len` digits. */
  private readonly chunkStart: number[] = [];

  constructor(options: DigitTokenizerOptions, where = "digit tokenizer") {
    checkKeys(options, ["chunk", "align", "alphabet", "fallback"], `${where} options`);
    const chunk = checkPositiveInt(options.chunk ?? 3, `${where} chunk`);
    if (chunk > MAX_DIGIT_CHUNK) throw new UserError(`${where} chunk must be at most ${MAX_DIGIT_CHUNK}, got ${chunk}`);
    const align = options.align ?? "left";
    if (align !== "left" && align !== "right") throw new UserError(`${where} align must be "left" or "right", got ${JSON.stringify(align)}`);
    const fallback = checkFallback(options.fallback ?? "byte", `${where} fallback`);
    const alphabet = alphabetList(options.alphabet, `${where} alphabet`);
    alphabet.forEach((ch, i) => {
      if (isAsciiDigit(ch)) throw new UserError(`${where} alphabet[${i}] is the digit "${ch}"; digits are chunk tokens`);
    });
    const chunks = digitChunks(chunk);
    super(fallback, [...chunks, ...alphabet]);
    this.chunk = chunk;
    this.align = align;
    for (let len = 1, id = this.first; len <= chunk; id += 10 ** len, len++) this.chunkStart[len] = id;
    alphabet.forEach((ch, i) => this.charIds.set(ch, this.first + chunks.length + i));
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const [seg] of text.matchAll(DIGIT_RUN)) {
      if (isAsciiDigit(seg[0])) {
        const k = this.chunk;
        let at = 0;
        if (this.align === "right" && seg.length % k !== 0) at = seg.length % k;
        if (at > 0) out.push(this.chunkStart[at] + Number(seg.slice(0, at)));
        for (; at < seg.length; at += k) {
          const piece = seg.slice(at, at + k);
          out.push(this.chunkStart[piece.length] + Number(piece));
        }
        continue;
      }
      pushCodePoints(seg, this.charIds, this.fallback, out);
    }
    return out;
  }

  toJSON(): DigitTokenizerJSON {
    return {
      kind: "digit",
      version: 1,
      fallback: this.fallback,
      chunk: this.chunk,
      align: this.align,
      alphabet: this.pieces.slice(this.pieces.length - this.charIds.size),
    };
  }
}

/** Chunks of k digits plus the corpus's non-digit code points, sorted by code point. */
export function trainDigitTokenizer(corpus: Corpus, options: DigitTrainOptions = {}): DigitTokenizer {
  checkKeys(options, ["chunk", "align", "fallback", "minCount", "extra"], "digit training options");
  const minCount = checkPositiveInt(options.minCount ?? 1, "digit training option minCount");
  const keep = new Set<string>();
  for (const [ch, n] of countCodePoints(corpus)) if (n >= minCount && !isAsciiDigit(ch)) keep.add(ch);
  for (const ch of alphabetList(options.extra ?? [], "digit training option extra")) if (!isAsciiDigit(ch)) keep.add(ch);
  const { chunk, align, fallback } = options;
  return new DigitTokenizer({
    alphabet: [...keep].sort(byCodePoint),
    ...(chunk !== undefined && { chunk }),
    ...(align !== undefined && { align }),
    ...(fallback !== undefined && { fallback }),
  });
}

export function digitTokenizerFromJSON(obj: Record<string, unknown>, where: string): DigitTokenizer {
  checkKeys(obj, ["kind", "version", "fallback", "chunk", "align", "alphabet"], where);
  const fallback = checkFallback(obj.fallback, `${where}: field "fallback"`);
  const chunk = checkPositiveInt(obj.chunk, `${where}: field "chunk"`);
  if (obj.align !== "left" && obj.align !== "right") {
    throw new UserError(`${where}: field "align" must be "left" or "right", got ${JSON.stringify(obj.align)}`);
  }
  const align = obj.align;
  const alphabet = stringArrayField(obj, "alphabet", where);
  return new DigitTokenizer({ chunk, align, alphabet, fallback }, `${where}: field`);
}

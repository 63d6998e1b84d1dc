/**
 * Byte-level BPE (Sennrich et al. 2016; GPT-2's byte-level variant): the base vocabulary is the 256 bytes, and
 * training repeatedly merges the most frequent adjacent pair inside pre-tokens. Ties in pair counts go to the
 * pair with the smaller left id, then the smaller right id, so training is deterministic and independent of
 * document order. Encoding applies merges by rank (lowest first), all occurrences left to right, like GPT-2.
 */
import { UserError } from "../errors";
import { assertId, checkKeys, checkPositiveInt, corpusDocs, splitByPattern } from "./base";
import { BOS_ID, BYTE_OFFSET, EOS_ID, PAD_ID, type BpeTokenizerJSON, type Corpus, type Pretokenizer, type Tokenizer } from "./types";
import { utf8Decode, utf8EncodeInto } from "./utf8";

/** Id of the first merged token (3 specials + 256 bytes). */
export const BPE_FIRST_MERGE_ID = BYTE_OFFSET + 256;
/** Pair keys pack two ids into one safe integer: a · 2^21 + b. */
const KEY = 2 ** 21;
/** Largest vocabulary a BPE tokenizer may have (ids must fit the pair key). */
export const BPE_MAX_VOCAB = KEY;
const ENCODE_CACHE_LIMIT = 1 << 16;
/** Pre-tokens longer than this (in UTF-16 units) are not cached. */
const CACHED_WORD_LENGTH = 256;
/** Pre-tokens with more bytes than this are merged with the O(n log n) heap form instead of the O(n²) scan. */
const LONG_WORD = 64;

/**
 * Pre-tokenisation patterns. "gpt2" is GPT-2's split (contractions, optional-space + letters, + numbers,
 * + other symbols, whitespace) with Unicode property escapes; "whitespace" splits runs of space / non-space;
 * "none" keeps each document whole (merges may then cross word boundaries; training cost grows with the
 * longest document, so use it for corpora of short strings such as lab examples).
 */
export const PRETOKENIZERS: Readonly<Record<Pretokenizer, RegExp | null>> = Object.freeze({
  gpt2: /'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu,
  whitespace: /\S+|\s+/gu,
  none: null,
});

function checkPretokenizer(value: unknown, where: string): Pretokenizer {
  if (typeof value !== "string" || !Object.hasOwn(PRETOKENIZERS, value)) {
    throw new UserError(`${where} must be one of ${Object.keys(PRETOKENIZERS).join(", ")}, got ${JSON.stringify(value)}`);
  }
  return value as Pretokenizer;
}

/**
 * Splits `text` into pre-tokens whose concatenation is exactly `text` (any gap the pattern leaves becomes a
 * pre-token of its own, so nothing is ever lost).
 * @example pretokenize("47+8=55 ok", "gpt2") // → ["47", "+", "8", "=", "55", " ok"]
 */
export function pretokenize(text: string, pretokenizer: Pretokenizer): string[] {
  const re = PRETOKENIZERS[pretokenizer];
  if (re === null) return text.length > 0 ? [text] : [];
  return splitByPattern(text, re);
}

function byteIds(word: string): number[] {
  const ids = utf8EncodeInto(word, []);
  for (let i = 0; i < ids.length; i++) ids[i] += BYTE_OFFSET;
  return ids;
}

export class BpeTokenizer implements Tokenizer {
  readonly kind = "bpe" as const;
  readonly padId = PAD_ID;
  readonly bosId = BOS_ID;
  readonly eosId = EOS_ID;
  readonly unkId?: number = undefined;
  readonly vocabSize: number;
  readonly merges: readonly (readonly [number, number])[];
  private readonly ranks = new Map<number, number>();
  private readonly bytesOf: number[][] = [];
  private readonly cache = new Map<string, number[]>();

  constructor(
    merges: readonly (readonly [number, number])[],
    readonly pretokenizer: Pretokenizer = "gpt2",
    where = "BPE merges",
  ) {
    checkPretokenizer(pretokenizer, "BPE pretokenizer");
    this.vocabSize = BPE_FIRST_MERGE_ID + merges.length;
    if (this.vocabSize > BPE_MAX_VOCAB) throw new UserError(`${where}: ${merges.length} merges exceed the vocabulary limit ${BPE_MAX_VOCAB}`);
    for (let b = 0; b < 256; b++) this.bytesOf[BYTE_OFFSET + b] = [b];
    merges.forEach((pair, k) => {
      const id = BPE_FIRST_MERGE_ID + k;
      if (!Array.isArray(pair) || pair.length !== 2) throw new UserError(`${where}[${k}] must be a pair [leftId, rightId]`);
      for (const x of pair) {
        if (!Number.isInteger(x) || x < BYTE_OFFSET || x >= id) {
          throw new UserError(`${where}[${k}] has id ${JSON.stringify(x)}; merge ${k} may only join ids in [${BYTE_OFFSET}, ${id})`);
        }
      }
      const key = pair[0] * KEY + pair[1];
      if (this.ranks.has(key)) throw new UserError(`${where}[${k}] repeats merge ${this.ranks.get(key)} [${pair[0]}, ${pair[1]}]`);
      this.ranks.set(key, k);
      this.bytesOf[id] = [...this.bytesOf[pair[0]], ...this.bytesOf[pair[1]]];
    });
    this.merges = merges.map(([a, b]) => [a, b] as const);
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const word of pretokenize(text, this.pretokenizer)) {
      let ids = this.cache.get(word);
      if (ids === undefined) {
        ids = this.encodeWord(word);
        if (word.length <= CACHED_WORD_LENGTH) {
          if (this.cache.size >= ENCODE_CACHE_LIMIT) this.cache.clear();
          this.cache.set(word, ids);
        }
      }
      for (const id of ids) out.push(id);
    }
    return out;
  }

  /** One pre-token: its bytes, then merges by rank (the heap form for long pre-tokens, e.g. pretokenizer "none"). */
  private encodeWord(word: string): number[] {
    const ids = byteIds(word);
    return ids.length <= LONG_WORD ? mergeByRankSimple(ids, this.ranks) : mergeByRankHeap(ids, this.ranks);
  }

  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    for (const id of ids) {
      assertId(id, this.vocabSize);
      if (id < BYTE_OFFSET) continue;
      for (const b of this.bytesOf[id]) bytes.push(b);
    }
    return utf8Decode(bytes);
  }

  /** The token's text when its bytes are complete UTF-8, else its bytes as "<0xE2><0x82>". */
  idToToken(id: number): string {
    assertId(id, this.vocabSize);
    if (id < BYTE_OFFSET) return ["<pad>", "<bos>", "<eos>"][id];
    const bytes = this.bytesOf[id];
    try {
      const text = new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(bytes));
      if (!/[\p{Cc}]/u.test(text)) return text;
    } catch {
      // not complete UTF-8: show the bytes
    }
    return bytes.map((b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`).join("");
  }

  toJSON(): BpeTokenizerJSON {
    return { kind: "bpe", version: 1, pretokenizer: this.pretokenizer, merges: this.merges.map(([a, b]) => [a, b]) };
  }
}

/** `ids` with every non-overlapping occurrence of (a, b), scanned left to right, replaced by `id`. */
function mergePair(ids: readonly number[], a: number, b: number, id: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < ids.length; ) {
    if (j + 1 < ids.length && ids[j] === a && ids[j + 1] === b) {
      out.push(id);
      j += 2;
    } else out.push(ids[j++]);
  }
  return out;
}

/**
 * Merges by rank, the obvious way: find the lowest-rank adjacent pair, merge all its occurrences left to right,
 * repeat. A merge only creates pairs of higher rank, so ranks are applied in increasing order. O(n²) per word.
 */
export function mergeByRankSimple(ids: readonly number[], ranks: ReadonlyMap<number, number>): number[] {
  let out = [...ids];
  while (out.length >= 2) {
    let best = Infinity;
    let at = -1;
    for (let j = 0; j + 1 < out.length; j++) {
      const r = ranks.get(out[j] * KEY + out[j + 1]);
      if (r !== undefined && r < best) {
        best = r;
        at = j;
      }
    }
    if (at < 0) break;
    out = mergePair(out, out[at], out[at + 1], BPE_FIRST_MERGE_ID + best);
  }
  return out;
}

/**
 * The same result as `mergeByRankSimple` in O(n log n): a doubly linked list of symbols and a heap of
 * (rank, position) for adjacent pairs, popped lowest rank first and, within a rank, leftmost first (which is
 * the left-to-right, non-overlapping rule). Entries whose pair has changed since they were pushed are skipped.
 */
export function mergeByRankHeap(ids: readonly number[], ranks: ReadonlyMap<number, number>): number[] {
  const n = ids.length;
  const sym = Int32Array.from(ids);
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  const heap = new PairHeap(); // (−rank, position): the highest "count" is the lowest rank
  const push = (i: number) => {
    const j = next[i];
    if (j < 0) return;
    const r = ranks.get(sym[i] * KEY + sym[j]);
    if (r !== undefined) heap.push(-r, i);
  };
  for (let i = 0; i + 1 < n; i++) push(i);
  while (heap.size > 0) {
    const [negRank, i] = heap.pop();
    const j = next[i];
    if (sym[i] < 0 || j < 0 || ranks.get(sym[i] * KEY + sym[j]) !== -negRank) continue;
    sym[i] = BPE_FIRST_MERGE_ID - negRank;
    sym[j] = -1;
    next[i] = next[j];
    if (next[j] >= 0) prev[next[j]] = i;
    if (prev[i] >= 0) push(prev[i]);
    push(i);
  }
  const out: number[] = [];
  for (let i = n > 0 ? 0 : -1; i >= 0; i = next[i]) out.push(sym[i]);
  return out;
}

export interface BpeTrainOptions {
  /** Target vocabulary size, specials and bytes included (≥ 259; default 512). Training may stop earlier. */
  vocabSize?: number;
  /** Pre-tokenisation (default "gpt2"). */
  pretokenizer?: Pretokenizer;
  /** Stop when the best pair occurs fewer times than this (default 2). */
  minFrequency?: number;
}

/**
 * Max-heap of (count, pairKey): larger count first, then smaller key (smaller left id, then smaller right id).
 * Entries go stale when a count changes; a fresh entry is pushed then, and stale ones are skipped on pop.
 */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];
  get size(): number {
    return this.counts.length;
  }
  private above(i: number, j: number): boolean {
    const ci = this.counts[i];
    const cj = this.counts[j];
    return ci > cj || (ci === cj && this.keys[i] < this.keys[j]);
  }
  private swap(i: number, j: number): void {
    const c = this.counts[i];
    this.counts[i] = this.counts[j];
    this.counts[j] = c;
    const k = this.keys[i];
    this.keys[i] = this.keys[j];
    this.keys[j] = k;
  }
  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    for (let i = this.counts.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  /** Removes the top entry and returns [count, key]. */
  pop(): [number, number] {
    const top: [number, number] = [this.counts[0], this.keys[0]];
    const lastC = this.counts.pop() as number;
    const lastK = this.keys.pop() as number;
    const n = this.counts.length;
    if (n > 0) {
      this.counts[0] = lastC;
      this.keys[0] = lastK;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < n && this.above(l, m)) m = l;
        if (r < n && this.above(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

/**
 * Learns merges from a corpus. Words (pre-tokens) are de-duplicated with counts; pair counts are kept
 * incrementally: a merge rewrites only the words that contain its pair (found through a pair → words index)
 * and applies the net count changes, so a step costs the size of the affected words, not of the corpus.
 * @example trainBpeTokenizer("aaabdaaabac", { vocabSize: 262, pretokenizer: "none" }).merges
 *   // → [[100, 100], [100, 101], [259, 260]]: "aa", "ab", then "aa"+"ab" (ids are byte + 3)
 */
export function trainBpeTokenizer(corpus: Corpus, options: BpeTrainOptions = {}): BpeTokenizer {
  checkKeys(options, ["vocabSize", "pretokenizer", "minFrequency"], "BPE training options");
  const vocabSize = checkPositiveInt(options.vocabSize ?? 512, "BPE training option vocabSize", BPE_FIRST_MERGE_ID);
  if (vocabSize > BPE_MAX_VOCAB) throw new UserError(`BPE training option vocabSize must be ≤ ${BPE_MAX_VOCAB}, got ${vocabSize}`);
  const pretokenizer = checkPretokenizer(options.pretokenizer ?? "gpt2", "BPE training option pretokenizer");
  const minFrequency = checkPositiveInt(options.minFrequency ?? 2, "BPE training option minFrequency");

  const wordCounts = new Map<string, number>();
  for (const doc of corpusDocs(corpus)) {
    for (const w of pretokenize(doc, pretokenizer)) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
  }
  const words: number[][] = [];
  const counts: number[] = [];
  for (const [w, c] of wordCounts) {
    const ids = byteIds(w);
    if (ids.length < 2) continue;
    words.push(ids);
    counts.push(c);
  }

  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, number[]>(); // may hold duplicates and stale word indices: checked on use
  const index = (key: number, wi: number) => {
    const list = pairWords.get(key);
    if (list === undefined) pairWords.set(key, [wi]);
    else if (list[list.length - 1] !== wi) list.push(wi);
  };
  words.forEach((w, wi) => {
    for (let j = 0; j + 1 < w.length; j++) {
      const key = w[j] * KEY + w[j + 1];
      pairCount.set(key, (pairCount.get(key) ?? 0) + counts[wi]);
      index(key, wi);
    }
  });
  const heap = new PairHeap();
  for (const [key, c] of pairCount) heap.push(c, key);

  const merges: [number, number][] = [];
  const visited = new Int32Array(words.length).fill(-1);
  while (BPE_FIRST_MERGE_ID + merges.length < vocabSize && heap.size > 0) {
    const [count, key] = heap.pop();
    if (pairCount.get(key) !== count) continue; // stale entry
    if (count < minFrequency) break;
    const a = Math.floor(key / KEY);
    const b = key - a * KEY;
    const id = BPE_FIRST_MERGE_ID + merges.length;
    merges.push([a, b]);

    const delta = new Map<number, number>();
    const add = (k: number, d: number) => delta.set(k, (delta.get(k) ?? 0) + d);
    for (const wi of pairWords.get(key) ?? []) {
      if (visited[wi] === id) continue;
      visited[wi] = id;
      const w = words[wi];
      const merged = mergePair(w, a, b, id);
      if (merged.length === w.length) continue; // stale index entry: the pair left this word earlier
      const c = counts[wi];
      for (let j = 0; j + 1 < w.length; j++) add(w[j] * KEY + w[j + 1], -c);
      for (let j = 0; j + 1 < merged.length; j++) {
        const k = merged[j] * KEY + merged[j + 1];
        add(k, c);
        if (merged[j] === id || merged[j + 1] === id) index(k, wi); // other pairs were already indexed
      }
      words[wi] = merged;
    }
    pairWords.delete(key);
    for (const [k, d] of delta) {
      if (d === 0) continue;
      const n = (pairCount.get(k) ?? 0) + d;
      if (n > 0) {
        pairCount.set(k, n);
        heap.push(n, k);
      } else {
        pairCount.delete(k);
        pairWords.delete(k);
      }
    }
  }
  return new BpeTokenizer(merges, pretokenizer);
}

export function bpeTokenizerFromJSON(obj: Record<string, unknown>, where: string): BpeTokenizer {
  checkKeys(obj, ["kind", "version", "pretokenizer", "merges"], where);
  const pretokenizer = checkPretokenizer(obj.pretokenizer, `${where}: field "pretokenizer"`);
  if (!Array.isArray(obj.merges)) throw new UserError(`${where}: field "merges" must be an array of [leftId, rightId] pairs`);
  return new BpeTokenizer(obj.merges as [number, number][], pretokenizer, `${where}: field "merges"`);
}

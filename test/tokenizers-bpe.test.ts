import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BPE_FIRST_MERGE_ID, BpeTokenizer, pretokenize, trainBpeTokenizer, type Pretokenizer } from "../lib/tokenizers";
import { mergeByRankHeap, mergeByRankSimple } from "../lib/tokenizers/bpe";
import { utf8Encode } from "../lib/tokenizers/utf8";
import { labStrings, seededRandom, UNICODE_SAMPLES } from "./tokenizers-fixtures";

/**
 * The slow, obvious BPE trainer: recount every pair of every word before each merge, take the largest count
 * (ties: smaller left id, then smaller right id), merge it left to right everywhere. The incremental trainer
 * must produce the same merges, and encoding a training word must give its final training segmentation.
 */
function referenceBpe(docs: readonly string[], pretokenizer: Pretokenizer, vocabSize: number, minFrequency: number) {
  const counts = new Map<string, number>();
  for (const d of docs) for (const w of pretokenize(d, pretokenizer)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const words = [...counts].map(([w, c]) => ({ text: w, ids: utf8Encode(w).map((b) => b + 3), c }));
  const merges: [number, number][] = [];
  while (BPE_FIRST_MERGE_ID + merges.length < vocabSize) {
    const pairs = new Map<string, number>();
    for (const { ids, c } of words) for (let j = 0; j + 1 < ids.length; j++) pairs.set(`${ids[j]},${ids[j + 1]}`, (pairs.get(`${ids[j]},${ids[j + 1]}`) ?? 0) + c);
    let best: [number, number, number] | undefined;
    for (const [k, n] of pairs) {
      const [a, b] = k.split(",").map(Number);
      if (!best || n > best[0] || (n === best[0] && (a < best[1] || (a === best[1] && b < best[2])))) best = [n, a, b];
    }
    if (!best || best[0] < minFrequency) break;
    const [, a, b] = best;
    const id = BPE_FIRST_MERGE_ID + merges.length;
    merges.push([a, b]);
    for (const w of words) {
      const out: number[] = [];
      for (let j = 0; j < w.ids.length; ) {
        if (j + 1 < w.ids.length && w.ids[j] === a && w.ids[j + 1] === b) {
          out.push(id);
          j += 2;
        } else out.push(w.ids[j++]);
      }
      w.ids = out;
    }
  }
  return { merges, words };
}

describe("BPE", () => {
  it("learns the textbook merges on aaabdaaabac", () => {
    // Wikipedia "Byte pair encoding": aa → Z, ab → Y, ZY → X, giving XdXac. Ids are byte + 3 (a = 100).
    const tok = trainBpeTokenizer("aaabdaaabac", { vocabSize: 262, pretokenizer: "none" });
    expect(tok.merges).toEqual([
      [100, 100],
      [100, 101],
      [259, 260],
    ]);
    expect([259, 260, 261].map((id) => tok.idToToken(id))).toEqual(["aa", "ab", "aaab"]);
    expect(tok.encode("aaabdaaabac")).toEqual([261, 103, 261, 100, 102]);
    expect(tok.encode("aaaa")).toEqual([259, 259]);
    expect(tok.encode("aaa")).toEqual([259, 100]); // left to right, no overlap
    // "Za" and "ab" both occur twice after the first merge; the tie goes to the smaller left id (a = 100 < Z = 259).
  });

  it("stops at minFrequency and at the target vocabulary size", () => {
    expect(trainBpeTokenizer("abcd", { vocabSize: 300, pretokenizer: "none" }).vocabSize).toBe(259);
    expect(trainBpeTokenizer("abcd", { vocabSize: 300, pretokenizer: "none", minFrequency: 1 }).merges).toEqual([
      [100, 101],
      [102, 103], // "Zc" and "cd" tie at 1: smaller left id (c = 102 < Z = 259)
      [259, 260],
    ]);
    const lab = labStrings(500, 3);
    expect(trainBpeTokenizer(lab, { vocabSize: 300 }).vocabSize).toBe(300);
  });

  it("never merges across pre-token boundaries", () => {
    const tok = trainBpeTokenizer(["a b a b a b"], { vocabSize: 280, pretokenizer: "gpt2" });
    expect(tok.merges).toEqual([[35, 101], [35, 100]]); // " b" (3×), " a" (2×); never "a " or "b "
    expect(pretokenize("47+8=55 don't  go\n", "gpt2")).toEqual(["47", "+", "8", "=", "55", " don", "'t", " ", " go", "\n"]);
    expect(pretokenize("a  b\tc", "whitespace")).toEqual(["a", "  ", "b", "\t", "c"]);
    expect(pretokenize("a b", "none")).toEqual(["a b"]);
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.constantFrom<Pretokenizer>("gpt2", "whitespace", "none"), (s, p) =>
        pretokenize(s, p).join("") === s,
      ),
    );
  });

  it("matches the slow reference trainer (merges and training segmentations)", () => {
    const alphabet = fc.constantFrom(..."aab ab.1é😀");
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: alphabet, maxLength: 30 }), { minLength: 1, maxLength: 12 }),
        fc.constantFrom<Pretokenizer>("gpt2", "whitespace", "none"),
        fc.integer({ min: 259, max: 320 }),
        fc.integer({ min: 1, max: 3 }),
        (docs, pretokenizer, vocabSize, minFrequency) => {
          const ref = referenceBpe(docs, pretokenizer, vocabSize, minFrequency);
          const tok = trainBpeTokenizer(docs, { vocabSize, pretokenizer, minFrequency });
          expect(tok.merges).toEqual(ref.merges);
          for (const w of ref.words) expect(tok.encode(w.text)).toEqual(w.ids);
        },
      ),
      { numRuns: 200 },
    );
    const lab = labStrings(300, 5);
    const ref = referenceBpe(lab, "gpt2", 400, 2);
    expect(trainBpeTokenizer(lab, { vocabSize: 400 }).merges).toEqual(ref.merges);
    expect(ref.merges.length).toBeGreaterThan(50);
  });

  it("does not depend on document order", () => {
    const docs = [...labStrings(400, 7), ...UNICODE_SAMPLES];
    const rnd = seededRandom(11);
    const shuffled = [...docs].sort(() => rnd() - 0.5);
    for (const pretokenizer of ["gpt2", "none"] as const) {
      const a = trainBpeTokenizer(docs, { vocabSize: 450, pretokenizer });
      const b = trainBpeTokenizer(shuffled, { vocabSize: 450, pretokenizer });
      expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    }
  });

  it("learns merges that split multi-byte characters and still decodes partial sequences", () => {
    const tok = trainBpeTokenizer([..."😀😁😂🤣".repeat(5)].join(" "), { vocabSize: 300 });
    const ids = tok.encode("😀");
    expect(ids.length).toBeLessThan(4);
    const shown = tok.idToToken(BPE_FIRST_MERGE_ID);
    expect(shown).toMatch(/^(<0x[0-9A-F]{2}>)+$|^ /);
    const all = tok.encode("x😀y");
    for (let i = 0; i <= all.length; i++) expect(() => tok.decode(all.slice(0, i))).not.toThrow();
    expect(tok.decode(all)).toBe("x😀y");
  });

  it("caches per pre-token without changing results", () => {
    const tok = trainBpeTokenizer(labStrings(500, 2), { vocabSize: 400 });
    const fresh = new BpeTokenizer(tok.merges, "gpt2");
    const strings = labStrings(200, 9);
    const first = strings.map((s) => tok.encode(s));
    expect(strings.map((s) => tok.encode(s))).toEqual(first);
    expect(strings.map((s) => fresh.encode(s))).toEqual(first);
  });
});

describe("BPE encoding forms", () => {
  it("the heap form (long pre-tokens) equals the simple scan on random merges and inputs", () => {
    const docs = [...labStrings(300, 4), "aaaaaaaabbbbabababab", "😀😀😀 ééé"];
    for (const pretokenizer of ["gpt2", "none"] as const) {
      const tok = trainBpeTokenizer(docs, { vocabSize: 420, pretokenizer });
      const ranks = new Map(tok.merges.map(([a, b], r) => [a * 2 ** 21 + b, r]));
      const bytesOf = (s: string) => utf8Encode(s).map((b) => b + 3);
      fc.assert(
        fc.property(fc.string({ unit: fc.constantFrom(..."0123456789+=()[],$abé😀 "), maxLength: 200 }), (s) => {
          const ids = bytesOf(s);
          expect(mergeByRankHeap(ids, ranks)).toEqual(mergeByRankSimple(ids, ranks));
        }),
        { numRuns: 300 },
      );
      for (const s of ["", "a", "aaaaaaaa", "abababab"]) expect(mergeByRankHeap(bytesOf(s), ranks)).toEqual(mergeByRankSimple(bytesOf(s), ranks));
    }
  });

  it("encodes a long text with pretokenizer none like the sum of its parts would be merged", () => {
    const docs = labStrings(200, 8);
    const tok = trainBpeTokenizer(docs, { vocabSize: 350, pretokenizer: "none" });
    const long = docs.join("");
    const ids = tok.encode(long); // one 5 kB pre-token: heap form
    expect(tok.decode(ids)).toBe(long);
    const ranks = new Map(tok.merges.map(([a, b], r) => [a * 2 ** 21 + b, r]));
    expect(ids).toEqual(mergeByRankSimple(utf8Encode(long).map((b) => b + 3), ranks));
  });
});

import fc from "fast-check";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UserError } from "../lib/errors";
import {
  BOS_ID,
  CharTokenizer,
  DigitTokenizer,
  encodePromptResponse,
  encodeWithSpecials,
  EOS_ID,
  loadTokenizer,
  PAD_ID,
  saveTokenizer,
  splitWords,
  TOKENIZER_KINDS,
  tokenizerFromJSON,
  trainTokenizer,
  UNK_ID,
  type Tokenizer,
  type TokenizerKind,
} from "../lib/tokenizers";
import { LAB_EXAMPLES, labStrings, UNICODE_SAMPLES } from "./tokenizers-fixtures";

const LAB = labStrings(2000, 1);
const MIXED = [...LAB.slice(0, 400), ...UNICODE_SAMPLES];

function trainAll(corpus: readonly string[]): Record<TokenizerKind, Tokenizer> {
  return {
    char: trainTokenizer("char", corpus),
    bpe: trainTokenizer("bpe", corpus, { vocabSize: 400 }),
    word: trainTokenizer("word", corpus, { vocabSize: 600 }),
    digit: trainTokenizer("digit", corpus, { chunk: 3 }),
  };
}

const LAB_TOKS = trainAll(LAB);
const MIXED_TOKS = trainAll(MIXED);
const UNK_TOKS: Tokenizer[] = [
  trainTokenizer("char", LAB, { fallback: "unk" }),
  trainTokenizer("word", LAB, { fallback: "unk", vocabSize: 300 }),
  trainTokenizer("digit", LAB, { fallback: "unk" }),
];

/** Strings of arbitrary UTF-16 code units, lone surrogates included. */
const codeUnitString = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u)), maxLength: 40 });
const unicodeString = fc.string({ unit: "binary", maxLength: 40 });
const labLike = fc.string({ unit: fc.constantFrom(..."0123456789+=()[],~&|TF$' abcxyz-.é😀"), maxLength: 40 });

describe.each(TOKENIZER_KINDS.map((kind) => [kind] as const))("%s tokenizer", (kind) => {
  const toks = [LAB_TOKS[kind], MIXED_TOKS[kind]];

  it("round-trips arbitrary Unicode (code points and lone surrogates)", () => {
    for (const tok of toks) {
      fc.assert(fc.property(unicodeString, (s) => tok.decode(tok.encode(s)) === s));
      fc.assert(fc.property(codeUnitString, (s) => tok.decode(tok.encode(s)) === s));
      fc.assert(fc.property(labLike, (s) => tok.decode(tok.encode(s)) === s));
    }
    for (const s of [...LAB_EXAMPLES, ...UNICODE_SAMPLES, "", "\uD800", "\uDC00\uD800", "a\uD83D"]) {
      for (const tok of toks) expect(tok.decode(tok.encode(s))).toBe(s);
    }
  });

  it("emits only ids in [3, vocabSize): no specials from encode", () => {
    for (const tok of toks) {
      fc.assert(
        fc.property(unicodeString, (s) => tok.encode(s).every((id) => Number.isInteger(id) && id >= 3 && id < tok.vocabSize)),
      );
    }
  });

  it("has the fixed special ids and skips them when decoding", () => {
    const tok = LAB_TOKS[kind];
    expect([tok.padId, tok.bosId, tok.eosId]).toEqual([PAD_ID, BOS_ID, EOS_ID]);
    expect([PAD_ID, BOS_ID, EOS_ID]).toEqual([0, 1, 2]);
    expect(tok.unkId).toBeUndefined();
    const ids = tok.encode("47+8=55");
    expect(tok.decode([BOS_ID, ...ids, EOS_ID, PAD_ID, PAD_ID])).toBe("47+8=55");
    expect(tok.idToToken(0)).toBe("<pad>");
    expect(tok.idToToken(2)).toBe("<eos>");
  });

  it("decodes any sequence of valid ids without throwing, and rejects invalid ids", () => {
    for (const tok of toks) {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 0, max: tok.vocabSize - 1 }), { maxLength: 30 }), (ids) => {
          expect(typeof tok.decode(ids)).toBe("string");
          for (const id of ids) expect(typeof tok.idToToken(id)).toBe("string");
        }),
      );
      expect(() => tok.decode([tok.vocabSize])).toThrow(UserError);
      expect(() => tok.decode([-1])).toThrow(/outside the vocabulary/);
      expect(() => tok.decode([1.5])).toThrow(UserError);
    }
  });

  it("is deterministic: the same corpus and options give identical JSON", () => {
    const again = trainAll(MIXED)[kind];
    expect(JSON.stringify(again.toJSON())).toBe(JSON.stringify(MIXED_TOKS[kind].toJSON()));
  });

  it("round-trips through JSON with identical encodings", () => {
    for (const tok of [...toks, ...UNK_TOKS.filter((t) => t.kind === kind)]) {
      const json = JSON.parse(JSON.stringify(tok));
      expect(json.kind).toBe(kind);
      expect(json.version).toBe(1);
      const back = tokenizerFromJSON(json);
      expect(back.kind).toBe(kind);
      expect(back.vocabSize).toBe(tok.vocabSize);
      expect(back.unkId).toBe(tok.unkId);
      expect(JSON.stringify(back.toJSON())).toBe(JSON.stringify(json));
      fc.assert(
        fc.property(fc.oneof(unicodeString, labLike), (s) => {
          expect(back.encode(s)).toEqual(tok.encode(s));
        }),
      );
      for (const s of LAB.slice(0, 200)) expect(back.encode(s)).toEqual(tok.encode(s));
    }
  });
});

describe("unk fallback", () => {
  it("maps characters outside the alphabet to UNK and decodes them as U+FFFD", () => {
    for (const tok of UNK_TOKS) {
      expect(tok.unkId).toBe(UNK_ID);
      const ids = tok.encode("47+é😀");
      expect(ids.filter((id) => id === UNK_ID)).toHaveLength(2);
      expect(tok.decode(ids)).toBe("47+\uFFFD\uFFFD");
      expect(tok.idToToken(UNK_ID)).toBe("<unk>");
      fc.assert(fc.property(labLike.filter((s) => !/[é😀]/u.test(s)), (s) => tok.decode(tok.encode(s)) === s));
    }
  });

  it("is smaller than the byte fallback by 255 ids", () => {
    expect(trainTokenizer("char", LAB).vocabSize - trainTokenizer("char", LAB, { fallback: "unk" }).vocabSize).toBe(255);
  });
});

describe("char tokenizer", () => {
  it("builds its alphabet from the corpus, sorted by code point", () => {
    const tok = trainTokenizer("char", "47+8=55$");
    expect(tok.toJSON().alphabet).toEqual(["$", "+", "4", "5", "7", "8", "="]);
    expect(tok.vocabSize).toBe(259 + 7);
    expect(tok.encode("58")).toEqual([262, 264]);
    expect(tok.idToToken(262)).toBe("5");
  });

  it("iterates by code point: an astral character in the alphabet is one token", () => {
    const tok = new CharTokenizer({ alphabet: "a😀" });
    expect(tok.encode("😀a😀")).toEqual([259 + 1, 259, 259 + 1]);
    expect(tok.encode("é")).toEqual([3 + 0xc3, 3 + 0xa9]); // UTF-8 byte fallback
    expect(tok.idToToken(3 + 0xc3)).toBe("<0xC3>");
  });

  it("gathers byte tokens so characters split into bytes decode whole", () => {
    const tok = new CharTokenizer({ alphabet: "ab" });
    const ids = tok.encode("a😀b€");
    expect(ids).toHaveLength(1 + 4 + 1 + 3);
    expect(tok.decode(ids)).toBe("a😀b€");
    expect(tok.decode(ids.slice(0, 3))).toBe("a\uFFFD"); // a partial character never throws
  });

  it("serialises an alphabet holding a lone surrogate or an astral character", () => {
    const tok = trainTokenizer("char", "a\uD800😀");
    const back = tokenizerFromJSON(JSON.parse(JSON.stringify(tok)));
    expect(back.vocabSize).toBe(259 + 3);
    expect(back.encode("\uD800😀a")).toEqual(tok.encode("\uD800😀a"));
    expect(tok.encode("\uD800😀a")).toHaveLength(3);
  });

  it("accepts an explicit alphabet and the extra option", () => {
    const tok = trainTokenizer("char", "ab", { extra: "$" });
    expect(tok.toJSON().alphabet).toEqual(["$", "a", "b"]);
    expect(trainTokenizer("char", "aab", { minCount: 2 }).toJSON().alphabet).toEqual(["a"]);
    expect(() => new CharTokenizer({ alphabet: ["ab"] })).toThrow(/exactly one code point/);
    expect(() => new CharTokenizer({ alphabet: "aba" })).toThrow(/repeats "a"/);
  });
});

describe("word tokenizer", () => {
  it("splits letters, digits, whitespace and symbol runs", () => {
    expect(splitWords("map(+2,rev([3]))=")).toEqual(["map", "(+", "2", ",", "rev", "([", "3", "]))="]);
    expect(splitWords("repeat 'pu' 3 times")).toEqual(["repeat", " ", "'", "pu", "'", " ", "3", " ", "times"]);
    expect(splitWords("a\uD800b")).toEqual(["a", "\uD800", "b"]); // a lone surrogate is a symbol of its own
    expect(splitWords("")).toEqual([]);
  });

  it("keeps the most frequent multi-character pieces, ties in string order", () => {
    const corpus = ["ab ab ab cd cd ef ef x"];
    const chars = [" ", "a", "b", "c", "d", "e", "f", "x"];
    const words = (room: number) => trainTokenizer("word", corpus, { vocabSize: 259 + chars.length + room }).toJSON();
    expect(words(0)).toEqual({ kind: "word", version: 1, fallback: "byte", chars, words: [] });
    expect(words(1).words).toEqual(["ab"]);
    expect(words(2).words).toEqual(["ab", "cd"]); // "cd" and "ef" tie at 2: string order
    expect(words(9).words).toEqual(["ab", "cd", "ef"]); // "x" is one code point: a char, not a word
    const big = trainTokenizer("word", corpus, { vocabSize: 259 + 8 + 2 });
    expect(big.encode("ab ef")).toEqual([259 + 8, 259, 259 + 5, 259 + 6]);
  });

  it("spells out-of-vocabulary pieces with characters, then bytes", () => {
    const tok = trainTokenizer("word", LAB, { vocabSize: 400 });
    expect(tok.encode("repeat")).toHaveLength(1);
    const oov = tok.encode("tapper");
    expect(oov).toHaveLength(6);
    expect(tok.decode(oov)).toBe("tapper");
    expect(tok.encode("Ω")).toEqual([3 + 0xce, 3 + 0xa9]);
  });

  it("rejects a vocabSize too small for its characters", () => {
    expect(() => trainTokenizer("word", LAB, { vocabSize: 100 })).toThrow(/vocabSize 100 is below/);
  });
});

describe("digit tokenizer", () => {
  const alphabet = "+=$";
  const pieces = (tok: Tokenizer, s: string) => tok.encode(s).map((id) => tok.idToToken(id));

  it("chunks digit runs left to right (k = 3) or from the right", () => {
    const left = new DigitTokenizer({ alphabet, chunk: 3 });
    expect(pieces(left, "12345+7=012345$")).toEqual(["123", "45", "+", "7", "=", "012", "345", "$"]);
    const right = new DigitTokenizer({ alphabet, chunk: 3, align: "right" });
    expect(pieces(right, "12345+1234")).toEqual(["12", "345", "+", "1", "234"]);
    const one = new DigitTokenizer({ alphabet, chunk: 1 });
    expect(pieces(one, "907")).toEqual(["9", "0", "7"]);
  });

  it("has every chunk of 1..k digits as a token, with leading zeros distinct", () => {
    const tok = new DigitTokenizer({ alphabet, chunk: 3 });
    expect(tok.vocabSize).toBe(259 + 10 + 100 + 1000 + 3);
    expect(tok.encode("7")).toEqual([259 + 7]);
    expect(tok.encode("07")).toEqual([259 + 10 + 7]);
    expect(tok.encode("007")).toEqual([259 + 110 + 7]);
    expect(tok.encode("999")).toEqual([259 + 110 + 999]);
  });

  it("treats non-ASCII digits as ordinary characters", () => {
    const tok = new DigitTokenizer({ alphabet: "٤", chunk: 2 });
    expect(pieces(tok, "٤٤12")).toEqual(["٤", "٤", "12"]);
  });

  it("validates its options", () => {
    expect(() => new DigitTokenizer({ alphabet: "a1" })).toThrow(/digits are chunk tokens/);
    expect(() => new DigitTokenizer({ alphabet, chunk: 5 })).toThrow(/at most 4/);
    expect(() => new DigitTokenizer({ alphabet, chunk: 0 })).toThrow(UserError);
    expect(trainTokenizer("digit", "a1b2").toJSON().alphabet).toEqual(["a", "b"]);
  });
});

describe("heterogeneity", () => {
  it("gives different token counts for the same lab strings under each kind", () => {
    const count = (tok: Tokenizer, s: string) => tok.encode(s).length;
    // Hand-checked: chars vs 3-digit chunks on "47+8=55$".
    expect(count(LAB_TOKS.char, "47+8=55$")).toBe(8);
    expect(count(LAB_TOKS.digit, "47+8=55$")).toBe(6);
    const totals = TOKENIZER_KINDS.map((k) => LAB.slice(0, 400).reduce((n, s) => n + count(LAB_TOKS[k], s), 0));
    expect(new Set(totals).size).toBe(4);
    expect(totals[0]).toBe(LAB.slice(0, 400).reduce((n, s) => n + [...s].length, 0)); // char = code points
    for (const k of ["bpe", "word", "digit"] as const) expect(totals[TOKENIZER_KINDS.indexOf(k)]).toBeLessThan(totals[0]);
    // Per-string segmentations differ too, not only totals.
    const differing = LAB.slice(0, 400).filter((s) => new Set(TOKENIZER_KINDS.map((k) => count(LAB_TOKS[k], s))).size >= 3);
    expect(differing.length).toBeGreaterThan(100);
  });
});

describe("specials helpers", () => {
  const tok = LAB_TOKS.digit;

  it("encodeWithSpecials adds BOS/EOS on request", () => {
    const ids = tok.encode("55");
    expect(encodeWithSpecials(tok, "55")).toEqual([BOS_ID, ...ids, EOS_ID]);
    expect(encodeWithSpecials(tok, "55", { bos: false })).toEqual([...ids, EOS_ID]);
    expect(encodeWithSpecials(tok, "55", { bos: false, eos: false })).toEqual(ids);
  });

  it("encodePromptResponse marks where the response starts and counts n_M(y) with EOS", () => {
    for (const t of Object.values(LAB_TOKS)) {
      const pair = encodePromptResponse(t, "47+8=", "55");
      expect(pair.ids[0]).toBe(BOS_ID);
      expect(pair.ids.slice(1, pair.responseStart)).toEqual(t.encode("47+8="));
      expect(pair.ids.slice(pair.responseStart)).toEqual([...t.encode("55"), EOS_ID]);
      expect(pair.responseLength).toBe(t.encode("55").length + 1);
      expect(t.decode(pair.ids)).toBe("47+8=55");
    }
    const noSpecials = encodePromptResponse(tok, "1+1=", "2", { bos: false, eos: false });
    expect(noSpecials.responseStart).toBe(tok.encode("1+1=").length);
    expect(noSpecials.responseLength).toBe(1);
  });
});

describe("trainTokenizer and JSON validation", () => {
  const charJson = () => JSON.parse(JSON.stringify(trainTokenizer("char", "ab")));

  it("rejects unknown kinds and options", () => {
    expect(() => trainTokenizer("sentencepiece" as TokenizerKind, "ab")).toThrow(/unknown tokenizer kind "sentencepiece" \(valid: char, bpe, word, digit\)/);
    expect(() => trainTokenizer("bpe", "ab", { vocabSize: 300, vocab: 3 } as never)).toThrow(/unknown field "vocab"/);
    expect(() => trainTokenizer("bpe", "ab", { vocabSize: 100 })).toThrow(/vocabSize must be an integer ≥ 259/);
    expect(() => trainTokenizer("bpe", "ab", { pretokenizer: "bert" as never })).toThrow(/gpt2, whitespace, none/);
  });

  it("names the field and the problem for bad JSON", () => {
    const cases: [unknown, RegExp][] = [
      [null, /must be an object, got null/],
      ['{"kind":"char"}', /call JSON.parse first/],
      [[1, 2], /must be an object, got an array/],
      [{ ...charJson(), kind: "sentencepiece" }, /field "kind" must be one of char, bpe, word, digit/],
      [{ ...charJson(), version: 2 }, /version" is 2, written by a newer infifpo-ts; this one reads version 1/],
      [{ ...charJson(), version: 0 }, /version" is 0; this library reads version 1/],
      [{ ...charJson(), version: "1" }, /field "version" must be an integer/],
      [{ kind: "char", alphabet: [] }, /field "version" must be an integer, got undefined/],
      [{ ...charJson(), extra: 1 }, /unknown field "extra"/],
      [{ ...charJson(), fallback: "bytes" }, /field "fallback" must be "byte" or "unk"/],
      [{ ...charJson(), alphabet: ["a", "bc"] }, /alphabet"\[1\] must be exactly one code point/],
      [{ ...charJson(), alphabet: ["a", 7] }, /field "alphabet\[1\]" must be a string/],
      [{ ...charJson(), alphabet: "ab" }, /field "alphabet" must be an array of strings/],
      [{ kind: "bpe", version: 1, pretokenizer: "gpt2", merges: [[100, 100], [259, 261]] }, /merges"\[1\] has id 261; merge 1 may only join ids in \[3, 260\)/],
      [{ kind: "bpe", version: 1, pretokenizer: "gpt2", merges: [[0, 100]] }, /merges"\[0\] has id 0/],
      [{ kind: "bpe", version: 1, pretokenizer: "gpt2", merges: [[100, 100], [100, 100]] }, /merges"\[1\] repeats merge 0/],
      [{ kind: "bpe", version: 1, pretokenizer: "gpt2", merges: [[100]] }, /merges"\[0\] must be a pair/],
      [{ kind: "bpe", version: 1, pretokenizer: "gpt", merges: [] }, /field "pretokenizer" must be one of gpt2/],
      [{ kind: "bpe", version: 1, pretokenizer: "gpt2" }, /field "merges" must be an array/],
      [{ kind: "word", version: 1, fallback: "byte", chars: ["a"], words: ["a b"] }, /words\[0\] "a b" is not one piece/],
      [{ kind: "word", version: 1, fallback: "byte", chars: ["a"], words: ["x"] }, /two or more code points/],
      [{ kind: "digit", version: 1, fallback: "byte", chunk: 3, align: "middle", alphabet: [] }, /field "align" must be "left" or "right"/],
      [{ kind: "digit", version: 1, fallback: "byte", chunk: 9, align: "left", alphabet: [] }, /chunk must be at most 4/],
      [{ kind: "digit", version: 1, fallback: "byte", align: "left", alphabet: [] }, /field "chunk" must be an integer ≥ 1, got undefined/],
    ];
    for (const [json, message] of cases) {
      let error: unknown;
      try {
        tokenizerFromJSON(json);
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(json)).toBeInstanceOf(UserError);
      expect((error as Error).message, JSON.stringify(json)).toMatch(message);
      expect((error as Error).message).toMatch(/^tokenizer JSON/);
    }
  });

  it("saves and loads files, naming the file in errors", () => {
    const dir = mkdtempSync(join(tmpdir(), "tok-"));
    const path = join(dir, "bpe.json");
    saveTokenizer(path, LAB_TOKS.bpe);
    expect(loadTokenizer(path).encode(LAB[0])).toEqual(LAB_TOKS.bpe.encode(LAB[0]));
    const bad = join(dir, "bad.json");
    writeFileSync(bad, '{"kind": "char",');
    expect(() => loadTokenizer(bad)).toThrow(new RegExp(`^${bad}: not valid JSON`));
    writeFileSync(bad, '{"kind": "char", "version": 3}');
    expect(() => loadTokenizer(bad)).toThrow(new RegExp(`^${bad}: field "version" is 3`));
    expect(() => loadTokenizer(join(dir, "missing.json"))).toThrow(/cannot read tokenizer file/);
  });
});

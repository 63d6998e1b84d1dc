import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { utf8Decode, utf8Encode } from "../lib/tokenizers/utf8";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8");

describe("utf8 (WTF-8 encode, WHATWG decode with surrogates)", () => {
  it("encodes well-formed strings exactly like TextEncoder", () => {
    fc.assert(fc.property(fc.string({ unit: "binary" }), (s) => {
      expect(utf8Encode(s)).toEqual([...encoder.encode(s)]);
    }));
    expect(utf8Encode("a€😀")).toEqual([0x61, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]);
  });

  it("decodes any bytes like TextDecoder when no surrogate form (ED A0..BF) occurs", () => {
    const bytes = fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x80, 0xbf, 0xc3, 0xe2, 0xf0, 0xf4, 0x9f, 0x8f)), { maxLength: 24 });
    fc.assert(
      fc.property(bytes, (bs) => {
        for (let i = 0; i + 1 < bs.length; i++) if (bs[i] === 0xed && bs[i + 1] >= 0xa0 && bs[i + 1] <= 0xbf) return;
        expect(utf8Decode(bs)).toBe(decoder.decode(Uint8Array.from(bs)));
      }),
      { numRuns: 2000 },
    );
    expect(utf8Decode([0x68, 0xe2, 0x82])).toBe("h\uFFFD");
    expect(utf8Decode([0xf0, 0x9f, 0x41])).toBe("\uFFFDA");
    expect(utf8Decode([0xff, 0xc0, 0x80])).toBe("\uFFFD\uFFFD\uFFFD");
  });

  it("round-trips every JS string, lone surrogates included", () => {
    const units = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u)) });
    fc.assert(fc.property(units, (s) => utf8Decode(utf8Encode(s)) === s));
    expect(utf8Encode("\uD800")).toEqual([0xed, 0xa0, 0x80]);
    expect(utf8Decode([0xed, 0xa0, 0x80])).toBe("\uD800");
    const long = "é".repeat(20000);
    expect(utf8Decode(utf8Encode(long))).toBe(long);
  });
});

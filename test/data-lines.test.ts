import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { countLines, LineChunker, LineScanner, scanFileSync } from "../lib/data/lines";

type Seen = { n: number; text?: string; long?: number; last: boolean; end: number };

/** The line rules written out plainly over the whole stream at once (the reference for the scanner). */
function reference(bytes: Buffer, max: number): Seen[] {
  const out: Seen[] = [];
  let start = 0;
  for (let n = 1; start < bytes.length; n++) {
    const nl = bytes.indexOf(10, start);
    const stop = nl === -1 ? bytes.length : nl;
    let e = stop;
    if (e > start && bytes[e - 1] === 13) e--;
    let b = start;
    if (n === 1 && e - b >= 3 && bytes[b] === 0xef && bytes[b + 1] === 0xbb && bytes[b + 2] === 0xbf) b += 3;
    const end = nl === -1 ? bytes.length : nl + 1;
    const last = nl === -1;
    out.push(e - start > max ? { n, long: stop - start, last, end } : { n, text: bytes.toString("latin1", b, e), last, end });
    start = end;
  }
  return out;
}

/** What LineScanner reports when `bytes` is pushed in pieces cut at `cuts`. */
function scan(bytes: Buffer, max: number, cuts: number[]): Seen[] {
  const out: Seen[] = [];
  const s: LineScanner = new LineScanner(
    max,
    (buf, a, b, n, last) => out.push({ n, text: buf.toString("latin1", a, b), last, end: s.lineEnd }),
    (n, long, last) => out.push({ n, long, last, end: s.lineEnd }),
  );
  let at = 0;
  for (const c of [...cuts.filter((x) => x < bytes.length)].sort((x, y) => x - y)) {
    s.push(bytes.subarray(at, c));
    at = c;
  }
  s.push(bytes.subarray(at));
  s.end();
  return out;
}

// Streams of a few characters that matter: line breaks, CRs, a BOM's bytes, and others.
const stream = fc
  .array(fc.constantFrom("\n", "\r", "\r\n", "a", "bc", "defghij", "\ufeff", "\xef"), { maxLength: 40 })
  .map((parts) => Buffer.from(parts.join(""), "utf8"));

describe("LineScanner (the one line scanner)", () => {
  it("reports the lines of the plain rules, however the stream is cut into reads", () => {
    fc.assert(
      fc.property(stream, fc.integer({ min: 0, max: 8 }), fc.array(fc.nat({ max: 60 }), { maxLength: 8 }), (bytes, max, cuts) => {
        expect(scan(bytes, max, cuts)).toEqual(reference(bytes, max));
      }),
      { numRuns: 600 },
    );
  });

  it("holds at most maxLineBytes + 1 bytes between reads, however long a line", () => {
    const chunker = new LineChunker(10, { lines: () => {}, tooLong: () => {} });
    const held = () => (chunker as unknown as { partBytes: number }).partBytes;
    for (let i = 0; i < 1000; i++) {
      chunker.push(Buffer.from("xxxxxxx"));
      expect(held()).toBeLessThanOrEqual(11);
    }
  });

  it("scanFileSync stops where the scanner is stopped, with the offset past the line", () => {
    const f = join(mkdtempSync(join(tmpdir(), "infifpo-lines-")), "f.txt");
    writeFileSync(f, "a\n" + "b".repeat(5000) + "\nc\nd\n");
    const seen: number[] = [];
    const s: LineScanner = new LineScanner(100, (_b, _s, _e, n) => {
      seen.push(n);
      if (n === 3) {
        expect(s.lineEnd).toBe(2 + 5001 + 2);
        s.stop();
      }
    }, (n, bytes) => seen.push(-bytes));
    scanFileSync(f, s, 64);
    expect(seen).toEqual([1, -5000, 3]);
  });
});

describe("LineChunker", () => {
  it("owned runs are whole lines in fresh buffers of their own; all of them together are the stream", () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat({ max: 60 }), { maxLength: 8 }), (bytes, cuts) => {
        const runs: Buffer[] = [];
        let offset = 0;
        const pushed: Buffer[] = [];
        const c = new LineChunker(1000, {
          lines: (buf, start, end, at, last) => {
            expect(start).toBe(0);
            expect(end).toBe(buf.length);
            expect(buf.byteOffset).toBe(0);
            expect(buf.buffer.byteLength).toBe(buf.length); // not a slice of a pool or of a pushed chunk
            expect(pushed.some((p) => p.buffer === buf.buffer)).toBe(false);
            expect(at).toBe(offset);
            expect(buf[buf.length - 1] === 10).toBe(!last);
            offset += buf.length;
            runs.push(Buffer.from(buf));
          },
          tooLong: () => expect.unreachable(),
        }, true);
        let at = 0;
        for (const cut of [...cuts.filter((x) => x < bytes.length), bytes.length].sort((x, y) => x - y)) {
          const piece = Buffer.from(bytes.subarray(at, cut));
          pushed.push(piece);
          c.push(piece);
          at = cut;
        }
        c.end();
        expect(Buffer.concat(runs).equals(bytes)).toBe(true);
        expect(runs.reduce((n, r) => n + countLines(r), 0)).toBe(countLines(bytes));
      }),
      { numRuns: 300 },
    );
  });
});

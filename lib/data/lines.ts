/**
 * The one byte-level line scanner: the JSONL reader (jsonl.ts), the parallel `fuse` that hands whole lines to worker
 * threads (lib/records/fuse-parallel.ts), `infifpo score`'s scans of its partial output (lib/remote/score-file.ts) and the
 * tokenizer corpus check (lib/cli/tokenizer.ts) all find their lines with it.
 *
 * Rules:
 * - '\n' ends a line; the last line may lack its '\n'. A '\r' before the '\n' is not part of the line (CRLF files).
 * - Lines are numbered from 1 (or from `firstLine`), blank ones included, so the numbers match an editor's.
 * - Bounded memory: bytes come read by read, and between reads at most one partial line is held, and only up to
 *   `maxLineBytes` (+ 1 for a '\r' that may precede its '\n'). A longer line is dropped as it arrives and reported
 *   with its length, so a file without line breaks can't exhaust memory.
 *
 * Two levels: LineChunker cuts the stream into runs of whole lines (what a reader that hands lines out in bulk
 * needs); LineScanner, on top of it, reports each line with its number (LineSplitter: with its text, decoded).
 */
import { closeSync, openSync, readSync } from "node:fs";

/** Longest line the readers accept by default, in bytes, line break excluded. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;
/** Read size of the readers. */
export const DEFAULT_CHUNK_BYTES = 1024 * 1024;

const NL = 10, CR = 13;

/** Where a LineChunker delivers, in stream order. */
export interface LineRuns {
  /**
   * `buf[start, end)` holds whole lines, each ending in '\n' except, when `last`, the stream's final line.
   * `offset`: the stream offset of `buf[start]`. A view valid during the call only, unless the chunker owns its runs.
   */
  lines(buf: Buffer, start: number, end: number, offset: number, last: boolean): void;
  /** A line dropped for its length: its bytes (a '\r' included) and the stream offset just past it. */
  tooLong(bytes: number, end: number, last: boolean): void;
}

/**
 * Cuts a byte stream, fed with `push` (then `end`), into runs of whole lines. Only lines that straddle two reads are
 * bounded by `maxLineBytes` (those are the ones held); a run can hold longer lines that arrived in one read.
 * With `owned`, every run is one fresh buffer (the held start of a line and the rest, copied together): not a view of
 * a pushed chunk, never a slice of Node's shared pool, so the receiver may keep it or transfer it to a worker.
 * Otherwise a line that straddles two reads comes as a run of its own, then a view of the rest of the read.
 */
export class LineChunker {
  private parts: Buffer[] = [];
  private partBytes = 0;
  private skipping = false;
  private skippedBytes = 0;
  /** Stream bytes pushed so far. */
  private pos = 0;

  constructor(private readonly maxLineBytes: number, private readonly sink: LineRuns, private readonly owned = false) {}

  push(chunk: Buffer): void {
    const at = this.pos; // the stream offset of chunk[0]
    this.pos += chunk.length;
    const lastNl = chunk.lastIndexOf(NL);
    if (lastNl === -1) {
      this.hold(chunk, 0);
      return;
    }
    let start = 0;
    if (this.skipping) {
      start = chunk.indexOf(NL) + 1;
      this.finishTooLong(start - 1, at + start, false);
    } else if (this.partBytes > 0) {
      // the held start of a line, and its end in this chunk: one line, or with `owned` all of the chunk's whole lines
      const upTo = this.owned ? lastNl + 1 : chunk.indexOf(NL) + 1;
      const offset = at - this.partBytes;
      const run = this.join(chunk.subarray(0, upTo));
      this.hold(chunk, lastNl + 1);
      this.sink.lines(run, 0, run.length, offset, false);
      if (this.owned || upTo === lastNl + 1) return;
      this.sink.lines(chunk, upTo, lastNl + 1, at + upTo, false);
      return;
    }
    this.hold(chunk, lastNl + 1);
    if (start > lastNl) return;
    if (this.owned) {
      const run = Buffer.allocUnsafeSlow(lastNl + 1 - start);
      chunk.copy(run, 0, start, lastNl + 1);
      this.sink.lines(run, 0, run.length, at + start, false);
    } else {
      this.sink.lines(chunk, start, lastNl + 1, at + start, false);
    }
  }

  /** Flushes a final line that has no '\n'. */
  end(): void {
    if (this.skipping) {
      this.finishTooLong(0, this.pos, true);
    } else if (this.partBytes > 0) {
      const offset = this.pos - this.partBytes;
      const run = this.join(null);
      this.sink.lines(run, 0, run.length, offset, true);
    }
  }

  /** Keeps `chunk[start..]`, the start of a line (copied: a view would pin the whole read buffer), or drops it when too long. */
  private hold(chunk: Buffer, start: number): void {
    const n = chunk.length - start;
    if (n === 0) return;
    if (this.skipping) {
      this.skippedBytes += n;
    } else if (this.partBytes + n > this.maxLineBytes + 1) { // + 1: a CR may still come before the '\n'
      this.skipping = true;
      this.skippedBytes = this.partBytes + n;
      this.parts = [];
      this.partBytes = 0;
    } else {
      this.parts.push(Buffer.from(chunk.subarray(start)));
      this.partBytes += n;
    }
  }

  /** The held bytes followed by `rest`, in one new buffer; the hold is emptied. */
  private join(rest: Buffer | null): Buffer {
    if (rest) this.parts.push(rest);
    const n = this.partBytes + (rest ? rest.length : 0);
    const out = this.owned ? Buffer.allocUnsafeSlow(n) : Buffer.allocUnsafe(n);
    let off = 0;
    for (const p of this.parts) off += p.copy(out, off);
    this.parts = [];
    this.partBytes = 0;
    return out;
  }

  private finishTooLong(extra: number, end: number, last: boolean): void {
    const bytes = this.skippedBytes + extra;
    this.skipping = false;
    this.skippedBytes = 0;
    this.sink.tooLong(bytes, end, last);
  }
}

/**
 * Reports every line of a byte stream fed with `push` (then `end`): `onLine(buf, start, end, lineNo, last)` with the
 * line's bytes in `buf[start, end)` ('\r' and, on line 1, a UTF-8 byte-order mark stripped; valid during the call
 * only), or `onTooLong(lineNo, bytes, last)` for a line longer than `maxLineBytes` ('\r' not counted; `bytes`
 * counts it, as read). `last`: the stream's final line, without a '\n'. At most one partial line is held.
 */
export class LineScanner {
  private lineNo: number;
  private readonly chunker: LineChunker;
  /** Stream offset just past the line being reported, its '\n' included (read it in the callbacks). */
  lineEnd = 0;
  /** Set by `stop()`: no more lines are reported, and scanFileSync reads no further. */
  stopped = false;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (buf: Buffer, start: number, end: number, lineNo: number, last: boolean) => void,
    private readonly onTooLong: (lineNo: number, bytes: number, last: boolean) => void,
    /** Number of the first line pushed (1 unless the stream starts mid-file, e.g. one chunk of a parallel pass). */
    firstLine = 1,
  ) {
    this.lineNo = firstLine - 1;
    this.chunker = new LineChunker(maxLineBytes, {
      lines: (buf, start, end, offset, last) => this.split(buf, start, end, offset, last),
      tooLong: (bytes, end, last) => {
        if (this.stopped) return;
        this.lineEnd = end;
        this.onTooLong(++this.lineNo, bytes, last);
      },
    });
  }

  push(chunk: Buffer): void {
    this.chunker.push(chunk);
  }

  /** Flushes a final line that has no '\n'. */
  end(): void {
    this.chunker.end();
  }

  stop(): void {
    this.stopped = true;
  }

  private split(buf: Buffer, start: number, end: number, offset: number, last: boolean): void {
    for (let s = start; s < end && !this.stopped; ) {
      let nl = buf.indexOf(NL, s);
      if (nl === -1 || nl >= end) nl = end; // the final line (`last`)
      const lineNo = ++this.lineNo;
      this.lineEnd = offset + Math.min(nl + 1, end) - start;
      const lineLast = last && nl === end;
      let e = nl;
      if (e > s && buf[e - 1] === CR) e--;
      if (e - s > this.maxLineBytes) {
        this.onTooLong(lineNo, nl - s, lineLast);
      } else {
        let b = s;
        if (lineNo === 1 && e - b >= 3 && buf[b] === 0xef && buf[b + 1] === 0xbb && buf[b + 2] === 0xbf) b += 3;
        this.onLine(buf, b, e, lineNo, lineLast);
      }
      s = nl + 1;
    }
  }
}

/**
 * A LineScanner that also hands each line's text (UTF-8 decoded) to `onLine`: `onLine(text, lineNo, last, buf, start, end)`.
 *
 * @example
 *   const s = new LineSplitter(1 << 20, (text, n) => console.log(n, text), (n, bytes) => console.log(n, "too long", bytes));
 *   s.push(Buffer.from("a\r\nb")); s.end();   // 1 a, 2 b
 */
export class LineSplitter extends LineScanner {
  constructor(
    maxLineBytes: number,
    onLine: (text: string, lineNo: number, last: boolean, buf: Buffer, start: number, end: number) => void,
    onTooLong: (lineNo: number, bytes: number, last: boolean) => void,
    firstLine = 1,
  ) {
    super(maxLineBytes, (buf, start, end, lineNo, last) => onLine(buf.toString("utf8", start, end), lineNo, last, buf, start, end), onTooLong, firstLine);
  }
}

/** The number of '\n' in `buf[start, end)`: the whole lines of a run. */
export function countLines(buf: Buffer, start = 0, end = buf.length): number {
  let n = 0;
  for (let i = buf.indexOf(NL, start); i !== -1 && i < end; i = buf.indexOf(NL, i + 1)) n++;
  return n;
}

/** Feeds the file `path` to `scanner` in reads of `chunkBytes`, synchronously, to its end or until the scanner is stopped. */
export function scanFileSync(path: string, scanner: LineScanner, chunkBytes = DEFAULT_CHUNK_BYTES): void {
  const fd = openSync(path, "r");
  const buf = Buffer.allocUnsafeSlow(chunkBytes); // reused: the scanner copies what it keeps
  try {
    let pos = 0, n: number;
    while (!scanner.stopped && (n = readSync(fd, buf, 0, chunkBytes, pos)) > 0) {
      scanner.push(buf.subarray(0, n));
      pos += n;
    }
    if (!scanner.stopped) scanner.end();
  } finally {
    closeSync(fd);
  }
}

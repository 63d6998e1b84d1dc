/**
 * Streaming JSONL reader: constant memory for multi-GB files, 1 MiB reads, lines cut by the byte-level scanner of
 * lines.ts (node:readline is several times slower) and decoded from bytes one at a time.
 *
 * Line rules:
 * - '\n' ends a line; a '\r' before it is dropped (CRLF files); the last line may lack its '\n'.
 * - A UTF-8 byte-order mark at the start of the file is skipped.
 * - Line numbers are 1-based and count every line, blank ones included, so they match an editor's.
 * - A blank line (empty or whitespace only) is an error by default (`blankLines: "error"`): in a
 *   machine-written file it usually means a broken concatenation. `blankLines: "skip"` ignores them.
 *   The single '\n' that ends the file is not a blank line.
 * - A line longer than `maxLineBytes` (default 64 MiB, excluding the line break) is an error; the reader
 *   discards its bytes as they arrive instead of buffering them, so a file without line breaks can't
 *   exhaust memory.
 *
 * - A line that is not valid UTF-8 is an error naming the byte (never passed on with U+FFFD or raw bytes).
 * - A value nested deeper than MAX_JSON_DEPTH (64) arrays/objects is an error naming its top-level field: such
 *   a record is no InfiFPO record, and writing it back (JSON.stringify recurses) would overflow the stack.
 *
 * Invalid lines throw a DataError (`onInvalid: "throw"`, the default) or are yielded as `{line, error}`
 * and reading goes on (`onInvalid: "yield"`, for `--skip-invalid`).
 */
import { isUtf8 } from "node:buffer";
import { createReadStream } from "node:fs";
import { createGunzip } from "node:zlib";
import { UserError } from "../errors";
import { DataError, type Loc } from "./errors";
import { validatePair } from "./trl";
import type { PreferencePair, PreferenceRecord } from "./types";
import { sourceCount, validateRecord } from "./validate";
import { DEFAULT_CHUNK_BYTES, DEFAULT_MAX_LINE_BYTES, LineSplitter } from "./lines";

/** A good line: its 1-based number and the validated value. */
export interface Row<T> {
  line: number;
  record: T;
  error?: undefined;
  /** The line as read (CR and BOM stripped), with `keepText: true`. */
  text?: string;
  /** The line's UTF-8 bytes (CR and BOM stripped), with `keepBytes: true`: a view into the read buffer, valid until the next batch is read. */
  bytes?: Buffer;
}

/** A bad line, yielded only with `onInvalid: "yield"`. */
export interface BadRow {
  line: number;
  record?: undefined;
  error: DataError;
  /** The line as read, with `keepText: true` (absent for lines over the length limit). */
  text?: string;
}

/**
 * Turns a parsed JSON value into T or throws (DataError preferred). The reader reuses one `loc` object
 * across lines: read it, never keep it. `lineBytes` is the line's length in bytes (for writers that bound
 * their output lines).
 */
export type Validator<T> = (obj: unknown, loc: Loc, lineBytes?: number) => T;

export interface ReadOptions {
  /** Name used in error messages; defaults to the path (or "<stream>"). */
  name?: string;
  /** What to do with an invalid line: throw its DataError (default) or yield `{line, error}` and go on. */
  onInvalid?: "throw" | "yield";
  /** Blank lines: an invalid line (default) or silently skipped. */
  blankLines?: "error" | "skip";
  /** Longest accepted line in bytes, line break excluded. Default 64 MiB. */
  maxLineBytes?: number;
  /** Read size in bytes. Default 1 MiB. */
  chunkBytes?: number;
  /** Called after each chunk with the total bytes read so far (for progress bars). */
  onProgress?: (bytesRead: number) => void;
  /** Attach each line's text to its row (`row.text`): lets a writer pass records through byte for byte. */
  keepText?: boolean;
  /** Attach each good line's bytes to its row (`row.bytes`): a writer can copy them out without re-encoding. */
  keepBytes?: boolean;
}

export type ThrowOptions = ReadOptions & { onInvalid?: "throw" };
export type YieldOptions = ReadOptions & { onInvalid: "yield" };

/**
 * Where the reader takes bytes from: a path ("-" = standard input; "*.gz" is decompressed), or any byte
 * stream (a Readable, an async iterable of chunks).
 */
export type Source = string | AsyncIterable<Uint8Array | string>;

/** Deepest nesting of arrays/objects accepted in a line (the line's own object is level 1). */
export const MAX_JSON_DEPTH = 64;

/** A path's bytes: "-" is standard input, a name ending in ".gz" is gunzipped on the fly. */
function openPath(path: string, chunkBytes: number): AsyncIterable<Uint8Array | string> {
  if (path === "-") return process.stdin;
  const raw = createReadStream(path, { highWaterMark: chunkBytes });
  if (!path.endsWith(".gz")) return raw;
  const gunzip = createGunzip({ chunkSize: chunkBytes });
  raw.on("error", (err) => gunzip.destroy(err));
  return raw.pipe(gunzip);
}

async function* chunksOf(source: Source, chunkBytes: number, name: string): AsyncGenerator<Buffer> {
  const it = typeof source === "string" ? openPath(source, chunkBytes) : source;
  try {
    for await (const c of it) {
      yield typeof c === "string" ? Buffer.from(c, "utf8") : Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    }
  } catch (err) {
    // File-system and gzip errors are the user's to fix (wrong path, not a gzip file): say so in one line.
    const e = err as NodeJS.ErrnoException;
    if (typeof e?.code === "string") {
      const why = e.code === "ENOENT" ? "no such file" : e.code === "EISDIR" ? "is a directory" : e.code === "EACCES" ? "permission denied" : e.message;
      throw Object.assign(new UserError(`cannot read ${name}: ${why}`), { cause: err });
    }
    throw err;
  }
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10) return false;
  }
  return true;
}

function deeperThan(v: object, depth: number): boolean {
  if (depth > MAX_JSON_DEPTH) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (typeof x === "object" && x !== null && deeperThan(x, depth + 1)) return true;
    }
  } else {
    for (const k in v) {
      const x = (v as Record<string, unknown>)[k];
      if (typeof x === "object" && x !== null && deeperThan(x, depth + 1)) return true;
    }
  }
  return false;
}

/**
 * Where a parsed line nests deeper than MAX_JSON_DEPTH: the top-level field holding the too-deep value, "" for a
 * line that is itself an array, or null when it is within bounds. Recursion stops at the bound, so it can't
 * overflow the stack whatever the input.
 */
export function tooDeepField(obj: unknown): string | null {
  if (typeof obj !== "object" || obj === null) return null;
  if (Array.isArray(obj)) return deeperThan(obj, 1) ? "" : null;
  for (const k in obj) {
    const x = (obj as Record<string, unknown>)[k];
    if (typeof x === "object" && x !== null && deeperThan(x, 2)) return k;
  }
  return null;
}

/** The offset of the first byte of `buf[start, end)` that breaks UTF-8 (only called on a line that is invalid). */
function firstBadUtf8(buf: Buffer, start: number, end: number): number {
  let lo = start, hi = end; // invariant: [start, lo) is valid UTF-8 on character boundaries, the rest is not
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    let cut = mid;
    while (cut > lo && (buf[cut] & 0xc0) === 0x80) cut--; // back to a character start
    if (cut > lo && isUtf8(buf.subarray(start, cut))) lo = cut;
    else if (cut === lo) break;
    else hi = cut;
  }
  return lo - start;
}

/** Why a line failed to parse, with a hint for the usual cause. */
function parseError(text: string, err: unknown, loc: Loc, last: boolean): DataError {
  const msg = err instanceof Error ? err.message : String(err);
  const truncated = /end of (JSON )?input|Unterminated string/i.test(msg);
  const hint = truncated ? (last ? ": truncated last line? (the file may have been cut off)" : ": truncated line?") : "";
  const start = text.length > 60 ? JSON.stringify(text.slice(0, 60)) + "…" : JSON.stringify(text);
  return new DataError(loc, null, `invalid JSON (${msg})${hint}; line starts ${start}`);
}

/**
 * A LineSplitter whose lines are parsed, validated and handed to `sink` (good rows, and bad rows when
 * `onInvalid` is "yield"; otherwise the DataError is thrown out of `push` / `end`).
 */
function lineParser<T>(name: string, validate: Validator<T>, opts: ReadOptions, sink: (row: Row<T> | BadRow) => void, firstLine = 1): LineSplitter {
  const yieldBad = opts.onInvalid === "yield";
  const skipBlank = opts.blankLines === "skip";
  const maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const keepText = opts.keepText === true;
  const keepBytes = opts.keepBytes === true;
  const loc: Loc = { file: name, line: 0 };
  const bad = (e: DataError, text?: string): void => {
    if (!yieldBad) throw e;
    sink({ line: e.line, error: e, text: keepText ? text : undefined });
  };
  return new LineSplitter(
    maxLineBytes,
    (text, lineNo, last, buf, start, end) => {
      loc.line = lineNo;
      // The decoder turns invalid bytes into U+FFFD; only then is the line checked byte by byte (a one-byte,
      // ASCII string can't hold U+FFFD, so the search costs nothing on the usual lines).
      if (text.indexOf("\uFFFD") !== -1 && !isUtf8(buf.subarray(start, end))) {
        return bad(new DataError(loc, null, `invalid UTF-8 at byte ${firstBadUtf8(buf, start, end) + 1} of the line (the file must be UTF-8)`), text);
      }
      let obj: unknown;
      try {
        obj = JSON.parse(text);
      } catch (err) {
        if (!isBlank(text)) bad(parseError(text, err, loc, last), text);
        else if (!skipBlank) bad(new DataError(loc, null, "blank line (blank lines are errors unless skipped explicitly)"), text);
        return;
      }
      const deep = tooDeepField(obj);
      if (deep !== null) return bad(new DataError(loc, deep === "" ? null : deep, `nested deeper than ${MAX_JSON_DEPTH} levels of arrays/objects`), text);
      let record: T;
      try {
        record = validate(obj, loc, end - start);
      } catch (err) {
        if (err instanceof DataError) return bad(err, text);
        throw err;
      }
      sink({ line: lineNo, record, text: keepText ? text : undefined, bytes: keepBytes ? buf.subarray(start, end) : undefined });
    },
    (lineNo, bytes, last) => {
      bad(new DataError({ file: name, line: lineNo }, null,
        `line is longer than the ${maxLineBytes}-byte limit (${last ? "" : "at least "}${bytes} bytes); raise maxLineBytes if the record is genuine`));
    },
    firstLine,
  );
}

/**
 * Parses one chunk of whole lines cut out of a file (for parallel readers): `chunk` starts at the beginning of
 * line `firstLine` and ends just after a '\n', except when `final` (the file's tail, whose last line may lack
 * its '\n'). Same rules and errors as readJsonlBatches on the whole file, line numbers included; rows go to
 * `sink` (their `bytes` are views into `chunk`). In "throw" mode the first bad line's DataError is thrown.
 */
export function parseJsonlChunk<T>(
  chunk: Buffer, firstLine: number, final: boolean, validate: Validator<T>, opts: ReadOptions & { name: string }, sink: (row: Row<T> | BadRow) => void,
): void {
  const splitter = lineParser(opts.name, validate, opts, sink, firstLine);
  splitter.push(chunk);
  if (final) splitter.end();
}

/**
 * Reads JSONL in batches: one array of rows per chunk read (about 1 MiB of text). The fastest way to
 * consume a file — one await per chunk instead of one per line.
 *
 * @example
 *   for await (const batch of readJsonlBatches("data/x.jsonl", validateRecord)) for (const { record } of batch) use(record);
 */
export function readJsonlBatches<T>(source: Source, validate: Validator<T>, opts?: ThrowOptions): AsyncGenerator<Row<T>[]>;
export function readJsonlBatches<T>(source: Source, validate: Validator<T>, opts: YieldOptions): AsyncGenerator<(Row<T> | BadRow)[]>;
export function readJsonlBatches<T>(source: Source, validate: Validator<T>, opts?: ReadOptions): AsyncGenerator<(Row<T> | BadRow)[]>;
export async function* readJsonlBatches<T>(source: Source, validate: Validator<T>, opts: ReadOptions = {}): AsyncGenerator<(Row<T> | BadRow)[]> {
  const name = opts.name ?? (source === "-" ? "<stdin>" : typeof source === "string" ? source : "<stream>");
  let batch: (Row<T> | BadRow)[] = [];
  const splitter = lineParser(name, validate, opts, (row) => batch.push(row));

  // In "throw" mode a bad line throws out of push/end; the good rows before it are yielded first.
  let failure: unknown = null;
  const feed = (f: () => void): void => {
    try {
      f();
    } catch (err) {
      failure = err;
    }
  };
  let bytesRead = 0;
  for await (const chunk of chunksOf(source, opts.chunkBytes ?? DEFAULT_CHUNK_BYTES, name)) {
    feed(() => splitter.push(chunk));
    bytesRead += chunk.length;
    opts.onProgress?.(bytesRead);
    if (batch.length > 0) {
      const out = batch;
      batch = [];
      yield out;
    }
    if (failure !== null) throw failure;
  }
  feed(() => splitter.end());
  if (batch.length > 0) yield batch;
  if (failure !== null) throw failure;
}

/**
 * Reads JSONL line by line: yields `{line, record}` (and, with `onInvalid: "yield"`, `{line, error}`).
 *
 * @example
 *   for await (const { line, record } of readJsonl("x.jsonl", (o) => o)) console.log(line, record);
 */
export function readJsonl<T>(source: Source, validate: Validator<T>, opts?: ThrowOptions): AsyncGenerator<Row<T>>;
export function readJsonl<T>(source: Source, validate: Validator<T>, opts: YieldOptions): AsyncGenerator<Row<T> | BadRow>;
export function readJsonl<T>(source: Source, validate: Validator<T>, opts?: ReadOptions): AsyncGenerator<Row<T> | BadRow>;
export async function* readJsonl<T>(source: Source, validate: Validator<T>, opts?: ReadOptions): AsyncGenerator<Row<T> | BadRow> {
  for await (const batch of readJsonlBatches(source, validate, opts as YieldOptions)) {
    for (let i = 0; i < batch.length; i++) yield batch[i];
  }
}

/**
 * A validator for scored records that also requires every record to have the first record's number of
 * sources (a file can't switch N midway). One per file: it remembers N.
 */
export function recordValidator(sources?: number): Validator<PreferenceRecord> {
  const opts = { sources };
  return (obj, loc) => {
    const rec = validateRecord(obj, loc, opts);
    opts.sources ??= sourceCount(rec);
    return rec;
  };
}

export interface RecordReadOptions extends ReadOptions {
  /** Required number of sources; by default the first valid record's count, then enforced. */
  sources?: number;
}

/**
 * Scored InfiFPO records from a JSONL file (validated; see validate.ts for the rules).
 *
 * @example
 *   for await (const { record } of readRecords("data/sample/pairs.jsonl")) n += record.fuse_chosen_logps.length;
 *   for await (const row of readRecords(path, { onInvalid: "yield" })) if (row.error) skipped.push(row.error.message);
 */
export function readRecords(source: Source, opts?: RecordReadOptions & { onInvalid?: "throw" }): AsyncGenerator<Row<PreferenceRecord>>;
export function readRecords(source: Source, opts: RecordReadOptions & { onInvalid: "yield" }): AsyncGenerator<Row<PreferenceRecord> | BadRow>;
export function readRecords(source: Source, opts?: RecordReadOptions): AsyncGenerator<Row<PreferenceRecord> | BadRow>;
export function readRecords(source: Source, opts: RecordReadOptions = {}): AsyncGenerator<Row<PreferenceRecord> | BadRow> {
  return readJsonl(source, recordValidator(opts.sources), opts as YieldOptions);
}

/** Batched form of readRecords (one array per ~1 MiB chunk): the fast path for large files. */
export function readRecordBatches(source: Source, opts?: RecordReadOptions & { onInvalid?: "throw" }): AsyncGenerator<Row<PreferenceRecord>[]>;
export function readRecordBatches(source: Source, opts: RecordReadOptions & { onInvalid: "yield" }): AsyncGenerator<(Row<PreferenceRecord> | BadRow)[]>;
export function readRecordBatches(source: Source, opts?: RecordReadOptions): AsyncGenerator<(Row<PreferenceRecord> | BadRow)[]>;
export function readRecordBatches(source: Source, opts: RecordReadOptions = {}): AsyncGenerator<(Row<PreferenceRecord> | BadRow)[]> {
  return readJsonlBatches(source, recordValidator(opts.sources), opts as YieldOptions);
}

/** Unscored TRL pairs (prompt/chosen/rejected) from a JSONL file, e.g. the input of `infifpo score`. */
export function readPairs(source: Source, opts?: ThrowOptions): AsyncGenerator<Row<PreferencePair>>;
export function readPairs(source: Source, opts: YieldOptions): AsyncGenerator<Row<PreferencePair> | BadRow>;
export function readPairs(source: Source, opts?: ReadOptions): AsyncGenerator<Row<PreferencePair> | BadRow>;
export function readPairs(source: Source, opts: ReadOptions = {}): AsyncGenerator<Row<PreferencePair> | BadRow> {
  return readJsonl(source, validatePair, opts as YieldOptions);
}

/** Reads a whole (small) file of records into memory; throws on the first invalid line. */
export async function loadRecords(source: Source, opts: Omit<RecordReadOptions, "onInvalid"> = {}): Promise<PreferenceRecord[]> {
  const out: PreferenceRecord[] = [];
  for await (const batch of readRecordBatches(source, { ...opts, onInvalid: "throw" })) for (const r of batch) out.push(r.record);
  return out;
}

/**
 * Parses JSONL held in a string (tests, notebooks, small inline fixtures), same rules as the file reader.
 * Returns the rows; with `onInvalid: "yield"` bad lines come back as `{line, error}`.
 */
export function parseJsonl<T>(text: string, validate: Validator<T>, opts?: ThrowOptions): Row<T>[];
export function parseJsonl<T>(text: string, validate: Validator<T>, opts: YieldOptions): (Row<T> | BadRow)[];
export function parseJsonl<T>(text: string, validate: Validator<T>, opts?: ReadOptions): (Row<T> | BadRow)[];
export function parseJsonl<T>(text: string, validate: Validator<T>, opts: ReadOptions = {}): (Row<T> | BadRow)[] {
  const out: (Row<T> | BadRow)[] = [];
  const splitter = lineParser(opts.name ?? "<string>", validate, opts, (row) => out.push(row));
  splitter.push(Buffer.from(text, "utf8"));
  splitter.end();
  return out;
}

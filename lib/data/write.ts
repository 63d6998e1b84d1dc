/**
 * JSONL writing in the published format (infifpo.md, "Data format"): every log-prob is written with a
 * fractional part (`-60.0`, not `-60`) so Arrow/pandas readers, which infer a column's type from the first
 * megabytes, don't type it as an integer and fail on a later `-60.5`. Everything else is plain JSON.
 *
 * Numbers are written with JavaScript's shortest round-trip form (`String(x)`), so
 * `JSON.parse(serializeRecord(x))` equals `x` bit for bit, -0 included (written `-0.0`).
 */
import { createWriteStream, statSync, type WriteStream } from "node:fs";
import { rename, rm, type FileHandle } from "node:fs/promises";
import { UserError } from "../errors";
import { openTemp, outputError, releaseTemp } from "./safe-output";

/** Float fields the `fuse` command adds besides `fused_*_logps`: written with a fraction too. */
export const DEFAULT_FLOAT_FIELDS: readonly string[] = ["logit", "loss", "disparity_weight"];

/**
 * Whether a top-level field holds log-probs (or other floats) that must be written with a fraction:
 * names ending in `_logps`, starting with `ref_`, `fuse_`, `policy_`, or listed in `extra`.
 */
export function isFloatField(key: string, extra?: ReadonlySet<string>): boolean {
  return key.endsWith("_logps") || key.startsWith("ref_") || key.startsWith("fuse_") || key.startsWith("policy_")
    || (extra !== undefined && extra.has(key));
}

/**
 * A number as JSON with a fractional part: `-60` → `-60.0`, `-0` → `-0.0`, `-60.5` → `-60.5`,
 * `1e-7` → `1e-7` (an exponent already marks a float). Throws on NaN/±Infinity, which JSON can't hold.
 *
 * @example
 *   floatJson(-60);       // "-60.0"
 *   floatJson(-0.1 * 3);  // "-0.30000000000000004"
 */
export function floatJson(x: number): string {
  if (x - x !== 0) throw new RangeError(`cannot write ${x} as JSON: log-probs must be finite`);
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const s = String(x);
  // Integers below 1e21 print without '.' or 'e'; everything else already reads as a float.
  return Number.isInteger(x) && s.indexOf("e") === -1 ? s + ".0" : s;
}

/** A number array in float form, e.g. `[-60.0,-1.5]`. Falls back to JSON.stringify if an entry isn't a number. */
function floatArrayJson(xs: unknown[], field: string): string {
  let out = "[";
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i];
    if (typeof v !== "number") return JSON.stringify(xs);
    if (v - v !== 0) throw new RangeError(`cannot write field "${field}[${i}]" = ${v}: JSON has no NaN/Infinity`);
    out += i === 0 ? floatJson(v) : "," + floatJson(v);
  }
  return out + "]";
}

export interface SerializeOptions {
  /** Extra top-level fields to write in float form (default: DEFAULT_FLOAT_FIELDS). */
  floatFields?: Iterable<string>;
}

/** Per serializer: each key's quoted form (`"key":`) and whether it is a float field, computed once. */
interface KeyInfo {
  quoted: string;
  float: boolean;
}

const defaultFloatSet: ReadonlySet<string> = new Set(DEFAULT_FLOAT_FIELDS);

/**
 * One record as a JSON line (no trailing newline), keys in the object's order. Float fields (see
 * isFloatField) are numbers or number arrays written by floatJson; any other value goes through
 * JSON.stringify. A float field holding NaN/±Infinity throws a RangeError naming the field.
 * For many records, build the serializer once with recordSerializer.
 *
 * @example
 *   serializeRecord({ chosen: "4", ref_chosen_logps: -3, fuse_chosen_logps: [-2, -4.5], n: 3 });
 *   // '{"chosen":"4","ref_chosen_logps":-3.0,"fuse_chosen_logps":[-2.0,-4.5],"n":3}'
 */
export function serializeRecord(rec: object, opts?: SerializeOptions): string {
  return (opts?.floatFields === undefined ? defaultSerializer : recordSerializer(opts))(rec);
}

/** A serializer with its float-field set and a per-key cache built once, for hot loops. */
export function recordSerializer(opts?: SerializeOptions): (rec: object) => string {
  const extra = opts?.floatFields === undefined ? defaultFloatSet : new Set(opts.floatFields);
  const keys = new Map<string, KeyInfo>();
  const info = (k: string): KeyInfo => {
    let ki = keys.get(k);
    if (ki === undefined) {
      ki = { quoted: JSON.stringify(k) + ":", float: isFloatField(k, extra) };
      if (keys.size < 10_000) keys.set(k, ki);
    }
    return ki;
  };
  // Fast path: when no float field holds an integer-valued (or -0, or non-finite) number, JSON.stringify's
  // output is already right (its number form is String(x)); only the rare other records take the slow path.
  const plainJsonOk = (o: Record<string, unknown>): boolean => {
    for (const k in o) {
      if (!info(k).float) continue;
      const v = o[k];
      if (typeof v === "number") {
        if (Number.isInteger(v) || v - v !== 0) return false;
      } else if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const x = v[i];
          if (typeof x === "number" && (Number.isInteger(x) || x - x !== 0)) return false;
        }
      }
    }
    return true;
  };
  return (rec) => (plainJsonOk(rec as Record<string, unknown>) ? JSON.stringify(rec) : slow(rec));

  function slow(rec: object): string {
    let out = "{";
    let first = true;
    const o = rec as Record<string, unknown>;
    for (const k in o) {
      if (!Object.prototype.hasOwnProperty.call(o, k)) continue;
      const v = o[k];
      const ki = info(k);
      let s: string | undefined;
      if (ki.float && typeof v === "number") {
        if (v - v !== 0) throw new RangeError(`cannot write field "${k}" = ${v}: JSON has no NaN/Infinity`);
        s = floatJson(v);
      } else if (ki.float && Array.isArray(v)) {
        s = floatArrayJson(v, k);
      } else {
        s = JSON.stringify(v); // undefined for undefined/functions/symbols: skipped, as JSON.stringify does
      }
      if (s === undefined) continue;
      out += first ? ki.quoted + s : "," + ki.quoted + s;
      first = false;
    }
    return out + "}";
  }
}

const defaultSerializer = recordSerializer();

/** A file being written through a temporary name; see openAtomicWriter. */
export interface AtomicWriter {
  /** Final path. */
  readonly path: string;
  /** Temporary path written until commit: `<path>.tmp-<pid>-<random>`, created exclusively (lib/data/safe-output.ts). */
  readonly tmpPath: string;
  /** Lines written so far. */
  readonly lines: number;
  /**
   * Appends one line plus "\n" (the line must hold no newline; serializeRecord's output never does).
   * Returns a promise when the disk is behind (backpressure): `await` every call.
   */
  write(line: string): Promise<void> | void;
  /** serializeRecord + write. */
  writeRecord(rec: object): Promise<void> | void;
  /**
   * Appends raw bytes holding `lineCount` whole lines, each ending in "\n" (a fast path for writers that pass
   * input bytes through). Await it like `write`.
   */
  writeBuffer(buf: Buffer, lineCount: number): Promise<void> | void;
  /** Flushes, fsyncs and renames the temporary file onto `path`. */
  commit(): Promise<void>;
  /** Stops writing and deletes the temporary file; `path` is left as it was. Safe to call twice or after a failure. */
  abort(): Promise<void>;
}

export interface AtomicWriterOptions extends SerializeOptions {
  /** Bytes gathered before each write to the OS (default 1 MiB). */
  bufferBytes?: number;
  /** fsync before the rename so a power cut can't leave an empty file under the final name (default true). */
  fsync?: boolean;
}

/**
 * Opens `path` for writing through a temporary file of its own (`path.tmp-<pid>-<random>`, created exclusively, so
 * concurrent writers never share one and it never lands on an existing file): nothing appears under `path` until
 * `commit()` renames the finished file into place, so an error or an `abort()` never leaves a partial output, and
 * the temporary file is removed when the process exits (only SIGKILL or a power cut can leave one). Parent
 * directories are created. Every failure (EISDIR, ENOSPC, …) is a UserError naming `path`.
 *
 * @example
 *   const w = await openAtomicWriter("out/fused.jsonl");
 *   try {
 *     for (const rec of records) await w.writeRecord(rec);
 *     await w.commit();
 *   } catch (err) {
 *     await w.abort();
 *     throw err;
 *   }
 */
export async function openAtomicWriter(path: string, opts: AtomicWriterOptions = {}): Promise<AtomicWriter> {
  const bufferBytes = opts.bufferBytes ?? 1024 * 1024;
  const serialize = recordSerializer(opts);
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // nothing there yet
  }
  if (isDir) throw new UserError(`cannot write ${path}: is a directory (EISDIR)`);
  const { handle, tmpPath }: { handle: FileHandle; tmpPath: string } = await openTemp(path);
  const stream: WriteStream = createWriteStream("", { fd: handle.fd, autoClose: false, highWaterMark: bufferBytes });
  let failure: Error | null = null;
  stream.on("error", (err) => {
    failure ??= outputError(path, err);
  });
  let pending: string[] = [];
  let pendingChars = 0;
  let lines = 0;
  let state: "open" | "committed" | "aborted" = "open";

  const check = (): void => {
    if (failure) throw failure;
    if (state !== "open") throw new Error(`atomic writer for ${path} is already ${state}`);
  };

  const drain = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const done = (): void => {
        stream.off("drain", done);
        stream.off("error", done);
        stream.off("close", done);
        failure ? reject(failure) : resolve();
      };
      stream.on("drain", done);
      stream.on("error", done);
      stream.on("close", done);
    });

  const flush = (): Promise<void> | void => {
    if (pending.length === 0) return;
    const data = pending.join("");
    pending = [];
    pendingChars = 0;
    if (!stream.write(data)) return drain();
  };

  const write = (line: string): Promise<void> | void => {
    check();
    pending.push(line, "\n");
    pendingChars += line.length + 1;
    lines++;
    if (pendingChars >= bufferBytes) return flush();
  };

  const finish = (): Promise<void> =>
    new Promise((resolve, reject) => {
      stream.end((err?: Error | null) => (err ?? failure ? reject(err ?? failure) : resolve()));
    });

  const abort = async (): Promise<void> => {
    if (state !== "open") return;
    state = "aborted";
    pending = [];
    stream.destroy();
    await handle.close().catch(() => undefined);
    await rm(tmpPath, { force: true });
    releaseTemp(tmpPath);
  };

  return {
    path,
    tmpPath,
    get lines() {
      return lines;
    },
    write,
    writeRecord: (rec) => write(serialize(rec)),
    writeBuffer(buf, lineCount) {
      check();
      if (pending.length > 0) {
        stream.write(pending.join(""));
        pending = [];
        pendingChars = 0;
      }
      lines += lineCount;
      if (!stream.write(buf)) return drain();
    },
    async commit() {
      try {
        check();
        await flush();
        await finish();
        if (opts.fsync ?? true) await handle.sync();
        await handle.close();
        await rename(tmpPath, path);
        releaseTemp(tmpPath);
        state = "committed";
      } catch (err) {
        failure ??= outputError(path, err);
        await abort();
        throw failure;
      }
    },
    abort,
  };
}

/**
 * Writes records to `path` atomically (see openAtomicWriter); returns the number written.
 *
 * @example
 *   await writeRecords("data/sample/pairs.jsonl", generateSampleRecords({ n: 200, sources: 3, seed: 0 }));
 */
export async function writeRecords(path: string, records: Iterable<object> | AsyncIterable<object>, opts?: AtomicWriterOptions): Promise<number> {
  const w = await openAtomicWriter(path, opts);
  try {
    for await (const rec of records) {
      const p = w.writeRecord(rec);
      if (p) await p;
    }
    await w.commit();
  } catch (err) {
    await w.abort();
    throw err;
  }
  return w.lines;
}

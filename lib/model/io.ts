/**
 * Saving and loading a model with its tokenizer as ONE file (`.infifpo`):
 *
 *   bytes 0..7    magic "INFIFPOM"
 *   bytes 8..11   header length H (uint32, little-endian)
 *   bytes 12..    header: UTF-8 JSON { format: "infifpo-model", version: 1, config, tokenizer, tensors,
 *                 dataOffset, dataBytes, crc32, meta }
 *   dataOffset..  every parameter as float32 little-endian, in `tensors` order (dataOffset is a multiple of 4)
 *
 * Round trips are bit-exact. A file from a newer format version, a truncated or corrupt file (CRC-32 of the
 * weights), or a header that does not match its config throws a UserError naming the file and the problem.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { writeFileSafe } from "../data/safe-output";
import { UserError } from "../errors";
import { tokenizerFromJSON } from "../tokenizers";
import type { Tokenizer, TokenizerJSON } from "../tokenizers/types";
import { resolveModelConfig, type ResolvedModelConfig } from "./config";
import { checkTokenizer } from "./logprobs";
import { buildModel, namedParameters, parameterShapes, type Model } from "./transformer";

export const MODEL_FORMAT = "infifpo-model";
export const MODEL_FORMAT_VERSION = 1;
/** File name used when `saveModel`/`loadModel` are given a directory. */
export const MODEL_FILE_NAME = "model.infifpo";
const MAGIC = "INFIFPOM";

interface Header {
  format: string;
  version: number;
  config: ResolvedModelConfig;
  tokenizer: TokenizerJSON;
  tensors: { name: string; shape: number[] }[];
  dataOffset: number;
  dataBytes: number;
  crc32: number;
  meta: Record<string, unknown>;
}

/** A loaded model, its tokenizer and the free-form metadata saved with it. */
export interface LoadedModel {
  model: Model;
  tokenizer: Tokenizer;
  meta: Record<string, unknown>;
  /** The file actually read. */
  file: string;
}

/** Serialises a model, its tokenizer and JSON metadata into the `.infifpo` byte layout. */
export function modelToBytes(model: Model, tokenizer: Tokenizer, meta: Record<string, unknown> = {}): Uint8Array {
  checkTokenizer(model, tokenizer);
  const params = namedParameters(model);
  const count = params.reduce((n, [, v]) => n + v.size, 0);
  const data = new Uint8Array(count * 4);
  const view = new DataView(data.buffer);
  let off = 0;
  for (const [, v] of params) {
    const vals = v.dataSync();
    for (let i = 0; i < vals.length; i++, off += 4) view.setFloat32(off, vals[i], true);
  }
  const headerOf = (dataOffset: number): Header => ({
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    config: model.config,
    tokenizer: tokenizer.toJSON(),
    tensors: params.map(([name, v]) => ({ name, shape: v.shape })),
    dataOffset,
    dataBytes: data.length,
    crc32: crc32(data),
    meta,
  });
  // dataOffset is written inside the header, so settle it (it can only grow by a few digits) before writing.
  let dataOffset = 0;
  let headerBytes = new Uint8Array();
  for (let i = 0; i < 4; i++) {
    headerBytes = new TextEncoder().encode(JSON.stringify(headerOf(dataOffset)));
    const needed = Math.ceil((12 + headerBytes.length) / 4) * 4;
    if (needed === dataOffset) break;
    dataOffset = needed;
  }
  const out = new Uint8Array(dataOffset + data.length);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, headerBytes.length, true);
  out.set(headerBytes, 12);
  out.fill(0x20, 12 + headerBytes.length, dataOffset); // spaces: the padding stays valid JSON whitespace
  out.set(data, dataOffset);
  return out;
}

/** Parses `.infifpo` bytes; `where` names the source in error messages. */
export function modelFromBytes(bytes: Uint8Array, where = "model bytes", opts: { trainable?: boolean } = {}): LoadedModel {
  const fail = (problem: string): never => {
    throw new UserError(`${where}: ${problem}`);
  };
  if (bytes.length < 12) fail(`truncated or not an infifpo model file (${bytes.length} bytes)`);
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    fail(`not an infifpo model file (the first bytes are not "${MAGIC}")`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hLen = view.getUint32(8, true);
  if (12 + hLen > bytes.length) fail(`truncated: the header needs ${12 + hLen} bytes, the file has ${bytes.length}`);
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(12, 12 + hLen)));
  } catch (e) {
    return fail(`corrupt header (not valid JSON: ${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null) return fail("corrupt header (not a JSON object)");
  if (header.format !== MODEL_FORMAT) fail(`header format is ${JSON.stringify(header.format)}, expected "${MODEL_FORMAT}"`);
  if (typeof header.version !== "number" || !Number.isInteger(header.version) || header.version < 1) {
    fail(`header version ${JSON.stringify(header.version)} is not a valid format version`);
  }
  if (header.version > MODEL_FORMAT_VERSION) {
    fail(
      `written in model format version ${header.version}, but this build of infifpo-ts reads only up to ` +
        `version ${MODEL_FORMAT_VERSION}; upgrade infifpo-ts to load it`,
    );
  }
  let config: ResolvedModelConfig;
  try {
    config = resolveModelConfig(header.config);
  } catch (e) {
    return fail(`header field config: ${(e as Error).message}`);
  }
  const expected = parameterShapes(config);
  const tensors = header.tensors;
  if (!Array.isArray(tensors) || tensors.length !== expected.length) {
    fail(`header field tensors: expected ${expected.length} tensors for this config, found ${Array.isArray(tensors) ? tensors.length : "none"}`);
  }
  expected.forEach(([name, shape], i) => {
    const t = tensors[i];
    if (!t || t.name !== name || JSON.stringify(t.shape) !== JSON.stringify(shape)) {
      fail(`header field tensors[${i}]: expected ${name} ${JSON.stringify(shape)}, found ${JSON.stringify(t)}`);
    }
  });
  const count = expected.reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0);
  const { dataOffset, dataBytes } = header;
  if (dataBytes !== count * 4) fail(`header field dataBytes is ${dataBytes}, but the config needs ${count * 4}`);
  if (!Number.isInteger(dataOffset) || dataOffset < 12 + hLen || dataOffset % 4 !== 0) {
    fail(`header field dataOffset ${dataOffset} is invalid`);
  }
  if (bytes.length < dataOffset + dataBytes) {
    fail(`truncated: expected ${dataOffset + dataBytes} bytes, the file has ${bytes.length}`);
  }
  if (bytes.length > dataOffset + dataBytes) {
    fail(`corrupt: ${bytes.length - dataOffset - dataBytes} unexpected bytes after the weights`);
  }
  const data = bytes.subarray(dataOffset, dataOffset + dataBytes);
  const crc = crc32(data);
  if (crc !== header.crc32) fail(`corrupt weights: CRC-32 is ${crc}, the header says ${header.crc32}`);
  let tokenizer: Tokenizer;
  try {
    tokenizer = tokenizerFromJSON(header.tokenizer, `${where}: header field tokenizer`);
  } catch (e) {
    if (e instanceof UserError) throw e;
    return fail(`header field tokenizer: ${(e as Error).message}`);
  }
  if (tokenizer.vocabSize > config.vocabSize) {
    fail(`tokenizer has ${tokenizer.vocabSize} ids but the model's vocabulary is ${config.vocabSize}`);
  }
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const offsets = new Map<string, number>();
  let off = 0;
  for (const [name, shape] of expected) {
    offsets.set(name, off);
    off += shape.reduce((a, b) => a * b, 1) * 4;
  }
  const model = buildModel(
    config,
    (name, shape) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const start = offsets.get(name)!;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(start + 4 * i, true);
      return out;
    },
    opts.trainable ?? true,
  );
  const meta = header.meta && typeof header.meta === "object" ? header.meta : {};
  return { model, tokenizer, meta, file: where };
}

/** The model file a path names: the path itself, or `<dir>/model.infifpo` for a folder (or a path ending in "/"). */
export function resolveFile(p: string): string {
  if (p.endsWith("/") || p.endsWith(path.sep)) return path.join(p, MODEL_FILE_NAME);
  try {
    if (fs.statSync(p).isDirectory()) return path.join(p, MODEL_FILE_NAME);
  } catch {
    // not there yet: a file path
  }
  return p;
}

/**
 * Writes the model, its tokenizer and `meta` (any JSON, e.g. training step) to one file. `target` is a file
 * path, or a directory (then `<dir>/model.infifpo`). Written to a temporary name, then renamed. Returns the
 * file path written.
 *
 * @example
 * saveModel("runs/x/pivot.infifpo", model, tok, { step: 2000 });
 * const { model: m2, tokenizer } = loadModel("runs/x/pivot.infifpo");
 */
export function saveModel(target: string, model: Model, tokenizer: Tokenizer, meta: Record<string, unknown> = {}): string {
  const file = resolveFile(target);
  const bytes = modelToBytes(model, tokenizer, meta);
  writeFileSafe(file, bytes); // an exclusive temporary file, then rename; errors name the file
  return file;
}

/** Reads a file written by `saveModel` (a file path, or a directory holding `model.infifpo`). */
export function loadModel(source: string, opts: { trainable?: boolean } = {}): LoadedModel {
  const file = resolveFile(source);
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new UserError(`${file}: cannot read the model (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return modelFromBytes(bytes, file, opts);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, as zlib), unsigned. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

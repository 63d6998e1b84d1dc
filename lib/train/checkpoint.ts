import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { AdamWState } from "./optim";
import type { SamplerState } from "./sampler";
import { UserError } from "../errors";
import { fsyncDir, outputError, tempPathFor, writeFileSafe } from "../data/safe-output";

/**
 * A training checkpoint is a directory `<outDir>/checkpoints/step-00000120/` holding
 *   state.json   step, parameter table (name, shape, offset), optimizer step, sampler state, run config, extra
 *   params.bin   every parameter, float32 little-endian, concatenated in table order
 *   optim.bin    AdamW's m then v buffers, same layout as params.bin, twice
 * It is written into a `.tmp-*` sibling, every file fsync'ed, then renamed into place, so a checkpoint
 * directory either exists complete or not at all, whatever moment the process dies.
 */
export const CHECKPOINT_FORMAT = "infifpo-train-checkpoint/1";

export interface ParamEntry {
  name: string;
  shape: number[];
  offset: number; // in float32 elements
  size: number;
}

export interface CheckpointState {
  format: string;
  step: number;
  params: ParamEntry[];
  optimizer?: { step: number };
  sampler?: SamplerState;
  /** The resolved run config; resume refuses a different one. */
  config?: unknown;
  /** Free-form adapter data (e.g. model config), stored as given. */
  extra?: unknown;
}

export interface Checkpoint {
  dir: string;
  state: CheckpointState;
  params: Float32Array[];
  optimizer?: AdamWState;
}

const STEP_DIR = /^step-(\d+)$/;

export function checkpointDirName(step: number): string {
  return `step-${String(step).padStart(8, "0")}`;
}

/** Writes `data` to `file` durably: data fsync'ed before the call returns. */
function writeDurable(file: string, data: string | Uint8Array): void {
  const fd = fs.openSync(file, "w");
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes `data` to `file` atomically and durably (lib/data/safe-output.ts: an exclusive temporary file of this
 * process, fsync, rename); a failure is one line naming the file.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  writeFileSafe(file, data);
}

function concat(arrays: Float32Array[]): Uint8Array {
  const total = arrays.reduce((s, a) => s + a.length, 0);
  const out = new Float32Array(total);
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return new Uint8Array(out.buffer);
}

function split(buf: Buffer, entries: ParamEntry[], copies: number, file: string): Float32Array[][] {
  const per = entries.reduce((s, e) => s + e.size, 0);
  if (buf.byteLength !== per * copies * 4)
    throw new UserError(`${file}: ${buf.byteLength} bytes, expected ${per * copies * 4} (checkpoint truncated or from another model)`);
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const out: Float32Array[][] = [];
  for (let c = 0; c < copies; c++) out.push(entries.map((e) => all.slice(c * per + e.offset, c * per + e.offset + e.size)));
  return out;
}

/** The parameter table for `params`, in order. */
export function paramTable(params: tf.Variable[]): ParamEntry[] {
  let offset = 0;
  return params.map((p) => {
    const e = { name: p.name, shape: [...p.shape], offset, size: p.size };
    offset += p.size;
    return e;
  });
}

/**
 * Writes a checkpoint directory atomically and returns its path. `params` are read from the variables;
 * `optimizer` and `sampler` are included when given.
 */
export function writeCheckpoint(
  dir: string,
  params: tf.Variable[],
  meta: Omit<CheckpointState, "format" | "params">,
  optimizer?: AdamWState,
): string {
  for (const p of params) if (p.dtype !== "float32") throw new Error(`checkpoint: ${p.name} is ${p.dtype}, only float32 is stored`);
  const parent = path.dirname(dir);
  const tmp = tempPathFor(dir);
  try {
    fs.mkdirSync(parent, { recursive: true });
    fs.mkdirSync(tmp); // exclusive: fails if the name exists
    writeCheckpointFiles(tmp, dir, params, meta, optimizer);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw outputError(dir, e);
  }
  return dir;
}

function writeCheckpointFiles(tmp: string, dir: string, params: tf.Variable[], meta: Omit<CheckpointState, "format" | "params">, optimizer?: AdamWState): void {
  const parent = path.dirname(dir);
  const table = paramTable(params);
  writeDurable(path.join(tmp, "params.bin"), concat(params.map((p) => p.dataSync() as Float32Array)));
  if (optimizer) writeDurable(path.join(tmp, "optim.bin"), concat([...optimizer.m, ...optimizer.v]));
  const state: CheckpointState = {
    format: CHECKPOINT_FORMAT,
    ...meta,
    params: table,
    ...(optimizer ? { optimizer: { step: optimizer.step } } : {}),
  };
  writeDurable(path.join(tmp, "state.json"), JSON.stringify(state, null, 1) + "\n");
  fsyncDir(tmp);
  if (fs.existsSync(dir)) {
    // replacing an older copy of the same step: move it aside first so `dir` is never half-written
    const old = `${dir}.old-${process.pid}-${Date.now()}`;
    fs.renameSync(dir, old);
    fs.renameSync(tmp, dir);
    fs.rmSync(old, { recursive: true, force: true });
  } else {
    fs.renameSync(tmp, dir);
  }
  fsyncDir(parent);
}

/** Reads a checkpoint directory written by `writeCheckpoint`. Errors name the file. */
export function readCheckpoint(dir: string): Checkpoint {
  const sf = path.join(dir, "state.json");
  if (!fs.existsSync(sf)) throw new UserError(`${sf}: not found (not a checkpoint directory)`);
  let state: CheckpointState;
  try {
    state = JSON.parse(fs.readFileSync(sf, "utf8"));
  } catch (e) {
    throw new UserError(`${sf}: invalid JSON (${(e as Error).message})`);
  }
  if (state.format !== CHECKPOINT_FORMAT) throw new UserError(`${sf}: field "format" is ${JSON.stringify(state.format)}, expected "${CHECKPOINT_FORMAT}"`);
  const pf = path.join(dir, "params.bin");
  const [params] = split(fs.readFileSync(pf), state.params, 1, pf);
  let optimizer: AdamWState | undefined;
  const of = path.join(dir, "optim.bin");
  if (state.optimizer && fs.existsSync(of)) {
    const [m, v] = split(fs.readFileSync(of), state.params, 2, of);
    optimizer = { step: state.optimizer.step, m, v };
  }
  return { dir, state, params, optimizer };
}

/** Complete checkpoint directories under `root`, oldest first (temp directories are ignored). */
export function listCheckpoints(root: string): { step: number; dir: string }[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .map((n) => ({ m: STEP_DIR.exec(n), n }))
    .filter((x) => x.m && fs.existsSync(path.join(root, x.n, "state.json")))
    .map((x) => ({ step: Number(x.m![1]), dir: path.join(root, x.n) }))
    .sort((a, b) => a.step - b.step);
}

export function latestCheckpoint(root: string): string | null {
  const all = listCheckpoints(root);
  return all.length ? all[all.length - 1].dir : null;
}

/** Deletes all but the newest `keep` checkpoints, and temp directories left by a killed writer. */
export function pruneCheckpoints(root: string, keep: number): void {
  if (!fs.existsSync(root)) return;
  for (const n of fs.readdirSync(root)) {
    if (/\.(tmp|old)-/.test(n)) fs.rmSync(path.join(root, n), { recursive: true, force: true });
  }
  if (keep <= 0) return;
  const all = listCheckpoints(root);
  for (const c of all.slice(0, Math.max(0, all.length - keep))) fs.rmSync(c.dir, { recursive: true, force: true });
}

/** Assigns stored values to `params`, checking names and shapes against the table. */
export function restoreParams(params: tf.Variable[], ckpt: Checkpoint): void {
  const table = ckpt.state.params;
  if (table.length !== params.length)
    throw new UserError(`${ckpt.dir}: checkpoint has ${table.length} parameters, model has ${params.length}`);
  params.forEach((p, i) => {
    const e = table[i];
    if (e.shape.join(",") !== p.shape.join(","))
      throw new UserError(`${ckpt.dir}: parameter ${i} (${e.name}) has shape [${e.shape}], model's ${p.name} has [${p.shape}]`);
    tf.tidy(() => p.assign(tf.tensor(ckpt.params[i], p.shape, "float32")));
  });
}

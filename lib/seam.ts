/**
 * The execution seam (docs/architecture.md): the model (lib/model) and the trainer (lib/train) are written once,
 * plainly, and reach whatever makes them fast through two calls:
 *
 * - `program(name).run(inputs, fn)` — run `fn`, a pure function of its input tensors (plus tf.Variables and
 *   constants), on these inputs. Plain: `fn(inputs)`. On native TensorFlow, lib/backend replays it as one graph.
 * - `defineKernel(name, reference)` — a named op with its plain reference implementation. Plain: the reference.
 *   lib/backend registers faster implementations per tfjs backend (fused C++ ops on native TensorFlow, written-out
 *   gradients, wasm workarounds), each tested equal to the reference (test/backend-kernels.test.ts).
 *
 * This file imports only tfjs, so lib/model and lib/train need nothing from lib/backend: tfjs-core's kernel
 * registry plays the same part for tfjs's own ops (backends register kernels for names tfjs-core declares).
 * `KernelSignatures` is the contract between the two sides. `runReference(fn)` runs `fn` with every kernel's
 * reference and every program op by op: the plain code, for comparisons (`runEager(fn)`: op by op only).
 *
 * @example
 * const layerNorm = defineKernel("layerNorm", (x, g, b, eps) => ...plain tfjs...);   // lib/model
 * registerKernel("layerNorm", "tensorflow", fusedLayerNorm);                          // lib/backend
 * const step = program("train step");
 * const { loss, grads } = step.run({ ids, mask }, ({ ids, mask }) => tf.variableGrads(...));
 */
import * as tf from "@tensorflow/tfjs";

/** Tensors in nested arrays and plain objects (undefined leaves allowed): the inputs of a program. */
export type TensorTree = tf.Tensor | undefined | readonly TensorTree[] | { readonly [key: string]: TensorTree };

// ---------------------------------------------------------------------------------------------------------
// Kernels

/** The ops lib/model and lib/train declare, with the signature every implementation of each must have. */
export interface KernelSignatures {
  /** LayerNorm over the last axis: x [N, D], gain and bias [D] → [N, D]. */
  layerNorm(x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, eps: number): tf.Tensor2D;
  /** Exact (erf) GELU, element-wise. */
  gelu(x: tf.Tensor2D): tf.Tensor2D;
  /** x · W (+ b), or x · Wᵀ (+ b) with `transposeW`: [N, I] → [N, O]. */
  linear(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D | null, transposeW: boolean): tf.Tensor2D;
  /** Causal self-attention of whole sequences: qkv [B·T, 3D] (q | k | v, head-major), mask [T, T] → [B·T, D]. */
  causalAttention(qkv: tf.Tensor2D, mask: tf.Tensor2D, B: number, T: number, H: number): tf.Tensor2D;
  /** log softmax(logits)[target] per row: logits [N, V], targets [N] (int32) → [N]. */
  targetLogProbs(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D;
  /** Σ_k ‖x_k‖² over float32 tensors (a scalar). */
  squaredNorm(xs: tf.Tensor[]): tf.Scalar;
  /**
   * One AdamW update of N parameters: p, g, m, v (N tensors each), h = [β1, 1−β1, β2, 1−β2, ε, √(1−β2^t),
   * η/(1−β1^t), 1−ηλ, gradient scale] (float32 [9]), `decay[i]` whether parameter i decays → [p', m', v'].
   */
  adamW(p: tf.Tensor[], g: tf.Tensor[], m: tf.Tensor[], v: tf.Tensor[], h: tf.Tensor1D, decay: boolean[]): [tf.Tensor[], tf.Tensor[], tf.Tensor[]];
}
export type KernelName = keyof KernelSignatures;

interface KernelEntry {
  reference?: KernelSignatures[KernelName];
  /** tfjs backend name (or "*": any backend without its own) → implementation */
  impls: Map<string, KernelSignatures[KernelName]>;
}
const kernels = new Map<KernelName, KernelEntry>();
/** Inside `runReference` (every kernel its reference, programs op by op) / `runEager` (programs op by op). */
let referenceDepth = 0;
let eagerDepth = 0;

function entry(name: KernelName): KernelEntry {
  let e = kernels.get(name);
  if (!e) kernels.set(name, (e = { impls: new Map() }));
  return e;
}

/**
 * Declares op `name` with its plain reference and returns the op: a function that runs the implementation
 * registered for the active tfjs backend (its own, else one for "*"), or the reference when none is.
 */
export function defineKernel<K extends KernelName>(name: K, reference: KernelSignatures[K]): KernelSignatures[K] {
  const e = entry(name);
  if (e.reference && e.reference !== reference) throw new Error(`kernel "${name}" is defined twice`);
  e.reference = reference;
  const op = (...args: unknown[]) => (kernelFor(name) as (...a: unknown[]) => unknown)(...args);
  return op as KernelSignatures[K];
}

/** Registers `impl` as op `name` on tfjs backend `backend` ("*": every backend without its own); returns its removal. */
export function registerKernel<K extends KernelName>(name: K, backend: string, impl: KernelSignatures[K]): () => void {
  const impls = entry(name).impls;
  impls.set(backend, impl);
  return () => {
    if (impls.get(backend) === impl) impls.delete(backend);
  };
}

/** The implementation op `name` runs now (on `backend`, default the active one). */
export function kernelFor<K extends KernelName>(name: K, backend?: string): KernelSignatures[K] {
  const e = kernels.get(name);
  if (!e?.reference) throw new Error(`kernel "${name}" is not defined (its module in lib/model or lib/train was not loaded)`);
  if (referenceDepth > 0) return e.reference as KernelSignatures[K];
  const be = backend ?? tf.getBackend();
  return (e.impls.get(be) ?? e.impls.get("*") ?? e.reference) as KernelSignatures[K];
}

/** The plain reference of op `name`. */
export function referenceKernel<K extends KernelName>(name: K): KernelSignatures[K] {
  const r = kernels.get(name)?.reference;
  if (!r) throw new Error(`kernel "${name}" is not defined`);
  return r as KernelSignatures[K];
}

/** Which implementation each defined op runs on `backend` (default the active one): its own, "*" or "reference". */
export function kernelTable(backend?: string): Record<string, string> {
  const be = backend ?? tf.getBackend();
  const out: Record<string, string> = {};
  for (const [name, e] of kernels) {
    if (!e.reference) continue;
    out[name] = referenceDepth > 0 ? "reference" : e.impls.has(be) ? be : e.impls.has("*") ? "*" : "reference";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Programs

/** A call site that runs pure functions of tensors; what the backend builds for it (graphs) is kept per input shape. */
export interface Program {
  readonly name: string;
  /**
   * `fn(inputs)`, on the backend's fastest path. `fn` must be a pure function of `inputs`, tf.Variables and
   * constants: everything that changes between calls (batch ids, masks, a step's learning rate) comes in
   * `inputs`. It must return every tensor it leaves alive, in any nesting of arrays and plain objects. One
   * program per function and set of variables (a replay reads the variables it was built with).
   */
  run<I extends TensorTree, R>(inputs: I, fn: (inputs: I) => R): R;
  /** Frees what the backend built for this program (it stays usable). */
  dispose(): void;
  /** How its calls ran so far, as the backend counts them (graph replay: traces, replays, ...); null before any. */
  stats(): Readonly<Record<string, number>> | null;
}

export interface ProgramOptions {
  /**
   * "fixed" (default): calls repeat a few input shapes (training steps, scoring batches), so building something
   * per shape pays. "varying": shapes change with every call (decoding with a growing cache); run op by op.
   */
  shapes?: "fixed" | "varying";
}

/** What lib/backend installs: how programs run, and the batch padding that suits it. */
export interface Runner {
  create(name: string, opts: ProgramOptions): RunnerProgram;
  /** The length to pad a batch's sequence axis to, for the longest sequence `longest` (≤ `max`). */
  padLength(longest: number, max: number): number;
}
/** A runner's program on flat inputs; `key` describes how the inputs nest (part of a graph's signature). */
export interface RunnerProgram {
  run<R>(inputs: tf.Tensor[], key: string, fn: (inputs: tf.Tensor[]) => R): R;
  dispose(): void;
  stats?(): Readonly<Record<string, number>>;
}

let runner: Runner | null = null;

/** Installs how programs run (lib/backend does, once); null restores plain execution. */
export function setRunner(r: Runner | null): void {
  runner = r;
}

/** A new program (see `Program`). */
export function program(name: string, opts: ProgramOptions = {}): Program {
  let impl: { runner: Runner; program: RunnerProgram } | null = null;
  return {
    name,
    run<I extends TensorTree, R>(inputs: I, fn: (inputs: I) => R): R {
      if (referenceDepth > 0 || eagerDepth > 0 || runner === null) return fn(inputs);
      if (impl?.runner !== runner) {
        impl?.program.dispose();
        impl = { runner, program: runner.create(name, opts) };
      }
      const flat: tf.Tensor[] = [];
      const key = flatten(inputs, flat);
      return impl.program.run(flat, key, (xs) => fn(rebuild(inputs, xs, { next: 0 }) as I));
    },
    dispose() {
      impl?.program.dispose();
      impl = null;
    },
    stats: () => impl?.program.stats?.() ?? null,
  };
}

/** The sequence length to pad a batch to (see `Runner.padLength`; not changed by `runReference`, so that both pad alike); plain execution pads nothing. */
export function padLength(longest: number, max: number): number {
  return runner === null ? longest : runner.padLength(longest, max);
}

/**
 * Runs `fn` as plain code: every kernel its reference, every program op by op (a returned promise keeps this
 * in force until it settles). For comparisons with the fast paths, and for debugging them.
 */
export function runReference<R>(fn: () => R): R {
  return within(fn, (d) => (referenceDepth += d));
}

/**
 * Runs `fn` with every program op by op, the kernels as registered: the same ops in the same order as a replayed
 * graph runs them (batches padded alike), so where the graph is not rewritten by TensorFlow the numbers are the
 * same bits (test/backend-seam.test.ts).
 */
export function runEager<R>(fn: () => R): R {
  return within(fn, (d) => (eagerDepth += d));
}

function within<R>(fn: () => R, enter: (delta: number) => void): R {
  enter(1);
  let result: R;
  try {
    result = fn();
  } catch (e) {
    enter(-1);
    throw e;
  }
  if (result instanceof Promise) return result.finally(() => enter(-1)) as R;
  enter(-1);
  return result;
}

/** The tree's tensors, depth first (e.g. to dispose them). */
export function tensorsOf(t: TensorTree): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  flatten(t, out);
  return out;
}

/** Appends the tree's tensors to `out` (depth first); returns a string describing its nesting. */
function flatten(t: TensorTree, out: tf.Tensor[]): string {
  if (t === undefined) return "_";
  if (t instanceof tf.Tensor) {
    out.push(t);
    return "t";
  }
  if (Array.isArray(t)) return `[${t.map((x) => flatten(x, out)).join(",")}]`;
  return `{${Object.entries(t as Record<string, TensorTree>).map(([k, v]) => `${k}:${flatten(v, out)}`).join(",")}}`;
}

/** The tree's shape with its tensors replaced, in `flatten`'s order, by `xs`. */
function rebuild(t: TensorTree, xs: tf.Tensor[], at: { next: number }): TensorTree {
  if (t === undefined) return undefined;
  if (t instanceof tf.Tensor) return xs[at.next++];
  if (Array.isArray(t)) return t.map((x) => rebuild(x, xs, at));
  return Object.fromEntries(Object.entries(t as Record<string, TensorTree>).map(([k, v]) => [k, rebuild(v, xs, at)]));
}

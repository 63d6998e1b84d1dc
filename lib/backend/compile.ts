/**
 * Graph replay for the native backend: run a tfjs function as ONE TensorFlow graph instead of op by op. It is how
 * the execution seam's programs run on native TensorFlow (lib/seam.ts `program`; `graphRunner` below): each
 * program is a CompiledSite whose pure function is replayed with `runPure`.
 *
 * Why: on `tfjs-node` every op is a separate eager TensorFlow call plus tfjs bookkeeping (~25 µs floor, and
 * 0.1–0.4 ms for element-wise ops on bench-small activations); a bench-small training step has ~1,400 of
 * them. The same ops run as one graph (TF_SessionRun: one call, TensorFlow's executor, no per-op JS) take
 * about half the time (bench/train.ts; figures in the README).
 *
 * How (a tracing JIT with guarded replay):
 * 1. Trace: the first call of a site runs `fn` eagerly while recording every op tfjs-node executes (name,
 *    attributes, which earlier output / upload / outside tensor feeds each input), every upload (a tensor
 *    made from JS values inside `fn`: batch ids, masks, scalars such as the learning rate) and every
 *    outside tensor read (variables, optimizer state). The tensors still alive when `fn` returns are the
 *    outputs. The recording becomes a GraphDef in which EVERY upload and outside tensor is a Placeholder —
 *    nothing computed in JS is baked in as a constant, so data-dependent values can never go stale.
 * 2. Replay: later calls run `fn` in "shadow" mode: tfjs runs all its JS (tape, gradients, shape checks), but
 *    no op executes — each op is checked against the recording (same op, attributes and input wiring,
 *    same input shapes, same small int32 uploads such as reshape targets) and answered with a placeholder
 *    handle; uploads are collected. Then the graph runs once with the new uploads and the current outside
 *    tensors, and the output handles are patched into the tensors `fn` returned. Any mismatch aborts the
 *    shadow run and the function is traced again (a site keeps a few graphs, e.g. one per batch shape).
 * 3. Every call of a signature, the first included, returns graph results (the trace's eager results are
 *    replaced), so a run's numbers never depend on when a graph was built — resume stays bit-identical.
 * 4. Pure replay (`runPure(inputs, fn)`): when `fn` is a pure function of its input tensors (plus variables and
 *    constants), later calls skip the shadow run altogether — the inputs and the variables' current values are
 *    fed, the graph runs, and the result is rebuilt from its outputs (no tfjs JavaScript at all: ~20–30 ms saved
 *    per bench-small training step). The 2nd, 3rd and every 64th call run the guarded replay instead and fail
 *    loudly if `fn` turned out not to be pure (a changed constant, another outside tensor, other ops).
 *
 * Contract for `fn`: synchronous, no reads of tensor data (`dataSync`, `arraySync`) inside (detected: the
 * site falls back to eager for good, with one log line), deterministic in which ops it runs given the
 * shapes; side effects on outside tensors (Variable.assign) belong after `run`, not inside. On other backends,
 * or with INFIFPO_COMPILE=0, `run(fn)` is just `fn()`. INFIFPO_COMPILE_DEBUG=1 logs traces, replays and the
 * reason of every guard miss.
 *
 * Numbers: a graph computes the same ops as tfjs would, but TensorFlow's graph optimizer may reorder sums, so
 * results agree with op-by-op execution to float32 rounding (not bit for bit); replays of one graph are
 * bit-identical, and since every call of a shape uses the graph, a resumed run equals an uninterrupted one.
 * Not verified: tfjs-node-gpu (same code path; the graph would be placed on the GPU by TensorFlow).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { Runner } from "../seam";
import { nodeDef, placeholderDef, savedModelBytes, type AttrKind, type ProtoWriter, attrValue } from "./graphdef";

interface OutMeta {
  id: number;
  shape: number[];
  dtype: number;
}
interface OpAttr {
  name: string;
  type: number;
  value: unknown;
}
type Values = ArrayLike<number> & { length: number };
interface Binding {
  executeOp(name: string, attrs: OpAttr[], inputIds: number[], numOutputs: number): OutMeta[];
  createTensor(shape: number[], dtype: number, values: Values): number;
  tensorDataSync(id: number): Values;
  deleteTensor(id: number): void;
  loadSavedModel(dir: string, tags: string): number;
  runSavedModel(sessionId: number, inputIds: number[], inputNames: string, outputNames: string): OutMeta[];
  deleteSavedModel(sessionId: number): void;
  [k: string]: unknown;
}
interface TensorInfoLike {
  dataId: object;
  shape: number[];
  dtype: string;
}
interface NodeBackend {
  binding: Binding;
  tensorMap: { has(d: object): boolean; get(d: object): { id: number; shape: number[]; dtype: number } };
  getInputTensorIds(ts: TensorInfoLike[]): number[];
  createOutputTensor(m: OutMeta): tf.Tensor;
}

/** Thrown inside a shadow run when `fn` does something the recording did not. */
class GuardMiss extends Error {
  /** Outside tensors the aborted run had disposed: it cannot be undone. */
  sideEffects = 0;
}
/** Thrown when `fn` cannot be traced at all (reads tensor data, unknown tensor kinds). */
class Untraceable extends Error {}

/** One recorded op: `key` = op, input wiring and attributes, compared on replay. */
interface OpRecord {
  op: string;
  attrs: OpAttr[];
  ins: string[];
  /** Values of the uploads at shape-deciding inputs ("|1=2,3"). */
  shapeValues: string;
  outs: { shape: number[]; dtype: number }[];
  /** Readable form, for miss messages. */
  key: string;
}

interface Recording {
  ops: OpRecord[];
  /** Each upload's shape and dtype; `values` for small ones (≤ CACHE_MAX elements), fed from a cached handle when unchanged. */
  uploads: { shape: number[]; dtype: number; values?: Values }[];
  externals: { shape: number[]; dtype: number }[];
  /** Refs ("o3:0", "u5") of the tensors alive when `fn` returned, in creation order. */
  outputs: string[];
}

interface Graph {
  rec: Recording;
  sessionId: number;
  inputNames: string;
  outputNames: string;
  /** Per upload: a TensorFlow handle holding its recorded values (small uploads only), owned by the graph. */
  cached: (number | undefined)[];
}

/** Uploads up to this many elements (shape vectors, scalars) are compared with the recording and fed from a cache. */
const CACHE_MAX = 64;
/** The typed arrays tfjs-node hands to TensorFlow per dtype number (float32, int32, bool). */
const TYPED: Record<number, { from(a: ArrayLike<number>): Values }> = { 1: Float32Array, 3: Int32Array, 10: Uint8Array };

function freeGraph(b: Binding, g: Graph): void {
  b.deleteSavedModel(g.sessionId);
  for (const id of g.cached) if (id !== undefined) b.deleteTensor(id);
}

function sameValues(a: Values, b: Values): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/** A result's shape with its tensors replaced by output positions (other leaves kept as values). */
type Template = number | Template[] | { value: unknown } | { fields: Record<string, Template> };

/** How `runPure` replays one signature: the graph, where each outside input comes from, the result's shape. */
interface PureGraph {
  graph: Graph;
  /** Per graph external: the position in `inputs`, or the tensor itself (a Variable, read anew each call). */
  sources: (number | tf.Tensor)[];
  template: Template;
  calls: number;
}

/** The plan for replaying a traced pure function, or why it cannot be replayed purely. */
function purePlan(be: NodeBackend, inputs: tf.Tensor[], result: unknown, log: RunLog, graph: Graph): PureGraph | string {
  const rec = graph.rec;
  if (rec.uploads.some((u) => u.values === undefined)) return "an upload of a dtype that cannot be cached";
  const inputIds = be.getInputTensorIds(inputs);
  const sources: (number | tf.Tensor)[] = [];
  for (let e = 0; e < log.externalIds.length; e++) {
    const j = inputIds.indexOf(log.externalIds[e]);
    if (j >= 0) sources.push(j);
    else if (log.externalInfos[e] instanceof tf.Tensor) sources.push(log.externalInfos[e] as tf.Tensor);
    else return `outside tensor ${e} is not a tfjs Tensor`;
  }
  const outputOf = new Map<object, number>();
  rec.outputs.forEach((ref, k) => outputOf.set(log.dataIds.get(ref)!, k));
  const used = new Set<number>();
  let problem: string | null = null;
  const walk = (x: unknown): Template => {
    if (x instanceof tf.Tensor) {
      const k = outputOf.get(x.dataId);
      if (k === undefined) problem ??= "the result holds a tensor the function did not compute";
      used.add(k ?? -1);
      return k ?? -1;
    }
    if (Array.isArray(x)) return x.map(walk);
    if (x !== null && typeof x === "object" && Object.getPrototypeOf(x) === Object.prototype) {
      return { fields: Object.fromEntries(Object.entries(x).map(([k, v]) => [k, walk(v)])) };
    }
    if (x !== null && typeof x === "object") problem ??= "the result holds an object that is not a plain object or array";
    return { value: x };
  };
  const template = walk(result);
  if (problem) return problem;
  if (used.size !== rec.outputs.length) return `${rec.outputs.length - used.size} tensor(s) left alive outside the result`;
  return { graph, sources, template, calls: 1 };
}

/** What one (trace or shadow) run of `fn` saw, enough to feed and patch the graph. */
interface RunLog {
  externalIds: number[];
  /** What tfjs handed over for each outside tensor (a Tensor or Variable object, or a bare TensorInfo). */
  externalInfos: TensorInfoLike[];
  /** Each upload: its handle (real, or a placeholder when fed from the graph's cache) and its values. */
  uploadValues: { id: number; shape: number[]; dtype: number; values: Values; cached?: boolean }[];
  /** Handles made by ops during this run (fake ones in a shadow run). */
  produced: Set<number>;
  /** ref → the dataId that tfjs holds for it */
  dataIds: Map<string, object>;
  /** ref → the tfjs tensor object, where known (to dispose a failed shadow run's tensors) */
  tensors: Map<string, tf.Tensor>;
  /** Real tensors `fn` disposed during a shadow run: freed after the graph ran (it may read them). */
  deferredDeletes: number[];
  /** Tensors passed to `tf.keep` during the run. */
  kept: tf.Tensor[];
  /** Outside tensors `fn` disposed (e.g. by Variable.assign) during a shadow run. */
  sideEffects: number;
}

const TF_DTYPE: Record<string, number> = { float32: 1, int32: 3, bool: 10 };
let fakeId = -2;
let active = false;
const loggedOnce = new Set<string>();
function logOnce(msg: string): void {
  if (loggedOnce.has(msg)) return;
  loggedOnce.add(msg);
  console.error(`[infifpo] ${msg}`);
}

/** Whether graph replay applies now: the native backend is active and INFIFPO_COMPILE is not "0". */
export function compileAvailable(): boolean {
  if (process.env.INFIFPO_COMPILE === "0") return false;
  const name = tf.getBackend();
  if (name !== "tensorflow") return false;
  const be = tf.backend() as unknown as Partial<NodeBackend>;
  return typeof be.binding?.runSavedModel === "function" && typeof be.getInputTensorIds === "function";
}

export interface CompileStats {
  /** Calls answered by a graph (shadow run + one session run). */
  replays: number;
  /** Traces (eager recording + graph build). */
  traces: number;
  /** Shadow runs that did not match a recording (then traced). */
  misses: number;
  /** Replays that ran no JavaScript of the function at all (`runPure`). */
  pureReplays: number;
  /** Calls run eagerly (compile unavailable or given up). */
  eager: number;
  /** Milliseconds spent in shadow runs (tfjs's JS, no TensorFlow work) and in graph runs, over all replays. */
  shadowMs: number;
  graphMs: number;
}

/**
 * A call site whose function is traced once per signature and replayed as a TensorFlow graph.
 *
 * @example
 * const site = new CompiledSite("train-step");
 * const { value, grads } = site.run(() => tf.variableGrads(() => loss(batch), vars)); // graph after the first call
 * site.dispose();
 */
export class CompiledSite {
  readonly name: string;
  readonly maxGraphs: number;
  private graphs: Graph[] = [];
  private disabled: string | null = null;
  readonly stats: CompileStats = { replays: 0, pureReplays: 0, traces: 0, misses: 0, eager: 0, shadowMs: 0, graphMs: 0 };
  /** `runPure` plans by input signature; null: that signature replays through `run` instead. */
  private pure = new Map<string, PureGraph | null>();

  constructor(name: string, opts: { maxGraphs?: number } = {}) {
    this.name = name;
    this.maxGraphs = opts.maxGraphs ?? 64;
  }

  /** Why this site runs eagerly for good, or null. */
  get disabledReason(): string | null {
    return this.disabled;
  }

  /** Runs `fn` (see the module comment); returns what `fn` returns, its tensors holding graph results. */
  run<R>(fn: () => R): R {
    return this.runGuarded(fn, false).result;
  }

  /**
   * `run` for a PURE function of tensors, replayed without running its JavaScript at all (no shadow run):
   * `fn(inputs)` may read only `inputs`, tf.Variables and long-lived constant tensors, and every tensor it
   * makes from JS values must be the same constant on every call (scalars such as 0.5, shape vectors). Pass
   * everything that changes between calls (batch ids, masks, the step's learning rate) as an input.
   * Graphs are keyed by the inputs' shapes and dtypes (and `tag`, e.g. how the inputs nest). `fn` must return every tensor it
   * leaves alive (in any nesting of arrays and plain objects; other leaves are returned as traced).
   *
   * The contract is checked: the 2nd and 3rd call of each graph and every 64th after run the guarded shadow
   * replay instead, and fail loudly if `fn` ran different ops, made a different constant, or read a different
   * outside tensor than when it was traced. A function that cannot be replayed purely (it returns tensors
   * outside its result, reads a non-tensor input) runs through `run` (guarded replay), with a debug log.
   */
  runPure<R>(inputs: tf.Tensor[], fn: (inputs: tf.Tensor[]) => R, tag = ""): R {
    if (this.disabled || active || !compileAvailable()) {
      this.stats.eager++;
      return fn(inputs);
    }
    const key = inputs.map((t) => `${t.dtype}[${t.shape}]`).join(";") + tag;
    const pure = this.pure.get(key);
    if (pure === null) return this.run(() => fn(inputs));
    const be = tf.backend() as unknown as NodeBackend;
    if (pure && !this.graphs.includes(pure.graph)) this.pure.delete(key); // its graph was evicted
    else if (pure) {
      pure.calls++;
      const ids = pure.sources.map((s) => (typeof s === "number" ? inputs[s] : s));
      if (ids.some((t) => t.isDisposed)) {
        throw new Error(`compiled "${this.name}": an outside tensor read by the pure function was disposed; pass changing tensors as inputs`);
      }
      const externalIds = be.getInputTensorIds(ids);
      if (pure.calls > 3 && pure.calls % 64 !== 0) return this.replayPure(be, pure, externalIds);
      // verification call: guarded shadow replay against the same recording
      const r = this.runGuarded(() => fn(inputs), false, pure.graph);
      const problem = !r.log
        ? "it ran op by op"
        : r.log.uploadValues.some((u) => !u.cached)
          ? "it made a tensor from JS values that differ from the traced ones"
          : !tf.util.arraysEqual(r.log.externalIds, externalIds)
            ? "it read different outside tensors"
            : null;
      if (problem) {
        this.pure.delete(key);
        throw new Error(`compiled "${this.name}": the pure function changed between calls (${problem}); pass changing values as inputs`);
      }
      return r.result;
    }
    // first call: trace (all uploads are constants, so their values are kept with the graph)
    const r = this.runGuarded(() => fn(inputs), true);
    if (!r.log || !r.graph) {
      this.pure.set(key, null);
      return r.result;
    }
    const made = purePlan(be, inputs, r.result, r.log, r.graph);
    if (typeof made === "string") {
      if (process.env.INFIFPO_COMPILE_DEBUG) console.error(`[compile] ${this.name}: not replayed purely: ${made}`);
      this.pure.set(key, null);
    } else this.pure.set(key, made);
    return r.result;
  }

  private replayPure<R>(be: NodeBackend, pure: PureGraph, externalIds: number[]): R {
    const b = be.binding;
    const { graph } = pure;
    const t0 = performance.now();
    const outs = b.runSavedModel(graph.sessionId, [...(graph.cached as number[]), ...externalIds], graph.inputNames, graph.outputNames);
    const tensors = outs.map((o) => be.createOutputTensor(o));
    this.stats.replays++;
    this.stats.pureReplays++;
    this.stats.graphMs += performance.now() - t0;
    const build = (t: Template): unknown => {
      if (typeof t === "number") return tensors[t];
      if (Array.isArray(t)) return t.map(build);
      if ("value" in t) return t.value;
      return Object.fromEntries(Object.entries(t.fields).map(([k, v]) => [k, build(v)]));
    };
    return build(pure.template) as R;
  }

  /** The guarded replay (or trace) of `fn`; `graph` set: only that recording is tried. */
  private runGuarded<R>(fn: () => R, cacheAll: boolean, only?: Graph): { result: R; graph: Graph | null; log: RunLog | null } {
    if (this.disabled || active || !compileAvailable()) {
      this.stats.eager++;
      return { result: fn(), graph: null, log: null };
    }
    const be = tf.backend() as unknown as NodeBackend;
    patchGatherOnce();
    // most recently used first; a miss usually shows at the first upload of another shape
    for (let g = 0; g < this.graphs.length; g++) {
      const graph = this.graphs[g];
      if (only && graph !== only) continue;
      let result: R;
      let log: RunLog;
      const t0 = performance.now();
      try {
        [result, log] = hookedRun(be, fn, graph.rec, false);
      } catch (e) {
        if (e instanceof GuardMiss) {
          if (e.sideEffects > 0) {
            throw new Error(
              `compiled "${this.name}": the function disposed tensors it did not create (e.g. Variable.assign) and then ` +
                `ran differently from its recording; keep side effects out of compiled functions`,
            );
          }
          this.stats.misses++;
          if (process.env.INFIFPO_COMPILE_DEBUG) console.error(`[compile] ${this.name}: miss on graph ${g}: ${e.message}`);
          if (only) throw new Error(`compiled "${this.name}": the pure function changed between calls (it ran differently from its recording: ${e.message})`);
          continue;
        }
        throw e;
      }
      if (g > 0) this.graphs.unshift(...this.graphs.splice(g, 1));
      const t1 = performance.now();
      this.execute(be, graph, log, false);
      this.stats.replays++;
      this.stats.shadowMs += t1 - t0;
      this.stats.graphMs += performance.now() - t1;
      if (process.env.INFIFPO_COMPILE_DEBUG) console.error(`[compile] ${this.name}: replayed graph ${g} (${(t1 - t0).toFixed(1)} ms shadow, ${(performance.now() - t1).toFixed(1)} ms graph)`);
      return { result: result!, graph, log };
    }
    // trace
    let result: R;
    let log: RunLog;
    let rec: Recording;
    try {
      [result, log, rec] = hookedRun(be, fn, null, cacheAll);
    } catch (e) {
      if (e instanceof Untraceable) {
        this.disable(e.message);
        this.stats.eager++;
        return { result: fn(), graph: null, log: null };
      }
      throw e;
    }
    this.stats.traces++;
    if (process.env.INFIFPO_COMPILE_DEBUG) console.error(`[compile] ${this.name}: traced ${rec.ops.length} ops, ${rec.uploads.length} uploads, ${rec.externals.length} outside, ${rec.outputs.length} outputs`);
    let graph: Graph;
    try {
      graph = buildGraph(be, rec);
    } catch (e) {
      this.disable(`graph build failed: ${oneLine((e as Error).message)}`);
      return { result, graph: null, log: null }; // the eager results of the trace run
    }
    try {
      this.execute(be, graph, log, true);
    } catch (e) {
      freeGraph(be.binding, graph);
      this.disable(`graph run failed: ${oneLine((e as Error).message)}`);
      return { result, graph: null, log: null };
    }
    if (process.env.INFIFPO_COMPILE_DEBUG) console.error(`[compile] ${this.name}: graph ran`);
    this.graphs.unshift(graph);
    while (this.graphs.length > this.maxGraphs) freeGraph(be.binding, this.graphs.pop()!);
    return { result, graph, log };
  }

  private disable(reason: string): void {
    this.disabled = reason;
    logOnce(`graph replay off for "${this.name}" (runs op by op): ${reason}`);
  }

  /** Feeds the run's uploads and outside tensors, runs the graph, patches the outputs into tfjs's tensors. */
  private execute(be: NodeBackend, graph: Graph, log: RunLog, replaceReal: boolean): void {
    const b = be.binding;
    // a trace's uploads may be freed by now (fn's scopes); a shadow run's are alive (deletes deferred)
    const uploadIds = replaceReal ? log.uploadValues.map((u) => b.createTensor(u.shape, u.dtype, u.values)) : [];
    const feeds = replaceReal ? uploadIds : log.uploadValues.map((u, i) => (u.cached ? graph.cached[i]! : u.id));
    let outs: OutMeta[];
    try {
      outs = b.runSavedModel(graph.sessionId, [...feeds, ...log.externalIds], graph.inputNames, graph.outputNames);
    } finally {
      for (const id of uploadIds) b.deleteTensor(id);
      for (const id of log.deferredDeletes) b.deleteTensor(id);
    }
    const { outputs } = graph.rec;
    outputs.forEach((ref, k) => {
      const info = be.tensorMap.get(log.dataIds.get(ref)!);
      const expected = info.shape;
      if (!tf.util.arraysEqual(outs[k].shape, expected)) {
        for (const o of outs) b.deleteTensor(o.id);
        throw new Error(`compiled "${this.name}": output ${ref} has shape [${outs[k].shape}] but tfjs expects [${expected}]`);
      }
    });
    outputs.forEach((ref, k) => {
      const info = be.tensorMap.get(log.dataIds.get(ref)!);
      if (replaceReal && info.id >= 0) b.deleteTensor(info.id);
      info.id = outs[k].id;
    });
  }

  /** Frees the graphs (the site can be used again: it traces anew). */
  dispose(): void {
    this.pure.clear();
    if (this.graphs.length === 0) return;
    const be = tf.backend() as unknown as Partial<NodeBackend>;
    if (be.binding) for (const g of this.graphs) freeGraph(be.binding, g);
    this.graphs = [];
  }
}

/**
 * How the execution seam's programs run (lib/seam.ts; installed by lib/backend): each program is a CompiledSite
 * whose pure function is replayed as a TensorFlow graph per input signature on the native backend (op by op
 * elsewhere, and for programs whose shapes vary with every call). Batches are padded to a multiple of 8 positions
 * when graphs replay, so that few distinct shapes (and graphs) occur.
 */
export const graphRunner: Runner = {
  create(name, opts) {
    if (opts.shapes === "varying") return { run: (inputs, _tag, fn) => fn(inputs), dispose: () => undefined };
    const site = new CompiledSite(name);
    return { run: (inputs, tag, fn) => site.runPure(inputs, fn, tag), dispose: () => site.dispose(), stats: () => ({ ...site.stats }) };
  },
  padLength: (longest, max) => (compileAvailable() ? Math.min(max, Math.ceil(longest / 8) * 8) : longest),
};

/** A TensorFlow error message on one line, the node it names kept (up to 300 characters). */
function oneLine(msg: string): string {
  const flat = msg.replace(/\s+/g, " ").trim();
  return flat.length > 300 ? `${flat.slice(0, 297)}...` : flat;
}

let gatherPatched = false;
/**
 * tfjs-node's GatherV2 kernel reads the indices back to JS to check their range before running the op — a
 * data read that would stop tracing. While a site records or replays, the kernel runs without that JS check;
 * TensorFlow's CPU kernel checks the range itself ("indices[i] = v is not in [0, n)").
 */
function patchGatherOnce(): void {
  if (gatherPatched) return;
  gatherPatched = true;
  const orig = tf.getKernel("GatherV2", "tensorflow");
  if (!orig) return;
  tf.unregisterKernel("GatherV2", "tensorflow");
  tf.registerKernel({
    ...orig,
    kernelFunc: (args) => {
      if (!active) return orig.kernelFunc(args);
      const be = args.backend as unknown as Record<string | symbol, unknown>;
      const noRead = new Proxy(be, {
        get: (t, p) => (p === "readSync" ? () => [] : typeof t[p] === "function" ? (t[p] as (...a: unknown[]) => unknown).bind(t) : t[p]),
      });
      return orig.kernelFunc({ ...args, backend: noRead as unknown as typeof args.backend });
    },
  });
}

/**
 * Input positions whose VALUES decide an op's output shape (TensorFlow op signatures). tfjs-node uploads
 * these from JS, so a replay must see the same values there, not just the same shapes. An op missing here
 * whose output shape changed anyway is caught after the graph runs (output shape check).
 */
const SHAPE_INPUTS: Record<string, number[] | "last"> = {
  Reshape: [1], Transpose: [1], ConcatV2: "last", Split: [0], SplitV: [1, 2], Slice: [1, 2],
  StridedSlice: [1, 2, 3], Sum: [1], Mean: [1], Max: [1], Min: [1], Prod: [1], Any: [1], All: [1],
  ArgMax: [1], ArgMin: [1], ExpandDims: [1], Tile: [1], Pad: [1], PadV2: [1], MirrorPad: [1], OneHot: [1],
  GatherV2: [2], Fill: [0], BroadcastTo: [1], Range: [0, 1, 2], UnsortedSegmentSum: [2], Cumsum: [1],
  Cumprod: [1], ReverseV2: [1], TopKV2: [1], ResizeBilinear: [1], ResizeNearestNeighbor: [1],
  MatrixBandPart: [1, 2], LinSpace: [2], Multinomial: [1], RandomUniform: [0], RandomStandardNormal: [0],
  TruncatedNormal: [0], Squeeze: [], Pack: [], Unpack: [],
};
const NONE: number[] = [];
function shapeInputs(op: string, nInputs: number): number[] {
  const s = SHAPE_INPUTS[op];
  if (s === "last") return [nInputs - 1];
  return s ?? NONE;
}

/** The id tfjs will give the next tensor (tensor ids only grow). */
function nextTensorId(): number {
  const ctor = tf.engine().constructor as unknown as { nextTensorId?: number };
  return typeof ctor.nextTensorId === "number" ? ctor.nextTensorId : Number.MAX_SAFE_INTEGER;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Attribute lists equal by name, type and value (numbers, strings, booleans, or arrays of them / of shapes). */
function sameAttrs(a: readonly OpAttr[], b: readonly OpAttr[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].name !== b[i].name || a[i].type !== b[i].type || !sameValue(a[i].value, b[i].value)) return false;
  }
  return true;
}

function sameValue(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (!sameValue(x[i], y[i])) return false;
  return true;
}

function attrsKey(attrs: OpAttr[]): string {
  return JSON.stringify(attrs);
}

/**
 * Runs `fn` with the binding hooked (see `Recorder`). `rec` null: trace (ops execute; everything is recorded).
 * `rec` given: shadow (no op executes; every step is checked against `rec`; GuardMiss on the first difference).
 */
function hookedRun<R>(be: NodeBackend, fn: () => R, rec: Recording | null, cacheAll: boolean): [R, RunLog, Recording] {
  const r = new Recorder(be, rec, cacheAll);
  const restore = r.install();
  let result: R;
  try {
    result = fn();
  } catch (e) {
    if (e instanceof GuardMiss || e instanceof Untraceable) disposeFakes(be, r.log);
    if (e instanceof GuardMiss) abandon(r.real, r.log, e);
    throw e;
  } finally {
    restore();
  }
  return [result!, r.log, r.finish()];
}

/**
 * One trace or shadow run: a proxy of tfjs-node's binding whose four entry points record or check what `fn`
 * does — `executeOp` (an op), `createTensor` (an upload from JS), `deleteTensor`, `tensorDataSync` (a data read:
 * not traceable) — plus hooks on the backend that see which tensors tfjs hands to ops and which it makes from op
 * outputs, and on `tf.keep`. Refs name every tensor of the run: "o3:1" (op 3's output 1), "u5" (upload 5), "x2"
 * (outside tensor 2).
 */
class Recorder {
  readonly real: Binding;
  readonly proxy: Binding;
  readonly trace: boolean;
  readonly out: Recording;
  readonly log: RunLog = { externalIds: [], externalInfos: [], uploadValues: [], dataIds: new Map(), tensors: new Map(), deferredDeletes: [], kept: [], produced: new Set(), sideEffects: 0 };
  private refOfId = new Map<number, string>(); // produced and uploaded ids → ref
  private seen = new Map<number, TensorInfoLike>(); // ids handed to ops → their tfjs info
  private externalIndex = new Map<number, number>();
  private producedOrder: string[] = []; // refs in creation order
  private opIndex = 0;

  constructor(private readonly be: NodeBackend, rec: Recording | null, private readonly cacheAll: boolean) {
    this.real = be.binding;
    this.trace = rec === null;
    this.out = rec ?? { ops: [], uploads: [], externals: [], outputs: [] };
    this.proxy = Object.create(this.real) as Binding;
    for (const name of ["executeOp", "createTensor", "deleteTensor", "tensorDataSync"] as const) {
      Object.defineProperty(this.proxy, name, { value: (this[name] as (...a: never[]) => unknown).bind(this) });
    }
  }

  /** The ref of an op input: a tensor of this run, or an outside tensor (registered, and guarded on replay). */
  private inputRef(id: number, op: string): string {
    const r = this.refOfId.get(id);
    if (r) return r;
    let e = this.externalIndex.get(id);
    if (e === undefined) {
      const info = this.seen.get(id);
      if (!info) throw this.trace ? new Untraceable(`op ${op} reads a tensor tfjs did not hand over`) : new GuardMiss(`unknown tensor at op ${this.opIndex}`);
      const dtype = TF_DTYPE[info.dtype];
      if (dtype === undefined) throw this.trace ? new Untraceable(`op ${op} reads a ${info.dtype} tensor`) : new GuardMiss(`dtype at op ${this.opIndex}`);
      e = this.log.externalIds.length;
      this.externalIndex.set(id, e);
      this.log.externalIds.push(id);
      this.log.externalInfos.push(info);
      if (this.trace) this.out.externals.push({ shape: [...info.shape], dtype });
      else {
        const x = this.out.externals[e];
        if (!x || x.dtype !== dtype || !tf.util.arraysEqual(x.shape, info.shape)) throw new GuardMiss(`outside tensor ${e} at op ${this.opIndex}`);
      }
    }
    return `x${e}`;
  }

  executeOp(name: string, attrs: OpAttr[], ids: number[], n: number): OutMeta[] {
    const ins = ids.map((id) => this.inputRef(id, name));
    const k = this.opIndex++;
    // inputs that decide the output's shape (reshape targets, axes, sizes): their values are guarded too
    let shapeValues = "";
    for (const p of shapeInputs(name, ids.length)) {
      const ref = ins[p];
      if (ref?.startsWith("u")) shapeValues += `|${p}=${Array.from(this.log.uploadValues[Number(ref.slice(1))].values).join(",")}`;
    }
    let metas: OutMeta[];
    if (this.trace) {
      metas = this.real.executeOp(name, attrs, ids, n);
      const key = `${name}(${ins.join(",")})${attrsKey(attrs)}${shapeValues}`;
      this.out.ops.push({ op: name, attrs, ins, shapeValues, outs: metas.map((m) => ({ shape: [...m.shape], dtype: m.dtype })), key });
    } else {
      const r = this.out.ops[k];
      if (!r || r.op !== name || r.shapeValues !== shapeValues || !sameStrings(r.ins, ins) || !sameAttrs(r.attrs, attrs)) {
        throw new GuardMiss(`op ${k}: ${name}(${ins.join(",")})${attrsKey(attrs)}${shapeValues} vs ${r?.key.slice(0, 120)}`);
      }
      metas = r.outs.map((o) => ({ id: fakeId--, shape: o.shape, dtype: o.dtype }));
    }
    metas.forEach((m, j) => {
      const ref = `o${k}:${j}`;
      this.refOfId.set(m.id, ref);
      this.log.produced.add(m.id);
      this.producedOrder.push(ref);
    });
    return metas;
  }

  /**
   * An upload made inside `fn` (tensors made earlier were handed over as outside tensors): an unchanged small one
   * gets a placeholder handle and is fed from the graph's cache; the others become real TensorFlow tensors.
   */
  createTensor(shape: number[], dtype: number, values: Values): number {
    const u = this.log.uploadValues.length;
    let cached = false;
    if (this.trace) this.out.uploads.push({ shape: [...shape], dtype, values: (this.cacheAll || values.length <= CACHE_MAX) && TYPED[dtype] ? Array.from(values) : undefined });
    else {
      const x = this.out.uploads[u];
      if (!x || x.dtype !== dtype || !tf.util.arraysEqual(x.shape, shape)) throw new GuardMiss(`upload ${u} at op ${this.opIndex}: [${shape}] vs [${x?.shape}]`);
      cached = x.values !== undefined && sameValues(x.values, values);
    }
    const id = cached ? fakeId-- : this.real.createTensor(shape, dtype, values);
    if (cached) this.log.produced.add(id);
    this.log.uploadValues.push({ id, shape: [...shape], dtype, values, cached });
    this.refOfId.set(id, `u${u}`);
    this.producedOrder.push(`u${u}`);
    return id;
  }

  /** A shadow run defers deletes until the graph ran (it may read the tensors); deleting an outside tensor is a side effect. */
  deleteTensor(id: number): void {
    if (this.trace || id < 0) this.real.deleteTensor(id);
    else {
      this.log.deferredDeletes.push(id);
      if (!this.refOfId.get(id)?.startsWith("u")) this.log.sideEffects++;
    }
  }

  tensorDataSync(): Values {
    if (this.trace) {
      if (process.env.INFIFPO_COMPILE_DEBUG) console.error(`[compile] data read at op ${this.opIndex}:`, new Error().stack);
      throw new Untraceable("the function reads tensor data (dataSync/arraySync) while it runs");
    }
    throw new GuardMiss(`data read at op ${this.opIndex}`);
  }

  /** Puts the proxy and the backend hooks in place; returns the function that takes them out again. */
  install(): () => void {
    const { be, real, log } = this;
    const ownGet = Object.prototype.hasOwnProperty.call(be, "getInputTensorIds");
    const ownCreate = Object.prototype.hasOwnProperty.call(be, "createOutputTensor");
    const origGet = be.getInputTensorIds;
    const origCreate = be.createOutputTensor;
    // Tensors made before this run whose values tfjs-node has not handed to TensorFlow yet (it does so on
    // first use): hand them over now, so they are outside inputs like any other, not uploads of this run.
    const firstOwnTensorId = nextTensorId();
    be.getInputTensorIds = (ts: TensorInfoLike[]) => {
      for (const t of ts) {
        if (!(t instanceof tf.Tensor) || t.id >= firstOwnTensorId) continue;
        const info = be.tensorMap.get(t.dataId) as { id: number; shape: number[]; dtype: number; values?: Values | null };
        if (info?.values != null) {
          info.id = real.createTensor(info.shape, info.dtype, info.values);
          info.values = null;
        }
      }
      const ids = origGet.call(be, ts);
      ids.forEach((id, i) => {
        this.seen.set(id, ts[i]);
        const r = this.refOfId.get(id);
        if (r && r.startsWith("u")) {
          log.dataIds.set(r, ts[i].dataId);
          if (ts[i] instanceof tf.Tensor) log.tensors.set(r, ts[i] as tf.Tensor);
        }
      });
      return ids;
    };
    be.createOutputTensor = (m: OutMeta) => {
      const t = origCreate.call(be, m);
      const r = this.refOfId.get(m.id);
      if (r) {
        log.dataIds.set(r, t.dataId);
        log.tensors.set(r, t);
      }
      return t;
    };
    // tensors tfjs keeps past scopes (tape copies for the backward pass, tf.keep): disposed if the run aborts
    const engine = tf.engine() as unknown as { keep(t: tf.Tensor): tf.Tensor };
    const ownKeep = Object.prototype.hasOwnProperty.call(engine, "keep");
    const origKeep = engine.keep;
    engine.keep = (t: tf.Tensor): tf.Tensor => {
      log.kept.push(t);
      return origKeep.call(engine, t);
    };
    be.binding = this.proxy;
    active = true;
    return () => {
      active = false;
      if (ownKeep) engine.keep = origKeep;
      else delete (engine as Partial<typeof engine>).keep;
      be.binding = real;
      if (ownGet) be.getInputTensorIds = origGet;
      else delete (be as Partial<NodeBackend>).getInputTensorIds;
      if (ownCreate) be.createOutputTensor = origCreate;
      else delete (be as Partial<NodeBackend>).createOutputTensor;
    };
  }

  /** After `fn` returned: the outputs (the tensors still alive, in creation order), checked against the recording on replay. */
  finish(): Recording {
    const { be, out, log } = this;
    const miss = (why: string) => {
      disposeFakes(be, log);
      const m = new GuardMiss(why);
      abandon(this.real, log, m);
      return m;
    };
    if (!this.trace && (this.opIndex !== out.ops.length || log.uploadValues.length !== out.uploads.length)) throw miss(`ran ${this.opIndex} ops, recorded ${out.ops.length}`);
    const alive = this.producedOrder.filter((ref) => {
      const d = log.dataIds.get(ref);
      return d !== undefined && be.tensorMap.has(d);
    });
    if (this.trace) out.outputs = alive;
    else if (alive.length !== out.outputs.length || alive.some((r, i) => r !== out.outputs[i])) throw miss(`outputs ${alive.length} vs ${out.outputs.length}`);
    return out;
  }
}

/** A shadow run that will not be executed: free the handles it deferred, note its side effects. */
function abandon(real: Binding, log: RunLog, m: GuardMiss): void {
  m.sideEffects = log.sideEffects;
  const ids = log.deferredDeletes;
  log.deferredDeletes = [];
  for (const id of ids) real.deleteTensor(id);
}

/** After an aborted run (or a shadow run that did not match): drop the tensors it made and kept. */
function disposeFakes(be: NodeBackend, log: RunLog): void {
  for (const t of [...log.kept, ...log.tensors.values()]) {
    if (t.isDisposed || !be.tensorMap.has(t.dataId)) continue;
    if (log.produced.has(be.tensorMap.get(t.dataId).id)) t.dispose(); // only what this run's ops made
  }
}

function attrKind(binding: Binding, type: number): AttrKind {
  const kinds: [string, AttrKind][] = [
    ["TF_ATTR_STRING", "string"], ["TF_ATTR_INT", "int"], ["TF_ATTR_FLOAT", "float"],
    ["TF_ATTR_BOOL", "bool"], ["TF_ATTR_TYPE", "type"], ["TF_ATTR_SHAPE", "shape"],
  ];
  for (const [k, kind] of kinds) if (binding[k] === type) return kind;
  throw new Error(`attribute type ${type} is not supported in graphs`);
}

/** Ops tfjs-node runs without their type attributes (eager infers them): attribute → input it comes from. */
const INFERRED_TYPE_ATTRS: Record<string, [string, number][]> = {
  ExpandDims: [["T", 0], ["Tdim", 1]],
  Where: [["T", 0]],
};

let graphDirCount = 0;
/** Writes the recording as a SavedModel, loads it into a TensorFlow session, removes the files. */
function buildGraph(be: NodeBackend, rec: Recording): Graph {
  const b = be.binding;
  const nodes: ProtoWriter[] = [];
  rec.uploads.forEach((u, i) => nodes.push(placeholderDef(`u${i}`, u.dtype, u.shape)));
  rec.externals.forEach((x, i) => nodes.push(placeholderDef(`x${i}`, x.dtype, x.shape)));
  const tensorName = (ref: string) => (ref.startsWith("o") ? (ref.endsWith(":0") ? ref.slice(0, -2) : ref) : ref);
  const dtypeOf = (ref: string): number => {
    if (ref.startsWith("u")) return rec.uploads[Number(ref.slice(1))].dtype;
    if (ref.startsWith("x")) return rec.externals[Number(ref.slice(1))].dtype;
    const [k, j] = ref.slice(1).split(":").map(Number);
    return rec.ops[k].outs[j].dtype;
  };
  rec.ops.forEach((r, k) => {
    const attrs: [string, ProtoWriter][] = r.attrs.map((a) => [a.name, attrValue(attrKind(b, a.type), a.value)]);
    // type attributes that eager execution infers from the inputs and tfjs-node therefore leaves out
    for (const [name, input] of INFERRED_TYPE_ATTRS[r.op] ?? []) {
      if (!r.attrs.some((a) => a.name === name)) attrs.push([name, attrValue("type", dtypeOf(r.ins[input]))]);
    }
    nodes.push(nodeDef(`o${k}`, r.op, r.ins.map(tensorName), attrs));
  });
  // a fed tensor cannot also be fetched: an upload returned by `fn` is fetched through an Identity
  const outputNames = rec.outputs.map((r) => {
    if (!r.startsWith("u")) return r;
    const u = rec.uploads[Number(r.slice(1))];
    nodes.push(nodeDef(`id_${r}`, "Identity", [r], [["T", attrValue("type", u.dtype)]]));
    return `id_${r}:0`;
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `infifpo-graph-${process.pid}-${graphDirCount++}-`));
  try {
    fs.writeFileSync(path.join(dir, "saved_model.pb"), savedModelBytes(nodes, 1700));
    let sessionId: number;
    try {
      sessionId = b.loadSavedModel(dir, "serve");
    } catch (e) {
      const m = /node o(\d+)/.exec((e as Error).message);
      const r = m ? rec.ops[Number(m[1])] : undefined;
      if (r) (e as Error).message += ` (o${m![1]} = ${r.op} with attributes ${r.attrs.map((a) => a.name).join(", ") || "none"})`;
      throw e;
    }
    const cached = rec.uploads.map((u) => {
      const Typed = u.values === undefined ? undefined : TYPED[u.dtype];
      return Typed ? b.createTensor(u.shape, u.dtype, Typed.from(u.values!)) : undefined;
    });
    return {
      rec,
      cached,
      sessionId,
      inputNames: [...rec.uploads.map((_, i) => `u${i}:0`), ...rec.externals.map((_, i) => `x${i}:0`)].join(","),
      outputNames: outputNames.join(","),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

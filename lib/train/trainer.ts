import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { UserError } from "../errors";
import { AdamW } from "./optim";
import { clipCoefficient, globalNorm } from "./clip";
import { CompiledSite } from "../backend/compile";
import { EpochSampler } from "./sampler";
import { deriveSeed } from "../rng";
import { MetricsLog, type MetricsRecord } from "./metrics";
import {
  checkpointDirName,
  latestCheckpoint,
  pruneCheckpoints,
  readCheckpoint,
  restoreParams,
  writeCheckpoint,
} from "./checkpoint";
import { createProgress, type Progress, type ProgressMode } from "./progress";

/** Plain progress lines (not a TTY: CI logs) at most this often; the last step always prints. */
const PROGRESS_LINE_MS = 15_000;

/** The loop's knobs. Everything that decides *what* is trained lives with the caller. */
export interface LoopConfig {
  /** Optimizer steps to run in total (a resumed run counts from its checkpoint). */
  maxSteps: number;
  /** Examples per optimizer step (pairs for preference data, sequences for SFT). */
  batchSize: number;
  /** Micro-batches per step; gradients are summed over them and divided by this. Must divide batchSize. */
  gradAccumSteps: number;
  /** Clip the global gradient norm to this; null or 0 = no clipping. grad_norm is logged before clipping. */
  maxGradNorm: number | null;
  /** Write a metrics line every k steps. */
  logEvery: number;
  /** Evaluate on the eval set every k steps (0 = never) and after the last step. */
  evalEvery: number;
  /** Examples per eval forward (default: the micro-batch size). */
  evalBatchSize?: number;
  /** Write a checkpoint every k steps (0 = none but the final weights). */
  checkpointEvery: number;
  /** Checkpoints kept on disk (older ones are deleted once a newer one is complete). */
  keepCheckpoints: number;
  /** Seeds data order and the per-step seeds given to the loss function. */
  seed: number;
  /** Shuffle the training set every epoch (default true). */
  shuffle?: boolean;
}

export const LOOP_DEFAULTS: LoopConfig = {
  maxSteps: 100,
  batchSize: 8,
  gradAccumSteps: 1,
  maxGradNorm: 1.0,
  logEvery: 1,
  evalEvery: 0,
  checkpointEvery: 0,
  keepCheckpoints: 2,
  seed: 0,
  shuffle: true,
};

/** Passed to the loss function: which step/micro-batch this is and a seed for its own randomness (dropout). */
export interface StepContext {
  step: number;
  micro: number;
  seed: number;
  training: boolean;
}

export interface LossOutput {
  loss: tf.Scalar;
  metrics?: Record<string, tf.Scalar>;
}

/**
 * The same loss in two parts, so a compiled step replays its graph without running the loss's JavaScript
 * (CompiledSite.runPure): `prepare` makes, from the batch and the step, every tensor that changes between
 * calls (token ids, masks, precomputed columns, step-dependent scalars); `compute` is a pure function of
 * those tensors and the model's variables (constants such as 0.5 are fine; anything else read from JS must
 * go through `prepare` — checked on the first replays, which fail loudly otherwise).
 */
export interface SplitLoss<T> {
  prepare(batch: T[], ctx: StepContext): tf.Tensor[];
  compute(inputs: tf.Tensor[]): LossOutput;
}

/**
 * batch → scalar loss (mean over the batch's examples) plus named scalar metrics (batch means). Optionally
 * carries the same loss as a `split` (prepare + compute) that the trainer uses for faster graph replay.
 */
export type LossFn<T> = ((batch: T[], ctx: StepContext) => LossOutput) & { split?: SplitLoss<T> };

/**
 * A `LossFn` from its two parts. The function form is `compute(prepare(batch, ctx))`; call it inside a scope
 * (tf.tidy / tf.variableGrads), which frees the prepared tensors.
 */
export function splitLossFn<T>(split: SplitLoss<T>): LossFn<T> {
  const fn: LossFn<T> = (batch, ctx) => split.compute(split.prepare(batch, ctx));
  fn.split = split;
  return fn;
}

export interface TrainerOptions<T> {
  params: tf.Variable[];
  lossFn: LossFn<T>;
  data: ArrayLike<T>;
  evalData?: ArrayLike<T>;
  optimizer: AdamW;
  /** Learning rate for update number `step` (0-based). */
  schedule: (step: number) => number;
  loop: LoopConfig;
  /** Where metrics.jsonl, checkpoints/ and final/ go; omit to train in memory only. */
  outDir?: string;
  /** The resolved run config, stored in every checkpoint; `resume` refuses a different one. */
  runConfig?: unknown;
  /** Extra data stored in checkpoints (e.g. the model's config). */
  extra?: unknown;
  /** Tokens processed by a batch, for tokens/s (optional). */
  countTokens?: (batch: T[]) => number;
  progress?: ProgressMode;
  /** Label for progress output. */
  label?: string;
  /** Called after every step with the step's record (also those not written to the log). */
  onStep?: (rec: MetricsRecord) => void | Promise<void>;
  /** Called after each checkpoint is complete on disk. */
  onCheckpoint?: (dir: string, step: number) => void | Promise<void>;
  /**
   * On SIGINT/SIGTERM finish the current step, write a checkpoint (when outDir is set) and stop with
   * `TrainingInterrupted`; a second signal exits at once. Default: true when outDir is set.
   */
  handleSignals?: boolean;
  /**
   * On the native backend, run each step's forward + backward (+ the step's scalars) as one TensorFlow
   * graph, traced once per batch shape and replayed (lib/backend/compile.ts): about 2x faster than op by op
   * on bench-small. Default true; INFIFPO_COMPILE=0 turns it off everywhere.
   */
  compile?: boolean;
}

/** Training stopped on SIGINT/SIGTERM after writing a checkpoint; resume continues from it. */
export class TrainingInterrupted extends UserError {
  constructor(readonly step: number, readonly checkpoint: string | null) {
    super(
      `training interrupted after step ${step}` +
        (checkpoint ? `; checkpoint written to ${checkpoint} (continue with --resume)` : " (no outDir: nothing saved)"),
      130,
    );
    this.name = "TrainingInterrupted";
  }
}

/** Training stopped because the loss or gradient norm was NaN/±Inf. A UserError: the CLI prints it plainly. */
export class NonFiniteError extends UserError {
  constructor(
    readonly step: number,
    readonly what: string,
    readonly lastCheckpoint: string | null,
  ) {
    super(
      `training stopped at step ${step}: ${what}. Parameters were not updated at this step` +
        (lastCheckpoint
          ? `; the last good checkpoint is ${lastCheckpoint} (lower the learning rate, then --resume)`
          : "; no checkpoint was written yet"),
      3,
    );
    this.name = "NonFiniteError";
  }
}

export interface TrainResult {
  step: number;
  /** Every step's record (train and eval), in order, from this process only. */
  history: MetricsRecord[];
  /** Directory holding final params (when outDir was given). */
  finalDir: string | null;
}

function readScalars(ts: tf.Tensor[]): number[] {
  if (ts.length === 0) return [];
  // one device→host copy for all of them
  const packed = tf.tidy(() => tf.stack(ts.map((t) => t.reshape([]).cast("float32"))));
  const out = Array.from(packed.dataSync());
  packed.dispose();
  return out;
}

function allFinite(params: tf.Variable[]): boolean {
  const flag = tf.tidy(() => tf.stack(params.map((p) => tf.logicalNot(tf.isFinite(p)).any())).any());
  const bad = flag.dataSync()[0];
  flag.dispose();
  return !bad;
}

/**
 * A generic training loop over tf.Variables: it knows nothing about models, losses or InfiFPO.
 * Per step: `gradAccumSteps` micro-batches → summed grads / k → global norm (logged) → NaN/Inf guard →
 * clipping → AdamW with lr = schedule(step). Metrics go to `<outDir>/metrics.jsonl`, checkpoints to
 * `<outDir>/checkpoints/step-*`, the final parameters to `<outDir>/final/`. Resuming from a checkpoint
 * reproduces the uninterrupted run bit for bit on the same backend: data order, per-step seeds,
 * optimizer moments and the schedule are all functions of the saved state.
 *
 * @example
 * const w = tf.variable(tf.zeros([3, 1]), true, "w");
 * const trainer = new Trainer({
 *   params: [w], optimizer: new AdamW([w]), schedule: () => 1e-2,
 *   data: examples, lossFn: (batch) => ({ loss: mse(batch, w) }),
 *   loop: { ...LOOP_DEFAULTS, maxSteps: 50, batchSize: 4 },
 * });
 * const { history } = await trainer.train();
 */
export class Trainer<T> {
  readonly opts: TrainerOptions<T>;
  readonly loop: LoopConfig;
  step = 0;
  private sampler: EpochSampler;
  private metrics: MetricsLog | null;
  private lastCheckpoint: string | null = null;

  constructor(opts: TrainerOptions<T>) {
    this.opts = opts;
    this.loop = { ...LOOP_DEFAULTS, ...opts.loop };
    const L = this.loop;
    if (!Number.isInteger(L.batchSize) || L.batchSize < 1) throw new UserError(`batchSize must be an integer ≥ 1, got ${L.batchSize}`);
    if (!Number.isInteger(L.gradAccumSteps) || L.gradAccumSteps < 1 || L.batchSize % L.gradAccumSteps !== 0)
      throw new UserError(`gradAccumSteps (${L.gradAccumSteps}) must be ≥ 1 and divide batchSize (${L.batchSize})`);
    if (opts.data.length === 0) throw new UserError("training set is empty");
    this.sampler = new EpochSampler(opts.data.length, deriveSeed(L.seed, 0x5eed), L.shuffle ?? true);
    this.metrics = opts.outDir ? new MetricsLog(path.join(opts.outDir, "metrics.jsonl")) : null;
  }

  get microBatchSize(): number {
    return this.loop.batchSize / this.loop.gradAccumSteps;
  }

  get checkpointRoot(): string | null {
    return this.opts.outDir ? path.join(this.opts.outDir, "checkpoints") : null;
  }

  /** Fractional epoch reached (examples seen / dataset size). */
  get epoch(): number {
    return (this.step * this.loop.batchSize) / this.opts.data.length;
  }

  /**
   * Restores the newest checkpoint under `<outDir>/checkpoints` (or `dir` if given); returns its step, or
   * 0 when there is none. Metrics lines past that step are dropped so the log matches the restored state.
   */
  resume(dir?: string): number {
    const root = this.checkpointRoot;
    const target = dir ?? (root ? latestCheckpoint(root) : null);
    if (!target) return 0;
    const ck = readCheckpoint(target);
    if (this.opts.runConfig !== undefined && ck.state.config !== undefined) {
      const a = JSON.stringify(ck.state.config), b = JSON.stringify(this.opts.runConfig);
      if (a !== b) throw new UserError(`${target}: the checkpoint was written with a different config; resume needs the same one (saved in ${target}/state.json)`);
    }
    restoreParams(this.opts.params, ck);
    if (!ck.optimizer) throw new UserError(`${target}: no optimizer state (optim.bin) — cannot resume training from it`);
    this.opts.optimizer.loadState(ck.optimizer);
    if (!ck.state.sampler) throw new UserError(`${target}: no data position in state.json — cannot resume`);
    this.sampler = EpochSampler.fromState(this.opts.data.length, deriveSeed(this.loop.seed, 0x5eed), ck.state.sampler, this.loop.shuffle ?? true);
    this.step = ck.state.step;
    this.lastCheckpoint = target;
    this.metrics?.truncateAfter(this.step);
    return this.step;
  }

  private site = new CompiledSite("train step");
  private evalSite = new CompiledSite("eval");

  /** Frees the TensorFlow graphs this trainer built (the trainer stays usable: it traces again). */
  disposeGraphs(): void {
    this.site.dispose();
    this.evalSite.dispose();
  }

  /** Gradients of one micro-batch's loss; the returned loss/metrics/grads are owned by the caller. */
  private gradsOf(lossOf: () => LossOutput) {
    let metrics: Record<string, tf.Scalar> = {};
    const { value, grads } = tf.variableGrads(() => {
      const out = lossOf();
      metrics = Object.fromEntries(Object.entries(out.metrics ?? {}).map(([k, v]) => [k, tf.keep(v)]));
      return out.loss;
    }, this.opts.params);
    return { loss: value, grads: grads as Record<string, tf.Tensor>, metrics };
  }

  /** Runs one optimizer step; returns its metrics record (step is the count of updates done, 1-based). */
  trainStep(): MetricsRecord {
    const t0 = performance.now();
    const L = this.loop;
    const k = L.gradAccumSteps;
    // JS state (data order, token counts) advances outside the traced function, which may run twice
    const batches: T[][] = [];
    let tokens = 0;
    for (let micro = 0; micro < k; micro++) {
      const batch = this.sampler.next(this.microBatchSize).map((i) => this.opts.data[i]);
      if (this.opts.countTokens) tokens += this.opts.countTokens(batch);
      batches.push(batch);
    }
    const compile = this.opts.compile !== false;
    const ctxOf = (m: number): StepContext => ({ step: this.step, micro: m, seed: deriveSeed(this.loop.seed, this.step, m), training: true });
    // a split loss: its inputs are made here and the graph replays without the loss's JavaScript
    const split = compile ? this.opts.lossFn.split : undefined;
    const prepared = split ? batches.map((b, m) => split.prepare(b, ctxOf(m))) : [];
    const microGrads = (m: number, xs: tf.Tensor[] = prepared[m]) =>
      this.gradsOf(() => (split ? split.compute(xs) : this.opts.lossFn(batches[m], ctxOf(m))));
    // k = 1: the whole gradient part is one graph; k > 1: one graph per micro-batch, summed op by op
    const micro = (m: number, xs?: tf.Tensor[]) => {
      if (!compile || k === 1) return microGrads(m, xs);
      return split ? this.site.runPure(prepared[m], (ins) => microGrads(m, ins)) : this.site.run(() => microGrads(m));
    };
    const gradPart = (xs?: tf.Tensor[]) => {
      let grads: Record<string, tf.Tensor> = {};
      const losses: tf.Scalar[] = [];
      const metricSums: Record<string, tf.Scalar[]> = {};
      for (let m = 0; m < k; m++) {
        const r = micro(m, xs);
        losses.push(r.loss);
        for (const [name, v] of Object.entries(r.metrics)) (metricSums[name] ??= []).push(v);
        for (const [name, g] of Object.entries(r.grads)) {
          if (!g) continue;
          if (grads[name]) {
            const sum = grads[name].add(g);
            grads[name].dispose();
            g.dispose();
            grads[name] = sum;
          } else grads[name] = g;
        }
      }
      if (k > 1) {
        for (const name of Object.keys(grads)) {
          const avg = tf.tidy(() => grads[name].div(k));
          grads[name].dispose();
          grads[name] = avg;
        }
      }
      const metricNames = Object.keys(metricSums);
      const scalars = tf.tidy(() => [
        tf.addN(losses).div(k),
        globalNorm(Object.values(grads)),
        ...metricNames.map((n) => tf.addN(metricSums[n]).div(k)),
      ]);
      tf.dispose([...losses, ...Object.values(metricSums).flat()]);
      return { grads, scalars, metricNames };
    };
    let part: ReturnType<typeof gradPart>;
    try {
      if (!compile || k > 1) part = gradPart();
      else part = split ? this.site.runPure(prepared[0], (xs) => gradPart(xs)) : this.site.run(() => gradPart());
    } finally {
      tf.dispose(prepared);
    }
    const { grads, scalars, metricNames } = part;
    const values = readScalars(scalars);
    tf.dispose(scalars);
    const [loss, gradNorm] = values;
    const stepNo = this.step + 1;
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
      tf.dispose(Object.values(grads));
      throw new NonFiniteError(stepNo, `loss is ${loss}, grad_norm is ${gradNorm}`, this.lastCheckpoint);
    }
    const lr = this.opts.schedule(this.step);
    // clipping (PyTorch's clip_grad_norm_ coefficient) is folded into the update
    this.opts.optimizer.apply(grads, lr, clipCoefficient(gradNorm, L.maxGradNorm));
    tf.dispose(Object.values(grads));
    this.step = stepNo;
    const seconds = (performance.now() - t0) / 1000;
    const rec: MetricsRecord = { step: this.step, epoch: Number(this.epoch.toFixed(4)), loss, learning_rate: lr, grad_norm: gradNorm };
    metricNames.forEach((n, i) => (rec[n] = values[i + 2]));
    if (this.opts.countTokens) {
      rec.num_tokens = tokens;
      rec.tokens_per_s = tokens / seconds;
    }
    return rec;
  }

  /** Mean loss and metrics over the whole eval set (in file order), keys prefixed `eval_`. */
  evaluate(): MetricsRecord {
    const data = this.opts.evalData;
    const rec: MetricsRecord = { step: this.step };
    if (!data || data.length === 0) return rec;
    const bs = this.loop.evalBatchSize ?? this.microBatchSize;
    const sums: Record<string, number> = {};
    for (let start = 0, b = 0; start < data.length; start += bs, b++) {
      const batch = Array.from({ length: Math.min(bs, data.length - start) }, (_, i) => data[start + i]);
      const ctx: StepContext = { step: this.step, micro: b, seed: deriveSeed(this.loop.seed, 0xe7a1, b), training: false };
      const split = this.opts.compile === false ? undefined : this.opts.lossFn.split;
      const evalPart = (xs?: tf.Tensor[]) =>
        tf.tidy(() => {
          const out = xs && split ? split.compute(xs) : this.opts.lossFn(batch, ctx);
          const ms = Object.entries(out.metrics ?? {});
          return { names: ["loss", ...ms.map(([n]) => n)], ts: [out.loss, ...ms.map(([, v]) => v)] };
        });
      let names: string[], ts: tf.Tensor[];
      if (this.opts.compile === false) ({ names, ts } = evalPart());
      else if (!split) ({ names, ts } = this.evalSite.run(() => evalPart()));
      else {
        const xs = split.prepare(batch, ctx);
        try {
          ({ names, ts } = this.evalSite.runPure(xs, (ins) => evalPart(ins)));
        } finally {
          tf.dispose(xs);
        }
      }
      const vals = readScalars(ts);
      tf.dispose(ts);
      names.forEach((n, i) => (sums[n] = (sums[n] ?? 0) + vals[i] * batch.length));
    }
    for (const [n, s] of Object.entries(sums)) rec[`eval_${n}`] = s / data.length;
    return rec;
  }

  /** Writes a checkpoint for the current step (refusing non-finite parameters); returns its directory. */
  saveCheckpoint(): string {
    const root = this.checkpointRoot;
    if (!root) throw new Error("saveCheckpoint needs outDir");
    if (!allFinite(this.opts.params))
      throw new NonFiniteError(this.step, "parameters contain NaN/Inf after the update", this.lastCheckpoint);
    const dir = writeCheckpoint(
      path.join(root, checkpointDirName(this.step)),
      this.opts.params,
      { step: this.step, sampler: this.sampler.state(), config: this.opts.runConfig, extra: this.opts.extra },
      this.opts.optimizer.state(),
    );
    this.lastCheckpoint = dir;
    pruneCheckpoints(root, this.loop.keepCheckpoints);
    return dir;
  }

  /** The checkpoint directory for `step` if the last one written is that step's. */
  private lastCheckpointAt(step: number): string | null {
    return this.lastCheckpoint && this.lastCheckpoint.endsWith(checkpointDirName(step)) ? this.lastCheckpoint : null;
  }

  /** Writes `<outDir>/final/` (parameters only, same layout as a checkpoint). */
  saveFinal(): string {
    if (!this.opts.outDir) throw new Error("saveFinal needs outDir");
    if (!allFinite(this.opts.params)) throw new NonFiniteError(this.step, "parameters contain NaN/Inf", this.lastCheckpoint);
    return writeCheckpoint(path.join(this.opts.outDir, "final"), this.opts.params, {
      step: this.step,
      config: this.opts.runConfig,
      extra: this.opts.extra,
    });
  }

  /** Runs steps until `maxSteps`, with logging, evaluation and checkpoints. */
  async train(): Promise<TrainResult> {
    const L = this.loop;
    const history: MetricsRecord[] = [];
    const progress: Progress = createProgress(this.opts.label ?? "train", this.opts.progress ?? "auto", { every: L.logEvery, minIntervalMs: PROGRESS_LINE_MS });
    if (this.checkpointRoot) pruneCheckpoints(this.checkpointRoot, 0); // stale temp dirs only
    // The log must match the state training starts from: a run killed before its first checkpoint left lines that
    // a fresh start (step 0) would otherwise keep (steps 1–4 twice); resume() already cut them after its step.
    this.metrics?.truncateAfter(this.step);
    progress.start(L.maxSteps, this.step);
    let signalled: string | null = null;
    const onSignal = (sig: NodeJS.Signals) => {
      if (signalled) process.exit(130); // second signal: leave now
      signalled = sig;
      progress.log(`[infifpo] ${sig}: stopping after this step and writing a checkpoint (again to quit at once)`);
    };
    const handle = this.opts.handleSignals ?? !!this.opts.outDir;
    if (handle) {
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
    }
    try {
      while (this.step < L.maxSteps) {
        if (signalled) {
          const dir = this.checkpointRoot ? this.lastCheckpointAt(this.step) ?? this.saveCheckpoint() : null;
          throw new TrainingInterrupted(this.step, dir);
        }
        const rec = this.trainStep();
        history.push(rec);
        if (this.step % L.logEvery === 0 || this.step === L.maxSteps) this.metrics?.append(rec);
        progress.update(this.step, { loss: rec.loss as number, tokensPerS: rec.tokens_per_s as number | undefined });
        await this.opts.onStep?.(rec);
        // let timers and signals run between steps (progress redraws, SIGINT)
        await new Promise((resolve) => setImmediate(resolve));
        const last = this.step === L.maxSteps;
        if (this.opts.evalData && L.evalEvery > 0 && (this.step % L.evalEvery === 0 || last)) {
          const ev = this.evaluate();
          history.push(ev);
          this.metrics?.append(ev);
          progress.log(`eval step ${this.step}: ` + Object.entries(ev).filter(([n]) => n !== "step").map(([n, v]) => `${n.replace(/^eval_/, "")} ${typeof v === "number" ? v.toFixed(4) : v}`).join(" "));
        }
        if (this.checkpointRoot && L.checkpointEvery > 0 && this.step % L.checkpointEvery === 0) {
          const dir = this.saveCheckpoint();
          await this.opts.onCheckpoint?.(dir, this.step);
        }
      }
    } finally {
      progress.stop();
      if (handle) {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    }
    const finalDir = this.opts.outDir ? this.saveFinal() : null;
    return { step: this.step, history, finalDir };
  }
}

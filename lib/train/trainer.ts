import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { UserError } from "../errors";
import { AdamW } from "./optim";
import { clipCoefficient, globalNorm } from "./clip";
import { evalMetric } from "../losses/metrics";
import { program, tensorsOf, type TensorTree } from "../seam";
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
 * A loss in two parts, as nanoGPT's loop has `get_batch` (data → tensors) and `model(X, Y)` (tensors → loss):
 * `prepare` turns a batch and its step into the tensors that change from call to call (token ids, masks,
 * precomputed columns, step-dependent scalars such as a schedule's progress); `compute` is the loss, a pure
 * function of those tensors and the variables (constants such as 0.5 are fine). The trainer runs `compute`
 * through the execution seam (lib/seam.ts `program`): on native TensorFlow one graph per batch shape, replayed
 * without running its JavaScript. A `compute` that reads anything else that changes (a JS number, another
 * tensor) fails loudly on the first replays.
 *
 * @example
 * const mse: LossFn<{ x: number[]; y: number }> = {
 *   prepare: (batch) => ({ x: tf.tensor2d(batch.map((e) => e.x)), y: tf.tensor2d(batch.map((e) => [e.y])) }),
 *   compute: ({ x, y }) => ({ loss: tf.losses.meanSquaredError(y, tf.matMul(x, w)) as tf.Scalar }),
 * };
 */
export interface LossFn<T, I extends TensorTree = TensorTree> {
  /** The batch as tensors (the trainer disposes them after `compute`). */
  prepare(batch: T[], ctx: StepContext): I;
  /** Scalar loss (mean over the batch's examples) plus named scalar metrics (batch means). */
  compute(inputs: I): LossOutput;
}

export interface TrainerOptions<T, I extends TensorTree = TensorTree> {
  params: tf.Variable[];
  lossFn: LossFn<T, I>;
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

/** One micro-batch's gradients (by variable name) and its loss and metrics, stacked: [loss, ...metrics]. */
type MicroStep = { grads: Record<string, tf.Tensor>; scalars: tf.Tensor1D; names: string[] };

/** The loss and metrics of `out`, stacked in one tensor [1 + M] (one device→host copy), with their names. */
function stackScalars(out: LossOutput): { names: string[]; scalars: tf.Tensor1D } {
  const metrics = Object.entries(out.metrics ?? {});
  return { names: ["loss", ...metrics.map(([n]) => n)], scalars: tf.stack([out.loss, ...metrics.map(([, v]) => v)]) as tf.Tensor1D };
}

/** a ← a + b for every tensor of `b`, freeing the addends. */
function accumulate(a: MicroStep, b: MicroStep): void {
  const add = <X extends tf.Tensor>(x: X, y: X): X => {
    const sum = tf.add(x, y) as X;
    tf.dispose([x, y]);
    return sum;
  };
  for (const [name, g] of Object.entries(b.grads)) a.grads[name] = a.grads[name] ? add(a.grads[name], g) : g;
  a.scalars = add(a.scalars, b.scalars);
}

/** a ← a / k for every tensor of `a`, freeing the old ones. */
function divideInto(a: MicroStep, k: number): void {
  const div = <X extends tf.Tensor>(x: X): X => {
    const q = tf.div(x, k) as X;
    x.dispose();
    return q;
  };
  for (const [name, g] of Object.entries(a.grads)) a.grads[name] = div(g);
  a.scalars = div(a.scalars);
}

function allFinite(params: tf.Variable[]): boolean {
  const flag = tf.tidy(() => tf.stack(params.map((p) => tf.logicalNot(tf.isFinite(p)).any())).any());
  const bad = flag.dataSync()[0];
  flag.dispose();
  return !bad;
}

/**
 * A generic training loop over tf.Variables: it knows nothing about models, losses or InfiFPO.
 * Per step: `gradAccumSteps` micro-batches, the gradients of each from one call of the execution seam
 * (lib/seam.ts) → summed grads / k → global norm (logged) → NaN/Inf guard → clipping → AdamW with
 * lr = schedule(step). Metrics go to `<outDir>/metrics.jsonl`, checkpoints to
 * `<outDir>/checkpoints/step-*`, the final parameters to `<outDir>/final/`. Resuming from a checkpoint
 * reproduces the uninterrupted run bit for bit on the same backend: data order, per-step seeds,
 * optimizer moments and the schedule are all functions of the saved state.
 *
 * @example
 * const w = tf.variable(tf.zeros([3, 1]), true, "w");
 * const trainer = new Trainer({
 *   params: [w], optimizer: new AdamW([w]), schedule: () => 1e-2,
 *   data: examples, lossFn: mse, // see LossFn
 *   loop: { ...LOOP_DEFAULTS, maxSteps: 50, batchSize: 4 },
 * });
 * const { history } = await trainer.train();
 */
export class Trainer<T, I extends TensorTree = TensorTree> {
  readonly opts: TrainerOptions<T, I>;
  readonly loop: LoopConfig;
  step = 0;
  private sampler: EpochSampler;
  private metrics: MetricsLog | null;
  private lastCheckpoint: string | null = null;

  constructor(opts: TrainerOptions<T, I>) {
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

  /** The gradients of one micro-batch, and evaluation (lib/seam.ts: replayed graphs on native TensorFlow). */
  private stepProgram = program("train step");
  private evalProgram = program("eval");

  /** Frees the TensorFlow graphs this trainer built (the trainer stays usable: it traces again). */
  disposeGraphs(): void {
    this.stepProgram.dispose();
    this.evalProgram.dispose();
  }

  private context(step: number, micro: number, training: boolean): StepContext {
    const seed = training ? deriveSeed(this.loop.seed, step, micro) : deriveSeed(this.loop.seed, 0xe7a1, micro);
    return { step, micro, seed, training };
  }

  /** The gradients of the loss on `inputs` (a pure function of them and the parameters: it runs as a program). */
  private gradients(inputs: I): MicroStep {
    const kept: { names: string[]; scalars: tf.Tensor1D }[] = [];
    const { value, grads } = tf.variableGrads(() => {
      const out = this.opts.lossFn.compute(inputs);
      const { names, scalars } = stackScalars(out);
      kept.push({ names, scalars: tf.keep(scalars) });
      return out.loss;
    }, this.opts.params);
    value.dispose(); // also in kept[0].scalars
    return { grads: grads as Record<string, tf.Tensor>, ...kept[0] };
  }

  /** Runs one optimizer step; returns its metrics record (step is the count of updates done, 1-based). */
  trainStep(): MetricsRecord {
    const t0 = performance.now();
    const k = this.loop.gradAccumSteps;
    let sum: MicroStep | null = null;
    let tokens = 0;
    for (let micro = 0; micro < k; micro++) {
      // JS state (data order, token counts, the batch's tensors) advances here, outside the program
      const batch = this.sampler.next(this.microBatchSize).map((i) => this.opts.data[i]);
      if (this.opts.countTokens) tokens += this.opts.countTokens(batch);
      const inputs = this.opts.lossFn.prepare(batch, this.context(this.step, micro, true));
      let r: MicroStep;
      try {
        r = this.stepProgram.run(inputs, (xs) => this.gradients(xs));
      } finally {
        tf.dispose(tensorsOf(inputs));
      }
      if (sum === null) sum = r;
      else accumulate(sum, r);
    }
    const { grads, names } = sum!;
    if (k > 1) divideInto(sum!, k); // the step's gradient, loss and metrics are the means over its micro-batches
    const norm = globalNorm(Object.values(grads));
    const [loss, ...metrics] = Array.from(sum!.scalars.dataSync());
    const gradNorm = norm.dataSync()[0];
    tf.dispose([sum!.scalars, norm]);
    const stepNo = this.step + 1;
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
      tf.dispose(Object.values(grads));
      throw new NonFiniteError(stepNo, `loss is ${loss}, grad_norm is ${gradNorm}`, this.lastCheckpoint);
    }
    const lr = this.opts.schedule(this.step);
    // clipping (PyTorch's clip_grad_norm_ coefficient) is folded into the update
    this.opts.optimizer.apply(grads, lr, clipCoefficient(gradNorm, this.loop.maxGradNorm));
    tf.dispose(Object.values(grads));
    this.step = stepNo;
    const seconds = (performance.now() - t0) / 1000;
    const rec: MetricsRecord = { step: this.step, epoch: Number(this.epoch.toFixed(4)), loss, learning_rate: lr, grad_norm: gradNorm };
    names.slice(1).forEach((n, i) => (rec[n] = metrics[i]));
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
      const inputs = this.opts.lossFn.prepare(batch, this.context(this.step, b, false));
      let out: { names: string[]; scalars: tf.Tensor1D };
      try {
        out = this.evalProgram.run(inputs, (xs) => tf.tidy(() => stackScalars(this.opts.lossFn.compute(xs))));
      } finally {
        tf.dispose(tensorsOf(inputs));
      }
      const vals = out.scalars.dataSync();
      out.scalars.dispose();
      out.names.forEach((n, i) => (sums[n] = (sums[n] ?? 0) + vals[i] * batch.length));
    }
    for (const [n, s] of Object.entries(sums)) rec[evalMetric(n)] = s / data.length;
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
        // step 1 always: its metrics are the start (the policy still equals the reference)
        if (this.step === 1 || this.step % L.logEvery === 0 || this.step === L.maxSteps) this.metrics?.append(rec);
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

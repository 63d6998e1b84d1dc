import * as tf from "@tensorflow/tfjs";
import { CompiledSite } from "../backend/compile";
import { fusedAdamW, fusedOpsAvailable } from "../backend/fused";

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay λ (Loshchilov & Hutter); 0 turns AdamW into Adam. */
  weightDecay: number;
  /**
   * Which parameters decay. Default: rank ≥ 2 (matrices and embeddings), not biases or norm gains —
   * nanoGPT's `configure_optimizers` rule.
   */
  decays?: (v: tf.Variable) => boolean;
  /**
   * Update all parameters as one flat vector (concat → ~12 element-wise kernels → split) instead of ~15
   * kernels per parameter. Same arithmetic element by element, so the same bits; on tfjs the per-kernel
   * overhead dominates for small models (bench-small: 53 tensors). Default: on for the native backend,
   * where it measured faster (bench-small: ~50 vs ~65–95 ms); off on wasm, where concat/split cost more
   * than they save (~210–300 vs ~50–90 ms).
   */
  flat?: boolean;
  /**
   * Run the flat update as one TensorFlow graph on the native backend (lib/backend/compile.ts; same ops,
   * so the same arithmetic). Default true; INFIFPO_COMPILE=0 turns it off everywhere.
   */
  compile?: boolean;
  /** Use the fused AdamW op when available (lib/backend/fused.ts; same bits). Default true. */
  fused?: boolean;
}

export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.0 };

/** Serialisable optimizer state: the step count and the two moment buffers per parameter, in order. */
export interface AdamWState {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

/**
 * AdamW exactly as `torch.optim.AdamW` (non-fused, amsgrad off) computes it, for update t = step + 1:
 *   θ ← θ · (1 − η·λ)                                   (decoupled decay, only where `decays`)
 *   m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²
 *   θ ← θ − (η / (1 − β1^t)) · m / ( √v / √(1 − β2^t) + ε )
 * Parameters without a gradient this step are skipped entirely (as PyTorch skips `grad is None`).
 *
 * @example
 * const opt = new AdamW([w], { weightDecay: 0.1 });
 * opt.apply({ [w.name]: g }, 1e-3);   // one update; opt.step === 1
 */
let instances = 0;

export class AdamW {
  readonly config: AdamWConfig;
  readonly params: tf.Variable[];
  private m: tf.Variable[];
  private v: tf.Variable[];
  private decayMask: boolean[];
  /** Number of updates applied so far. */
  step = 0;

  constructor(params: tf.Variable[], config: Partial<AdamWConfig> = {}) {
    this.config = { ...ADAMW_DEFAULTS, ...config };
    this.params = params;
    const names = new Set(params.map((p) => p.name));
    if (names.size !== params.length) throw new Error("AdamW: parameter names must be unique");
    const decays = this.config.decays ?? ((v: tf.Variable) => v.rank >= 2);
    this.decayMask = params.map(decays);
    // tf.variable keeps its own copy; tidy releases the zeros it was made from. Variable names are
    // global in tfjs, hence the instance number (two optimizers may hold the same parameters).
    const id = instances++;
    this.m = params.map((p) => tf.tidy(() => tf.variable(tf.zerosLike(p), false, `adamw${id}/${p.name}/m`)));
    this.v = params.map((p) => tf.tidy(() => tf.variable(tf.zerosLike(p), false, `adamw${id}/${p.name}/v`)));
  }

  private site = new CompiledSite("adamw");

  /**
   * Applies one update with learning rate `lr`; `grads` maps parameter name → gradient. `gradScale` < 1
   * multiplies every gradient first (global-norm clipping: `clipCoefficient`); 1 leaves them untouched.
   */
  apply(grads: Record<string, tf.Tensor | null | undefined>, lr: number, gradScale = 1): void {
    const t = this.step + 1;
    const all = this.params.every((p) => grads[p.name] != null);
    if (all && (this.config.flat ?? tf.getBackend() === "tensorflow") && this.params.length > 1) this.applyFlat(grads as Record<string, tf.Tensor>, lr, t, gradScale);
    else this.applyEach(grads, lr, t, gradScale);
    this.step = t;
  }

  /** θ ← θ·(1 − ηλ) where decayed (the same formula for each element). */
  private decay(theta: tf.Tensor, lr: number, decayFactor: tf.Tensor | number): tf.Tensor {
    return typeof decayFactor === "number" ? (decayFactor === 1 ? theta : theta.mul(decayFactor)) : theta.mul(decayFactor);
  }

  private applyEach(grads: Record<string, tf.Tensor | null | undefined>, lr: number, t: number, gradScale: number): void {
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this.config;
    const bc2Sqrt = Math.sqrt(1 - Math.pow(b2, t));
    const stepSize = lr / (1 - Math.pow(b1, t));
    tf.tidy(() => {
      this.params.forEach((p, i) => {
        const g0 = grads[p.name];
        if (g0 == null) return;
        const g = gradScale < 1 ? g0.mul(gradScale) : g0;
        const m = this.m[i].mul(b1).add(g.mul(1 - b1));
        const v = this.v[i].mul(b2).add(g.square().mul(1 - b2));
        this.m[i].assign(m);
        this.v[i].assign(v);
        const theta = this.decay(p, lr, wd !== 0 && this.decayMask[i] ? 1 - lr * wd : 1);
        const denom = v.sqrt().div(bc2Sqrt).add(eps);
        p.assign(theta.sub(m.div(denom).mul(stepSize)));
      });
    });
  }

  /** [P] bool: which elements decay (only when some parameters don't). */
  private flatMask: tf.Tensor1D | null = null;

  private applyFlat(grads: Record<string, tf.Tensor>, lr: number, t: number, gradScale: number): void {
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this.config;
    const bc2Sqrt = Math.sqrt(1 - Math.pow(b2, t));
    const stepSize = lr / (1 - Math.pow(b1, t));
    const sizes = this.params.map((p) => p.size);
    const flat = (xs: tf.Tensor[]) => tf.concat(xs.map((x) => x.reshape([-1]))); // [P]
    // A pure function of its inputs (assignments happen after it), so it can run as one graph.
    // With the fused op (native CPU build) the same arithmetic is one op over every parameter.
    // (its step-dependent numbers travel in `h`, an input, so the graph replays without re-running this JavaScript)
    const fusedUpdate = (xs: tf.Tensor[]) =>
      tf.tidy(() => fusedAdamW(this.params, xs.slice(1), this.m, this.v, xs[0] as tf.Tensor1D, this.decayMask.map((d) => wd !== 0 && d)));
    const useFused = this.config.fused !== false && fusedOpsAvailable();
    if (!useFused && wd !== 0 && !this.flatMask && this.decayMask.some((d) => !d)) {
      this.flatMask = tf.tidy(() => flat(this.params.map((p, i) => tf.fill([p.size], this.decayMask[i] ? 1 : 0, "bool"))) as tf.Tensor1D);
    }
    const update = () =>
      tf.tidy(() => {
        const g0 = flat(this.params.map((p) => grads[p.name]));
        const g = gradScale < 1 ? g0.mul(gradScale) : g0;
        const m = flat(this.m).mul(b1).add(g.mul(1 - b1));
        const v = flat(this.v).mul(b2).add(g.square().mul(1 - b2));
        let theta = flat(this.params);
        if (wd !== 0) {
          // the same float32 factor as the per-tensor path, and untouched bits where there is no decay
          const decayed = theta.mul(1 - lr * wd);
          theta = this.flatMask ? tf.where(this.flatMask, decayed, theta) : decayed;
        }
        const denom = v.sqrt().div(bc2Sqrt).add(eps);
        const next = theta.sub(m.div(denom).mul(stepSize));
        // [θ', m', v'] per parameter, the fused op's order
        const parts = [tf.split(next, sizes), tf.split(m, sizes), tf.split(v, sizes)];
        return parts.map((ps) => ps.map((x, i) => x.reshape(this.params[i].shape)));
      });
    let ps: tf.Tensor[], ms: tf.Tensor[], vs: tf.Tensor[];
    if (useFused) {
      const h = tf.tensor1d([b1, 1 - b1, b2, 1 - b2, eps, bc2Sqrt, stepSize, wd !== 0 ? 1 - lr * wd : 1, gradScale < 1 ? gradScale : 1]);
      const xs = [h, ...this.params.map((p) => grads[p.name])];
      [ps, ms, vs] = this.config.compile === false ? fusedUpdate(xs) : this.site.runPure(xs, fusedUpdate);
      h.dispose();
    } else [ps, ms, vs] = this.config.compile === false ? update() : this.site.run(update);
    this.params.forEach((p, i) => {
      this.m[i].assign(ms[i]);
      this.v[i].assign(vs[i]);
      p.assign(ps[i]);
    });
    tf.dispose([...ms, ...vs, ...ps]);
  }

  state(): AdamWState {
    return {
      step: this.step,
      m: this.m.map((x) => x.dataSync() as Float32Array).map((a) => new Float32Array(a)),
      v: this.v.map((x) => x.dataSync() as Float32Array).map((a) => new Float32Array(a)),
    };
  }

  loadState(s: AdamWState): void {
    if (s.m.length !== this.params.length || s.v.length !== this.params.length)
      throw new Error(`AdamW state has ${s.m.length} buffers, optimizer has ${this.params.length} parameters`);
    this.params.forEach((p, i) => {
      if (s.m[i].length !== p.size || s.v[i].length !== p.size)
        throw new Error(`AdamW state for ${p.name}: ${s.m[i].length} values, parameter has ${p.size}`);
      tf.tidy(() => {
        this.m[i].assign(tf.tensor(s.m[i], p.shape, "float32"));
        this.v[i].assign(tf.tensor(s.v[i], p.shape, "float32"));
      });
    });
    this.step = s.step;
  }

  dispose(): void {
    this.site.dispose();
    for (const x of [...this.m, ...this.v]) x.dispose();
    this.flatMask?.dispose();
  }
}

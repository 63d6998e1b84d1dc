import * as tf from "@tensorflow/tfjs";

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

  /** Applies one update with learning rate `lr`; `grads` maps parameter name → gradient. */
  apply(grads: Record<string, tf.Tensor | null | undefined>, lr: number): void {
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this.config;
    const t = this.step + 1;
    const bc1 = 1 - Math.pow(b1, t);
    const bc2Sqrt = Math.sqrt(1 - Math.pow(b2, t));
    const stepSize = lr / bc1;
    tf.tidy(() => {
      this.params.forEach((p, i) => {
        const g = grads[p.name];
        if (g == null) return;
        const m = this.m[i].mul(b1).add(g.mul(1 - b1));
        const v = this.v[i].mul(b2).add(g.square().mul(1 - b2));
        this.m[i].assign(m);
        this.v[i].assign(v);
        let theta: tf.Tensor = p;
        if (wd !== 0 && this.decayMask[i]) theta = theta.mul(1 - lr * wd);
        const denom = v.sqrt().div(bc2Sqrt).add(eps);
        p.assign(theta.sub(m.div(denom).mul(stepSize)));
      });
    });
    this.step = t;
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
    for (const x of [...this.m, ...this.v]) x.dispose();
  }
}

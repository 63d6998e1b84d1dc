import * as tf from "@tensorflow/tfjs";
import { defineKernel, program, type Program } from "../seam";

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
 * One AdamW update of N parameters, per parameter (the reference; on native TensorFlow one fused op over all of
 * them, lib/backend, the same float32 arithmetic). `h` holds the step's numbers as float32 (see
 * `KernelSignatures.adamW` in lib/seam.ts), so the update is a pure function of its tensors.
 */
const adamW = defineKernel("adamW", function adamW(p, g, m, v, h, decay) {
  const [b1, c1, b2, c2, eps, bc2Sqrt, stepSize, decayFactor, gradScale] = tf.unstack(h);
  const out: [tf.Tensor[], tf.Tensor[], tf.Tensor[]] = [[], [], []];
  p.forEach((theta, i) => {
    const gi = tf.mul(g[i], gradScale);
    const mi = tf.add(tf.mul(m[i], b1), tf.mul(gi, c1));
    const vi = tf.add(tf.mul(v[i], b2), tf.mul(tf.square(gi), c2));
    const decayed = decay[i] ? tf.mul(theta, decayFactor) : theta;
    const denom = tf.add(tf.div(tf.sqrt(vi), bc2Sqrt), eps);
    out[0].push(tf.sub(decayed, tf.mul(tf.div(mi, denom), stepSize)));
    out[1].push(mi);
    out[2].push(vi);
  });
  return out;
});

/**
 * AdamW exactly as `torch.optim.AdamW` (non-fused, amsgrad off) computes it, for update t = step + 1:
 *   θ ← θ · (1 − η·λ)                                   (decoupled decay, only where `decays`)
 *   m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²
 *   θ ← θ − (η / (1 − β1^t)) · m / ( √v / √(1 − β2^t) + ε )
 * Parameters without a gradient this step are skipped entirely (as PyTorch skips `grad is None`). The update runs
 * as one program of the execution seam (lib/seam.ts): on native TensorFlow one replayed graph.
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
  /** One program per set of parameters updated together (normally all of them). */
  private programs = new Map<string, Program>();
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

  /**
   * Applies one update with learning rate `lr`; `grads` maps parameter name → gradient. `gradScale` < 1
   * multiplies every gradient first (global-norm clipping: `clipCoefficient`); 1 leaves them untouched.
   */
  apply(grads: Record<string, tf.Tensor | null | undefined>, lr: number, gradScale = 1): void {
    const t = this.step + 1;
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this.config;
    const idx = this.params.flatMap((p, i) => (grads[p.name] != null ? [i] : []));
    if (idx.length > 0) {
      // the step's numbers, rounded to float32 once (as a JS number in a tfjs op would be)
      const h = tf.tensor1d([b1, 1 - b1, b2, 1 - b2, eps, Math.sqrt(1 - Math.pow(b2, t)), lr / (1 - Math.pow(b1, t)), wd !== 0 ? 1 - lr * wd : 1, gradScale < 1 ? gradScale : 1]);
      const [p, m, v] = [this.params, this.m, this.v].map((xs) => idx.map((i) => xs[i]));
      const decay = idx.map((i) => wd !== 0 && this.decayMask[i]);
      const key = idx.join(",");
      let prog = this.programs.get(key);
      if (!prog) this.programs.set(key, (prog = program(`adamw[${idx.length}]`)));
      const [ps, ms, vs] = prog.run({ h, g: idx.map((i) => grads[this.params[i].name]!) }, (xs) =>
        tf.tidy(() => adamW(p, xs.g, m, v, xs.h, decay)),
      );
      h.dispose();
      idx.forEach((i, j) => {
        this.m[i].assign(ms[j]);
        this.v[i].assign(vs[j]);
        this.params[i].assign(ps[j]);
      });
      tf.dispose([...ps, ...ms, ...vs]);
    }
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
    for (const p of this.programs.values()) p.dispose();
    for (const x of [...this.m, ...this.v]) x.dispose();
  }
}

/**
 * The preference losses, in a frozen table keyed by name (infifpo.md, "Final loss" and "Baselines").
 * Every loss returns the mean loss over the batch and TRL-named metrics (see ./metrics.ts).
 */
import * as tf from "@tensorflow/tfjs";
import { fuseSideTensor, indicator } from "../fusion/tensor";
import { selectionMetric } from "./metrics";
import { sigmoidLoss } from "./tensor-math";
import type { LossConfig, LossInputs, LossOutput, LossSpec, ResponseScores, SeqLogps } from "./types";

/** ℓ or \bar ℓ, as the config asks. */
function pick(s: SeqLogps, lengthNorm: boolean): tf.Tensor1D {
  return lengthNorm ? s.mean : s.sum;
}

function need<T>(value: T | undefined, what: string, loss: string): T {
  if (value === undefined) throw new Error(`loss "${loss}" needs ${what}`);
  return value;
}

interface Reference {
  /** ℓ_ref(y): the pivot at init, or the fused reference. [B] */
  value: tf.Tensor1D;
  metrics: Record<string, tf.Scalar>;
}

/** DPO's reference: the pivot at init, ℓ_0 = ℓ_p0. */
function pivotReference(r: ResponseScores, cfg: LossConfig, loss: string): Reference {
  return { value: pick(need(r.ref, "ref log-probs (ref_* columns)", loss), cfg.lengthNorm), metrics: {} };
}

/**
 * InfiFPO's reference for one side: the sources' values (clipped against the pivot), fused by the strategy.
 * Metrics: clip rate and, for max-margin, per-source selection counts.
 */
function fusedReference(side: "chosen" | "rejected", r: ResponseScores, cfg: LossConfig, loss: string): Reference {
  const pivot = pick(need(r.ref, "ref log-probs (ref_* columns)", loss), cfg.lengthNorm);
  const src = need(r.sources, "source log-probs (fuse_* columns)", loss);
  const sources = cfg.lengthNorm ? src.mean : src.sum;
  const fused = fuseSideTensor(side, pivot, sources, cfg.fusion, pick(r.policy, cfg.lengthNorm));
  const metrics: Record<string, tf.Scalar> = {
    [`fusion/clip_rate_${side}`]: tf.tidy(() => tf.mean(fused.clipped.cast("float32"))) as tf.Scalar,
  };
  if (fused.selected) {
    const n = sources.shape[1] as number;
    const counts = tf.tidy(() => tf.sum(indicator(fused.selected as tf.Tensor1D, n), 0));
    const parts = tf.unstack(counts);
    for (let i = 0; i < n; i++) metrics[selectionMetric(side, i)] = parts[i].clone() as tf.Scalar;
    parts.forEach((t) => t.dispose());
    counts.dispose();
    fused.selected.dispose();
  }
  fused.clipped.dispose();
  return { value: fused.value, metrics };
}

/** Reward terms r(y) = ℓ_θ(y) − ℓ_ref(y) for chosen and rejected, and TRL's reward/logp metrics. */
function rewardMetrics(beta: number, rChosen: tf.Tensor1D, rRejected: tf.Tensor1D, inputs: LossInputs): Record<string, tf.Scalar> {
  const rc = tf.mul(beta, rChosen);
  const rr = tf.mul(beta, rRejected);
  return {
    "rewards/chosen": tf.mean(rc) as tf.Scalar,
    "rewards/rejected": tf.mean(rr) as tf.Scalar,
    "rewards/accuracies": tf.mean(tf.greater(rc, rr).cast("float32")) as tf.Scalar,
    "rewards/margins": tf.mean(tf.sub(rc, rr)) as tf.Scalar,
    "logps/chosen": tf.mean(inputs.chosen.policy.sum) as tf.Scalar,
    "logps/rejected": tf.mean(inputs.rejected.policy.sum) as tf.Scalar,
  };
}

type ReferenceKind = "pivot" | "fused";
type Form = "sigmoid" | "ipo" | "hinge";

/**
 * The reference-based pairwise losses share one shape: h = r(y_w) − r(y_l) with r = ℓ_θ − ℓ_ref, then
 *   sigmoid: −log σ(βh)      (DPO; InfiFPO when ℓ_ref = ℓ_fu)
 *   ipo:     (h − 1/(2β))²   (IPO; InfiFPO-IPO)
 *   hinge:   relu(1 − βh)
 */
function pairwise(name: string, reference: ReferenceKind, form: Form) {
  return (inputs: LossInputs, cfg: LossConfig): LossOutput => {
    const refW = reference === "pivot" ? pivotReference(inputs.chosen, cfg, name) : fusedReference("chosen", inputs.chosen, cfg, name);
    const refL = reference === "pivot" ? pivotReference(inputs.rejected, cfg, name) : fusedReference("rejected", inputs.rejected, cfg, name);
    const out = tf.tidy(() => {
      const rW = tf.sub(pick(inputs.chosen.policy, cfg.lengthNorm), refW.value) as tf.Tensor1D;
      const rL = tf.sub(pick(inputs.rejected.policy, cfg.lengthNorm), refL.value) as tf.Tensor1D;
      const h = tf.sub(rW, rL);
      const z = tf.mul(cfg.beta, h);
      const perPair =
        form === "sigmoid" ? sigmoidLoss(z) : form === "ipo" ? tf.square(tf.sub(h, 1 / (2 * cfg.beta))) : tf.relu(tf.sub(1, z));
      const metrics: Record<string, tf.Scalar> = {
        ...rewardMetrics(cfg.beta, rW, rL, inputs),
        "fusion/disparity_weight": tf.mean(tf.sigmoid(tf.neg(z))) as tf.Scalar,
      };
      if (reference === "fused") {
        const pW = pick(need(inputs.chosen.ref, "ref", name), cfg.lengthNorm);
        const pL = pick(need(inputs.rejected.ref, "ref", name), cfg.lengthNorm);
        metrics["fusion/fused_margin"] = tf.mean(tf.sub(refW.value, refL.value)) as tf.Scalar;
        metrics["fusion/pivot_margin"] = tf.mean(tf.sub(pW, pL)) as tf.Scalar;
      }
      return { loss: tf.mean(perPair) as tf.Scalar, metrics };
    });
    if (reference === "fused") {
      refW.value.dispose();
      refL.value.dispose();
    }
    return { loss: out.loss, metrics: { ...out.metrics, ...refW.metrics, ...refL.metrics } };
  };
}

/** WRPO: −log σ(αβ r(y_ws) + (1−α)β r(y_wt) − β r(y_l)), α = α_max · progress; reference pivot or fused. */
function wrpo(name: string, reference: ReferenceKind) {
  return (inputs: LossInputs, cfg: LossConfig): LossOutput => {
    const ws = need(inputs.sourceChosen, "the source response y_ws (sourceChosen)", name);
    // α as a tensor: `progress` may be a number or (for graph replay) a scalar tensor fed each step
    const alpha = tf.tidy(() => tf.mul(cfg.wrpoAlphaMax, tf.clipByValue(inputs.progress ?? 0, 0, 1))) as tf.Scalar;
    const refOf = (side: "chosen" | "rejected", r: ResponseScores) =>
      reference === "pivot" ? pivotReference(r, cfg, name) : fusedReference(side, r, cfg, name);
    const refs = refOf("chosen", ws);
    const refW = refOf("chosen", inputs.chosen);
    const refL = refOf("rejected", inputs.rejected);
    const out = tf.tidy(() => {
      const rS = tf.sub(pick(ws.policy, cfg.lengthNorm), refs.value);
      const rW = tf.sub(pick(inputs.chosen.policy, cfg.lengthNorm), refW.value);
      const rL = tf.sub(pick(inputs.rejected.policy, cfg.lengthNorm), refL.value) as tf.Tensor1D;
      const rWin = tf.add(tf.mul(alpha, rS), tf.mul(tf.sub(1, alpha), rW)) as tf.Tensor1D; // the fused "chosen" reward
      const z = tf.mul(cfg.beta, tf.sub(rWin, rL));
      return {
        loss: tf.mean(sigmoidLoss(z)) as tf.Scalar,
        metrics: {
          ...rewardMetrics(cfg.beta, rWin, rL, inputs),
          "fusion/disparity_weight": tf.mean(tf.sigmoid(tf.neg(z))) as tf.Scalar,
          "wrpo/alpha": alpha,
        },
      };
    });
    if (reference === "fused") [refs, refW, refL].forEach((r) => r.value.dispose());
    Object.values(refs.metrics).forEach((t) => t.dispose()); // y_ws's clip/selection counts are not reported
    return { loss: out.loss, metrics: { ...out.metrics, ...refW.metrics, ...refL.metrics } };
  };
}

/** SimPO (reference-free): −log σ(β \bar ℓ_θ(y_w) − β \bar ℓ_θ(y_l) − γ); always per-token means. */
function simpo(inputs: LossInputs, cfg: LossConfig): LossOutput {
  return tf.tidy(() => {
    const mW = inputs.chosen.policy.mean;
    const mL = inputs.rejected.policy.mean;
    const z = tf.sub(tf.mul(cfg.beta, tf.sub(mW, mL)), cfg.simpoGamma);
    // Reference-free rewards: β · \bar ℓθ(y).
    return { loss: tf.mean(sigmoidLoss(z)) as tf.Scalar, metrics: rewardMetrics(cfg.beta, mW, mL, inputs) };
  });
}

/** Token-averaged NLL of y_w, Σ_b −ℓ_θ(y_w,b) / Σ_b n(y_w,b) (mean of per-sequence means when counts are absent). */
function chosenNll(p: SeqLogps): tf.Scalar {
  return (p.count ? tf.div(tf.neg(tf.sum(p.sum)), tf.sum(p.count)) : tf.neg(tf.mean(p.mean))) as tf.Scalar;
}

/** SFT: the token-averaged NLL of the chosen response. */
function sft(inputs: LossInputs): LossOutput {
  return tf.tidy(() => ({ loss: chosenNll(inputs.chosen.policy), metrics: { "logps/chosen": tf.mean(inputs.chosen.policy.sum) as tf.Scalar } }));
}

/**
 * RPO (TRL's loss_type ["sigmoid", "sft"]): DPO's loss plus α times the token-averaged NLL of the chosen
 * response, so a pair also teaches y_w itself.
 */
const dpoForm = pairwise("rpo", "pivot", "sigmoid");
function rpo(inputs: LossInputs, cfg: LossConfig): LossOutput {
  const d = dpoForm(inputs, cfg);
  const out = tf.tidy(() => {
    const nll = chosenNll(inputs.chosen.policy);
    return { loss: tf.add(d.loss, tf.mul(cfg.rpoAlpha, nll)) as tf.Scalar, nll };
  });
  d.loss.dispose();
  return { loss: out.loss, metrics: { ...d.metrics, "rpo/nll": out.nll } };
}

const spec = (s: LossSpec): LossSpec => Object.freeze(s);

export const LOSSES = Object.freeze({
  infifpo: spec({
    name: "infifpo",
    summary: "InfiFPO: DPO with the reference replaced by the fused, clipped sources (length-normalised, β 2.5)",
    requires: ["ref", "sources"],
    defaults: { beta: 2.5, lengthNorm: true },
    compute: pairwise("infifpo", "fused", "sigmoid"),
  }),
  dpo: spec({
    name: "dpo",
    summary: "DPO (sigmoid): −log σ(β[(ℓθ−ℓ0)(y_w) − (ℓθ−ℓ0)(y_l)]), reference = pivot at init",
    requires: ["ref"],
    defaults: { beta: 0.1, lengthNorm: false },
    compute: pairwise("dpo", "pivot", "sigmoid"),
  }),
  ipo: spec({
    name: "ipo",
    summary: "IPO: (h − 1/(2β))² on per-token mean log-ratios",
    requires: ["ref"],
    defaults: { beta: 0.1, lengthNorm: true },
    compute: pairwise("ipo", "pivot", "ipo"),
  }),
  hinge: spec({
    name: "hinge",
    summary: "hinge (SLiC): relu(1 − β·h)",
    requires: ["ref"],
    defaults: { beta: 0.1, lengthNorm: false },
    compute: pairwise("hinge", "pivot", "hinge"),
  }),
  simpo: spec({
    name: "simpo",
    summary: "SimPO (reference-free): −log σ(β·mean ℓθ(y_w) − β·mean ℓθ(y_l) − γ)",
    requires: [],
    defaults: { beta: 2.0, lengthNorm: true, simpoGamma: 1.0 },
    compute: simpo,
  }),
  wrpo: spec({
    name: "wrpo",
    summary: "WRPO: −log σ(αβ r(y_ws) + (1−α)β r(y_wt) − β r(y_l)), α: 0 → α_max linearly",
    requires: ["ref", "sourceChosen"],
    defaults: { beta: 0.01, lengthNorm: false, wrpoAlphaMax: 0.1 },
    compute: wrpo("wrpo", "pivot"),
  }),
  rpo: spec({
    name: "rpo",
    summary: "RPO: DPO + α · token-averaged NLL of the chosen response (TRL loss_type [sigmoid, sft])",
    requires: ["ref"],
    defaults: { beta: 0.1, lengthNorm: false, rpoAlpha: 1.0 },
    compute: rpo,
  }),
  sft: spec({
    name: "sft",
    summary: "SFT: token-averaged NLL of the chosen response",
    requires: [],
    defaults: {},
    compute: sft,
  }),
  "infifpo-ipo": spec({
    name: "infifpo-ipo",
    summary: "IPO with the fused, clipped reference",
    requires: ["ref", "sources"],
    defaults: { beta: 0.1, lengthNorm: true },
    compute: pairwise("infifpo-ipo", "fused", "ipo"),
  }),
  "infifpo-wrpo": spec({
    name: "infifpo-wrpo",
    summary: "WRPO with the fused, clipped reference",
    requires: ["ref", "sources", "sourceChosen"],
    defaults: { beta: 0.01, lengthNorm: false, wrpoAlphaMax: 0.1 },
    compute: wrpo("infifpo-wrpo", "fused"),
  }),
} satisfies Record<string, LossSpec>);

export type LossName = keyof typeof LOSSES;
export const LOSS_NAMES = Object.keys(LOSSES) as LossName[];

/** Looks a loss up by name; an unknown name errors with the list of valid ones. */
export function getLoss(name: string): LossSpec {
  if (!Object.prototype.hasOwnProperty.call(LOSSES, name)) {
    throw new Error(`unknown loss "${name}"; valid: ${LOSS_NAMES.join(", ")}`);
  }
  return LOSSES[name as LossName];
}

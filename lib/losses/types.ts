/** The contract between the trainer and the loss registry. */
import type * as tf from "@tensorflow/tfjs";
import type { FusionOptions } from "../fusion/options";

/** One model's sequence log-probs for a batch of responses: sum ℓ, per-token mean \bar ℓ, optional count n. [B] each. */
export interface SeqLogps {
  sum: tf.Tensor1D;
  mean: tf.Tensor1D;
  count?: tf.Tensor1D;
}

/** The sources' sequence log-probs: [B, N], one column per source in the data file's order. */
export interface SourceLogps {
  sum: tf.Tensor2D;
  mean: tf.Tensor2D;
}

/** Everything known about one response slot of a batch. */
export interface ResponseScores {
  /** The live policy ℓ_θ (differentiable). */
  policy: SeqLogps;
  /** The frozen pivot at init ℓ_p0 (the `ref_*` columns). */
  ref?: SeqLogps;
  /** The frozen sources ℓ_i (the `fuse_*` columns). */
  sources?: SourceLogps;
}

/**
 * A batch of preference pairs. Batch layout: row b of every tensor is pair b.
 * WRPO's (x, y_ws, y_wt, y_l): `chosen` = y_wt (the pivot's own best), `rejected` = y_l, `sourceChosen` = y_ws.
 */
export interface LossInputs {
  chosen: ResponseScores;
  rejected: ResponseScores;
  sourceChosen?: ResponseScores;
  /** Training progress in [0, 1] (step / total steps), for schedules such as WRPO's α (a number, or a scalar tensor). */
  progress?: number | tf.Scalar;
}

/** Inputs a loss needs besides the policy's log-probs. */
export type Requirement = "ref" | "sources" | "sourceChosen";

export interface LossConfig {
  /** β: scale of the implicit reward (≈ 0.1 on sums, ≈ 2.5 on per-token means). */
  beta: number;
  /** Use per-token means \bar ℓ instead of sums ℓ everywhere in the loss. */
  lengthNorm: boolean;
  /** How the fused reference is built (InfiFPO losses only). */
  fusion: FusionOptions;
  /** SimPO's target margin γ. */
  simpoGamma: number;
  /** WRPO's α_max: α rises linearly from 0 to α_max over training. */
  wrpoAlphaMax: number;
  /** RPO's α: weight of the chosen response's NLL added to DPO's loss. */
  rpoAlpha: number;
}

export interface LossOutput {
  loss: tf.Scalar;
  /** TRL's metric names (see ./metrics.ts) plus `fusion/*` extras; scalars averaged over the batch unless named a count. */
  metrics: Record<string, tf.Scalar>;
}

export interface LossSpec {
  readonly name: string;
  /** One line, for --help and docs. */
  readonly summary: string;
  readonly requires: readonly Requirement[];
  /** Per-loss defaults, applied over the global ones. */
  readonly defaults: Partial<Omit<LossConfig, "fusion">>;
  compute(inputs: LossInputs, config: LossConfig): LossOutput;
}

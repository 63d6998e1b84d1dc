/** Metric names, listed once. The TRL names are TRL's DPOTrainer names exactly, so curves compare with TRL runs. */

export const TRL_METRICS = [
  "loss",
  "rewards/chosen",
  "rewards/rejected",
  "rewards/accuracies",
  "rewards/margins",
  "logps/chosen",
  "logps/rejected",
  "grad_norm",
  "learning_rate",
] as const;

/** Fusion extras (names are ours). Per-source selection counts are `fusion/selected_{side}/{i}`. */
export const FUSION_METRICS = [
  "fusion/disparity_weight",
  "fusion/clip_rate_chosen",
  "fusion/clip_rate_rejected",
  "fusion/fused_margin",
  "fusion/pivot_margin",
] as const;

export function selectionMetric(side: "chosen" | "rejected", source: number): string {
  return `fusion/selected_${side}/${source}`;
}

/** Evaluation keys carry TRL's `eval_` prefix. */
export function evalMetric(name: string): string {
  return `eval_${name}`;
}

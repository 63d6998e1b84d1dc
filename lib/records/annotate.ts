/**
 * Record-level fusion: a validated record in the published format → the fused columns `infifpo fuse` adds.
 * Composes lib/fusion and lib/losses; derives no formula of its own.
 */
import { fusePair, type FusedPair, type PairScores } from "../fusion/scalar";
import { disparityWeight, preferenceLogit, sigmoidLoss } from "../losses/math";
import type { FusedColumns, PreferenceRecord } from "../data/types";
import type { FuseSettings } from "./settings";

/** The record's pivot and source values, as per-token means (LN on) or sums (LN off). */
export function pairScores(r: PreferenceRecord, lengthNorm: boolean): PairScores {
  return lengthNorm
    ? {
        pivotChosen: r.ref_mean_chosen_logps,
        pivotRejected: r.ref_mean_rejected_logps,
        sourceChosen: r.fuse_mean_chosen_logps,
        sourceRejected: r.fuse_mean_rejected_logps,
      }
    : { pivotChosen: r.ref_chosen_logps, pivotRejected: r.ref_rejected_logps, sourceChosen: r.fuse_chosen_logps, sourceRejected: r.fuse_rejected_logps };
}

/** The policy's values: the record's `policy_*` columns when present, else the pivot at init (M^p_0). */
export function policyScores(r: PreferenceRecord, lengthNorm: boolean): { chosen: number; rejected: number } {
  const chosen = lengthNorm ? r.policy_mean_chosen_logps ?? r.ref_mean_chosen_logps : r.policy_chosen_logps ?? r.ref_chosen_logps;
  const rejected = lengthNorm ? r.policy_mean_rejected_logps ?? r.ref_mean_rejected_logps : r.policy_rejected_logps ?? r.ref_rejected_logps;
  return { chosen, rejected };
}

/** Everything computed for one record: the output columns and the fusion details behind them. */
export interface Annotation {
  columns: FusedColumns;
  fused: FusedPair;
  scores: PairScores;
}

/** Fuses one record: ℓ_fu on both sides, z = β[(ℓ_θ − ℓ_fu)(y_w) − (ℓ_θ − ℓ_fu)(y_l)], loss −log σ(z), weight σ(−z). */
export function annotateRecord(r: PreferenceRecord, s: FuseSettings): Annotation {
  const policy = policyScores(r, s.lengthNorm);
  const scores = { ...pairScores(r, s.lengthNorm), policyChosen: policy.chosen, policyRejected: policy.rejected };
  const fused = fusePair(scores, s);
  const z = preferenceLogit(s.beta, policy.chosen, fused.chosen.value, policy.rejected, fused.rejected.value);
  return {
    columns: {
      fused_chosen_logps: fused.chosen.value,
      fused_rejected_logps: fused.rejected.value,
      fused_source_chosen: fused.chosen.selected,
      fused_source_rejected: fused.rejected.selected,
      logit: z,
      loss: sigmoidLoss(z),
      disparity_weight: disparityWeight(z),
    },
    fused,
    scores,
  };
}

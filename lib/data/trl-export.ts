/**
 * A fused record as the row Hugging Face TRL's DPOTrainer (1.13) reads with precomputed reference log-probs:
 * `prompt`, `chosen`, `rejected`, `ref_chosen_logps`, `ref_rejected_logps`, where the "reference" is InfiFPO's
 * fused reference ℓ_fu (infifpo.md: InfiFPO is DPO with the reference replaced by M_fu). DPO in TRL on this file
 * then trains InfiFPO with the fusion — clipping, the strategy (max-margin to the pivot at init), the optional
 * offset — precomputed.
 *
 * TRL always compares SUMMED log-probs: its log-ratio is ℓ_θ(y) − ref(y) with ℓ_θ summed over the completion
 * tokens, and the length-normalised losses ("sigmoid_norm", "ipo") divide that log-ratio by the completion's token
 * count n (trl/trainer/dpo_trainer.py, `_compute_loss`). So the reference is written on the sum scale:
 *   - length-norm off: ref = ℓ_fu as fused (sums). With loss_type "sigmoid" this is InfiFPO without LN, exactly.
 *   - length-norm on:  ref = \bar ℓ_fu · n_p0(y), with n_p0 = ref_*_logps / ref_mean_*_logps of the record — the
 *     pivot's own token count, which is the n TRL divides by when the policy is the pivot with the same tokenizer
 *     and completion tokens. With loss_type "sigmoid_norm":
 *       (ℓ_θ − \bar ℓ_fu · n) / n = \bar ℓ_θ − \bar ℓ_fu,
 *     which is InfiFPO with LN (each source still enters through its own per-token mean), exactly. "ipo" gives the
 *     InfiFPO-IPO form the same way.
 * Chat records become TRL's conversational form with an explicit prompt: `prompt` = the prompt messages,
 * `chosen` / `rejected` = [the assistant's response]. No other columns are written (TRL would carry them into its
 * tokenized dataset, and a null among them breaks Arrow's type inference).
 */
import { UserError } from "../errors";
import { promptMessages, responseText } from "./trl";
import type { FusedColumns, Message, PreferenceRecord } from "./types";

export interface TrlRow {
  prompt: string | Message[];
  chosen: string | Message[];
  rejected: string | Message[];
  ref_chosen_logps: number;
  ref_rejected_logps: number;
}

/** TRL's loss_type that trains InfiFPO exactly from the exported reference (see the module comment). */
export const trlLossType = (lengthNorm: boolean): "sigmoid_norm" | "sigmoid" => (lengthNorm ? "sigmoid_norm" : "sigmoid");

/**
 * One TRL row from a fused record (fused with `lengthNorm` as given). `where` names the record in errors.
 *
 * @example
 *   // LN on: ℓ̄_fu(y_w) = -0.07, pivot sum/mean = -0.6/-0.1 → n_p0 = 6 → ref_chosen_logps = -0.42
 */
export function trlRow(rec: PreferenceRecord & FusedColumns, lengthNorm: boolean, where = "record"): TrlRow {
  let refW = rec.fused_chosen_logps;
  let refL = rec.fused_rejected_logps;
  if (lengthNorm) {
    const nW = rec.ref_chosen_logps / rec.ref_mean_chosen_logps;
    const nL = rec.ref_rejected_logps / rec.ref_mean_rejected_logps;
    for (const [n, side] of [[nW, "chosen"], [nL, "rejected"]] as const) {
      if (!Number.isFinite(n) || n < 1 || Math.abs(n - Math.round(n)) > 1e-3 * n) {
        throw new UserError(
          `${where}: the pivot's token count for the ${side} response, ref_${side}_logps / ref_mean_${side}_logps = ${n}, is not a ` +
            "whole number ≥ 1, so the per-token fused reference cannot be put on TRL's sum scale; fuse with --no-length-norm",
        );
      }
    }
    refW *= Math.round(nW);
    refL *= Math.round(nL);
  }
  const chat = typeof rec.chosen !== "string";
  return {
    prompt: chat ? promptMessages(rec) : typeof rec.prompt === "string" ? rec.prompt : "",
    chosen: chat ? [{ role: "assistant", content: responseText(rec.chosen) }] : (rec.chosen as string),
    rejected: chat ? [{ role: "assistant", content: responseText(rec.rejected) }] : (rec.rejected as string),
    ref_chosen_logps: refW,
    ref_rejected_logps: refL,
  };
}

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
import { DataError, type Loc } from "./errors";
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
 * One TRL row from a fused record (fused with `lengthNorm` as given). `where` names the record in errors: a
 * `{file, line}` (then a DataError `FILE:LINE: field "…": …`) or a label.
 *
 * With length-norm, a side whose fused reference is exactly 0 is 0 on any scale; otherwise its pivot token count
 * n_p0 = ref_*_logps / ref_mean_*_logps must be a whole number ≥ 1 — undetermined when the pivot's log-prob is 0
 * (0 / 0), which is refused with the field named (fuse with --no-length-norm then).
 *
 * @example
 *   // LN on: ℓ̄_fu(y_w) = -0.07, pivot sum/mean = -0.6/-0.1 → n_p0 = 6 → ref_chosen_logps = -0.42
 */
export function trlRow(rec: PreferenceRecord & FusedColumns, lengthNorm: boolean, where: string | Loc = "record"): TrlRow {
  let refW = rec.fused_chosen_logps;
  let refL = rec.fused_rejected_logps;
  if (lengthNorm) {
    const fail = (field: string, reason: string) =>
      typeof where === "string" ? new UserError(`${where}: field "${field}": ${reason}`) : new DataError(where, field, reason);
    const scale = (fused: number, side: "chosen" | "rejected"): number => {
      if (fused === 0) return 0; // 0 · n for every n
      const sum = side === "chosen" ? rec.ref_chosen_logps : rec.ref_rejected_logps;
      const mean = side === "chosen" ? rec.ref_mean_chosen_logps : rec.ref_mean_rejected_logps;
      if (sum === 0 && mean === 0) {
        throw fail(`ref_${side}_logps`,
          `the pivot's log-prob is 0, so its token count (ref_${side}_logps / ref_mean_${side}_logps = 0/0) is unknown and the per-token fused reference ${fused} cannot be put on TRL's sum scale; fuse with --no-length-norm`);
      }
      const n = sum / mean;
      if (!Number.isFinite(n) || n < 1 || Math.abs(n - Math.round(n)) > 1e-3 * n) {
        throw fail(`ref_mean_${side}_logps`,
          `the pivot's token count for the ${side} response, ref_${side}_logps / ref_mean_${side}_logps = ${n}, is not a whole number ≥ 1, so the per-token fused reference cannot be put on TRL's sum scale; fuse with --no-length-norm`);
      }
      return fused * Math.round(n);
    };
    refW = scale(refW, "chosen");
    refL = scale(refL, "rejected");
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

/**
 * The lab's variants: every trained one starts from the same SFT checkpoint (sft-all: from the initial pivot)
 * and sees the same pairs in the same order (the same loop seed); they differ only in the loss, its options and
 * — for the number-of-sources ablation — which sources' columns the file carries. The controls tell a gain from
 * the preferences apart from a gain from more SFT. TRL-style registry: name → how it is trained.
 */
import { UserError } from "../errors";

export interface VariantSpec {
  name: string;
  /** One line for the report. */
  label: string;
  /** Which comparison it belongs to in the report. */
  group: "baseline" | "control" | "infifpo" | "fusion" | "clip" | "length-norm" | "selection" | "sources";
  /**
   * How it is made: "sft" = the SFT checkpoint itself; "sft-all" = SFT of the initial pivot on the chosen
   * responses of both halves; "sft-cont" = the SFT checkpoint trained further with SFT on the preference half's
   * chosen responses, a preference run's steps; "pref" = preference training with `loss`.
   */
  kind: "sft" | "sft-all" | "sft-cont" | "pref";
  /** The loss of a "pref" variant (lib/losses registry name); null otherwise. */
  loss: string | null;
  options: Record<string, unknown>;
  /** The pairs file: "pairs" (every source), "wrpo" (with y_ws), or the first n sources. */
  data: { kind: "pairs" } | { kind: "wrpo" } | { kind: "sources"; n: number };
}

const INFIFPO = { fusion: { strategy: "max-margin", clip: true }, lengthNorm: true };

const all = { kind: "pairs" } as const;
const pref = (label: string, group: VariantSpec["group"], loss: string, options: Record<string, unknown> = {}, data: VariantSpec["data"] = all): Omit<VariantSpec, "name"> =>
  ({ label, group, kind: "pref", loss, options, data });

const TABLE: Readonly<Record<string, Omit<VariantSpec, "name">>> = Object.freeze({
  sft: { label: "SFT only (the starting checkpoint of every preference variant)", group: "baseline", kind: "sft", loss: null, options: {}, data: all },
  "sft-all": { label: "control: SFT of the initial pivot on the chosen responses of both halves", group: "control", kind: "sft-all", loss: null, options: {}, data: all },
  "sft-cont": { label: "control: the SFT checkpoint trained further on the preference half's chosen responses (a preference run's steps)", group: "control", kind: "sft-cont", loss: null, options: {}, data: all },
  dpo: pref("DPO (sums; reference = SFT pivot)", "baseline", "dpo"),
  rpo: pref("control: RPO = DPO + NLL of the chosen response (TRL's [sigmoid, sft])", "control", "rpo"),
  ipo: pref("IPO (per-token means)", "baseline", "ipo"),
  simpo: pref("SimPO (reference-free, γ 1)", "baseline", "simpo"),
  wrpo: pref("WRPO (y_ws = best source response, α → 0.1)", "baseline", "wrpo", {}, { kind: "wrpo" }),
  infifpo: pref("InfiFPO: max-margin + clipping + length-norm", "infifpo", "infifpo", INFIFPO),
  "infifpo-mean": pref("InfiFPO, mean fusion", "fusion", "infifpo", { ...INFIFPO, fusion: { strategy: "mean", clip: true } }),
  "infifpo-confidence": pref("InfiFPO, confidence fusion", "fusion", "infifpo", { ...INFIFPO, fusion: { strategy: "confidence", clip: true } }),
  "infifpo-noclip": pref("InfiFPO without probability clipping", "clip", "infifpo", { ...INFIFPO, fusion: { strategy: "max-margin", clip: false } }),
  "infifpo-noln": pref("InfiFPO without length normalisation (sums)", "length-norm", "infifpo", { ...INFIFPO, lengthNorm: false }),
  "infifpo-live": pref("InfiFPO, max-margin distances to the live policy", "selection", "infifpo", { ...INFIFPO, fusion: { strategy: "max-margin", clip: true, marginTo: "policy" } }),
});

const SOURCES_VARIANT = /^infifpo-n(\d+)$/;

/** The spec of a variant name; `infifpo-nK` = InfiFPO with the first K sources only. Unknown names list the valid ones. */
export function variantSpec(name: string, nSources: number): VariantSpec {
  const m = SOURCES_VARIANT.exec(name);
  if (m) {
    const n = Number(m[1]);
    if (!(n >= 1 && n <= nSources)) throw new UserError(`variant "${name}": the lab has ${nSources} source${nSources > 1 ? "s" : ""}, so n must be in 1..${nSources}`);
    return { name, ...pref(`InfiFPO with the first ${n} source${n > 1 ? "s" : ""}`, "sources", "infifpo", INFIFPO, { kind: "sources", n }) };
  }
  if (!Object.hasOwn(TABLE, name)) throw new UserError(`unknown variant "${name}"; valid: ${[...Object.keys(TABLE), `infifpo-n1..n${nSources}`].join(", ")}`);
  return { name, ...TABLE[name] };
}

/**
 * The variant whose selected hyper-parameters an ablation of InfiFPO uses when both are in a run: an ablation
 * changes one component at InfiFPO's setting (selected on validation like every method), so its difference to
 * InfiFPO measures that component alone. null: the variant is selected on its own.
 */
export function selectedWith(v: VariantSpec, variants: readonly string[]): string | null {
  const ablation = v.loss === "infifpo" && v.name !== "infifpo";
  return ablation && variants.includes("infifpo") ? "infifpo" : null;
}

/** What validation selects for a variant: nothing (sft, sft-all: the SFT stage's settings), the lr, or lr and β. */
export function tunedKnobs(v: VariantSpec): "none" | "lr" | "lr+beta" {
  return v.kind === "pref" ? "lr+beta" : v.kind === "sft-cont" ? "lr" : "none";
}

/**
 * The lab's variants: every one starts from the same SFT checkpoint and sees the same pairs in the same order
 * (the same loop seed); they differ only in the loss, its options and — for the number-of-sources ablation —
 * which sources' columns the file carries. TRL-style registry: name → loss + options + data file.
 */
import { UserError } from "../errors";

export interface VariantSpec {
  name: string;
  /** One line for the report. */
  label: string;
  /** Which comparison it belongs to in the report. */
  group: "baseline" | "infifpo" | "fusion" | "clip" | "length-norm" | "selection" | "sources";
  /** null = no preference training (the SFT checkpoint itself). */
  loss: string | null;
  options: Record<string, unknown>;
  /** The pairs file: "pairs" (every source), "wrpo" (with y_ws), or the first n sources. */
  data: { kind: "pairs" } | { kind: "wrpo" } | { kind: "sources"; n: number };
}

const INFIFPO = { fusion: { strategy: "max-margin", clip: true }, lengthNorm: true };

/** The spec of a variant name; `infifpo-nK` = InfiFPO with the first K sources only. */
export function variantSpec(name: string, nSources: number): VariantSpec {
  const m = /^infifpo-n(\d+)$/.exec(name);
  if (m) {
    const n = Number(m[1]);
    if (!(n >= 1 && n <= nSources)) throw new UserError(`variant "${name}": the lab has ${nSources} sources`);
    return { name, label: `InfiFPO with the first ${n} source${n > 1 ? "s" : ""}`, group: "sources", loss: "infifpo", options: INFIFPO, data: { kind: "sources", n } };
  }
  const all = { kind: "pairs" } as const;
  const table: Record<string, Omit<VariantSpec, "name">> = {
    sft: { label: "SFT only (the starting checkpoint of every other variant)", group: "baseline", loss: null, options: {}, data: all },
    dpo: { label: "DPO (β 0.1, sums; reference = SFT pivot)", group: "baseline", loss: "dpo", options: {}, data: all },
    ipo: { label: "IPO (β 0.1, per-token means)", group: "baseline", loss: "ipo", options: {}, data: all },
    simpo: { label: "SimPO (reference-free, β 2, γ 1)", group: "baseline", loss: "simpo", options: {}, data: all },
    wrpo: { label: "WRPO (y_ws = best source response, α → 0.1)", group: "baseline", loss: "wrpo", options: {}, data: { kind: "wrpo" } },
    infifpo: { label: "InfiFPO: max-margin + clipping + length-norm (β 2.5)", group: "infifpo", loss: "infifpo", options: INFIFPO, data: all },
    "infifpo-mean": { label: "InfiFPO, mean fusion", group: "fusion", loss: "infifpo", options: { ...INFIFPO, fusion: { strategy: "mean", clip: true } }, data: all },
    "infifpo-confidence": { label: "InfiFPO, confidence fusion", group: "fusion", loss: "infifpo", options: { ...INFIFPO, fusion: { strategy: "confidence", clip: true } }, data: all },
    "infifpo-noclip": { label: "InfiFPO without probability clipping", group: "clip", loss: "infifpo", options: { ...INFIFPO, fusion: { strategy: "max-margin", clip: false } }, data: all },
    "infifpo-noln": { label: "InfiFPO without length normalisation (sums, β 0.1)", group: "length-norm", loss: "infifpo", options: { ...INFIFPO, lengthNorm: false }, data: all },
    "infifpo-live": { label: "InfiFPO, max-margin distances to the live policy", group: "selection", loss: "infifpo", options: { ...INFIFPO, fusion: { strategy: "max-margin", clip: true, marginTo: "policy" } }, data: all },
  };
  if (!Object.hasOwn(table, name)) throw new UserError(`unknown variant "${name}"; valid: ${[...Object.keys(table), "infifpo-n1..n" + nSources].join(", ")}`);
  return { name, ...table[name] };
}

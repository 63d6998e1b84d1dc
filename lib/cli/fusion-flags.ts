/** The fusion flags shared by `fuse` and `stats`, generated from the one source of truth in lib/fusion and lib/records. */
import { Option, type Command } from "commander";
import { DEFAULT_FUSION_OPTIONS, FUSION_STRATEGIES, MARGIN_ANCHORS, type FusionStrategy, type MarginAnchor } from "../fusion/options";
import { UserError } from "../errors";
import { BETA_MAX, resolveFuseSettings, type FuseSettings } from "../records/settings";

export interface FusionFlags {
  fusion: FusionStrategy;
  clip: boolean;
  lengthNorm: boolean;
  beta?: string;
  includePivot?: boolean;
  refOffset?: string;
  marginTo?: MarginAnchor;
}

export function addFusionFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option("--fusion <strategy>", "how source values are combined").choices(FUSION_STRATEGIES).default(DEFAULT_FUSION_OPTIONS.strategy))
    .option("--clip", "clip each source against the pivot at init (max on chosen, min on rejected)", true)
    .option("--no-clip", "do not clip")
    .option("--length-norm", "use per-token mean log-probs (*_mean_* columns)", true)
    .option("--no-length-norm", "use summed log-probs")
    .option("--beta <beta>", "β of the preference logit (default 2.5 with length-norm, 0.1 without)")
    .option("--include-pivot", "add the pivot at init as one more source (off by default)")
    .option("--ref-offset <x>", "clamp the fused reference to [ℓ_p0 − x, ℓ_p0 + x] (off by default)")
    .addOption(new Option("--margin-to <anchor>", "max-margin distance to the pivot at init, or to the policy (policy_* columns; the pivot when absent)").choices(MARGIN_ANCHORS).default(DEFAULT_FUSION_OPTIONS.marginTo));
}

function number(flag: string, text: string | undefined, check: (x: number) => boolean, want: string): number | undefined {
  if (text === undefined) return undefined;
  const x = Number(text);
  if (text.trim() === "" || !Number.isFinite(x) || !check(x)) throw new UserError(`${flag} must be ${want}, got "${text}"`);
  return x;
}

export function settingsFromFlags(o: FusionFlags): FuseSettings {
  return resolveFuseSettings({
    strategy: o.fusion,
    clip: o.clip,
    lengthNorm: o.lengthNorm,
    beta: number("--beta", o.beta, (x) => x > 0 && x <= BETA_MAX, `a number > 0 and ≤ ${BETA_MAX}`),
    includePivot: Boolean(o.includePivot),
    refOffset: number("--ref-offset", o.refOffset, (x) => x >= 0, "a number ≥ 0") ?? null,
    marginTo: o.marginTo ?? "pivot",
  });
}

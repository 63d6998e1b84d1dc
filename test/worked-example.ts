// infifpo.md's worked example as a record in the published format (3 sources; n = 10 tokens for every model, so
// sums = mean × 10). Shared by test/data-validate.test.ts and test/trl-export.test.ts. Not a test file itself.
import type { PreferenceRecord } from "../lib/data/types";

export function workedExampleRecord(): PreferenceRecord {
  return {
    prompt: "What is 2 + 2?",
    chosen: "2 + 2 = 4.",
    rejected: "2 + 2 = 5.",
    ref_chosen_logps: -0.6975,
    ref_rejected_logps: -1.3945,
    ref_mean_chosen_logps: -0.06975,
    ref_mean_rejected_logps: -0.13945,
    fuse_chosen_logps: [-2.3788, -3.1458, -2.94344],
    fuse_rejected_logps: [-2.5559, -3.21348, -2.6948],
    fuse_mean_chosen_logps: [-0.23788, -0.26215, -0.36793],
    fuse_mean_rejected_logps: [-0.25559, -0.26779, -0.33685],
  };
}

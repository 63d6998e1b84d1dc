/**
 * The published InfiFPO JSONL record (infifpo.md, "Data format"), one JSON object per line.
 * Field names are byte-compatible with the authors' format and with TRL's precomputed reference columns.
 */

/** A chat message; the last assistant turn of `chosen` / `rejected` is the response. */
export interface Message {
  role: string;
  content: string;
}

/** A response: a plain string (with a separate `prompt`) or a chat message list. */
export type Conversation = string | Message[];

/** Numeric columns of a record: the pivot at init (`ref_*`) and one entry per source (`fuse_*`). */
export interface ScoreColumns {
  /** ℓ_p0(y_w): sum of response-token log-probs under the pivot at init. */
  ref_chosen_logps: number;
  ref_rejected_logps: number;
  /** \bar ℓ_p0(y_w) = ℓ_p0(y_w) / n_p0(y_w). */
  ref_mean_chosen_logps: number;
  ref_mean_rejected_logps: number;
  /** ℓ_i(y_w) for each source i, in a fixed order. */
  fuse_chosen_logps: number[];
  fuse_rejected_logps: number[];
  fuse_mean_chosen_logps: number[];
  fuse_mean_rejected_logps: number[];
}

/** Optional live-policy columns; when absent the policy is the pivot at init. */
export interface PolicyColumns {
  policy_chosen_logps?: number;
  policy_rejected_logps?: number;
  policy_mean_chosen_logps?: number;
  policy_mean_rejected_logps?: number;
}

/** A validated record. Unknown extra fields are preserved as they were read. */
export interface PreferenceRecord extends ScoreColumns, PolicyColumns {
  prompt?: string | Message[];
  chosen: Conversation;
  rejected: Conversation;
  [extra: string]: unknown;
}

/** A record without scores yet (TRL's prompt/chosen/rejected), e.g. the input of `infifpo score`. */
export interface PreferencePair {
  prompt?: string | Message[];
  chosen: Conversation;
  rejected: Conversation;
  [extra: string]: unknown;
}

/** Fields `infifpo fuse` adds to each record. */
export interface FusedColumns {
  /** ℓ_fu(y_w): per-token mean when length-norm is on, sum otherwise. */
  fused_chosen_logps: number;
  fused_rejected_logps: number;
  /** Index of the source picked by max-margin (−1 = the pivot itself when `includePivot`), null otherwise. */
  fused_source_chosen: number | null;
  fused_source_rejected: number | null;
  /** z = β[(ℓ_θ(y_w) − ℓ_fu(y_w)) − (ℓ_θ(y_l) − ℓ_fu(y_l))]. */
  logit: number;
  /** softplus(−z). */
  loss: number;
  /** σ(−z), the preference-disparity weight. */
  disparity_weight: number;
}

/**
 * Validation of one parsed line of the published InfiFPO format (infifpo.md, "Data format").
 *
 * Hand-written checks on the object JSON.parse returned: no schema library, no copy, no allocation
 * unless something is wrong. Every failure is a DataError naming `file:line: field "…"`, never a silent NaN.
 *
 * Numeric rules, for each (sum, mean) pair — ref_*, each fuse_* entry, and policy_* when present:
 * 1. both are finite numbers (not strings such as "NaN", not null, not 1e400, which parses to Infinity);
 * 2. the mean has the sign of its sum (sum 0 ⇔ mean 0), since mean = sum / n;
 * 3. both are log-probabilities: ≤ 0;
 * 4. |mean| ≤ |sum| · (1 + 1e-6): a mean over n ≥ 1 tokens is never larger in magnitude than the sum
 *    (the tolerance admits a mean and a sum reduced separately in float32 for n = 1);
 * 5. sum ≥ LOGP_MIN = −1e15: no model's log-prob is that small (float32 token log-probs are ≥ −104, so it takes
 *    ~1e13 tokens); a larger magnitude is an overflow upstream, and with β ≤ BETA_MAX it keeps every number
 *    `fuse` and `stats` compute (logit, loss, margins) finite, so a valid record never gives a non-finite output.
 * Source lists: arrays of the same length N ≥ 1 in all four fuse_* fields (and, when the caller passes
 * `sources`, N must equal it — readRecords passes the first record's N so a file can't change N midway).
 * policy_*: all four or none.
 */
import { DataError, showValue, type Loc } from "./errors";
import { checkPairFields } from "./trl";
import type { PreferenceRecord, ScoreColumns } from "./types";

export interface ValidateOptions {
  /** Required number of sources N (length of every fuse_* list); any N ≥ 1 when omitted. */
  sources?: number;
}

type Obj = Record<string, unknown>;

/** Relative slack for |mean| ≤ |sum| (see rule 4). */
const MEAN_SUM_RTOL = 1e-6;

/** The smallest log-prob (sum) accepted (rule 5). */
export const LOGP_MIN = -1e15;

function numberError(v: unknown, field: string, loc: Loc): DataError {
  return new DataError(loc, field, v === undefined ? "missing" : `expected a finite number, got ${showValue(v)}`);
}

/**
 * Rules 1–5 for one (sum, mean) pair; field names are passed pre-built so the happy path allocates nothing.
 * Shared by every reader of log-prob columns (validateRecord; the trainer's ref_* columns).
 */
export function checkSumMean(sum: unknown, mean: unknown, sumField: string, meanField: string, loc: Loc): void {
  if (typeof sum !== "number" || sum - sum !== 0) throw numberError(sum, sumField, loc); // x - x !== 0 ⇔ NaN or ±Inf
  if (typeof mean !== "number" || mean - mean !== 0) throw numberError(mean, meanField, loc);
  if ((sum < 0) !== (mean < 0) || (sum > 0) !== (mean > 0)) {
    throw new DataError(loc, meanField, `sign disagrees with its sum "${sumField}": mean ${showValue(mean)}, sum ${showValue(sum)}`);
  }
  if (sum > 0) throw new DataError(loc, sumField, `expected a log-prob ≤ 0, got ${showValue(sum)}`);
  if (sum < LOGP_MIN) throw new DataError(loc, sumField, `${showValue(sum)} is out of range: a log-prob must be ≥ ${LOGP_MIN} (a larger magnitude is an overflow upstream)`);
  if (mean < sum * (1 + MEAN_SUM_RTOL)) {
    throw new DataError(loc, meanField,
      `per-token mean ${showValue(mean)} is larger in magnitude than its sum "${sumField}" ${showValue(sum)} (impossible for n ≥ 1 tokens)`);
  }
}

/** Same as checkSumMean with array-entry field names, built only on failure. */
export function checkSumMeanAt(sum: unknown, mean: unknown, sumField: string, meanField: string, i: number, loc: Loc): void {
  if (typeof sum === "number" && typeof mean === "number" && sum - sum === 0 && mean - mean === 0
      && mean <= 0 && sum <= 0 && (sum < 0) === (mean < 0) && mean >= sum * (1 + MEAN_SUM_RTOL) && sum >= LOGP_MIN) return;
  checkSumMean(sum, mean, `${sumField}[${i}]`, `${meanField}[${i}]`, loc);
}

function sourceList(v: unknown, field: string, loc: Loc): unknown[] {
  if (!Array.isArray(v)) {
    throw new DataError(loc, field, v === undefined ? "missing" : `expected a list of numbers (one per source), got ${showValue(v)}`);
  }
  return v;
}

/**
 * Validates one parsed JSONL line as a scored preference record and returns it (the same object, typed).
 * Unknown extra fields are kept untouched. Throws DataError otherwise.
 *
 * @example
 *   const rec = validateRecord(JSON.parse(line), { file: "data/x.jsonl", line: 17 });
 *   // DataError: data/x.jsonl:17: field "fuse_mean_chosen_logps[2]": expected a finite number, got "abc"
 */
export function validateRecord(obj: unknown, loc: Loc, opts?: ValidateOptions): PreferenceRecord {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    throw new DataError(loc, null, `expected a JSON object, got ${showValue(obj)}`);
  }
  const o = obj as Obj;
  checkPairFields(o, loc);

  checkSumMean(o.ref_chosen_logps, o.ref_mean_chosen_logps, "ref_chosen_logps", "ref_mean_chosen_logps", loc);
  checkSumMean(o.ref_rejected_logps, o.ref_mean_rejected_logps, "ref_rejected_logps", "ref_mean_rejected_logps", loc);

  const fc = sourceList(o.fuse_chosen_logps, "fuse_chosen_logps", loc);
  const fr = sourceList(o.fuse_rejected_logps, "fuse_rejected_logps", loc);
  const fmc = sourceList(o.fuse_mean_chosen_logps, "fuse_mean_chosen_logps", loc);
  const fmr = sourceList(o.fuse_mean_rejected_logps, "fuse_mean_rejected_logps", loc);
  const n = fc.length;
  if (n === 0) throw new DataError(loc, "fuse_chosen_logps", "expected at least one source, got an empty list");
  const want = opts?.sources;
  if (want !== undefined && n !== want) {
    throw new DataError(loc, "fuse_chosen_logps", `expected ${want} sources (as in the rest of the file), got ${n}`);
  }
  if (fr.length !== n) throw lengthError("fuse_rejected_logps", fr.length, n, loc);
  if (fmc.length !== n) throw lengthError("fuse_mean_chosen_logps", fmc.length, n, loc);
  if (fmr.length !== n) throw lengthError("fuse_mean_rejected_logps", fmr.length, n, loc);
  for (let i = 0; i < n; i++) {
    checkSumMeanAt(fc[i], fmc[i], "fuse_chosen_logps", "fuse_mean_chosen_logps", i, loc);
    checkSumMeanAt(fr[i], fmr[i], "fuse_rejected_logps", "fuse_mean_rejected_logps", i, loc);
  }

  const pc = o.policy_chosen_logps, pr = o.policy_rejected_logps;
  const pmc = o.policy_mean_chosen_logps, pmr = o.policy_mean_rejected_logps;
  if (pc !== undefined || pr !== undefined || pmc !== undefined || pmr !== undefined) {
    const present = POLICY_FIELDS.filter((f) => o[f] !== undefined);
    for (const f of POLICY_FIELDS) {
      if (o[f] === undefined) {
        throw new DataError(loc, f, `missing: policy columns come all four or none (found ${present.join(", ")})`);
      }
    }
    checkSumMean(pc, pmc, "policy_chosen_logps", "policy_mean_chosen_logps", loc);
    checkSumMean(pr, pmr, "policy_rejected_logps", "policy_mean_rejected_logps", loc);
  }
  return o as PreferenceRecord;
}

const POLICY_FIELDS = ["policy_chosen_logps", "policy_rejected_logps", "policy_mean_chosen_logps", "policy_mean_rejected_logps"] as const;

function lengthError(field: string, got: number, n: number, loc: Loc): DataError {
  return new DataError(loc, field, `expected ${n} entries (one per source, like "fuse_chosen_logps"), got ${got}`);
}

/** The number of sources N of a validated record (the length of its `fuse_*` lists). */
export function sourceCount(rec: Pick<ScoreColumns, "fuse_chosen_logps">): number {
  return rec.fuse_chosen_logps.length;
}

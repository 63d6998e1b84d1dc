/**
 * Records as a table: plain columns (no dependency) and a danfojs-node DataFrame for analysis.
 * danfojs (and the tfjs it loads, ~4 s) is imported lazily inside recordsToDataFrame, so importing
 * lib/data never loads it.
 */
import type { DataFrame } from "danfojs-node";
import { promptText, responseText } from "./trl";
import type { PreferenceRecord } from "./types";
import { sourceCount } from "./validate";

export type Cell = number | string | boolean | null;

export interface FrameOptions {
  /** Include `prompt`, `chosen`, `rejected` as text columns (the response texts, the prompt via promptText). Default true. */
  text?: boolean;
  /** Include other scalar top-level fields (e.g. `fused_*`, `loss` from `infifpo fuse`). Default true. */
  extras?: boolean;
}

const REF_FIELDS = ["ref_chosen_logps", "ref_rejected_logps", "ref_mean_chosen_logps", "ref_mean_rejected_logps"] as const;
const FUSE_FIELDS = ["fuse_chosen_logps", "fuse_rejected_logps", "fuse_mean_chosen_logps", "fuse_mean_rejected_logps"] as const;
const POLICY_FIELDS = ["policy_chosen_logps", "policy_rejected_logps", "policy_mean_chosen_logps", "policy_mean_rejected_logps"] as const;
const KNOWN = new Set<string>(["prompt", "chosen", "rejected", ...REF_FIELDS, ...FUSE_FIELDS, ...POLICY_FIELDS]);

/**
 * Column arrays for validated records: text columns, `ref_*`, per-source columns flattened as
 * `fuse_chosen_logps_0 … fuse_chosen_logps_{N-1}` (then rejected, mean chosen, mean rejected),
 * `policy_*` when any record has them, then other scalar fields. Missing cells are null.
 *
 * @example
 *   const cols = recordColumns(records);
 *   cols.fuse_mean_chosen_logps_2[0];   // source 2's per-token mean on record 0's chosen response
 */
export function recordColumns(records: Iterable<PreferenceRecord>, opts: FrameOptions = {}): Record<string, Cell[]> {
  const recs = Array.isArray(records) ? (records as PreferenceRecord[]) : [...records];
  const text = opts.text ?? true, extras = opts.extras ?? true;
  const cols: Record<string, Cell[]> = {};
  const n = recs.length;
  const sources = n > 0 ? sourceCount(recs[0]) : 0;
  if (text) {
    cols.prompt = recs.map((r) => promptText(r));
    cols.chosen = recs.map((r) => responseText(r.chosen));
    cols.rejected = recs.map((r) => responseText(r.rejected));
  }
  for (const f of REF_FIELDS) cols[f] = recs.map((r) => r[f]);
  for (const f of FUSE_FIELDS) {
    for (let i = 0; i < sources; i++) cols[`${f}_${i}`] = new Array(n);
    recs.forEach((r, k) => {
      const xs = r[f];
      if (xs.length !== sources) {
        throw new RangeError(`recordColumns: record ${k} has ${xs.length} sources in ${f}, record 0 has ${sources}`);
      }
      for (let i = 0; i < sources; i++) cols[`${f}_${i}`][k] = xs[i];
    });
  }
  if (recs.some((r) => r.policy_chosen_logps !== undefined)) {
    for (const f of POLICY_FIELDS) cols[f] = recs.map((r) => r[f] ?? null);
  }
  if (extras) {
    const keys: string[] = [];
    const seen = new Set<string>();
    for (const r of recs) {
      for (const k in r) {
        if (KNOWN.has(k) || seen.has(k)) continue;
        const v = r[k];
        if (v === null || typeof v === "number" || typeof v === "string" || typeof v === "boolean") {
          seen.add(k);
          keys.push(k);
        }
      }
    }
    for (const k of keys) {
      cols[k] = recs.map((r) => {
        const v = r[k];
        return v === null || typeof v === "number" || typeof v === "string" || typeof v === "boolean" ? v : null;
      });
    }
  }
  return cols;
}

/**
 * Loads validated records into a danfojs-node DataFrame (columns as in recordColumns). Async because
 * danfojs is imported on first use.
 *
 * @example
 *   const df = await recordsToDataFrame(await loadRecords("data/sample/pairs.jsonl"), { text: false });
 *   df.column("ref_mean_chosen_logps").mean();
 */
export async function recordsToDataFrame(records: Iterable<PreferenceRecord>, opts?: FrameOptions): Promise<DataFrame> {
  const mod = (await import("danfojs-node")) as unknown as { DataFrame?: unknown; default?: { DataFrame: unknown } };
  const Ctor = (mod.DataFrame ?? mod.default?.DataFrame) as new (data: Record<string, Cell[]>) => DataFrame;
  return new Ctor(recordColumns(records, opts));
}

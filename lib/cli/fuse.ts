/** `infifpo fuse`: add the fused reference, logit, loss and disparity weight to every record of a JSONL file. */
import type { Command } from "commander";
import { floatJson, openAtomicWriter, recordSerializer, readRecordBatches, type AtomicWriter, type FusedColumns, type PreferenceRecord } from "../data";
import { annotateRecord } from "../records/annotate";
import { settingsLabel, type FuseSettings } from "../records/settings";
import { byteProgress } from "./byte-progress";
import { addFusionFlags, settingsFromFlags, type FusionFlags } from "./fusion-flags";
import { inputFile } from "./input";

export interface FuseFileOptions {
  input: string;
  output: string;
  settings: FuseSettings;
  /** Keep going past invalid lines, writing them with their reasons to `rejectsPath`. */
  skipInvalid?: boolean;
  onProgress?: (bytesRead: number, records: number) => void;
}

export interface FuseFileResult {
  records: number;
  rejected: number;
  rejectsPath: string | null;
  seconds: number;
}

/** `OUT.jsonl` → `OUT.rejects.jsonl`. */
export function rejectsPathFor(output: string): string {
  return output.replace(/\.jsonl$/i, "") + ".rejects.jsonl";
}

const FUSED_KEYS: readonly (keyof FusedColumns)[] = [
  "fused_chosen_logps", "fused_rejected_logps", "fused_source_chosen", "fused_source_rejected", "logit", "loss", "disparity_weight",
];

/** The fused columns as JSON members to append inside a record: `,"fused_chosen_logps":-0.5,…` (ASCII only). */
export function fusedMembers(c: FusedColumns): string {
  const sel = (i: number | null) => (i === null ? "null" : String(i));
  return (
    `,"fused_chosen_logps":${floatJson(c.fused_chosen_logps)},"fused_rejected_logps":${floatJson(c.fused_rejected_logps)}` +
    `,"fused_source_chosen":${sel(c.fused_source_chosen)},"fused_source_rejected":${sel(c.fused_source_rejected)}` +
    `,"logit":${floatJson(c.logit)},"loss":${floatJson(c.loss)},"disparity_weight":${floatJson(c.disparity_weight)}`
  );
}

/** Whether a record already carries fused columns (a re-fuse): then it is re-serialised so no key appears twice. */
function hasFusedColumns(r: PreferenceRecord): boolean {
  for (const k of FUSED_KEYS) if (r[k] !== undefined) return true;
  return false;
}

/**
 * Output lines for one batch: each input line byte for byte with the fused members inserted before its closing
 * brace (no re-encoding of the input, and its own number formatting is kept), in one buffer.
 */
function fuseBatch(rows: { record: PreferenceRecord; bytes: Buffer }[], settings: FuseSettings, serialize: (rec: object) => string): Buffer {
  const tails: string[] = new Array(rows.length);
  const heads: number[] = new Array(rows.length);
  let total = 0;
  for (let i = 0; i < rows.length; i++) {
    const { record, bytes } = rows[i];
    const columns = annotateRecord(record, settings).columns;
    if (hasFusedColumns(record)) {
      heads[i] = -1;
      tails[i] = serialize({ ...record, ...columns }) + "\n";
      total += Buffer.byteLength(tails[i]);
    } else {
      heads[i] = bytes.lastIndexOf(0x7d); // the record's closing '}' (validated: the line is a JSON object)
      tails[i] = fusedMembers(columns) + "}\n";
      total += heads[i] + tails[i].length;
    }
  }
  const out = Buffer.allocUnsafe(total);
  let off = 0;
  for (let i = 0; i < rows.length; i++) {
    if (heads[i] < 0) {
      off += out.write(tails[i], off, "utf8");
    } else {
      off += rows[i].bytes.copy(out, off, 0, heads[i]);
      off += out.write(tails[i], off, "latin1");
    }
  }
  return out;
}

/**
 * Streams `input` to `output`, each record with the fused columns added. Both files are written atomically:
 * on any error nothing appears under the output names.
 */
export async function fuseFile(o: FuseFileOptions): Promise<FuseFileResult> {
  const t0 = performance.now();
  const out = await openAtomicWriter(o.output);
  const rejectsPath = o.skipInvalid ? rejectsPathFor(o.output) : null;
  let rejects: AtomicWriter | null = null;
  let records = 0;
  let rejected = 0;
  let bytes = 0;
  try {
    if (rejectsPath) rejects = await openAtomicWriter(rejectsPath);
    // Invalid lines come back as rows; without --skip-invalid the first one aborts the run.
    const batches = readRecordBatches(o.input, { onInvalid: "yield", keepBytes: true, keepText: Boolean(rejects), onProgress: (b: number) => (bytes = b) });
    const serialize = recordSerializer();
    for await (const batch of batches) {
      const good: { record: PreferenceRecord; bytes: Buffer }[] = [];
      for (const row of batch) {
        if (!row.error) {
          good.push(row as { record: PreferenceRecord; bytes: Buffer });
          continue;
        }
        if (!rejects) throw row.error;
        rejected++;
        const p = rejects.write(JSON.stringify({ line: row.line, field: row.error.field, error: row.error.message, text: row.text ?? null }));
        if (p) await p;
      }
      if (good.length > 0) {
        const p = out.writeBuffer(fuseBatch(good, o.settings, serialize), good.length);
        if (p) await p;
        records += good.length;
      }
      o.onProgress?.(bytes, records);
    }
    await out.commit();
    await rejects?.commit();
  } catch (err) {
    await out.abort();
    await rejects?.abort();
    throw err;
  }
  return { records, rejected, rejectsPath, seconds: (performance.now() - t0) / 1000 };
}

interface FuseFlags extends FusionFlags {
  input: string;
  output: string;
  skipInvalid?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command("fuse")
    .description("add fused_chosen_logps, fused_rejected_logps, fused_source_*, logit, loss and disparity_weight to every record")
    .requiredOption("-i, --input <file>", "records in the published InfiFPO JSONL format")
    .requiredOption("-o, --output <file>", "where to write the fused records (written atomically)");
  addFusionFlags(cmd)
    .option("--skip-invalid", "skip invalid lines and write them with their reasons to OUT.rejects.jsonl")
    .addHelpText(
      "after",
      "\nExample:\n  infifpo fuse -i data/sample/pairs.jsonl -o runs/fused.jsonl --fusion max-margin\n" +
        "\nThe policy is the pivot at init unless a record carries policy_* columns.",
    )
    .action(async (flags: FuseFlags) => {
      const settings = settingsFromFlags(flags);
      const size = await inputFile("--input", flags.input);
      const bar = byteProgress("fuse", size);
      let result: FuseFileResult;
      try {
        result = await fuseFile({ input: flags.input, output: flags.output, settings, skipInvalid: flags.skipInvalid, onProgress: bar.update });
      } finally {
        bar.stop();
      }
      const rate = Math.round(result.records / Math.max(result.seconds, 1e-9));
      process.stderr.write(
        `fused ${result.records} records (${settingsLabel(settings)}) → ${flags.output} in ${result.seconds.toFixed(2)} s (${rate} records/s)\n` +
          (result.rejectsPath ? `rejected ${result.rejected} invalid lines → ${result.rejectsPath}\n` : ""),
      );
    });
}

/** `infifpo fuse`: add the fused reference, logit, loss and disparity weight to every record of a JSONL file. */
import type { Command } from "commander";
import { openAtomicWriter, readRecordBatches, type AtomicWriter } from "../data";
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
    const batches = readRecordBatches(o.input, { onInvalid: "yield", onProgress: (b: number) => (bytes = b) });
    for await (const batch of batches) {
      for (const row of batch) {
        if (row.error) {
          if (!rejects) throw row.error;
          rejected++;
          const p = rejects.write(JSON.stringify({ line: row.line, field: row.error.field, error: row.error.message }));
          if (p) await p;
          continue;
        }
        const record = row.record!;
        const p = out.writeRecord({ ...record, ...annotateRecord(record, o.settings).columns });
        if (p) await p;
        records++;
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

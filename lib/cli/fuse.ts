/** `infifpo fuse`: add the fused reference, logit, loss and disparity weight to every record of a JSONL file. */
import { Option, type Command } from "commander";
import { defaultFuseThreads, fuseFile, fuseForTrl, type FuseFileResult } from "../records/files";
import { settingsLabel } from "../records/settings";
import { byteProgress } from "./byte-progress";
import { addFusionFlags, settingsFromFlags, type FusionFlags } from "./fusion-flags";
import { inputFile } from "./input";
import { UserError } from "../errors";

interface FuseFlags extends FusionFlags {
  input: string;
  output: string;
  skipInvalid?: boolean;
  threads?: string;
  export?: "trl";
}

export function register(program: Command): void {
  const cmd = program
    .command("fuse")
    .description("add fused_chosen_logps, fused_rejected_logps, fused_source_*, logit, loss and disparity_weight to every record")
    .requiredOption("-i, --input <file>", "records in the published InfiFPO JSONL format")
    .requiredOption("-o, --output <file>", "where to write the fused records (written atomically)");
  addFusionFlags(cmd)
    .option("--skip-invalid", "skip invalid lines and write them with their reasons to OUT.rejects.jsonl")
    .option("--threads <n>", `threads that parse and fuse (default: min(2, cores) = ${defaultFuseThreads()}; 1 = single-threaded)`)
    .addOption(
      new Option("--export <format>", "write the fused reference for another trainer instead: trl = prompt/chosen/rejected + ref_*_logps for TRL's DPOTrainer (see README)").choices(["trl"]),
    )
    .addHelpText(
      "after",
      "\nExample:\n  infifpo fuse -i data/sample/pairs.jsonl -o runs/fused.jsonl --fusion max-margin\n" +
        "  infifpo fuse -i scored.jsonl -o trl.jsonl --export trl     # then DPOTrainer, loss_type sigmoid_norm (examples/trl)\n" +
        "\nThe policy is the pivot at init unless a record carries policy_* columns.",
    )
    .action(async (flags: FuseFlags) => {
      const settings = settingsFromFlags(flags);
      let threads: number | undefined;
      if (flags.threads !== undefined) {
        threads = Number(flags.threads);
        if (!Number.isInteger(threads) || threads < 1) throw new UserError(`--threads must be a whole number ≥ 1, got ${JSON.stringify(flags.threads)}`);
      }
      const size = await inputFile("--input", flags.input);
      const bar = byteProgress("fuse", size);
      let result: FuseFileResult & { lossType?: string };
      try {
        const o = { input: flags.input, output: flags.output, settings, skipInvalid: flags.skipInvalid, threads, onProgress: bar.update };
        result = flags.export === "trl" ? await fuseForTrl(o) : await fuseFile(o);
      } finally {
        bar.stop();
      }
      if (result.lossType) {
        process.stderr.write(
          `TRL rows (prompt, chosen, rejected, ref_chosen_logps, ref_rejected_logps; the fused reference on TRL's sum scale) → ${flags.output}\n` +
            `train with DPOConfig(loss_type=["${result.lossType}"], beta=${settings.beta}, precompute_ref_log_probs=True) and the trainer in examples/trl/train_dpo.py\n`,
        );
      }
      const rate = Math.round(result.records / Math.max(result.seconds, 1e-9));
      process.stderr.write(
        `fused ${result.records} records (${settingsLabel(settings)}) → ${flags.output} in ${result.seconds.toFixed(2)} s (${rate} records/s)\n` +
          (result.rejectsPath ? `rejected ${result.rejected} invalid lines → ${result.rejectsPath}\n` : ""),
      );
    });
}

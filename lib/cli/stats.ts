/** `infifpo stats`: a summary of what fusion does to a file (clip rates, selections, margins, loss at init). */
import type { Command } from "commander";
import { statsFile } from "../records/files";
import { formatSummary, type FuseSummary } from "../records/stats";
import { byteProgress } from "./byte-progress";
import { addFusionFlags, settingsFromFlags, type FusionFlags } from "./fusion-flags";
import { inputFile } from "./input";
import { UserError } from "../errors";

interface StatsFlags extends FusionFlags {
  input: string;
  json?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command("stats")
    .description("summarise a file under the fusion settings: clip rates, max-margin selections, margins, loss at init")
    .requiredOption("-i, --input <file>", "records in the published InfiFPO JSONL format");
  addFusionFlags(cmd)
    .option("--json", "print the summary as one JSON object (for machines)")
    .action(async (flags: StatsFlags) => {
      const settings = settingsFromFlags(flags);
      const size = await inputFile("--input", flags.input);
      const bar = flags.json ? byteProgress("stats", 0) : byteProgress("stats", size);
      let summary: FuseSummary;
      try {
        summary = await statsFile(flags.input, settings, bar.update);
      } finally {
        bar.stop();
      }
      // a summary of nothing would print NaN quantiles
      if (summary.records === 0) throw new UserError(`--input ${flags.input}: no records to summarise`);
      if (flags.json) {
        const { marginSample: _sample, ...rest } = summary;
        process.stdout.write(JSON.stringify(rest) + "\n");
      } else {
        process.stdout.write(formatSummary(summary) + "\n");
      }
    });
}

/**
 * `infifpo init --tokenizer TOK.json --output MODEL.infifpo [--preset lab] [--set key=value ...] [--seed N]`
 *
 * A fresh, randomly initialised model file (lib/model's format, tokenizer inside) from a preset, so that
 * `infifpo train` can start from scratch with `model.init` pointing at it.
 */
import type { Command } from "commander";
import { parseOption } from "./tokenizer";

export function register(program: Command): void {
  program
    .command("init")
    .description("create a fresh model file from a preset and a tokenizer (GPT-2 init, seeded)")
    .requiredOption("--tokenizer <file>", "tokenizer JSON (infifpo tokenizer train)")
    .requiredOption("-o, --output <file>", "model file to write (.infifpo)")
    .option("--preset <name>", "model preset (see lib/model MODEL_PRESETS)", "lab")
    .option("--set <key=value>", "override one model field, e.g. dModel=96, nLayers=3, contextLength=128 (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--seed <n>", "initialisation seed", "0")
    .action(async (opts: { tokenizer: string; output: string; preset: string; set: string[]; seed: string }) => {
      const { UserError } = await import("../errors");
      const { checkOutputs } = await import("../data/safe-output");
      const { resolveFile } = await import("../model/io");
      checkOutputs([{ path: opts.tokenizer, label: "--tokenizer" }], [{ path: resolveFile(opts.output), label: "--output" }]);
      const seed = Number(opts.seed);
      if (!Number.isInteger(seed) || seed < 0) throw new UserError(`--seed must be an integer ≥ 0, got ${opts.seed}`);
      const { initBackend } = await import("../backend");
      await initBackend({ quiet: true });
      const { loadTokenizer } = await import("../tokenizers");
      const { createModel, resolveModelConfig, countParameters, disposeModel } = await import("../model");
      const { saveModel } = await import("../model/io");
      const tokenizer = loadTokenizer(opts.tokenizer);
      const config = resolveModelConfig(opts.preset, { ...Object.fromEntries(opts.set.map(parseOption)), vocabSize: tokenizer.vocabSize, seed });
      const model = createModel(config);
      const file = saveModel(opts.output, model, tokenizer, { init: { preset: opts.preset, seed } });
      disposeModel(model);
      process.stdout.write(JSON.stringify({ output: file, parameters: countParameters(config), config }) + "\n");
    });
}

/**
 * `infifpo train --config FILE [--preset smoke|quick|full] [--set key=value ...] [--resume]`
 *
 * The config file is JSON: any subset of TrainConfig (see lib/train/config.ts), plus an optional
 * "preset". Relative paths in it are relative to the file. Precedence: defaults ← preset ← file ← --set.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import { UserError } from "../errors";
import { TRAIN_PRESETS, parseSetting, resolveTrainConfig } from "../train/config";
import { LOSS_NAMES } from "../losses";

const PATH_KEYS: [string, string][] = [["data", "train"], ["data", "eval"], ["model", "init"], ["model", "tokenizer"]];

/** Reads the config file; returns its preset and its values with paths made absolute. */
export function readConfigFile(file: string): { preset: string | null; values: Record<string, unknown> } {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UserError(`${file}: ${err.code === "ENOENT" ? "no such file" : `invalid JSON (${err.message})`}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new UserError(`${file}: expected a JSON object`);
  const { preset, ...values } = raw as Record<string, unknown>;
  if (preset != null && typeof preset !== "string") throw new UserError(`${file}: "preset" must be a string or null`);
  const dir = path.dirname(path.resolve(file));
  const abs = (p: unknown) => (typeof p === "string" && p !== "" ? path.resolve(dir, p) : p);
  for (const [a, b] of PATH_KEYS) {
    const sect = values[a] as Record<string, unknown> | undefined;
    if (sect && typeof sect === "object" && b in sect) sect[b] = abs(sect[b]);
  }
  if (typeof values.outDir === "string") values.outDir = abs(values.outDir);
  return { preset: (preset as string | undefined) ?? null, values };
}

export function register(program: Command): void {
  program
    .command("train")
    .description("train a model: SFT, or preference optimisation with any loss of the registry (InfiFPO, DPO, ...)")
    .requiredOption("--config <file>", "JSON config (any subset of the TrainConfig fields, plus optional \"preset\")")
    .option("--preset <name>", `start from a preset: ${Object.keys(TRAIN_PRESETS).join(", ")} (overrides the file's)`)
    .option("--set <key=value>", "override one field, e.g. --set loop.maxSteps=20 (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--resume", "continue from the newest checkpoint in outDir (bit-identical to an uninterrupted run)")
    .addHelpText(
      "after",
      `\nLosses: ${LOSS_NAMES.join(", ")}.\nOutputs in outDir: config.json, metrics.jsonl, checkpoints/, final/, model.infifpo.\n` +
        `Example config:\n  { "preset": "quick", "kind": "preference", "outDir": "runs/infifpo",\n    "data": { "train": "pairs.jsonl" }, "model": { "init": "runs/sft/model.infifpo" },\n    "loss": { "name": "infifpo", "options": { "beta": 2.5, "fusion": { "strategy": "max-margin" } } } }\n` +
        `Environment: INFIFPO_BACKEND=tensorflow|wasm|cpu picks the backend; on the native one steps run as replayed\n` +
        `TensorFlow graphs (INFIFPO_COMPILE=0: op by op) with fused ops for LayerNorm, GELU, attention, the\nlog-softmax and AdamW (INFIFPO_FUSED=0: off).`,
    )
    .action(async (opts: { config: string; preset?: string; set: string[]; resume?: boolean }) => {
      const file = readConfigFile(opts.config);
      const config = resolveTrainConfig(opts.preset ?? file.preset, [
        { where: opts.config, values: file.values },
        ...opts.set.map((s) => ({ where: `--set ${s}`, values: parseSetting(s) })),
      ]);
      const { runTraining } = await import("../train/run"); // tfjs loads only when a run starts
      const r = await runTraining(config, { resume: !!opts.resume });
      process.stdout.write(JSON.stringify({ step: r.step, modelFile: r.modelFile, outDir: config.outDir, backend: r.backend }) + "\n");
    });
}

/**
 * `infifpo score --input pairs.jsonl --pivot PIVOT --source S1 [--source S2 ...] --output OUT.jsonl`
 * `infifpo score --input pairs.jsonl --pivot-url URL --pivot-model NAME --source-url URL --source-model NAME ... --output OUT.jsonl`
 *
 * The flags of `scoreFile` (lib/remote/score-file.ts: streaming, resumable scoring with local or served models).
 */
import * as fs from "node:fs";
import type { Command } from "commander";
import { UserError } from "../errors";
import { DIALECTS } from "../remote/dialect";
import { scoreFile, type ModelSpec, type RemoteModelSpec, type ScoreFileOptions } from "../remote/score-file";
import { oneOf, orList } from "./input";



const collect = (v: string, acc: string[] | undefined) => [...(acc ?? []), v];

interface ScoreCliOptions {
  input: string;
  output: string;
  pivot?: string;
  source?: string[];
  pivotUrl?: string;
  pivotModel?: string;
  sourceUrl?: string[];
  sourceModel?: string[];
  dialect: string;
  chatTemplate?: string[];
  concurrency: number;
  retries: number;
  timeout: number;
  apiKey?: string;
  onMismatch: string;
  batchSize: number;
  chunk: number;
  truncate: string;
  backend?: string;
  progress: string;
}

/** The pivot and sources from the flags: local checkpoints or served models (see `infifpo score --help`). */
export function modelSpecsFromFlags(opts: ScoreCliOptions): { pivot: ModelSpec; sources: ModelSpec[] } {
  const dialect = oneOf("--dialect", opts.dialect, ["auto", ...DIALECTS]);
  const templates = new Map<string, string>();
  for (const t of opts.chatTemplate ?? []) {
    const eq = t.indexOf("=");
    if (eq <= 0) throw new UserError(`--chat-template takes MODEL=FILE, got "${t}"`);
    const file = t.slice(eq + 1);
    if (!fs.existsSync(file)) throw new UserError(`--chat-template ${t}: ${file}: no such file`);
    templates.set(t.slice(0, eq), fs.readFileSync(file, "utf8"));
  }
  const served = (url: string, model: string): RemoteModelSpec => ({
    url,
    model,
    dialect,
    ...(templates.has(model) ? { chatTemplate: templates.get(model)! } : {}),
  });
  let pivot: ModelSpec;
  if (opts.pivot !== undefined && (opts.pivotUrl !== undefined || opts.pivotModel !== undefined)) {
    throw new UserError("give the pivot either as --pivot FILE or as --pivot-url URL --pivot-model NAME, not both");
  } else if (opts.pivot !== undefined) {
    pivot = opts.pivot;
  } else if (opts.pivotUrl !== undefined && opts.pivotModel !== undefined) {
    pivot = served(opts.pivotUrl, opts.pivotModel);
  } else {
    throw new UserError("the pivot is required: --pivot FILE, or --pivot-url URL with --pivot-model NAME");
  }
  const local = opts.source ?? [];
  const urls = opts.sourceUrl ?? [];
  const names = opts.sourceModel ?? [];
  if (local.length > 0 && (urls.length > 0 || names.length > 0)) {
    throw new UserError("sources are either all local (--source FILE ...) or all served (--source-url/--source-model ...): the fuse_* column order would be ambiguous");
  }
  if (names.length === 0 && urls.length > 0) throw new UserError("--source-url needs --source-model NAME (one per source, in column order)");
  if (names.length > 0 && urls.length !== 1 && urls.length !== names.length) {
    throw new UserError(`give one --source-url for all ${names.length} --source-model(s), or one per model in the same order (got ${urls.length})`);
  }
  const sources: ModelSpec[] = local.length > 0 ? local : names.map((n, i) => served(urls.length === 1 ? urls[0] : urls[i], n));
  for (const name of templates.keys()) {
    const all = [pivot, ...sources].filter((m): m is RemoteModelSpec => typeof m !== "string").map((m) => m.model);
    if (!all.includes(name)) throw new UserError(`--chat-template ${name}=…: no served model is called "${name}" (served: ${all.join(", ") || "none"})`);
  }
  return { pivot, sources };
}

export function register(program: Command): void {
  const int = (v: string) => parseInt(v, 10);
  program
    .command("score")
    .description(
      "fill the ref_* (pivot) and fuse_* (sources, in order) log-prob columns of every pair, each model with its own tokenizer: " +
        "project checkpoints scored here, or models served by vLLM / llama.cpp (OpenAI-compatible servers)",
    )
    .requiredOption("--input <file>", "JSONL pairs: prompt/chosen/rejected (strings or chat message lists)")
    .requiredOption("--output <file>", "output JSONL (written via OUT.partial; rerun the same command to resume after a crash)")
    .option("--pivot <model>", "the pivot at init (SFT checkpoint): a .infifpo file or a directory holding model.infifpo")
    .option("--source <model>", "a source checkpoint (repeat for each; order = fuse_* column order)", collect)
    .option("--pivot-url <url>", "served pivot: the server's base URL (http://host:8000 or http://host:8000/v1)")
    .option("--pivot-model <name>", "served pivot: the model name the server knows it by")
    .option("--source-url <url>", "served sources: one URL for all, or one per --source-model in the same order (repeat)", collect)
    .option("--source-model <name>", "a served source's model name (repeat for each; order = fuse_* column order)", collect)
    .option("--dialect <name>", `served models' API: auto (ask the server), ${orList(DIALECTS)}`, "auto")
    .option("--chat-template <model=file>", "vLLM: apply this Jinja chat template for that served model instead of its own (repeatable)", collect)
    .option("--concurrency <n>", "served models: requests in flight per server", int, 8)
    .option("--retries <n>", "served models: retries per request on 429/5xx/timeouts/dropped connections/malformed JSON", int, 5)
    .option("--timeout <s>", "served models: seconds to wait for one answer", (v) => Number(v), 120)
    .option("--api-key <key>", "served models: bearer token (default: $OPENAI_API_KEY)")
    .option("--on-mismatch <mode>", "a pair whose prompt/response token boundary does not line up: skip (to OUT.skipped.jsonl) or error", "skip")
    .option("--batch-size <n>", "checkpoints: pairs per forward pass", int, 64)
    .option("--chunk <n>", "records scored and appended (fsync'ed) together", int, 256)
    .option("--truncate <mode>", "checkpoints: prompt longer than a model's context: left (drop oldest tokens) or error", "left")
    .option("--backend <name>", "checkpoints: tfjs backend: auto, native, wasm, cpu (default: INFIFPO_BACKEND or auto)")
    .option("--progress <mode>", "auto, bar, lines or none", "auto")
    .action(async (opts: ScoreCliOptions) => {
      const truncate = oneOf("--truncate", opts.truncate, ["left", "error"]);
      const onMismatch = oneOf("--on-mismatch", opts.onMismatch, ["skip", "error"]);
      for (const [k, v] of [["--batch-size", opts.batchSize], ["--chunk", opts.chunk], ["--concurrency", opts.concurrency]] as const)
        if (!Number.isInteger(v) || v < 1) throw new UserError(`${k} must be a positive integer`);
      if (!Number.isInteger(opts.retries) || opts.retries < 0) throw new UserError("--retries must be a non-negative integer");
      if (!(opts.timeout > 0)) throw new UserError("--timeout must be a positive number of seconds");
      const { pivot, sources } = modelSpecsFromFlags(opts);
      const r = await scoreFile({
        input: opts.input,
        output: opts.output,
        pivot,
        sources,
        remote: { concurrency: opts.concurrency, retries: opts.retries, timeoutMs: opts.timeout * 1000, apiKey: opts.apiKey ?? process.env.OPENAI_API_KEY },
        onMismatch,
        batchSize: opts.batchSize,
        chunk: opts.chunk,
        truncate,
        backend: opts.backend,
        progress: opts.progress as ScoreFileOptions["progress"],
      });
      process.stdout.write(JSON.stringify({ output: opts.output, ...r }) + "\n");
    });
}

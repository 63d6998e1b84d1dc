/**
 * `infifpo score --input pairs.jsonl --pivot PIVOT --source S1 [--source S2 ...] --output OUT.jsonl`
 *
 * Fills the published format's numeric columns for every pair (infifpo.md, "Data format"), each model
 * scoring with its OWN tokenizer (response tokens only, EOS included; lib/model `sequenceLogProbs`):
 *   ref_chosen_logps, ref_rejected_logps, ref_mean_chosen_logps, ref_mean_rejected_logps   ← the pivot
 *   fuse_chosen_logps, fuse_rejected_logps, fuse_mean_*                                     ← the sources, in order
 * Other fields of each record are kept as they are.
 *
 * Streaming and resumable: results go to `OUT.jsonl.partial` in whole, fsync'ed chunks, with a sidecar
 * `OUT.jsonl.partial.json` naming the input and models. After a crash, the same command continues after the
 * last complete line (a torn last line is cut off); when all lines are done the partial file is renamed to
 * OUT.jsonl. So earlier lines are never rewritten, and OUT.jsonl only ever appears complete.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import { UserError } from "../errors";
import { readPairs } from "../data/jsonl";
import { DataError } from "../data/errors";
import { promptText, responseText } from "../data/trl";
import { recordSerializer } from "../data/write";
import type { PreferencePair } from "../data/types";

export interface ScoreFileOptions {
  input: string;
  output: string;
  pivot: string;
  sources: string[];
  /** Records per chunk (scored together, then appended and fsync'ed). Default 256. */
  chunk?: number;
  /** Pairs per forward pass. Default 64. */
  batchSize?: number;
  /** Prompts longer than a model's context: drop oldest tokens ("left", default) or fail. */
  truncate?: "left" | "error";
  /** tfjs backend request (default: INFIFPO_BACKEND or auto). */
  backend?: string;
  progress?: "auto" | "bar" | "lines" | "none";
  /** Test hook: stop (throw) after this many chunks have been written. */
  stopAfterChunks?: number;
  log?: (line: string) => void;
}

export interface ScoreFileResult {
  records: number;
  /** Records already in the partial output from an earlier, interrupted run. */
  resumedFrom: number;
  seconds: number;
  /** Response tokens scored per second, all models together. */
  tokensPerS: number;
}

interface Sidecar {
  input: string;
  pivot: string;
  sources: string[];
  truncate: string;
}

/** Newlines in `file` and whether it ends without one, read in 1 MiB chunks (constant memory). */
function scanLines(file: string): { newlines: number; lastNewlineEnd: number; size: number } {
  const fd = fs.openSync(file, "r");
  const buf = Buffer.allocUnsafe(1 << 20);
  let newlines = 0, pos = 0, lastNewlineEnd = 0, n: number;
  try {
    while ((n = fs.readSync(fd, buf, 0, buf.length, pos)) > 0) {
      for (let i = 0; i < n; i++) {
        if (buf[i] === 10) {
          newlines++;
          lastNewlineEnd = pos + i + 1;
        }
      }
      pos += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { newlines, lastNewlineEnd, size: pos };
}

/** Counts complete lines of `file` and cuts off a torn last line; returns the count. */
function completeLines(file: string): number {
  const s = scanLines(file);
  if (s.lastNewlineEnd < s.size) fs.truncateSync(file, s.lastNewlineEnd);
  return s.newlines;
}

/** Lines in `file`, a last line without a newline included. */
function countLines(file: string): number {
  const s = scanLines(file);
  return s.newlines + (s.lastNewlineEnd < s.size ? 1 : 0);
}

/** A log-prob as written: float32 value, never above 0 (float rounding can give +1e-8 for a sure token). */
const lp = (x: number) => Math.min(0, x);

/** Scores a whole file (see the module comment). Resumes a partial output of the same settings. */
export async function scoreFile(o: ScoreFileOptions): Promise<ScoreFileResult> {
  const t0 = performance.now();
  const log = o.log ?? ((l: string) => process.stderr.write(l + "\n"));
  if (o.sources.length === 0) throw new UserError("score: at least one --source is required (the source models, in column order)");
  if (!fs.existsSync(o.input)) throw new UserError(`${o.input}: no such file`);
  const { initBackend } = await import("../backend");
  const { loadModel, sequenceLogProbs, disposeModel } = await import("../model");
  const { createProgress } = await import("../train/progress");
  await initBackend({ backend: o.backend, log });

  const partial = `${o.output}.partial`;
  const sidecarPath = `${partial}.json`;
  const settings: Sidecar = {
    input: path.resolve(o.input),
    pivot: path.resolve(o.pivot),
    sources: o.sources.map((s) => path.resolve(s)),
    truncate: o.truncate ?? "left",
  };
  let done = 0;
  if (fs.existsSync(partial)) {
    let prev: Sidecar | null = null;
    try {
      prev = JSON.parse(fs.readFileSync(sidecarPath, "utf8"));
    } catch {
      prev = null;
    }
    if (!prev || JSON.stringify(prev) !== JSON.stringify(settings))
      throw new UserError(`${partial}: a partial output from a different command (input/models) is in the way; delete it or use another --output`);
    done = completeLines(partial);
    log(`[infifpo] score: resuming after ${done} records already in ${partial}`);
  } else {
    fs.mkdirSync(path.dirname(path.resolve(o.output)), { recursive: true });
    fs.writeFileSync(sidecarPath, JSON.stringify(settings) + "\n");
    fs.writeFileSync(partial, "");
  }

  const models = [o.pivot, ...o.sources].map((p) => loadModel(p, { trainable: false }));
  const total = countLines(o.input);
  const progress = createProgress("score", o.progress ?? "auto", { every: 1 });
  const serialize = recordSerializer();
  const chunkSize = o.chunk ?? 256;
  const fd = fs.openSync(partial, "a");
  let seen = 0, written = done, chunks = 0, tokens = 0;
  progress.start(total, done);
  try {
    let chunk: { line: number; record: PreferencePair }[] = [];
    const flush = async () => {
      if (chunk.length === 0) return;
      const pairs = chunk.map((r) => ({ prompt: promptText(r.record), chosen: responseText(r.record.chosen), rejected: responseText(r.record.rejected) }));
      // per model: [chosen of every record; rejected of every record]
      const scored = [] as { sum: number; mean: number; count: number }[][];
      for (let m = 0; m < models.length; m++) {
        const { model, tokenizer } = models[m];
        const items = [...pairs.map((p) => ({ prompt: p.prompt, response: p.chosen })), ...pairs.map((p) => ({ prompt: p.prompt, response: p.rejected }))];
        try {
          scored.push(await sequenceLogProbs(model, tokenizer, items, { batchSize: o.batchSize ?? 64, truncate: o.truncate ?? "left" }));
        } catch (e) {
          if (!(e instanceof UserError)) throw e;
          // find the offending record for a message naming file, line and field
          for (let i = 0; i < items.length; i++) {
            try {
              await sequenceLogProbs(model, tokenizer, [items[i]], { truncate: o.truncate ?? "left" });
            } catch (e2) {
              const r = chunk[i % chunk.length];
              throw new DataError({ file: o.input, line: r.line }, i < chunk.length ? "chosen" : "rejected", `${(e2 as Error).message} (model ${[o.pivot, ...o.sources][m]})`);
            }
          }
          throw e;
        }
      }
      const B = chunk.length;
      let text = "";
      chunk.forEach((r, b) => {
        const rec = { ...r.record } as Record<string, unknown>;
        const [pc, pr] = [scored[0][b], scored[0][B + b]];
        rec.ref_chosen_logps = lp(pc.sum);
        rec.ref_rejected_logps = lp(pr.sum);
        rec.ref_mean_chosen_logps = lp(pc.mean);
        rec.ref_mean_rejected_logps = lp(pr.mean);
        const src = scored.slice(1);
        rec.fuse_chosen_logps = src.map((s) => lp(s[b].sum));
        rec.fuse_rejected_logps = src.map((s) => lp(s[B + b].sum));
        rec.fuse_mean_chosen_logps = src.map((s) => lp(s[b].mean));
        rec.fuse_mean_rejected_logps = src.map((s) => lp(s[B + b].mean));
        for (const s of scored) tokens += s[b].count + s[B + b].count;
        text += serialize(rec) + "\n";
      });
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
      written += B;
      chunk = [];
      chunks++;
      progress.update(written, { tokensPerS: tokens / ((performance.now() - t0) / 1000) });
      if (o.stopAfterChunks !== undefined && chunks >= o.stopAfterChunks) throw new Error(`stopped after ${chunks} chunks (test hook)`);
    };
    for await (const row of readPairs(o.input)) {
      if (seen++ < done) continue;
      chunk.push(row);
      if (chunk.length >= chunkSize) await flush();
    }
    await flush();
  } finally {
    fs.closeSync(fd);
    progress.stop();
    for (const m of models) disposeModel(m.model);
  }
  fs.renameSync(partial, o.output);
  fs.rmSync(sidecarPath, { force: true });
  const seconds = (performance.now() - t0) / 1000;
  return { records: written, resumedFrom: done, seconds, tokensPerS: tokens / seconds };
}

export function register(program: Command): void {
  program
    .command("score")
    .description("fill the ref_* (pivot) and fuse_* (sources, in order) log-prob columns of every pair, each model with its own tokenizer")
    .requiredOption("--input <file>", "JSONL pairs: prompt/chosen/rejected (strings or chat message lists)")
    .requiredOption("--pivot <model>", "the pivot at init (SFT checkpoint): a .infifpo file or a directory holding model.infifpo")
    .option("--source <model>", "a source model, required (repeat for each; order = fuse_* column order)", (v: string, acc: string[] | undefined) => [...(acc ?? []), v])
    .requiredOption("--output <file>", "output JSONL (written via OUT.partial; rerun the same command to resume after a crash)")
    .option("--batch-size <n>", "pairs per forward pass", (v) => parseInt(v, 10), 64)
    .option("--chunk <n>", "records scored and appended (fsync'ed) together", (v) => parseInt(v, 10), 256)
    .option("--truncate <mode>", "prompt longer than a model's context: left (drop oldest tokens) or error", "left")
    .option("--backend <name>", "tfjs backend: auto, native, wasm, cpu (default: INFIFPO_BACKEND or auto)")
    .option("--progress <mode>", "auto, bar, lines or none", "auto")
    .action(async (opts: { input: string; pivot: string; source?: string[]; output: string; batchSize: number; chunk: number; truncate: string; backend?: string; progress: string }) => {
      if (opts.truncate !== "left" && opts.truncate !== "error") throw new UserError(`--truncate must be left or error, got ${opts.truncate}`);
      for (const [k, v] of [["--batch-size", opts.batchSize], ["--chunk", opts.chunk]] as const)
        if (!Number.isInteger(v) || v < 1) throw new UserError(`${k} must be a positive integer`);
      const r = await scoreFile({
        input: opts.input,
        output: opts.output,
        pivot: opts.pivot,
        sources: opts.source ?? [],
        batchSize: opts.batchSize,
        chunk: opts.chunk,
        truncate: opts.truncate,
        backend: opts.backend,
        progress: opts.progress as ScoreFileOptions["progress"],
      });
      process.stdout.write(JSON.stringify({ output: opts.output, ...r }) + "\n");
    });
}

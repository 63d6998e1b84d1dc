/**
 * `scoreFile`, behind `infifpo score` (lib/cli/score.ts: its flags):
 *
 * Fills the published format's numeric columns for every pair (infifpo.md, "Data format"), each model
 * scoring with its OWN tokenizer:
 *   ref_chosen_logps, ref_rejected_logps, ref_mean_chosen_logps, ref_mean_rejected_logps   ← the pivot
 *   fuse_chosen_logps, fuse_rejected_logps, fuse_mean_*                                     ← the sources, in order
 * Other fields of each record are kept as they are. A model is either a project checkpoint scored here
 * (lib/model `sequenceLogProbs`: response tokens only, EOS included) or a model served by an OpenAI-compatible
 * server (vLLM, llama.cpp; lib/remote: the server's tokenizer and chat template, prompt/response boundary checked).
 *
 * Streaming and resumable: the input is validated whole first (an invalid line stops the command before anything
 * is written), then results go to `OUT.jsonl.partial` in whole, fsync'ed chunks, with a sidecar
 * `OUT.jsonl.partial.json` that, after each chunk, records the settings (input path, each model — a local
 * checkpoint by its SHA-256 —, truncation, chunk and batch sizes, backend) and a fingerprint (SHA-256) of the
 * input lines consumed so far. After a crash, the same command continues after the last line the sidecar vouches
 * for, once it has checked that the settings and the input's first lines are the same (otherwise it refuses,
 * saying what differs); when all lines are done the partial file becomes OUT.jsonl. So earlier lines are never
 * rewritten, OUT.jsonl only ever appears complete, and a resumed run gives the bytes of an uninterrupted one. A pair that a served model
 * cannot score honestly (its prompt/response token boundary does not line up) holds a marker line in the
 * partial file; at the end those pairs go to `OUT.skipped.jsonl` with the reasons, not into OUT.jsonl.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../errors";
import { checkOutputs, outputError, writeFileSafe } from "../data/safe-output";
import { readPairs } from "../data/jsonl";
import { DEFAULT_MAX_LINE_BYTES, LineScanner, LineSplitter, scanFileSync } from "../data/lines";
import { DataError } from "../data/errors";
import { promptMessages, promptText, responseText } from "../data/trl";
import { recordSerializer } from "../data/write";
import type { Message, PreferencePair } from "../data/types";
import { logpPairColumns, type LogpScore } from "../data/columns";
import { DIALECTS, type DialectName } from "./dialect";
import { isProblem, type RemoteScore, type ScoreProblem } from "./scorer";
import type { ClientOptions, JsonClient } from "./http";
import { inputFile } from "../data/input";

/** A model behind an OpenAI-compatible server. */
export interface RemoteModelSpec {
  url: string;
  model: string;
  /** "auto" (default) asks the server (`/v1/models`' owned_by, llama.cpp's /props). */
  dialect?: DialectName | "auto";
  /** A chat template (Jinja text) the server should apply instead of the model's own (vLLM). */
  chatTemplate?: string;
}

/** A model: a project checkpoint (file or folder) or a served model. */
export type ModelSpec = string | RemoteModelSpec;

/** Settings of the HTTP clients (one per server URL, shared by the models served there); score reports the retries itself. */
export type RemoteOptions = Omit<ClientOptions, "onRetry">;

export interface ScoreFileOptions {
  input: string;
  output: string;
  pivot: ModelSpec;
  sources: ModelSpec[];
  remote?: RemoteOptions;
  /** A pair a served model cannot score honestly: "skip" (default: to OUT.skipped.jsonl) or "error" (stop). */
  onMismatch?: "skip" | "error";
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
  /** Records written to the output. */
  records: number;
  /** Pairs left out (OUT.skipped.jsonl) because a served model could not score them honestly. */
  skipped: number;
  /** Records already in the partial output from an earlier, interrupted run. */
  resumedFrom: number;
  seconds: number;
  /** Response tokens scored per second, all models together. */
  tokensPerS: number;
}

/** What a partial output was scored with: a resume needs the same (compared key by key). */
interface ScoreSettings {
  input: string;
  pivot: unknown;
  sources: unknown[];
  truncate: string;
  chunk: number;
  batchSize: number;
  /** The tfjs backend that scored the local checkpoints (null when every model is served). */
  backend: string | null;
}

/** `OUT.partial.json`: the settings, and how many lines of the partial file the input fingerprint covers. */
interface Sidecar {
  format: "infifpo-score-partial";
  version: 2;
  settings: ScoreSettings;
  /** Lines of the partial file (records or skip markers, one per input line) written when it was saved. */
  lines: number;
  /** SHA-256 of the input's first `lines` lines (each line's bytes, CR and BOM stripped, plus "\n"). */
  inputSha256: string;
}

/** The marker a skipped pair leaves in the partial output (one line, like a record). */
const SKIP_KEY = "__infifpo_skipped";

const specLabel = (m: ModelSpec) => (typeof m === "string" ? m : `${m.model} at ${m.url}`);
const sha256 = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");

/** A model's identity for the resume check: a checkpoint by path and content, a served model by URL, name, dialect, template. */
async function modelFingerprint(m: ModelSpec): Promise<unknown> {
  if (typeof m !== "string") {
    return { url: m.url, model: m.model, dialect: m.dialect ?? "auto", ...(m.chatTemplate !== undefined ? { chatTemplateSha256: sha256(m.chatTemplate) } : {}) };
  }
  const { resolveFile } = await import("../model/io");
  const file = resolveFile(m);
  const h = createHash("sha256");
  try {
    for await (const c of fs.createReadStream(file)) h.update(c as Buffer);
  } catch (e) {
    throw new UserError(`${file}: cannot read the model (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return { file: path.resolve(file), sha256: h.digest("hex") };
}

/** Reads a sidecar, or null when it is missing or not one this version writes. */
function readSidecar(file: string): Sidecar | null {
  try {
    const s = JSON.parse(fs.readFileSync(file, "utf8")) as Sidecar;
    return s && s.format === "infifpo-score-partial" && s.version === 2 && Number.isInteger(s.lines) && s.lines >= 0 && typeof s.inputSha256 === "string" ? s : null;
  } catch {
    return null;
  }
}

/** The settings keys whose values differ, e.g. ["sources", "chunk"]. */
function settingsDiff(a: ScoreSettings, b: ScoreSettings): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof ScoreSettings>;
  return [...keys].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

/** Cuts `file` after its first `lines` lines (each ending in "\n"); returns false when it has fewer. */
function truncateToLines(file: string, lines: number): boolean {
  if (lines === 0) {
    fs.truncateSync(file, 0);
    return true;
  }
  let seen = 0, cut = -1;
  // Lines are only counted, so none is held: with a 0-byte limit every line but an empty one comes to the
  // too-long callback, and is counted the same.
  const scanner: LineScanner = new LineScanner(0, (_buf, _start, _end, _n, last) => count(last), (_n, _bytes, last) => count(last));
  function count(last: boolean): void {
    if (last || ++seen < lines) return; // a torn last line (no "\n") does not count
    cut = scanner.lineEnd;
    scanner.stop();
  }
  scanFileSync(file, scanner);
  if (cut < 0) return false;
  fs.truncateSync(file, cut);
  return true;
}

/** Whether `file` holds a skip marker line: a line that starts with the marker, found across read boundaries too. */
export function hasSkipMarker(file: string): boolean {
  const marker = Buffer.from(`{"${SKIP_KEY}"`);
  let found = false;
  const scanner = new LineScanner(DEFAULT_MAX_LINE_BYTES, (buf, start, end) => {
    if (end - start >= marker.length && buf.compare(marker, 0, marker.length, start, start + marker.length) === 0) {
      found = true;
      scanner.stop();
    }
  }, () => {});
  scanFileSync(file, scanner);
  return found;
}

/**
 * Turns a finished partial file into OUT (the records) and OUT.skipped.jsonl (the skip markers' contents), both
 * written atomically, streaming; without markers the partial file is just renamed. Returns the skipped count.
 */
async function finishPartial(partial: string, output: string, markers: boolean): Promise<number> {
  const skippedFile = output.replace(/\.jsonl$/, "") + ".skipped.jsonl";
  if (!markers) {
    try {
      fs.renameSync(partial, output);
    } catch (e) {
      throw outputError(output, e);
    }
    fs.rmSync(skippedFile, { force: true });
    return 0;
  }
  const { openAtomicWriter } = await import("../data/write");
  const [out, skipped] = [await openAtomicWriter(output), await openAtomicWriter(skippedFile)];
  try {
    // the partial file's lines are this command's own records and markers: no length limit
    const lines: string[] = [];
    const splitter = new LineSplitter(Infinity, (line) => lines.push(line), () => {});
    const sort = async () => {
      for (const line of lines.splice(0)) {
        if (!line) continue;
        if (line.startsWith(`{"${SKIP_KEY}"`)) await skipped.write(JSON.stringify((JSON.parse(line) as Record<string, unknown>)[SKIP_KEY]));
        else await out.write(line);
      }
    };
    for await (const chunk of fs.createReadStream(partial)) {
      splitter.push(chunk as Buffer);
      await sort();
    }
    splitter.end();
    await sort();
    await skipped.commit();
    await out.commit();
  } catch (e) {
    await out.abort();
    await skipped.abort();
    throw e;
  }
  fs.rmSync(partial);
  return skipped.lines;
}

/** A score as written: float32 values, never above 0 (float rounding can give +1e-8 for a sure token). */
const lp = (x: RemoteScore): LogpScore => ({ sum: Math.min(0, x.sum), mean: Math.min(0, x.mean) });

type Scored = RemoteScore | ScoreProblem;

/** One model's scorer: the chunk's requests in → one score (or a problem) per request, same order. */
interface ChunkScorer {
  label: string;
  score(requests: { prompt: string; response: string; messages: Message[] | null; line: number; side: "chosen" | "rejected" }[]): Promise<Scored[]>;
  dispose(): void;
}

/** Scores a whole file (see the module comment). Resumes a partial output of the same settings. */
export async function scoreFile(o: ScoreFileOptions): Promise<ScoreFileResult> {
  const t0 = performance.now();
  const log = o.log ?? ((l: string) => process.stderr.write(l + "\n"));
  if (o.sources.length === 0) throw new UserError("score: at least one source is required (the source models, in column order)");
  if (o.input === "-") throw new UserError("score: --input - (standard input) is not supported: score reads its input twice (to validate it, then to score it) and again to resume; save it to a file first");
  await inputFile("--input", o.input);
  const specs = [o.pivot, ...o.sources];
  const truncate = o.truncate ?? "left";
  const onMismatch = o.onMismatch ?? "skip";
  const chunkSize = o.chunk ?? 256;
  const partial = `${o.output}.partial`;
  const sidecarPath = `${partial}.json`;
  const skippedPath = o.output.replace(/\.jsonl$/, "") + ".skipped.jsonl";
  const { resolveFile } = await import("../model/io");
  checkOutputs(
    [{ path: o.input, label: "--input" }, ...specs.filter((m): m is string => typeof m === "string").map((m) => ({ path: resolveFile(m), label: "a model" }))],
    [
      { path: o.output, label: "--output" },
      { path: partial, label: "the partial output" },
      { path: sidecarPath, label: "the partial output's sidecar" },
      { path: skippedPath, label: "the skipped pairs' file" },
    ],
  );
  const resuming = fs.existsSync(partial);
  const prev = resuming ? readSidecar(sidecarPath) : null;
  if (resuming && !prev) {
    throw new UserError(`${partial}: a partial output without a readable ${sidecarPath} (or from an older version) is in the way; delete both, or use another --output`);
  }

  // Validate the whole input before anything is written (and, resuming, fingerprint the lines already scored).
  let total = 0;
  const head = createHash("sha256");
  for await (const row of readPairs(o.input, { keepBytes: true })) {
    if (prev && total < prev.lines) head.update(row.bytes as Buffer).update("\n");
    total++;
  }
  if (total === 0) throw new UserError(`${o.input}: no pairs`);

  const { createProgress } = await import("../train/progress");
  const scorers = await makeScorers(specs, o, log);
  let created = false;
  let written = 0;
  try {
    const settings: ScoreSettings = {
      input: path.resolve(o.input),
      pivot: await modelFingerprint(o.pivot),
      sources: await Promise.all(o.sources.map(modelFingerprint)),
      truncate,
      chunk: chunkSize,
      batchSize: o.batchSize ?? 64,
      backend: specs.some((m) => typeof m === "string") ? (await import("../backend")).backendInfo().name : null,
    };
    let done = 0;
    const hash = createHash("sha256");
    if (prev) {
      const differ = settingsDiff(prev.settings, settings);
      if (differ.length > 0) {
        throw new UserError(`${partial}: a partial output scored with different settings (${differ.join(", ")}) is in the way; rerun with the same ones, or delete ${partial} and ${sidecarPath}, or use another --output`);
      }
      if (prev.lines > total || head.digest("hex") !== prev.inputSha256) {
        throw new UserError(`${partial}: the input ${o.input} has changed since this partial output was written (its first ${prev.lines} lines differ); delete ${partial} and ${sidecarPath}, or use another --output`);
      }
      // Lines after the last fingerprint (a crash between appending a chunk and saving the sidecar) are scored again.
      if (!truncateToLines(partial, prev.lines)) {
        throw new UserError(`${partial}: holds fewer lines than ${sidecarPath} records (${prev.lines}); delete both, or use another --output`);
      }
      done = prev.lines;
      log(`[infifpo] score: resuming after ${done} records already in ${partial}`);
    } else {
      writeFileSafe(sidecarPath, JSON.stringify({ format: "infifpo-score-partial", version: 2, settings, lines: 0, inputSha256: sha256("") } satisfies Sidecar) + "\n");
      writeFileSafe(partial, "");
      created = true;
    }
    written = done;
    const saveSidecar = (lines: number) =>
      writeFileSafe(sidecarPath, JSON.stringify({ format: "infifpo-score-partial", version: 2, settings, lines, inputSha256: hash.copy().digest("hex") } satisfies Sidecar) + "\n");
    const progress = createProgress("score", o.progress ?? "auto", { every: 1, unit: "pairs" });
    const serialize = recordSerializer();
    let fd: number;
    try {
      fd = fs.openSync(partial, "a");
    } catch (e) {
      throw outputError(partial, e);
    }
    let seen = 0, chunks = 0, tokens = 0, skippedNow = 0;
    progress.start(total, done);
    try {
      let chunk: { line: number; record: PreferencePair }[] = [];
      const flush = async () => {
        if (chunk.length === 0) return;
        // per model: [chosen of every record; rejected of every record]
        const requests = (["chosen", "rejected"] as const).flatMap((side) =>
          chunk.map((r) => ({
            prompt: promptText(r.record),
            response: responseText(r.record[side]),
            messages: typeof r.record[side] === "string" ? null : promptMessages(r.record),
            line: r.line,
            side,
          })),
        );
        let scored: Scored[][];
        try {
          scored = await Promise.all(scorers.map((sc) => sc.score(requests)));
        } catch (e) {
          // a server that keeps failing, or answers without log-probs: stop with its message (what is written stays)
          if ((e as Error).name !== "RemoteError") throw e;
          throw new UserError(`score: lines ${chunk[0].line}–${chunk[chunk.length - 1].line} of ${o.input}: ${(e as Error).message}`);
        }
        const B = chunk.length;
        let text = "";
        chunk.forEach((r, b) => {
          const problems: string[] = [];
          scored.forEach((s, m) => {
            for (const [i, side] of [[b, "chosen"], [B + b, "rejected"]] as const) {
              const x = s[i];
              if (isProblem(x)) problems.push(`${side} under ${m === 0 ? "the pivot" : `source ${m}`} (${scorers[m].label}): ${x.problem}`);
            }
          });
          if (problems.length > 0) {
            if (onMismatch === "error") throw new DataError({ file: o.input, line: r.line }, "chosen/rejected", problems.join("; "));
            text += JSON.stringify({ [SKIP_KEY]: { line: r.line, problems } }) + "\n";
            skippedNow++;
            return;
          }
          const sc = scored as RemoteScore[][];
          // request i under the pivot (model 0) and under the sources, as written
          const slot = (i: number) => ({ pivot: lp(sc[0][i]), sources: sc.slice(1).map((s) => lp(s[i])) });
          const rec = Object.assign({ ...r.record }, logpPairColumns(slot(b), slot(B + b)));
          for (const s of sc) tokens += s[b].count + s[B + b].count;
          text += serialize(rec) + "\n";
        });
        try {
          fs.writeFileSync(fd, text);
          fs.fsyncSync(fd);
        } catch (e) {
          throw outputError(partial, e);
        }
        written += B;
        saveSidecar(written);
        chunk = [];
        chunks++;
        progress.update(written, { tokensPerS: tokens / ((performance.now() - t0) / 1000), ...(skippedNow ? { skipped: skippedNow } : {}) });
        if (o.stopAfterChunks !== undefined && chunks >= o.stopAfterChunks) throw new Error(`stopped after ${chunks} chunks (test hook)`);
      };
      for await (const row of readPairs(o.input, { keepBytes: true })) {
        hash.update(row.bytes as Buffer).update("\n");
        if (seen++ < done) continue;
        chunk.push({ line: row.line, record: row.record });
        if (chunk.length >= chunkSize) await flush();
      }
      await flush();
    } finally {
      fs.closeSync(fd);
      progress.stop();
    }
    const skipped = await finishPartial(partial, o.output, skippedNow > 0 || (done > 0 && hasSkipMarker(partial)));
    fs.rmSync(sidecarPath, { force: true });
    if (skipped > 0) log(`[infifpo] score: ${skipped} pair(s) could not be scored honestly; they and the reasons are in ${o.output.replace(/\.jsonl$/, "")}.skipped.jsonl`);
    const seconds = (performance.now() - t0) / 1000;
    return { records: written - skipped, skipped, resumedFrom: done, seconds, tokensPerS: tokens / seconds };
  } catch (e) {
    // A run that failed before scoring anything leaves nothing behind; otherwise the partial output stays for a resume.
    if (created && written === 0) {
      fs.rmSync(partial, { force: true });
      fs.rmSync(sidecarPath, { force: true });
    }
    throw e;
  } finally {
    for (const sc of scorers) sc.dispose();
  }
}

/** Builds a scorer per model: local checkpoints on the tfjs backend, served models over HTTP (one client per URL). */
async function makeScorers(specs: ModelSpec[], o: ScoreFileOptions, log: (l: string) => void): Promise<ChunkScorer[]> {
  const truncate = o.truncate ?? "left";
  const out: ChunkScorer[] = [];
  if (specs.some((m) => typeof m === "string")) {
    const { initBackend } = await import("../backend");
    await initBackend({ backend: o.backend, log });
  }
  const remote = specs.some((m) => typeof m !== "string") ? await import("../remote") : null;
  const clients = new Map<string, JsonClient>();
  try {
    for (const spec of specs) {
      if (typeof spec === "string") {
        const { loadModel, sequenceLogProbs, disposeModel } = await import("../model");
        const { model, tokenizer } = loadModel(spec, { trainable: false });
        out.push({
          label: spec,
          async score(requests) {
            const items = requests.map((r) => ({ prompt: r.prompt, response: r.response }));
            try {
              return await sequenceLogProbs(model, tokenizer, items, { batchSize: o.batchSize ?? 64, truncate });
            } catch (e) {
              if (!(e instanceof UserError)) throw e;
              // find the offending record for a message naming file, line and field
              for (let i = 0; i < items.length; i++) {
                try {
                  await sequenceLogProbs(model, tokenizer, [items[i]], { truncate });
                } catch (e2) {
                  throw new DataError({ file: o.input, line: requests[i].line }, requests[i].side, `${(e2 as Error).message} (model ${spec})`);
                }
              }
              throw e;
            }
          },
          dispose: () => disposeModel(model),
        });
      } else {
        const r = remote!;
        let client = clients.get(spec.url);
        if (!client) {
          client = new r.JsonClient(spec.url, { ...o.remote, onRetry: (what) => log(`[infifpo] score: ${what}`) });
          clients.set(spec.url, client);
        }
        const dialect = !spec.dialect || spec.dialect === "auto" ? await r.detectDialect(client, spec.model) : spec.dialect;
        const d = r.makeDialect(dialect, client, spec.model, { chatTemplate: spec.chatTemplate });
        log(`[infifpo] score: ${spec.model} at ${client.base} (${dialect})`);
        out.push({
          label: specLabel(spec),
          score: (requests) => r.scoreRemote(d, requests),
          dispose: () => {},
        });
      }
    }
  } catch (e) {
    for (const sc of out) sc.dispose();
    if ((e as Error).name === "RemoteError") throw new UserError(`score: ${(e as Error).message}`);
    throw e;
  }
  return out;
}

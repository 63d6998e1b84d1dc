// Shared fixtures for test/train-*.test.ts and test/score*.test.ts: tiny models with their own tokenizers,
// and pair files in the published format. Not a test file itself.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { generateSampleRecords } from "../lib/data/sample";
import { serializeRecord } from "../lib/data/write";
import { trainCharTokenizer, trainWordTokenizer } from "../lib/tokenizers";
import { createModel, disposeModel, resolveModelConfig, saveModel } from "../lib/model";

export const tmpDir = (tag = "train") => fs.mkdtempSync(path.join(os.tmpdir(), `infifpo-${tag}-`));

/** Sample records (synthetic scores) as a JSONL file; `unscored` strips the numeric columns. */
export function writePairs(file: string, n: number, opts: { seed?: number; unscored?: boolean; sources?: number } = {}): object[] {
  const recs = [...generateSampleRecords({ n, sources: opts.sources ?? 2, seed: opts.seed ?? 0 })].map((r) => {
    if (!opts.unscored) return r;
    return { prompt: r.prompt, chosen: r.chosen, rejected: r.rejected };
  });
  fs.writeFileSync(file, recs.map((r) => serializeRecord(r) + "\n").join(""));
  return recs;
}

/** A corpus covering the sample records' characters (plus a few more). */
function samplesText(): string[] {
  return [...generateSampleRecords({ n: 300, sources: 1, seed: 1 })].map((r) => `${r.prompt} ${r.chosen} ${r.rejected}`).concat(["0123456789+-*/=()?.,:; abcdefghijklmnopqrstuvwxyz"]);
}

/**
 * Saves a tiny GPT (d16, L2, H2) with its own tokenizer to `file` and returns the path. `kind` "word" (default) and "char"
 * "word" give two heterogeneous tokenizers (a source model differs from the pivot in segmentation too).
 */
export function writeTinyModel(file: string, opts: { seed?: number; kind?: "char" | "word"; dModel?: number; contextLength?: number } = {}): string {
  const corpus = samplesText();
  const tok = opts.kind === "char" ? trainCharTokenizer(corpus, { fallback: "byte" }) : trainWordTokenizer(corpus, { vocabSize: 640 });
  const cfg = resolveModelConfig("tiny", {
    vocabSize: tok.vocabSize,
    seed: opts.seed ?? 0,
    dModel: opts.dModel ?? 16,
    contextLength: opts.contextLength ?? 128,
  });
  const model = createModel(cfg);
  const out = saveModel(file, model, tok);
  disposeModel(model);
  return out;
}

import { beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { scoreFile } from "../lib/remote/score-file";
import { loadRecords } from "../lib/data/jsonl";
import { promptText, responseText } from "../lib/data/trl";
import { loadModel, sequenceLogProbs, disposeModel } from "../lib/model";
import { resolveTrainConfig } from "../lib/train/config";
import { runTraining } from "../lib/train/run";
import { tmpDir, writePairs, writeTinyModel } from "./train-fixtures";

const CLI = path.join(__dirname, "..", "bin", "infifpo.mjs");

beforeAll(async () => {
  const { initBackend } = await import("../lib/backend");
  await initBackend({ backend: "wasm", quiet: true });
});

function setup(n: number) {
  const dir = tmpDir("score");
  const input = path.join(dir, "pairs.jsonl");
  const pairs = writePairs(input, n, { unscored: true, seed: 3 });
  const pivot = writeTinyModel(path.join(dir, "pivot.infifpo"), { seed: 1, kind: "char" });
  const s1 = writeTinyModel(path.join(dir, "s1.infifpo"), { seed: 2, kind: "word" });
  const s2 = writeTinyModel(path.join(dir, "s2.infifpo"), { seed: 3, kind: "char", dModel: 8 });
  return { dir, input, pairs, pivot, sources: [s1, s2] };
}

describe("infifpo score", () => {
  it("fills ref_* from the pivot and fuse_* from each source with its own tokenizer", async () => {
    const s = setup(7);
    const output = path.join(s.dir, "scored.jsonl");
    const r = await scoreFile({ input: s.input, output, pivot: s.pivot, sources: s.sources, chunk: 3, batchSize: 4, progress: "none", backend: "wasm", log: () => {} });
    expect(r).toMatchObject({ records: 7, resumedFrom: 0 });
    expect(fs.existsSync(`${output}.partial`)).toBe(false);
    const recs = await loadRecords(output); // validates every line (sums ≤ 0, mean/sum signs, source counts)
    expect(recs).toHaveLength(7);
    expect(recs[0].prompt).toBe((s.pairs[0] as { prompt: string }).prompt);
    // each column equals the model's own scoring, computed independently here
    const models = [s.pivot, ...s.sources].map((p) => loadModel(p));
    const items = recs.flatMap((rec) => [
      { prompt: promptText(rec), response: responseText(rec.chosen) },
      { prompt: promptText(rec), response: responseText(rec.rejected) },
    ]);
    const want = await Promise.all(models.map((m) => sequenceLogProbs(m.model, m.tokenizer, items, { batchSize: 1 })));
    recs.forEach((rec, i) => {
      const [c, rj] = [2 * i, 2 * i + 1];
      expect(rec.ref_chosen_logps).toBeCloseTo(Math.min(0, want[0][c].sum), 4);
      expect(rec.ref_mean_rejected_logps).toBeCloseTo(Math.min(0, want[0][rj].mean), 5);
      expect(rec.fuse_chosen_logps.length).toBe(2);
      for (let k = 0; k < 2; k++) {
        expect(rec.fuse_chosen_logps[k]).toBeCloseTo(want[k + 1][c].sum, 4);
        expect(rec.fuse_mean_rejected_logps[k]).toBeCloseTo(want[k + 1][rj].mean, 5);
      }
    });
    // heterogeneous tokenizers: the word-level source counts fewer response tokens than the char-level pivot
    expect(want[1][0].count).toBeLessThan(want[0][0].count);
    models.forEach((m) => disposeModel(m.model));
    // floats are written with a fractional part, one record per line
    const text = fs.readFileSync(output, "utf8");
    expect(text.split("\n").filter(Boolean)).toHaveLength(7);
    expect(text).not.toMatch(/_logps":-?\d+[,}]/);
  });

  it("resumes after a crash (torn last line included) to the same bytes as an uninterrupted run", async () => {
    const s = setup(8);
    const clean = path.join(s.dir, "clean.jsonl"), crashed = path.join(s.dir, "crashed.jsonl");
    const base = { input: s.input, pivot: s.pivot, sources: s.sources, chunk: 3, progress: "none" as const, backend: "wasm", log: () => {} };
    await scoreFile({ ...base, output: clean });
    await expect(scoreFile({ ...base, output: crashed, stopAfterChunks: 1 })).rejects.toThrow(/stopped after 1 chunks/);
    expect(fs.existsSync(crashed)).toBe(false);
    const partial = `${crashed}.partial`;
    expect(fs.readFileSync(partial, "utf8").split("\n").filter(Boolean)).toHaveLength(3);
    fs.appendFileSync(partial, '{"prompt":"half a li'); // a write cut short by the crash
    const r = await scoreFile({ ...base, output: crashed });
    expect(r.resumedFrom).toBe(3);
    expect(Buffer.compare(fs.readFileSync(clean), fs.readFileSync(crashed))).toBe(0);
    // a partial from different models is refused, not mixed
    await expect(scoreFile({ ...base, output: path.join(s.dir, "x.jsonl"), stopAfterChunks: 1 })).rejects.toThrow();
    await expect(scoreFile({ ...base, sources: [s.sources[0]], output: path.join(s.dir, "x.jsonl") })).rejects.toThrow(/different settings \(sources\)/);
    await expect(scoreFile({ ...base, chunk: 4, output: path.join(s.dir, "x.jsonl") })).rejects.toThrow(/different settings \(chunk\)/);
  });

  it("refuses to resume onto a changed input (a reordered copy) or a changed model file, naming what differs", async () => {
    const s = setup(8);
    const out = path.join(s.dir, "o.jsonl");
    const base = { input: s.input, pivot: s.pivot, sources: s.sources, chunk: 3, progress: "none" as const, backend: "wasm", log: () => {} };
    await expect(scoreFile({ ...base, output: out, stopAfterChunks: 1 })).rejects.toThrow(/stopped after 1 chunks/);
    const original = fs.readFileSync(s.input, "utf8");
    const lines = original.trimEnd().split("\n");
    fs.writeFileSync(s.input, [lines[1], lines[0], ...lines.slice(2)].join("\n") + "\n"); // same pairs, reordered
    await expect(scoreFile({ ...base, output: out })).rejects.toThrow(/o\.jsonl\.partial: the input .* has changed since this partial output was written \(its first 3 lines differ\)/);
    // lines after the scored prefix may change (fixing a later line, appending): the resume goes on
    fs.writeFileSync(s.input, [...lines.slice(0, 7)].join("\n") + "\n");
    const pivotBytes = fs.readFileSync(s.pivot);
    fs.copyFileSync(s.sources[1], s.pivot); // another model under the pivot's path
    await expect(scoreFile({ ...base, output: out })).rejects.toThrow(/different settings \(pivot\)/);
    fs.writeFileSync(s.pivot, pivotBytes);
    const r = await scoreFile({ ...base, output: out });
    expect(r).toMatchObject({ resumedFrom: 3, records: 7 });
    const fresh = path.join(s.dir, "fresh.jsonl");
    await scoreFile({ ...base, output: fresh });
    expect(Buffer.compare(fs.readFileSync(out), fs.readFileSync(fresh))).toBe(0);
  });

  it("a crash between appending a chunk and saving its fingerprint: the unvouched chunk is scored again, same bytes", async () => {
    const s = setup(8);
    const base = { input: s.input, pivot: s.pivot, sources: s.sources, chunk: 3, progress: "none" as const, backend: "wasm", log: () => {} };
    const clean = path.join(s.dir, "clean.jsonl"), crashed = path.join(s.dir, "crashed.jsonl");
    await scoreFile({ ...base, output: clean });
    await expect(scoreFile({ ...base, output: crashed, stopAfterChunks: 1 })).rejects.toThrow(/stopped/);
    const sidecar = fs.readFileSync(`${crashed}.partial.json`, "utf8");
    await expect(scoreFile({ ...base, output: crashed, stopAfterChunks: 1 })).rejects.toThrow(/stopped/); // lines 4–6
    fs.writeFileSync(`${crashed}.partial.json`, sidecar); // as if the second chunk's sidecar was never saved
    const r = await scoreFile({ ...base, output: crashed });
    expect(r.resumedFrom).toBe(3);
    expect(Buffer.compare(fs.readFileSync(clean), fs.readFileSync(crashed))).toBe(0);
  });

  it("an invalid input leaves no partial output behind; standard input is refused with a reason", async () => {
    const s = setup(4);
    fs.appendFileSync(s.input, '{"prompt":"x","chosen":"a","rejected":7}\n');
    const out = path.join(s.dir, "o.jsonl");
    const base = { input: s.input, output: out, pivot: s.pivot, sources: s.sources, progress: "none" as const, backend: "wasm", log: () => {} };
    await expect(scoreFile(base)).rejects.toThrow(/pairs\.jsonl:5: field "rejected"/);
    expect(fs.readdirSync(s.dir).filter((n) => n.startsWith("o.jsonl"))).toEqual([]);
    await expect(scoreFile({ ...base, input: "-" })).rejects.toThrow(/--input - \(standard input\) is not supported/);
    await expect(scoreFile({ ...base, output: s.input })).rejects.toThrow(/--output .* would overwrite the input/);
    await expect(scoreFile({ ...base, output: s.pivot })).rejects.toThrow(/--output .* would overwrite the input \(a model/);
  });

  it("precomputed reference = live reference: DPO from the scored pivot starts at ln 2 with zero rewards", async () => {
    const s = setup(8);
    const output = path.join(s.dir, "scored.jsonl");
    await scoreFile({ input: s.input, output, pivot: s.pivot, sources: s.sources, progress: "none", backend: "wasm", log: () => {} });
    const cfg = resolveTrainConfig(null, [
      { where: "test", values: { outDir: path.join(s.dir, "dpo"), data: { train: output }, model: { init: s.pivot }, loss: { name: "dpo" }, progress: "none", loop: { maxSteps: 1, batchSize: 8, evalEvery: 0, checkpointEvery: 0 } } },
    ]);
    const r = await runTraining(cfg, { log: () => {} });
    const first = r.history[0];
    expect(first.loss as number).toBeCloseTo(Math.LN2, 5);
    expect(Math.abs(first["rewards/chosen"] as number)).toBeLessThan(1e-5);
    expect(Math.abs(first["rewards/margins"] as number)).toBeLessThan(1e-5);
  });

  it("CLI: --help, and errors naming file and line", () => {
    const help = spawnSync(process.execPath, [CLI, "score", "--help"], { encoding: "utf8" });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--pivot <model>[\s\S]*--source <model>/);
    const s = setup(3);
    fs.appendFileSync(s.input, '{"prompt":"x","chosen":"a"}\n');
    const r = spawnSync(process.execPath, [CLI, "score", "--input", s.input, "--pivot", s.pivot, "--source", s.sources[0], "--output", path.join(s.dir, "o.jsonl"), "--backend", "wasm"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/pairs\.jsonl:4: field "rejected"/);
  });
});

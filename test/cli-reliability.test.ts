/**
 * Issue 20: no input is ever destroyed, every failure is one clear line (exit 2), every accepted input gives finite,
 * readable output. Each case here failed (data loss, a stack trace, raw bytes passed on) before its fix.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { fuseFile, statsFile } from "../lib/records/files";
import { scoreFile } from "../lib/remote/score-file";
import { readCorpus } from "../lib/cli/tokenizer";
import { readJsonl } from "../lib/data/jsonl";
import { LOGP_MIN } from "../lib/data/validate";
import { getLoss } from "../lib/losses";
import { encodePreferenceExample } from "../lib/train/preference";
import { runTraining } from "../lib/train/run";
import { resolveTrainConfig } from "../lib/train/config";
import { resolveFuseSettings, BETA_MAX } from "../lib/records/settings";
import { trainCharTokenizer } from "../lib/tokenizers";
import { writePairs, writeTinyModel } from "./train-fixtures";

const CLI = path.join(__dirname, "..", "bin", "infifpo.mjs");
const SAMPLE = path.join(__dirname, "..", "data", "sample", "pairs.jsonl");
const sampleLines = fs.readFileSync(SAMPLE, "utf8").trimEnd().split("\n");
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "reliab-"));
const run = (args: string[], opts: { input?: string } = {}) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", input: opts.input });
/** Exit 2 and exactly one line on stderr matching `want`, nothing on stdout. */
function expectOneLine(r: ReturnType<typeof run>, want: RegExp): void {
  expect(r.stderr).toMatch(want);
  expect(r.stderr.trimEnd().split("\n"), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(/^infifpo: error: /);
  expect(r.status).toBe(2);
  expect(r.stdout).toBe("");
}

describe("no input is ever destroyed", () => {
  it("fuse -i X.jsonl.tmp -o X.jsonl: the input survives (temporary files are unique and exclusive)", () => {
    const d = tmp();
    const input = path.join(d, "X.jsonl.tmp");
    fs.copyFileSync(SAMPLE, input);
    const r = run(["fuse", "-i", input, "-o", path.join(d, "X.jsonl")]);
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readFileSync(input, "utf8")).toBe(fs.readFileSync(SAMPLE, "utf8"));
    expect(fs.readFileSync(path.join(d, "X.jsonl"), "utf8").trimEnd().split("\n")).toHaveLength(200);
    expect(fs.readdirSync(d).sort()).toEqual(["X.jsonl", "X.jsonl.tmp"]);
  });

  it("--skip-invalid -i R.rejects.jsonl -o R.jsonl is refused (the rejects file is the input)", () => {
    const d = tmp();
    const input = path.join(d, "R.rejects.jsonl");
    fs.copyFileSync(SAMPLE, input);
    expectOneLine(run(["fuse", "--skip-invalid", "-i", input, "-o", path.join(d, "R.jsonl")]), /the rejects file \(--skip-invalid\) .*R\.rejects\.jsonl would overwrite the input/);
    expect(fs.readFileSync(input, "utf8")).toBe(fs.readFileSync(SAMPLE, "utf8"));
    expect(fs.readdirSync(d)).toEqual(["R.rejects.jsonl"]);
  });

  it("--export trl -i U.jsonl.fused.tmp.jsonl -o U.jsonl keeps the input (no intermediate file any more)", () => {
    const d = tmp();
    const input = path.join(d, "U.jsonl.fused.tmp.jsonl");
    fs.copyFileSync(SAMPLE, input);
    const r = run(["fuse", "--export", "trl", "-i", input, "-o", path.join(d, "U.jsonl")]);
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readFileSync(input, "utf8")).toBe(fs.readFileSync(SAMPLE, "utf8"));
    expect(fs.readdirSync(d).sort()).toEqual(["U.jsonl", "U.jsonl.fused.tmp.jsonl"]);
  });

  it("an output that is the input through a symlink, or the same path spelled differently, is refused", () => {
    const d = tmp();
    const input = path.join(d, "in.jsonl");
    fs.copyFileSync(SAMPLE, input);
    fs.symlinkSync(input, path.join(d, "link.jsonl"));
    expectOneLine(run(["fuse", "-i", path.join(d, "link.jsonl"), "-o", input]), /--output .* would overwrite the input \(--input .*link\.jsonl\)/);
    expectOneLine(run(["fuse", "-i", input, "-o", `${d}/nowhere/../in.jsonl`]), /would overwrite the input/);
    expect(fs.readFileSync(input, "utf8")).toBe(fs.readFileSync(SAMPLE, "utf8"));
  });

  it("two runs writing the same -o at once: the result is one run's whole output, never a mix", async () => {
    const d = tmp();
    const input = path.join(d, "big.jsonl");
    fs.writeFileSync(input, Array.from({ length: 25 }, () => sampleLines.join("\n")).join("\n") + "\n"); // 5000 records
    const out = path.join(d, "o.jsonl");
    const a = { input, output: out, settings: resolveFuseSettings({ beta: 2.5 }), threads: 1 };
    const b = { ...a, settings: resolveFuseSettings({ beta: 1.5 }) };
    await Promise.all([fuseFile(a), fuseFile(b)]);
    const got = fs.readFileSync(out, "utf8");
    await fuseFile({ ...a, output: path.join(d, "a.jsonl") });
    await fuseFile({ ...b, output: path.join(d, "b.jsonl") });
    expect([fs.readFileSync(path.join(d, "a.jsonl"), "utf8"), fs.readFileSync(path.join(d, "b.jsonl"), "utf8")]).toContain(got);
    expect(fs.readdirSync(d).filter((n) => n.includes(".tmp"))).toEqual([]);
  });
});

describe("overflow: no non-finite output, ever", () => {
  it("--beta 1e308 is refused up front, for fuse and stats", () => {
    expectOneLine(run(["fuse", "-i", SAMPLE, "-o", path.join(tmp(), "o.jsonl"), "--beta", "1e308"]), /--beta must be a number > 0 and ≤ 1000000, got "1e308"/);
    expectOneLine(run(["stats", "-i", SAMPLE, "--beta", "1e308"]), /--beta must be/);
  });

  it("a record with a -1.7e308 sum is an invalid line naming the field (fuse and stats)", () => {
    const d = tmp();
    const rec = JSON.parse(sampleLines[0]);
    rec.ref_chosen_logps = -1.7e308;
    const input = path.join(d, "huge.jsonl");
    fs.writeFileSync(input, [sampleLines[1], JSON.stringify(rec)].join("\n") + "\n");
    expectOneLine(run(["fuse", "-i", input, "-o", path.join(d, "o.jsonl")]), /huge\.jsonl:2: field "ref_chosen_logps": -1\.7e\+308 is out of range/);
    expectOneLine(run(["stats", "-i", input]), /huge\.jsonl:2: field "ref_chosen_logps"/);
    expect(fs.existsSync(path.join(d, "o.jsonl"))).toBe(false);
  });

  it("at the bounds (log-probs down to LOGP_MIN, β = BETA_MAX) every fused number is finite (property test)", async () => {
    const d = tmp();
    const lp = fc.oneof(fc.constant(LOGP_MIN), fc.double({ min: LOGP_MIN, max: -1e-100, noNaN: true }));
    const side = fc.oneof(
      fc.tuple(lp, fc.integer({ min: 1, max: 1_000_000 })).map(([sum, n]) => ({ sum, mean: sum / n })),
      fc.constant({ sum: 0, mean: 0 }),
    );
    const recs = fc.sample(fc.record({ pw: side, pl: side, sw: fc.array(side, { minLength: 3, maxLength: 3 }), sl: fc.array(side, { minLength: 3, maxLength: 3 }) }), { numRuns: 300, seed: 20 }).map((r) => ({
      chosen: "a", rejected: "b",
      ref_chosen_logps: r.pw.sum, ref_rejected_logps: r.pl.sum, ref_mean_chosen_logps: r.pw.mean, ref_mean_rejected_logps: r.pl.mean,
      fuse_chosen_logps: r.sw.map((s) => s.sum), fuse_rejected_logps: r.sl.map((s) => s.sum),
      fuse_mean_chosen_logps: r.sw.map((s) => s.mean), fuse_mean_rejected_logps: r.sl.map((s) => s.mean),
    }));
    const input = path.join(d, "edge.jsonl");
    fs.writeFileSync(input, recs.map((r) => JSON.stringify(r)).join("\n") + "\n");
    for (const lengthNorm of [true, false]) {
      for (const strategy of ["mean", "confidence", "max-margin"] as const) {
        const settings = resolveFuseSettings({ beta: BETA_MAX, lengthNorm, strategy, clip: false });
        const out = path.join(d, `o-${lengthNorm}-${strategy}.jsonl`);
        await fuseFile({ input, output: out, settings, threads: 1 });
        for (const line of fs.readFileSync(out, "utf8").trimEnd().split("\n")) {
          const o = JSON.parse(line);
          for (const k of ["fused_chosen_logps", "fused_rejected_logps", "logit", "loss", "disparity_weight"]) expect(Number.isFinite(o[k]), `${k} = ${o[k]}`).toBe(true);
        }
        const s = await statsFile(input, settings);
        const numbers = (v: unknown): number[] => (typeof v === "number" ? [v] : v && typeof v === "object" ? Object.values(v).flatMap(numbers) : []);
        expect(numbers(s).filter((x) => !Number.isFinite(x))).toEqual([]);
      }
    }
  });
});

describe("one clear line, never a stack trace", () => {
  const deep = (rec: object) => JSON.stringify(rec).slice(0, -1) + `,"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;

  it("a field nested 100,000 arrays deep: fuse (also re-fusing a fused record) and stats name the line and field", () => {
    const d = tmp();
    const rec = JSON.parse(sampleLines[0]);
    const input = path.join(d, "deep.jsonl");
    fs.writeFileSync(input, [sampleLines[1], deep(rec)].join("\n") + "\n");
    expectOneLine(run(["fuse", "-i", input, "-o", path.join(d, "o.jsonl")]), /deep\.jsonl:2: field "x": nested deeper than 64 levels/);
    const fused = path.join(d, "fused.jsonl");
    expect(run(["fuse", "-i", SAMPLE, "-o", fused]).status).toBe(0);
    const refuse = path.join(d, "refuse.jsonl");
    fs.writeFileSync(refuse, deep(JSON.parse(fs.readFileSync(fused, "utf8").split("\n")[0])) + "\n");
    expectOneLine(run(["fuse", "-i", refuse, "-o", path.join(d, "o2.jsonl")]), /refuse\.jsonl:1: field "x": nested deeper/);
    expectOneLine(run(["stats", "-i", input]), /deep\.jsonl:2: field "x": nested deeper/);
  });

  it("score: a deep field is an input error before anything is written", async () => {
    const d = tmp();
    const input = path.join(d, "pairs.jsonl");
    fs.writeFileSync(input, deep({ prompt: "1+1?", chosen: "2", rejected: "3" }) + "\n");
    const m = writeTinyModel(path.join(d, "m.infifpo"), { kind: "char" });
    const out = path.join(d, "o.jsonl");
    await expect(scoreFile({ input, output: out, pivot: m, sources: [m], progress: "none", backend: "wasm", log: () => {} })).rejects.toThrow(/pairs\.jsonl:1: field "x": nested deeper/);
    expect(fs.readdirSync(d).sort()).toEqual(["m.infifpo", "pairs.jsonl"]);
  });

  it("stats on an empty input: one line, not a table of NaN", () => {
    const d = tmp();
    fs.writeFileSync(path.join(d, "empty.jsonl"), "");
    expectOneLine(run(["stats", "-i", path.join(d, "empty.jsonl")]), /--input .*empty\.jsonl: no records to summarise/);
  });

  it("an output path that is an existing directory: one line naming it", () => {
    const d = tmp();
    expectOneLine(run(["fuse", "-i", SAMPLE, "-o", d]), new RegExp(`--output ${d}: is a directory`));
  });

  it("EPIPE: a reader that stops reading ends the command quietly (exit 0, nothing on stderr)", async () => {
    const child = spawn(process.execPath, [CLI, "lab-results", "-i", path.join(__dirname, "..", "data", "results", "results.json")], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.destroy(); // the read end is closed before the command writes anything
    let stderr = "";
    child.stderr.on("data", (c) => (stderr += c));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });
});

describe("inputs that must be refused, and inputs that must be accepted", () => {
  const badUtf8 = () => {
    const b = Buffer.from(sampleLines[0].replace("What is", "ab__cd") + "\n");
    const i = b.indexOf("__");
    b[i] = 0xff;
    b[i + 1] = 0x41;
    return Buffer.concat([Buffer.from(sampleLines[1] + "\n"), b]);
  };

  it("invalid UTF-8 is an error naming file:line for fuse and stats (no raw byte copied)", () => {
    const d = tmp();
    const input = path.join(d, "latin.jsonl");
    fs.writeFileSync(input, badUtf8());
    expectOneLine(run(["fuse", "-i", input, "-o", path.join(d, "o.jsonl")]), /latin\.jsonl:2: invalid UTF-8 at byte 14 of the line/);
    expectOneLine(run(["stats", "-i", input]), /latin\.jsonl:2: invalid UTF-8/);
    const r = run(["fuse", "--skip-invalid", "-i", input, "-o", path.join(d, "o.jsonl")]);
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(d, "o.jsonl")).includes(0xff)).toBe(false);
  });

  it("invalid UTF-8 in train data: one DataError naming file:line before training", async () => {
    const d = tmp();
    const input = path.join(d, "latin.jsonl");
    fs.writeFileSync(input, badUtf8());
    const m = writeTinyModel(path.join(d, "m.infifpo"), { kind: "char" });
    const cfg = resolveTrainConfig(null, [{ where: "test", values: { outDir: path.join(d, "run"), data: { train: input }, model: { init: m }, loss: { name: "dpo" }, progress: "none", backend: "wasm", loop: { maxSteps: 1, batchSize: 2 } } }]);
    await expect(runTraining(cfg, { log: () => {} })).rejects.toThrow(/latin\.jsonl:2: invalid UTF-8/);
  });

  it("train --resume refuses a training file that changed since the checkpoint (a reordered copy)", async () => {
    const d = tmp();
    const input = path.join(d, "pairs.jsonl");
    writePairs(input, 8);
    const m = writeTinyModel(path.join(d, "m.infifpo"), { kind: "char" });
    const values = { outDir: path.join(d, "run"), data: { train: input }, model: { init: m }, loss: { name: "dpo" }, progress: "none", backend: "wasm", loop: { maxSteps: 2, batchSize: 2, checkpointEvery: 1, evalEvery: 0 } };
    await runTraining(resolveTrainConfig(null, [{ where: "test", values }]), { log: () => {} });
    const cfg = resolveTrainConfig(null, [{ where: "test", values }]);
    expect((await runTraining(cfg, { resume: true, log: () => {} })).step).toBe(2); // same data: resumes
    const lines = fs.readFileSync(input, "utf8").trimEnd().split("\n");
    fs.writeFileSync(input, [lines[1], lines[0], ...lines.slice(2)].join("\n") + "\n");
    await expect(runTraining(cfg, { resume: true, log: () => {} })).rejects.toThrow(/data\.train: the file has changed since .*step-00000002 was written/);
  });

  it("train refuses an outDir whose model file is its init model (it would be replaced)", async () => {
    const d = tmp();
    const input = path.join(d, "pairs.jsonl");
    writePairs(input, 4);
    const m = writeTinyModel(path.join(d, "model.infifpo"), { kind: "char" });
    const cfg = resolveTrainConfig(null, [{ where: "test", values: { outDir: d, data: { train: input }, model: { init: m }, loss: { name: "dpo" }, progress: "none", backend: "wasm", loop: { maxSteps: 1, batchSize: 2 } } }]);
    await expect(runTraining(cfg, { log: () => {} })).rejects.toThrow(/the trained model .*model\.infifpo would overwrite the input \(model\.init/);
  });

  it("--export trl: a record whose pivot log-prob is exactly 0 exports where the fused side is 0; errors read FILE:LINE: field", async () => {
    const d = tmp();
    const zero = JSON.parse(sampleLines[0]);
    zero.ref_chosen_logps = 0;
    zero.ref_mean_chosen_logps = 0; // the pivot is sure of the chosen answer: with clipping, ℓ_fu(y_w) = 0 on any scale
    const input = path.join(d, "zero.jsonl");
    fs.writeFileSync(input, [...sampleLines.slice(0, 12), JSON.stringify(zero)].join("\n") + "\n");
    const out = path.join(d, "trl.jsonl");
    const r = run(["fuse", "--export", "trl", "-i", input, "-o", out]);
    expect(r.status, r.stderr).toBe(0);
    const rows = fs.readFileSync(out, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(rows[12].ref_chosen_logps).toBe(0);
    expect(fs.readFileSync(out, "utf8").split("\n")[12]).toMatch(/"ref_chosen_logps":0\.0/);
    // a count that is not whole: the message is FILE:LINE: field, not "fused record 13 of FILE"
    const odd = JSON.parse(sampleLines[0]);
    odd.ref_mean_chosen_logps = odd.ref_chosen_logps / 2.5;
    fs.writeFileSync(input, [...sampleLines.slice(0, 12), JSON.stringify(odd)].join("\n") + "\n");
    expectOneLine(run(["fuse", "--export", "trl", "-i", input, "-o", out]), /zero\.jsonl:13: field "ref_mean_chosen_logps": the pivot's token count .* = 2\.5, is not a whole number/);
    // and with --skip-invalid it is a rejected line like any other
    const r2 = run(["fuse", "--export", "trl", "--skip-invalid", "-i", input, "-o", out]);
    expect(r2.status, r2.stderr).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(d, "trl.rejects.jsonl"), "utf8")).line).toBe(13);
  });

  it("a line just under the limit whose fused line would exceed it is an invalid line (every output can be read back)", async () => {
    const d = tmp();
    const limit = 4096;
    const rec = JSON.parse(sampleLines[0]);
    const base = JSON.stringify(rec).length;
    rec.prompt += "x".repeat(limit - base - 50); // 50 bytes under the limit
    const input = path.join(d, "long.jsonl");
    fs.writeFileSync(input, [sampleLines[1], JSON.stringify(rec)].join("\n") + "\n");
    const settings = resolveFuseSettings();
    await expect(fuseFile({ input, output: path.join(d, "o.jsonl"), settings, maxLineBytes: limit, threads: 1 })).rejects.toThrow(/long\.jsonl:2: the output line would be \d+ bytes, over the 4096-byte line limit/);
    const r = await fuseFile({ input, output: path.join(d, "o.jsonl"), settings, maxLineBytes: limit, threads: 1, skipInvalid: true });
    expect([r.records, r.rejected]).toEqual([1, 1]);
    // re-fusing a fused record re-serialises it: integers in float fields gain ".0" (-1 → -1.0), 1e20 becomes 21 digits
    const fused = { ...JSON.parse(sampleLines[2]), fused_chosen_logps: -0.1, fused_rejected_logps: -0.2, x_logps: [] as number[] };
    while (JSON.stringify(fused).length < 3000) fused.x_logps.push(-1);
    const refuse = path.join(d, "refuse.jsonl");
    fs.writeFileSync(refuse, JSON.stringify(fused) + "\n");
    await expect(fuseFile({ input: refuse, output: path.join(d, "r.jsonl"), settings, maxLineBytes: limit, threads: 1 })).rejects.toThrow(/refuse\.jsonl:1: the output line would be \d+ bytes/);
    // --export trl: one pass, so its output is never re-read against the limit; the TRL row itself fits here
    const t = await fuseFile({ input, output: path.join(d, "t.jsonl"), settings, maxLineBytes: limit, threads: 1, format: "trl" });
    expect(t.records).toBe(2);
    for await (const row of readJsonl(path.join(d, "t.jsonl"), (o) => o, { maxLineBytes: limit })) expect(row.record).toHaveProperty("ref_chosen_logps");
  });

  it("tokenizer train: a corpus that is not UTF-8 names its line; an output that is the corpus is refused", () => {
    const d = tmp();
    const corpus = path.join(d, "c.txt");
    fs.writeFileSync(corpus, Buffer.concat([Buffer.from("hello\nw"), Buffer.from([0xe9]), Buffer.from("rld\n")]));
    expect(() => readCorpus(corpus)).toThrow(/c\.txt:2: invalid UTF-8/);
    fs.writeFileSync(corpus, "hello\nworld\n");
    expectOneLine(run(["tokenizer", "train", "--kind", "char", "-i", corpus, "-o", corpus]), /--output .*c\.txt would overwrite the input/);
    expect(fs.readFileSync(corpus, "utf8")).toBe("hello\nworld\n");
  });

  it("the DPO path checks a ref_* mean against its sum in sign and size, as fuse does", () => {
    const tok = trainCharTokenizer(["abc 123"], { fallback: "byte" });
    const rec = { prompt: "a", chosen: "b", rejected: "c", ref_chosen_logps: -1, ref_rejected_logps: -2, ref_mean_chosen_logps: -0.5, ref_mean_rejected_logps: -1 };
    const enc = (r: object) => encodePreferenceExample(r as never, { file: "p.jsonl", line: 3 }, getLoss("dpo"), tok, 32);
    expect(() => enc(rec)).not.toThrow();
    expect(() => enc({ ...rec, ref_mean_chosen_logps: -3 })).toThrow(/p\.jsonl:3: field "ref_mean_chosen_logps": per-token mean -3 is larger in magnitude than its sum/);
    expect(() => enc({ ...rec, ref_chosen_logps: 0 })).toThrow(/p\.jsonl:3: field "ref_mean_chosen_logps": sign disagrees with its sum/);
  });

  it("-i - (standard input) and a FIFO are read by fuse and stats", () => {
    const d = tmp();
    const text = fs.readFileSync(SAMPLE, "utf8");
    const r = run(["fuse", "-i", "-", "-o", path.join(d, "o.jsonl")], { input: text });
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(d, "o.jsonl"), "utf8").trimEnd().split("\n")).toHaveLength(200);
    const s = run(["stats", "-i", "-", "--json"], { input: text });
    expect(JSON.parse(s.stdout).records).toBe(200);
    const fifo = path.join(d, "fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const writer = spawn("sh", ["-c", `cat '${SAMPLE}' > '${fifo}'`]);
    const f = run(["stats", "-i", fifo, "--json"]);
    writer.kill();
    expect(f.status, f.stderr).toBe(0);
    expect(JSON.parse(f.stdout).records).toBe(200);
  });
});

beforeAll(async () => {
  const { initBackend } = await import("../lib/backend");
  await initBackend({ backend: "wasm", quiet: true });
});

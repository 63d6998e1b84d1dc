/**
 * `npm run fuzz [-- --seconds 300 --seed 20 --rounds 3 --json --keep]`: mutated inputs and awkward paths through `fuse`, `stats`,
 * `score`, `train` (data loading: one step of a tiny model) and `lab-results`, each case classified by outcome:
 *
 *   rejected cleanly  exit 2, exactly one line `infifpo: error: …`, no stack, inputs and outputs as they were
 *   accepted          exit 0 and its outputs read back (fuse/score outputs by the project's own reader)
 *   crashed           anything else: a stack trace, an exception out of the command, several lines, another code
 *   hung              no answer within the per-case limit (the runner is killed and restarted)
 *   data lost         an input changed or vanished, a failed run left (or changed) an output, or an accepted
 *                     output does not read back
 *
 * Cases run in one child process (`--child`, the CLI's `main()` in-process, so a case costs milliseconds, not a
 * Node start-up); the parent hashes every input before and after, and watches the clock. Where a case's right
 * answer is known (a must-reject mutation, a must-accept one) a wrong verdict is counted too. Seeded; bounded by
 * --seconds (cases not started by then are reported as not run). Not part of `npm test`.
 */
import { fork, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Rng } from "../lib/rng";

type Cmd = "fuse" | "stats" | "score" | "train" | "lab-results";
type Expect = "reject" | "accept" | "either";
type Outcome = "rejected cleanly" | "accepted" | "crashed" | "hung" | "data lost";
const OUTCOMES: Outcome[] = ["rejected cleanly", "accepted", "crashed", "hung", "data lost"];

interface Case {
  id: number;
  cmd: Cmd;
  kind: string;
  expect: Expect;
  argv: string[];
  /** Files that must be byte-identical afterwards. */
  inputs: string[];
  /** Files the command may write: absent (or unchanged) after a failure; read back after success. */
  outputs: string[];
  /** How to read an accepted output back: as records, as JSONL lines, or just that it exists. */
  check: "records" | "jsonl" | "exists" | "stdout";
  dir: string;
  /** score resume cases: first leave a real partial output, as a run over `original` stopped after one chunk would. */
  prepare?: { original: string };
}

interface Reply {
  id: number;
  status: number | null;
  stdout: string;
  stderr: string;
  /** A non-UserError thrown out of main(), or an uncaught exception/rejection during the case. */
  crash: string | null;
}

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const SAMPLE = path.join(ROOT, "data", "sample", "pairs.jsonl");
const RESULTS = path.join(ROOT, "data", "results", "results.json");

// ---------------------------------------------------------------------------------------------------------------
// The child: runs cases in-process through the CLI's main().
// ---------------------------------------------------------------------------------------------------------------

async function child(): Promise<void> {
  const { main } = await import("../lib/cli/main");
  const models = process.env.FUZZ_MODELS as string;
  await makeModels(models);
  let current: { id: number; crash: string | null } | null = null;
  const onCrash = (e: unknown) => {
    if (current) current.crash ??= `uncaught: ${(e as Error)?.stack ?? String(e)}`;
  };
  process.on("uncaughtException", onCrash);
  process.on("unhandledRejection", onCrash);
  process.on("message", async (c: Case & { preparing?: boolean }) => {
    if (c.preparing && c.prepare) {
      const { scoreFile } = await import("../lib/remote/score-file");
      const arg = (flag: string) => c.argv[c.argv.indexOf(flag) + 1];
      // the original pairs at the case's input path, scored until a stop after one chunk; then the case's input is back
      const input = arg("--input");
      fs.renameSync(input, `${input}.case`);
      fs.renameSync(c.prepare.original, input);
      await scoreFile({ input, output: arg("--output"), pivot: arg("--pivot"), sources: [arg("--source")], chunk: Number(arg("--chunk")), progress: "none", stopAfterChunks: 1, log: () => {} }).catch(() => undefined);
      fs.rmSync(input);
      fs.renameSync(`${input}.case`, input);
      process.send!({ id: c.id, prepared: true });
      return;
    }
    current = { id: c.id, crash: null };
    let stdout = "", stderr = "";
    const out = process.stdout.write.bind(process.stdout), err = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((s: string | Uint8Array) => ((stdout += String(s)), true)) as typeof process.stdout.write;
    process.stderr.write = ((s: string | Uint8Array) => ((stderr += String(s)), true)) as typeof process.stderr.write;
    let status: number | null = null;
    try {
      status = await main(["node", "infifpo", ...c.argv]);
    } catch (e) {
      current.crash ??= `threw: ${(e as Error)?.stack ?? String(e)}`;
    } finally {
      process.stdout.write = out;
      process.stderr.write = err;
    }
    await new Promise((r) => setImmediate(r)); // let a stray rejection surface within its case
    const reply: Reply = { id: c.id, status, stdout: stdout.slice(0, 4000), stderr: stderr.slice(0, 4000), crash: current.crash };
    current = null;
    process.send!(reply);
  });
  process.send!({ ready: true });
}

/** Two tiny models (char and word tokenizers) for score and train, made once. */
async function makeModels(dir: string): Promise<void> {
  const pivot = path.join(dir, "pivot.infifpo"), source = path.join(dir, "source.infifpo");
  if (fs.existsSync(pivot) && fs.existsSync(source)) return;
  const { initBackend } = await import("../lib/backend");
  await initBackend({ quiet: true });
  const { trainCharTokenizer, trainWordTokenizer } = await import("../lib/tokenizers");
  const { createModel, disposeModel, resolveModelConfig, saveModel } = await import("../lib/model");
  const corpus = fs.readFileSync(SAMPLE, "utf8").trimEnd().split("\n").map((l) => {
    const r = JSON.parse(l);
    return `${r.prompt} ${r.chosen} ${r.rejected}`;
  });
  for (const [file, tok, seed] of [
    [pivot, trainCharTokenizer(corpus, { fallback: "byte" }), 1],
    [source, trainWordTokenizer(corpus, { vocabSize: 400 }), 2],
  ] as const) {
    const m = createModel(resolveModelConfig("tiny", { vocabSize: tok.vocabSize, seed, contextLength: 256 }));
    saveModel(file, m, tok);
    disposeModel(m);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------------------------

type Rec = Record<string, unknown>;
/** One mutation of a file of records: the file's bytes and whether it must be rejected or accepted. */
interface Mutation {
  kind: string;
  expect: Expect;
  bytes: Buffer;
}

const NUMERIC = ["ref_chosen_logps", "ref_rejected_logps", "ref_mean_chosen_logps", "ref_mean_rejected_logps"];
const LISTS = ["fuse_chosen_logps", "fuse_rejected_logps", "fuse_mean_chosen_logps", "fuse_mean_rejected_logps"];

const lines = (recs: (Rec | string)[], eol = "\n") => Buffer.from(recs.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join(eol) + eol);
const deepValue = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

/** A JSON value of a random kind (for "set a field to anything"). */
function randomJson(rng: Rng, depth = 0): unknown {
  const k = rng.nextU32() % (depth > 2 ? 6 : 9);
  switch (k) {
    case 0: return null;
    case 1: return rng.nextU32() % 2 === 0;
    case 2: return (rng.next() - 0.5) * 10 ** (rng.nextU32() % 20);
    case 3: return ["", "NaN", "-Infinity", "abc", "-1.5", "\u00e9\u4e2d\ud83d\ude00"][rng.nextU32() % 6];
    case 4: return -(rng.nextU32() % 100);
    case 5: return 0;
    case 6: return Array.from({ length: rng.nextU32() % 4 }, () => randomJson(rng, depth + 1));
    case 7: return Object.fromEntries(Array.from({ length: rng.nextU32() % 3 }, (_, i) => [`k${i}`, randomJson(rng, depth + 1)]));
    default: return [-1.5, -2.5, -3.5];
  }
}

/**
 * Mutations of a file of scored records (12 valid sample lines; one line, or the whole file, changed). For pairs
 * (`scored: false`, the numeric columns stripped) only the mutations that apply.
 */
function recordMutations(base: Rec[], rng: Rng, scored: boolean, rounds: number): Mutation[] {
  const out: Mutation[] = [];
  const pick = () => rng.nextU32() % base.length;
  const copy = () => base.map((r) => structuredClone(r));
  const add = (kind: string, expect: Expect, bytes: Buffer) => out.push({ kind, expect, bytes });
  const withLine = (kind: string, expect: Expect, f: (r: Rec) => Rec | string) => {
    const recs: (Rec | string)[] = copy();
    const i = pick();
    recs[i] = f(recs[i] as Rec);
    add(kind, expect, lines(recs));
  };
  const required = scored ? ["chosen", "rejected", ...NUMERIC, ...LISTS] : ["chosen", "rejected"];
  // structure
  for (let t = 0; t < 3; t++) withLine("truncated line", "reject", (r) => { const s = JSON.stringify(r); return s.slice(0, 1 + (rng.nextU32() % (s.length - 2))); });
  for (const k of required) withLine(`missing ${k}`, "reject", (r) => { delete r[k]; return r; });
  for (let t = 0; t < 3; t++) { const k = required[rng.nextU32() % required.length]; withLine(`null ${k}`, "reject", (r) => ({ ...r, [k]: null })); }
  withLine("missing prompt (optional)", "accept", (r) => { delete r.prompt; return r; });
  withLine("prompt not a string", "reject", (r) => ({ ...r, prompt: 42 }));
  for (const v of ["[1,2]", "\"text\"", "42", "null", "true"]) withLine(`line is ${v}`, "reject", () => v);
  withLine("trailing garbage", "reject", (r) => JSON.stringify(r) + " x");
  withLine("raw control character in a string", "reject", (r) => JSON.stringify(r).replace('"chosen":"', '"chosen":"\u0001'));
  withLine("NUL byte", "reject", (r) => JSON.stringify(r) + "\u0000");
  withLine("duplicate key, the last one invalid", "reject", (r) => JSON.stringify(r).slice(0, -1) + ',"chosen":7}');
  {
    const recs: (Rec | string)[] = copy();
    recs.splice(1 + pick() % (recs.length - 1), 0, "");
    add("blank line", "reject", lines(recs));
    const recs2: (Rec | string)[] = copy();
    recs2.splice(1, 0, "   \t");
    add("whitespace-only line", "reject", lines(recs2));
  }
  add("CRLF line ends", "accept", lines(copy(), "\r\n"));
  add("byte-order mark at the start", "accept", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), lines(copy())]));
  { const recs: (Rec | string)[] = copy(); recs[3] = "\ufeff" + JSON.stringify(recs[3]); add("byte-order mark mid-file", "reject", lines(recs)); }
  add("no final newline", "accept", lines(copy()).subarray(0, -1));
  add("empty file", "either", Buffer.alloc(0));
  // text
  const bad = [[0xff], [0xc3, 0x28], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]];
  for (const b of bad) {
    const recs: (Rec | string)[] = copy();
    const i = pick();
    const s = Buffer.from(JSON.stringify(recs[i]));
    const at = s.indexOf('"chosen":"') + 10;
    recs[i] = "";
    const text = lines(recs);
    const start = text.indexOf("\n\n") + 1;
    add(`invalid UTF-8 ${Buffer.from(b).toString("hex")}`, "reject", Buffer.concat([text.subarray(0, start), s.subarray(0, at), Buffer.from(b), s.subarray(at), text.subarray(start)]));
  }
  withLine("multibyte text, emoji, literal U+FFFD", "accept", (r) => ({ ...r, prompt: "été 中文 😀 \ufffd" }));
  withLine("lone surrogate escape", "accept", (r) => JSON.stringify({ ...r, prompt: "x" }).replace('"prompt":"x"', '"prompt":"\\ud800x"'));
  withLine("a 1 MB prompt", "accept", (r) => ({ ...r, prompt: "long ".repeat(200_000) }));
  // nesting
  withLine("extra field nested 60 deep", "accept", (r) => JSON.stringify(r).slice(0, -1) + `,"x":${deepValue(59)}}`);
  for (const d of [65, 1000, 100_000]) withLine(`extra field nested ${d} deep`, "reject", (r) => JSON.stringify(r).slice(0, -1) + `,"x":${deepValue(d)}}`);
  withLine("__proto__ key", "accept", (r) => JSON.stringify(r).slice(0, -1) + ',"__proto__":{"polluted":1}}');
  for (let t = 0; t < 3 * rounds; t++) withLine("an extra field with a random value", "either", (r) => ({ ...r, [`extra${t}`]: randomJson(rng) }));
  // chat format
  const chat = (r: Rec) => ({ ...r, prompt: undefined, chosen: [{ role: "user", content: String(r.prompt) }, { role: "assistant", content: String(r.chosen) }], rejected: [{ role: "user", content: String(r.prompt) }, { role: "assistant", content: String(r.rejected) }] });
  add("chat format", "accept", lines(copy().map(chat)));
  withLine("chat: last turn not the assistant's", "reject", (r) => { const c = chat(r); c.chosen[1].role = "user"; return c; });
  withLine("chat: prompts differ", "reject", (r) => { const c = chat(r); c.rejected[0].content = "other"; return c; });
  withLine("chat: content missing", "reject", (r) => { const c = chat(r) as Rec; (c.chosen as Rec[])[1] = { role: "assistant" }; return c; });
  withLine("chat vs string", "reject", (r) => ({ ...r, rejected: chat(r).rejected }));
  if (scored) {
    for (let t = 0; t < 3; t++) { const k = NUMERIC[rng.nextU32() % 4]; withLine(`${k} as a string`, "reject", (r) => ({ ...r, [k]: ["NaN", "-1.5", "abc"][t] })); }
    for (const lit of ["1e400", "-1e400"]) withLine(`${lit} literal`, "reject", (r) => JSON.stringify(r).replace(/"ref_chosen_logps":[^,]+/, `"ref_chosen_logps":${lit}`));
    withLine("-1.7e308 sum (overflow)", "reject", (r) => ({ ...r, ref_rejected_logps: -1.7e308, ref_mean_rejected_logps: -1.7e308 }));
    withLine("-1e15 sum (the bound)", "accept", (r) => ({ ...r, ref_rejected_logps: -1e15, ref_mean_rejected_logps: -1e14 }));
    withLine("a source at -1e16", "reject", (r) => { (r.fuse_rejected_logps as number[])[0] = -1e16; (r.fuse_mean_rejected_logps as number[])[0] = -1e15; return r; });
    withLine("positive log-prob", "reject", (r) => ({ ...r, ref_chosen_logps: 0.5, ref_mean_chosen_logps: 0.1 }));
    withLine("mean sign disagrees", "reject", (r) => ({ ...r, ref_mean_chosen_logps: 0 }));
    withLine("mean larger than its sum", "reject", (r) => ({ ...r, ref_mean_chosen_logps: (r.ref_chosen_logps as number) * 2 }));
    withLine("zero log-probs", "accept", (r) => ({ ...r, ref_chosen_logps: 0, ref_mean_chosen_logps: 0 }));
    withLine("integers and -0", "accept", (r) => JSON.stringify({ ...r, ref_chosen_logps: -60, ref_mean_chosen_logps: -6 }).replace(/"ref_rejected_logps":[^,]+/, '"ref_rejected_logps":-0').replace(/"ref_mean_rejected_logps":[^,]+/, '"ref_mean_rejected_logps":-0.0'));
    withLine("denormal log-probs", "accept", (r) => ({ ...r, ref_chosen_logps: -5e-324, ref_mean_chosen_logps: -5e-324 }));
    withLine("source lists of different lengths", "reject", (r) => ({ ...r, fuse_rejected_logps: (r.fuse_rejected_logps as number[]).slice(1) }));
    withLine("empty source lists", "reject", (r) => ({ ...r, fuse_chosen_logps: [], fuse_rejected_logps: [], fuse_mean_chosen_logps: [], fuse_mean_rejected_logps: [] }));
    withLine("a source entry null", "reject", (r) => { (r.fuse_mean_chosen_logps as unknown[])[1] = null; return r; });
    withLine("source lists not lists", "reject", (r) => ({ ...r, fuse_chosen_logps: -1.5 }));
    { const recs = copy(); const i = 2 + pick() % (recs.length - 2); for (const k of LISTS) (recs[i][k] as number[]).push(-1); add("the number of sources changes midway", "reject", lines(recs)); }
    withLine("policy columns: two of four", "reject", (r) => ({ ...r, policy_chosen_logps: -1, policy_rejected_logps: -2 }));
    withLine("policy columns: all four", "accept", (r) => ({ ...r, policy_chosen_logps: -1, policy_rejected_logps: -2, policy_mean_chosen_logps: -0.5, policy_mean_rejected_logps: -1 }));
    withLine("already fused (re-fuse)", "accept", (r) => ({ ...r, fused_chosen_logps: -0.1, fused_rejected_logps: -0.3, logit: 0.5, loss: 0.47, disparity_weight: 0.37 }));
  }
  // random damage: the verdict depends on where it lands
  const keys = Object.keys(base[0]);
  for (let t = 0; t < 4 * rounds; t++) {
    const k = keys[rng.nextU32() % keys.length];
    withLine(`${k} set to a random value`, "either", (r) => ({ ...r, [k]: randomJson(rng) }));
  }
  for (let t = 0; t < 8 * rounds; t++) {
    const b = Buffer.from(lines(copy()));
    const at = rng.nextU32() % b.length;
    if (t % 2 === 0) b[at] = rng.nextU32() % 256;
    add(t % 2 === 0 ? "a random byte changed" : "a random byte deleted", "either", t % 2 === 0 ? b : Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]));
  }
  return out;
}

/** Mutations of a results.json. */
function resultsMutations(rng: Rng, rounds: number): Mutation[] {
  const good = () => JSON.parse(fs.readFileSync(RESULTS, "utf8"));
  const out: Mutation[] = [];
  const add = (kind: string, expect: Expect, r: unknown) => out.push({ kind, expect, bytes: Buffer.from(JSON.stringify(r, null, 1)) });
  const curated: [string, Expect, (r: any) => void][] = [
    ["missing seeds", "reject", (r) => delete r.seeds],
    ["a null row", "reject", (r) => (r.rows[1] = null)],
    ["a null gate", "reject", (r) => (r.gates[0] = null)],
    ["a null claim", "reject", (r) => (r.claims[0] = null)],
    ["an unknown category", "reject", (r) => r.categories.push("astrology")],
    ["missing runId", "reject", (r) => delete r.runId],
    ["missing rows", "reject", (r) => delete r.rows],
    ["wrong version", "reject", (r) => (r.version = 2)],
    ["wrong format", "reject", (r) => (r.format = "something else")],
    ["an estimate as a string", "reject", (r) => (r.rows[0].overall.mean = "0.5")],
    ["a claim verdict unknown", "reject", (r) => (r.claims[0].verdict = "maybe")],
    ["extra fields", "accept", (r) => ((r.extra = { a: [1] }), (r.rows[0].note = "x"))],
    ["config deeply nested (60)", "accept", (r) => (r.config = JSON.parse(deepValue(60)))],
    ["no vsDpo anywhere", "accept", (r) => r.rows.forEach((x: any) => delete x.vsDpo)],
  ];
  for (const [k, e, f] of curated) {
    const r = good();
    f(r);
    add(k, e, r);
  }
  // every path of the file (outside config), removed / nulled / given another type
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, p: (string | number)[]) => {
    if (p[0] === "config" || p.length > 6) return;
    if (p.length > 0) paths.push(p);
    if (Array.isArray(v)) v.slice(0, 3).forEach((x, i) => walk(x, [...p, i]));
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
  };
  walk(good(), []);
  for (let t = 0; t < 24 * rounds; t++) {
    const p = paths[rng.nextU32() % paths.length];
    const r = good();
    let parent: any = r;
    for (const k of p.slice(0, -1)) parent = parent[k];
    const last = p[p.length - 1];
    const how = t % 3;
    if (how === 0) Array.isArray(parent) ? parent.splice(last as number, 1) : delete parent[last];
    else if (how === 1) parent[last] = null;
    else parent[last] = typeof parent[last] === "string" ? 7 : "x";
    add(`${["removed", "null", "other type"][how]}: ${p.join(".")}`, "either", r);
  }
  const text = fs.readFileSync(RESULTS);
  out.push({ kind: "truncated file", expect: "reject", bytes: text.subarray(0, text.length >> 1) });
  out.push({ kind: "empty file", expect: "reject", bytes: Buffer.alloc(0) });
  out.push({ kind: "invalid UTF-8", expect: "reject", bytes: Buffer.concat([text.subarray(0, 40), Buffer.from([0xff]), text.subarray(40)]) });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------------------------

function buildCases(root: string, models: string, rng: Rng, rounds: number): Case[] {
  const cases: Case[] = [];
  const sample = fs.readFileSync(SAMPLE, "utf8").trimEnd().split("\n").slice(0, 12).map((l) => JSON.parse(l) as Rec);
  const pairs = sample.map((r) => ({ prompt: r.prompt, chosen: r.chosen, rejected: r.rejected }));
  const pivot = path.join(models, "pivot.infifpo"), source = path.join(models, "source.infifpo");
  let n = 0;
  const dirFor = (cmd: string) => {
    const d = path.join(root, `${String(++n).padStart(4, "0")}-${cmd}`);
    fs.mkdirSync(d);
    return d;
  };
  const push = (c: Omit<Case, "id">) => cases.push({ ...c, id: cases.length });

  // fuse and stats over mutated record files
  for (const m of recordMutations(sample, rng, true, rounds)) {
    for (const cmd of ["fuse", "stats"] as const) {
      if (cmd === "stats" && rng.nextU32() % 2 === 1) continue; // stats on half of them
      const d = dirFor(cmd);
      const input = path.join(d, "in.jsonl");
      fs.writeFileSync(input, m.bytes);
      if (cmd === "fuse") {
        const output = path.join(d, "out.jsonl");
        const flags = rng.nextU32() % 4 === 0 ? ["--skip-invalid"] : rng.nextU32() % 5 === 0 ? ["--export", "trl"] : [];
        const expect = flags[0] === "--skip-invalid" && m.expect === "reject" ? "either" : m.expect;
        push({ cmd, kind: m.kind + (flags.length ? ` (${flags.join(" ")})` : ""), expect, argv: ["fuse", "-i", input, "-o", output, ...flags], inputs: [input], outputs: flags[0] === "--skip-invalid" ? [output, path.join(d, "out.rejects.jsonl")] : [output], check: flags[0] === "--export" ? "jsonl" : "records", dir: d });
      } else {
        push({ cmd, kind: m.kind, expect: m.kind === "empty file" ? "either" : m.expect, argv: ["stats", "-i", input, ...(rng.nextU32() % 2 ? ["--json"] : [])], inputs: [input], outputs: [], check: "stdout", dir: d });
      }
    }
  }
  // fuse: settings and paths
  const good = lines(sample);
  const fuseCase = (kind: string, expect: Expect, setup: (d: string) => { argv: string[]; inputs: string[]; outputs: string[] }) => {
    const d = dirFor("fuse");
    const s = setup(d);
    push({ cmd: "fuse", kind, expect, ...s, check: s.argv.includes("--export") ? "jsonl" : "records", dir: d });
  };
  const inFile = (d: string, name = "in.jsonl") => {
    const p = path.join(d, name);
    fs.writeFileSync(p, good);
    return p;
  };
  for (const [flag, v, e] of [["--beta", "1e308", "reject"], ["--beta", "0", "reject"], ["--beta", "-1", "reject"], ["--beta", "NaN", "reject"], ["--beta", "1e6", "accept"], ["--beta", "1e-300", "accept"], ["--ref-offset", "-1", "reject"], ["--ref-offset", "1e308", "accept"], ["--threads", "0", "reject"], ["--threads", "1.5", "reject"]] as const) {
    fuseCase(`${flag} ${v}`, e, (d) => { const i = inFile(d); const o = path.join(d, "out.jsonl"); return { argv: ["fuse", "-i", i, "-o", o, flag, v], inputs: [i], outputs: [o] }; });
  }
  fuseCase("-o the input", "reject", (d) => { const i = inFile(d); return { argv: ["fuse", "-i", i, "-o", i], inputs: [i], outputs: [] }; });
  fuseCase("-o the input through a symlink", "reject", (d) => { const i = inFile(d); fs.symlinkSync(i, path.join(d, "l.jsonl")); return { argv: ["fuse", "-i", i, "-o", path.join(d, "l.jsonl")], inputs: [i], outputs: [] }; });
  fuseCase("-i a symlink to -o", "reject", (d) => { const i = inFile(d); fs.symlinkSync(i, path.join(d, "l.jsonl")); return { argv: ["fuse", "-i", path.join(d, "l.jsonl"), "-o", i], inputs: [i], outputs: [] }; });
  fuseCase("-o a hard link of the input", "reject", (d) => { const i = inFile(d); fs.linkSync(i, path.join(d, "h.jsonl")); return { argv: ["fuse", "-i", i, "-o", path.join(d, "h.jsonl")], inputs: [i], outputs: [] }; });
  fuseCase("-o the input spelled with ..", "reject", (d) => { const i = inFile(d); return { argv: ["fuse", "-i", i, "-o", `${d}/x/../in.jsonl`], inputs: [i], outputs: [] }; });
  fuseCase("-i X.jsonl.tmp -o X.jsonl", "accept", (d) => { const i = inFile(d, "X.jsonl.tmp"); const o = path.join(d, "X.jsonl"); return { argv: ["fuse", "-i", i, "-o", o], inputs: [i], outputs: [o] }; });
  fuseCase("--skip-invalid -i R.rejects.jsonl -o R.jsonl", "reject", (d) => { const i = inFile(d, "R.rejects.jsonl"); return { argv: ["fuse", "--skip-invalid", "-i", i, "-o", path.join(d, "R.jsonl")], inputs: [i], outputs: [path.join(d, "R.jsonl")] }; });
  fuseCase("--export trl -i U.jsonl.fused.tmp.jsonl -o U.jsonl", "accept", (d) => { const i = inFile(d, "U.jsonl.fused.tmp.jsonl"); const o = path.join(d, "U.jsonl"); return { argv: ["fuse", "--export", "trl", "-i", i, "-o", o], inputs: [i], outputs: [o] }; });
  fuseCase("-o an existing directory", "reject", (d) => { const i = inFile(d); fs.mkdirSync(path.join(d, "sub")); return { argv: ["fuse", "-i", i, "-o", path.join(d, "sub")], inputs: [i], outputs: [] }; });
  fuseCase("-o under a file", "reject", (d) => { const i = inFile(d); return { argv: ["fuse", "-i", i, "-o", path.join(i, "o.jsonl")], inputs: [i], outputs: [] }; });
  fuseCase("-o in folders that don't exist yet", "accept", (d) => { const i = inFile(d); const o = path.join(d, "a", "b", "o.jsonl"); return { argv: ["fuse", "-i", i, "-o", o], inputs: [i], outputs: [o] }; });
  fuseCase("-i a directory", "reject", (d) => ({ argv: ["fuse", "-i", d, "-o", path.join(d, "o.jsonl")], inputs: [], outputs: [path.join(d, "o.jsonl")] }));
  fuseCase("-i missing", "reject", (d) => ({ argv: ["fuse", "-i", path.join(d, "none.jsonl"), "-o", path.join(d, "o.jsonl")], inputs: [], outputs: [path.join(d, "o.jsonl")] }));
  fuseCase("-o over an older output", "accept", (d) => { const i = inFile(d); const o = path.join(d, "o.jsonl"); fs.writeFileSync(o, "old\n"); return { argv: ["fuse", "-i", i, "-o", o], inputs: [i], outputs: [o] }; });
  fuseCase("-o over an older output, invalid input", "reject", (d) => { const i = path.join(d, "in.jsonl"); fs.writeFileSync(i, "{oops\n"); const o = path.join(d, "o.jsonl"); fs.writeFileSync(o, "old\n"); return { argv: ["fuse", "-i", i, "-o", o], inputs: [i], outputs: [o] }; });

  // score over mutated pair files, and resumes
  const scoreCase = (kind: string, expect: Expect, bytes: Buffer, opts: { outputIsInput?: boolean; prep?: (output: string) => void } = {}) => {
    const d = dirFor("score");
    const input = path.join(d, "pairs.jsonl");
    fs.writeFileSync(input, bytes);
    const output = opts.outputIsInput ? input : path.join(d, "scored.jsonl");
    opts.prep?.(output);
    const outputs = opts.outputIsInput ? [] : [output, `${output}.partial`, `${output}.partial.json`];
    push({ cmd: "score", kind, expect, argv: ["score", "--input", input, "--pivot", pivot, "--source", source, "--output", output, "--progress", "none", "--chunk", "4"], inputs: [input, pivot, source], outputs, check: "records", dir: d });
  };
  for (const m of recordMutations(pairs as Rec[], rng, false, rounds)) if (!m.kind.includes("1 MB")) scoreCase(m.kind, m.kind === "empty file" ? "reject" : m.expect, m.bytes);
  scoreCase("--output the input", "reject", lines(pairs), { outputIsInput: true });
  const resume = (kind: string, expect: Expect, now: Rec[]) => {
    // the partial output is made (in the runner) by a run over the original pairs at this same input path, stopped
    // after one chunk; then the input is replaced by `now`
    scoreCase(kind, expect, lines(now));
    const c = cases[cases.length - 1];
    const original = path.join(c.dir, "original.jsonl");
    fs.writeFileSync(original, lines(pairs));
    c.prepare = { original };
  };
  resume("resume onto a reordered input", "reject", [pairs[1], pairs[0], ...pairs.slice(2)]);
  resume("resume onto the same input", "accept", pairs);
  resume("resume onto the same input with lines appended", "accept", [...pairs, ...pairs.slice(0, 3)]);
  scoreCase("a partial output without its sidecar", "reject", lines(pairs), { prep: (output) => fs.writeFileSync(`${output}.partial`, "") });

  // train: data loading (one step of a tiny model)
  const trainCase = (kind: string, expect: Expect, bytes: Buffer, loss = "infifpo", tweak?: (cfg: Rec, d: string) => void) => {
    const d = dirFor("train");
    const data = path.join(d, "train.jsonl");
    fs.writeFileSync(data, bytes);
    const cfg: Rec = { kind: "preference", outDir: path.join(d, "run"), data: { train: data }, model: { init: pivot }, loss: { name: loss }, progress: "none", loop: { maxSteps: 1, batchSize: 2, checkpointEvery: 0, evalEvery: 0 } };
    tweak?.(cfg, d);
    const config = path.join(d, "config.json");
    fs.writeFileSync(config, JSON.stringify(cfg));
    push({ cmd: "train", kind: `${kind} (${loss})`, expect, argv: ["train", "--config", config], inputs: [data, pivot, config], outputs: [path.join(d, "run", "model.infifpo")], check: "exists", dir: d });
  };
  const trainMutations = recordMutations(sample, rng, true, rounds).filter((m) => !m.kind.includes("1 MB"));
  for (const m of trainMutations) {
    if (rng.nextU32() % 3 !== 0) continue; // a third: each case trains a step
    trainCase(m.kind, m.kind === "empty file" ? "reject" : m.expect, m.bytes);
  }
  trainCase("ref mean larger than its sum", "reject", lines(sample.map((r, i) => (i === 3 ? { ...r, ref_mean_chosen_logps: (r.ref_chosen_logps as number) * 3 } : r))), "dpo");
  trainCase("valid file", "accept", lines(sample), "dpo");
  trainCase("outDir holds model.init as model.infifpo", "reject", lines(sample), "dpo", (cfg, d) => {
    fs.symlinkSync(pivot, path.join(d, "model.infifpo")); // the models are made by the runner, later
    cfg.outDir = d;
    (cfg.model as Rec).init = path.join(d, "model.infifpo");
  });

  // lab-results
  for (const m of resultsMutations(rng, rounds)) {
    const d = dirFor("lab-results");
    const input = path.join(d, "results.json");
    fs.writeFileSync(input, m.bytes);
    push({ cmd: "lab-results", kind: m.kind, expect: m.expect, argv: ["lab-results", "-i", input, ...(rng.nextU32() % 2 ? ["--markdown"] : [])], inputs: [input], outputs: [], check: "stdout", dir: d });
  }
  // shuffle so that a time limit cuts every command evenly
  for (let i = cases.length - 1; i > 0; i--) {
    const j = rng.nextU32() % (i + 1);
    [cases[i], cases[j]] = [cases[j], cases[i]];
  }
  cases.forEach((c, i) => (c.id = i));
  return cases;
}

// ---------------------------------------------------------------------------------------------------------------
// The parent: runs, watches, classifies
// ---------------------------------------------------------------------------------------------------------------

const hash = (f: string): string | null => {
  try {
    return createHash("sha256").update(fs.readFileSync(f)).digest("hex");
  } catch {
    return null;
  }
};
const listAll = (d: string): string[] => fs.readdirSync(d, { recursive: true }).map(String).sort();

async function readsBack(file: string, how: Case["check"]): Promise<string | null> {
  if (!fs.existsSync(file)) return `${file} missing`;
  if (how === "exists") return null;
  const { readJsonl, readRecords } = await import("../lib/data/jsonl");
  try {
    if (how === "records") for await (const _ of readRecords(file)) void _;
    else for await (const _ of readJsonl(file, (o) => o)) void _;
    return null;
  } catch (e) {
    return `${file} does not read back: ${(e as Error).message.slice(0, 200)}`;
  }
}

async function parent(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, def: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : def;
  };
  const seconds = Number(opt("seconds", "300"));
  const seed = Number(opt("seed", "20"));
  const perCase = Number(opt("case-seconds", "60")) * 1000;
  const json = args.includes("--json");
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "infifpo-fuzz-"));
  const models = path.join(root, "models");
  fs.mkdirSync(models);
  const t0 = performance.now();
  const rounds = Number(opt("rounds", "3"));
  const cases = buildCases(root, models, new Rng(seed), rounds);
  const deadline = t0 + seconds * 1000;
  process.stderr.write(`fuzz: ${cases.length} cases (seed ${seed}) in ${root}; at most ${seconds} s\n`);

  let runner: ChildProcess | null = null;
  let ready: Promise<void> | null = null;
  const start = () => {
    runner = fork(new URL(import.meta.url).pathname, ["--child"], { execArgv: ["--import", "tsx"], env: { ...process.env, FUZZ_MODELS: models, INFIFPO_BACKEND: process.env.INFIFPO_BACKEND ?? "auto" }, stdio: ["ignore", "ignore", "ignore", "ipc"] });
    ready = new Promise((resolve) => runner!.once("message", () => resolve()));
  };
  const prepare = async (c: Case): Promise<boolean> => {
    if (!runner) start();
    await ready;
    const r = runner!;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        r.kill("SIGKILL");
        runner = null;
        resolve(false);
      }, perCase);
      r.once("message", () => {
        clearTimeout(timer);
        resolve(true);
      });
      r.send({ ...c, preparing: true });
    });
  };
  const run = async (c: Case): Promise<Reply | null> => {
    if (!runner) start();
    await ready;
    const r = runner!;
    return new Promise<Reply | null>((resolve) => {
      const timer = setTimeout(() => {
        r.removeAllListeners("message");
        r.removeAllListeners("exit");
        r.kill("SIGKILL");
        runner = null;
        resolve(null);
      }, perCase);
      r.once("message", (m: Reply) => {
        clearTimeout(timer);
        r.removeAllListeners("exit");
        resolve(m);
      });
      r.once("exit", (code) => {
        clearTimeout(timer);
        r.removeAllListeners("message");
        runner = null;
        resolve({ id: c.id, status: code, stdout: "", stderr: "", crash: `the runner process exited (code ${code}) during the case` });
      });
      r.send(c);
    });
  };

  const results: { c: Case; outcome: Outcome; why: string }[] = [];
  let notRun = 0;
  for (const c of cases) {
    if (performance.now() > deadline) {
      notRun++;
      continue;
    }
    if (c.prepare) {
      if (!(await prepare(c))) {
        results.push({ c, outcome: "hung", why: "preparing its partial output did not finish" });
        continue;
      }
    }
    const before = new Map([...c.inputs, ...c.outputs].map((f) => [f, hash(f)]));
    const filesBefore = new Set(listAll(c.dir));
    const reply = await run(c);
    const changedInputs = c.inputs.filter((f) => hash(f) !== before.get(f));
    const leftovers = listAll(c.dir).filter((f) => !filesBefore.has(f) && /\.tmp-\d+-[0-9a-f]{8}/.test(f));
    let outcome: Outcome, why = "";
    if (reply === null) {
      outcome = "hung";
      why = `no answer in ${perCase / 1000} s`;
    } else if (changedInputs.length > 0) {
      outcome = "data lost";
      why = `input changed or removed: ${changedInputs.join(", ")}`;
    } else if (leftovers.length > 0) {
      outcome = "data lost";
      why = `left temporary files: ${leftovers.join(", ")}`;
    } else if (reply.crash) {
      outcome = "crashed";
      why = reply.crash.split("\n").slice(0, 3).join(" | ");
    } else if (reply.status === 0) {
      const problems: string[] = [];
      if (c.check === "stdout") {
        if (!/\S/.test(reply.stdout) || /undefined|NaN/.test(reply.stdout)) problems.push(`stdout: ${JSON.stringify(reply.stdout.slice(0, 120))}`);
      } else {
        const p = await readsBack(c.outputs[0], c.check);
        if (p) problems.push(p);
      }
      outcome = problems.length ? "data lost" : "accepted";
      why = problems.join("; ");
    } else {
      const outputsChanged = c.outputs.filter((f) => hash(f) !== before.get(f));
      const oneLine = reply.stderr.startsWith("infifpo: error: ") && reply.stderr.endsWith("\n") && reply.stderr.trimEnd().split("\n").length === 1;
      if (reply.status === 2 && oneLine && outputsChanged.length === 0) outcome = "rejected cleanly";
      else if (outputsChanged.length > 0) {
        outcome = "data lost";
        why = `a failed run wrote ${outputsChanged.join(", ")}`;
      } else {
        outcome = "crashed";
        why = `exit ${reply.status}: ${JSON.stringify(reply.stderr.slice(0, 300))}`;
      }
    }
    results.push({ c, outcome, why: why || (reply?.stderr.trim().slice(0, 200) ?? "") });
  }
  if (runner) (runner as ChildProcess).kill();

  // report
  const cmds: Cmd[] = ["fuse", "stats", "score", "train", "lab-results"];
  const count = (cmd: Cmd | null, o: Outcome) => results.filter((r) => (cmd === null || r.c.cmd === cmd) && r.outcome === o).length;
  const wrong = results.filter((r) => (r.c.expect === "reject" && r.outcome === "accepted") || (r.c.expect === "accept" && r.outcome === "rejected cleanly"));
  const secs = (performance.now() - t0) / 1000;
  if (json) {
    process.stdout.write(JSON.stringify({
      seed, seconds: +secs.toFixed(1), cases: cases.length, notRun,
      byCommand: Object.fromEntries(cmds.map((c) => [c, Object.fromEntries(OUTCOMES.map((o) => [o, count(c, o)]))])),
      total: Object.fromEntries(OUTCOMES.map((o) => [o, count(null, o)])),
      mustReject: results.filter((r) => r.c.expect === "reject").length, mustAccept: results.filter((r) => r.c.expect === "accept").length, wrongVerdicts: wrong.length,
    }) + "\n");
  } else {
    const w = [12, 6, ...OUTCOMES.map((o) => Math.max(o.length, 5))];
    const row = (cells: (string | number)[]) => cells.map((x, i) => (i === 0 ? String(x).padEnd(w[i]) : String(x).padStart(w[i]))).join("  ");
    const out: string[] = [`infifpo fuzz: seed ${seed}, ${results.length} of ${cases.length} cases run in ${secs.toFixed(0)} s${notRun ? ` (${notRun} not run: --seconds ${seconds} reached)` : ""}`, ""];
    out.push(row(["command", "cases", ...OUTCOMES]));
    for (const c of cmds) out.push(row([c, results.filter((r) => r.c.cmd === c).length, ...OUTCOMES.map((o) => count(c, o))]));
    out.push(row(["total", results.length, ...OUTCOMES.map((o) => count(null, o))]));
    out.push("", `known verdicts: ${results.filter((r) => r.c.expect === "reject").length} must be rejected, ${results.filter((r) => r.c.expect === "accept").length} must be accepted; wrong verdicts: ${wrong.length}`);
    const bad = results.filter((r) => r.outcome === "crashed" || r.outcome === "hung" || r.outcome === "data lost");
    for (const r of [...bad, ...wrong].slice(0, 25)) out.push(`  ${r.outcome.padEnd(16)} ${r.c.cmd} [${r.c.kind}] expected ${r.c.expect}: ${r.why}`);
    process.stdout.write(out.join("\n") + "\n");
  }
  if (!args.includes("--keep")) fs.rmSync(root, { recursive: true, force: true });
  else process.stderr.write(`fuzz: cases kept in ${root}\n`);
}

await (process.argv.includes("--child") ? child() : parent());

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { modelSpecsFromFlags } from "../lib/cli/score";
import { hasSkipMarker, scoreFile, type ModelSpec } from "../lib/remote/score-file";
import { loadRecords } from "../lib/data/jsonl";
import { promptText, responseText } from "../lib/data/trl";
import { disposeModel, loadModel, sequenceLogProbs, tokenLogProbs, type LoadedModel } from "../lib/model";
import { JsonClient, Semaphore, echoLogProbs, prefixMismatch, responseScore, scoreRemote, serveModel, type Dialect, type Fault, type ServedModel } from "../lib/remote";
import { UserError } from "../lib/errors";
import { tmpDir, writePairs, writeTinyModel } from "./train-fixtures";

// `infifpo score` against OpenAI-compatible servers started here on 127.0.0.1, each backed by one of the project's
// own tiny models, so every number is checked against the same model scored locally (sequenceLogProbs).

const quiet = () => {};
/** float32 sums of a few hundred terms, added in another order: equal to ~1e-6 relative. */
const expectClose = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(2e-6 * Math.abs(b) + 1e-5);
let dir: string;
let files: { pivot: string; word: string; char2: string };
let models: LoadedModel[];
const servers: ServedModel[] = [];

beforeAll(async () => {
  const { initBackend } = await import("../lib/backend");
  await initBackend({ backend: "wasm", quiet: true });
  dir = tmpDir("remote");
  files = {
    pivot: writeTinyModel(path.join(dir, "pivot.infifpo"), { seed: 1, kind: "char", contextLength: 320 }),
    word: writeTinyModel(path.join(dir, "word.infifpo"), { seed: 2, kind: "word", contextLength: 320 }),
    char2: writeTinyModel(path.join(dir, "char2.infifpo"), { seed: 3, kind: "char", dModel: 8, contextLength: 320 }),
  };
  models = [files.pivot, files.word, files.char2].map((f) => loadModel(f, { trainable: false }));
});

afterAll(async () => {
  for (const s of servers) await s.close();
  for (const m of models ?? []) disposeModel(m.model);
});

async function serve(i: number, name: string, opts: Partial<Parameters<typeof serveModel>[0]> = {}): Promise<ServedModel> {
  const s = await serveModel({ model: models[i].model, tokenizer: models[i].tokenizer, name, ...opts });
  servers.push(s);
  return s;
}

/** The sample pairs as chat records: a system + user prompt, the response as the assistant turn. */
function writeChatPairs(file: string, n: number, seed = 3): void {
  const tmp = file + ".str";
  const recs = writePairs(tmp, n, { unscored: true, seed }) as { prompt: string; chosen: string; rejected: string }[];
  const chat = recs.map((r) => {
    const head = [{ role: "system", content: "Be brief." }, { role: "user", content: r.prompt }];
    return { chosen: [...head, { role: "assistant", content: r.chosen }], rejected: [...head, { role: "assistant", content: r.rejected }], id: r.prompt };
  });
  fs.writeFileSync(file, chat.map((r) => JSON.stringify(r) + "\n").join(""));
}

const served = (s: ServedModel, model: string, dialect: "auto" | "vllm" | "llamacpp" = "auto"): ModelSpec => ({ url: s.url, model, dialect });
const fast = { retries: 8, backoffMs: 2, maxBackoffMs: 20, timeoutMs: 5000 };

describe("served models: numbers", () => {
  it("chat records through vLLM's API equal the local scorer's (same models, each its own tokenizer)", async () => {
    const [p, w, c] = [await serve(0, "pivot"), await serve(1, "word"), await serve(2, "char2")];
    const input = path.join(dir, "chat.jsonl");
    writeChatPairs(input, 9);
    const remoteOut = path.join(dir, "chat-remote.jsonl");
    const localOut = path.join(dir, "chat-local.jsonl");
    const r = await scoreFile({ input, output: remoteOut, pivot: served(p, "pivot"), sources: [served(w, "word"), served(c, "char2")], chunk: 4, remote: fast, progress: "none", log: quiet });
    expect(r).toMatchObject({ records: 9, skipped: 0, resumedFrom: 0 });
    await scoreFile({ input, output: localOut, pivot: files.pivot, sources: [files.word, files.char2], chunk: 4, progress: "none", backend: "wasm", log: quiet });
    const [got, want] = [await loadRecords(remoteOut), await loadRecords(localOut)];
    expect(got).toHaveLength(9);
    got.forEach((g, i) => {
      const l = want[i];
      expect(g.chosen).toEqual(l.chosen);
      for (const k of ["ref_chosen_logps", "ref_rejected_logps", "ref_mean_chosen_logps", "ref_mean_rejected_logps"] as const) expectClose(g[k], l[k]);
      for (const k of ["fuse_chosen_logps", "fuse_rejected_logps", "fuse_mean_chosen_logps", "fuse_mean_rejected_logps"] as const) {
        g[k].forEach((v, j) => expectClose(v, l[k][j]));
      }
    });
    // and independently of `score`: the first chosen response's pivot score from sequenceLogProbs
    const [s0] = await sequenceLogProbs(models[0].model, models[0].tokenizer, [{ prompt: promptText(want[0]), response: responseText(want[0].chosen) }]);
    expectClose(got[0].ref_chosen_logps, s0.sum);
  });

  it("string records: the server's tokens of prompt + response after the prompt's, no EOS appended", async () => {
    const p = await serve(0, "pivot");
    const input = path.join(dir, "str.jsonl");
    const pairs = writePairs(input, 5, { unscored: true, seed: 4 }) as { prompt: string; chosen: string }[];
    const out = path.join(dir, "str-remote.jsonl");
    await scoreFile({ input, output: out, pivot: served(p, "pivot", "vllm"), sources: [served(p, "pivot", "vllm")], remote: fast, progress: "none", log: quiet });
    const got = await loadRecords(out);
    const { model, tokenizer } = models[0];
    for (const [i, rec] of got.entries()) {
      const P = [tokenizer.bosId, ...tokenizer.encode(pairs[i].prompt)];
      const F = [tokenizer.bosId, ...tokenizer.encode(pairs[i].prompt + pairs[i].chosen)];
      const lp = tf.tidy(() => tokenLogProbs(model, tf.tensor2d([F.slice(0, -1)], undefined, "int32"), tf.tensor2d([F.slice(1)], undefined, "int32")).arraySync()[0]);
      const want = lp.slice(P.length - 1).reduce((a, b) => a + b, 0);
      expectClose(rec.ref_chosen_logps, want);
      expectClose(rec.ref_mean_chosen_logps, want / (F.length - P.length));
      expect(rec.fuse_chosen_logps[0]).toBe(rec.ref_chosen_logps);
    }
  });

  it("llama.cpp's API (/tokenize, /apply-template): the same numbers; a server without prompt log-probs is named, not guessed", async () => {
    const input = path.join(dir, "chat-l.jsonl");
    writeChatPairs(input, 4, 5);
    const l = await serve(0, "pivot", { dialect: "llamacpp" });
    const v = await serve(0, "pivot");
    const a = path.join(dir, "l-llama.jsonl");
    const b = path.join(dir, "l-vllm.jsonl");
    await scoreFile({ input, output: a, pivot: served(l, "pivot"), sources: [served(l, "pivot")], remote: fast, progress: "none", log: quiet });
    await scoreFile({ input, output: b, pivot: served(v, "pivot"), sources: [served(v, "pivot")], remote: fast, progress: "none", log: quiet });
    expect(fs.readFileSync(a, "utf8")).toBe(fs.readFileSync(b, "utf8"));

    const stock = await serve(0, "pivot", { dialect: "llamacpp", noPromptLogprobs: true });
    const err = await scoreFile({ input, output: path.join(dir, "l-stock.jsonl"), pivot: served(stock, "pivot"), sources: [served(stock, "pivot")], remote: fast, progress: "none", log: quiet }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/returned 1 log-prob\(s\) for a \d+-token prompt with echo: it scores generated tokens only/);
    expect(err.message).toContain("ggml-org/llama.cpp#27174");
    expect(err.message).toMatch(/lines 1–4 of .*chat-l\.jsonl/);
  });

  it("a pair whose prompt/response token boundary does not line up is reported, not guessed", async () => {
    const p = await serve(0, "pivot");
    const w = await serve(1, "word");
    const input = path.join(dir, "boundary.jsonl");
    // the word tokenizer reads "36" as one word: the prompt's last token "3" is not a token of prompt + "6."
    const lines = [
      { prompt: "What is 152 - 116? 152 - 116 = ", chosen: "36.", rejected: "26." },
      { prompt: "What is 152 - 116? 152 - 116 = 3", chosen: "6.", rejected: "7." },
      { prompt: "What is 12 + 7?", chosen: " 19.", rejected: " 18." },
    ];
    fs.writeFileSync(input, lines.map((l) => JSON.stringify(l) + "\n").join(""));
    const out = path.join(dir, "boundary-out.jsonl");
    const r = await scoreFile({ input, output: out, pivot: served(p, "pivot"), sources: [served(w, "word")], remote: fast, progress: "none", log: quiet });
    expect(r).toMatchObject({ records: 2, skipped: 1 });
    expect((await loadRecords(out)).map((x) => x.prompt)).toEqual([lines[0].prompt, lines[2].prompt]);
    const skipped = fs.readFileSync(path.join(dir, "boundary-out.skipped.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(skipped).toHaveLength(1);
    expect(skipped[0].line).toBe(2);
    expect(skipped[0].problems[0]).toMatch(/^chosen under source 1 \(word at http:\/\/127\.0\.0\.1:\d+\): the prompt's \d+ tokens are not a prefix of prompt\+response's \d+ tokens \(they differ at token \d+/);
    // a crash after the skipped pair's chunk, then the same command: the marker from the first run is honoured
    const cut = path.join(dir, "boundary-cut.jsonl");
    const opts = { input, pivot: served(p, "pivot"), sources: [served(w, "word")], chunk: 1, remote: fast, progress: "none" as const, log: quiet };
    await expect(scoreFile({ ...opts, output: cut, stopAfterChunks: 2 })).rejects.toThrow(/stopped after 2 chunks/);
    expect(await scoreFile({ ...opts, output: cut })).toMatchObject({ records: 2, skipped: 1, resumedFrom: 2 });
    expect(fs.readFileSync(cut, "utf8")).toBe(fs.readFileSync(out, "utf8"));
    expect(fs.readFileSync(path.join(dir, "boundary-cut.skipped.jsonl"), "utf8")).toBe(fs.readFileSync(path.join(dir, "boundary-out.skipped.jsonl"), "utf8"));
    // --on-mismatch error stops at that line
    const err = await scoreFile({ input, output: path.join(dir, "b2.jsonl"), pivot: served(p, "pivot"), sources: [served(w, "word")], onMismatch: "error", remote: fast, progress: "none", log: quiet }).catch((e) => e);
    expect(err.message).toMatch(/boundary\.jsonl:2.*not a prefix/);
  });
});

describe("served models: context", () => {
  it("a pair longer than the served model's context is reported (the server's max_model_len), the rest scored", async () => {
    const small = loadModel(writeTinyModel(path.join(dir, "small.infifpo"), { seed: 4, kind: "char", contextLength: 40 }), { trainable: false });
    const s = await serveModel({ model: small.model, tokenizer: small.tokenizer, name: "small" });
    servers.push(s);
    const input = path.join(dir, "long.jsonl");
    const lines = [
      { prompt: "12 + 7 = ", chosen: "19", rejected: "18" },
      { prompt: "What is 152 - 116? Think step by step, then answer. ", chosen: "36", rejected: "26" },
    ];
    fs.writeFileSync(input, lines.map((l) => JSON.stringify(l) + "\n").join(""));
    const out = path.join(dir, "long-out.jsonl");
    const r = await scoreFile({ input, output: out, pivot: served(s, "small"), sources: [served(s, "small")], remote: fast, progress: "none", log: quiet });
    disposeModel(small.model);
    expect(r).toMatchObject({ records: 1, skipped: 1 });
    const skipped = JSON.parse(fs.readFileSync(path.join(dir, "long-out.skipped.jsonl"), "utf8"));
    expect(skipped.line).toBe(2);
    expect(skipped.problems[0]).toMatch(/^chosen under the pivot \(small at .*\): prompt \+ response are \d+ tokens; with the one generated token that is more than the model's context of 41$/);
  });
});

describe("served models: faults, crashes and resumes lose nothing and duplicate nothing", () => {
  it("dropped connections, 500s, 429s, slow answers and malformed JSON: the output is byte-identical to a clean run", async () => {
    const input = path.join(dir, "faults.jsonl");
    writeChatPairs(input, 12, 7);
    const clean = await serve(0, "pivot");
    const cleanSrc = await serve(2, "char2");
    const want = path.join(dir, "faults-clean.jsonl");
    await scoreFile({ input, output: want, pivot: served(clean, "pivot"), sources: [served(cleanSrc, "char2")], chunk: 5, remote: fast, progress: "none", log: quiet });

    const plan = (every: number, fault: Fault) => (n: number) => (n % every === 0 ? fault : null);
    // about one request in three fails; with 12 retries a request failing every attempt is a ~1e-6 event
    const comp = [plan(7, "500"), plan(11, "drop"), plan(13, "malformed"), plan(17, "slow")];
    const tok = [plan(6, "429"), plan(9, "drop"), plan(13, "malformed")];
    const faults = ({ path: p, n }: { path: string; n: number }): Fault | null => {
      for (const f of p === "/v1/completions" ? comp : p === "/tokenize" ? tok : []) {
        const x = f(n);
        if (x) return x;
      }
      return null;
    };
    const flaky = await serve(0, "pivot", { faults, slowMs: 1500 });
    const flakySrc = await serve(2, "char2", { faults });
    const got = path.join(dir, "faults-flaky.jsonl");
    const retries: string[] = [];
    await scoreFile({
      input,
      output: got,
      pivot: served(flaky, "pivot"),
      sources: [served(flakySrc, "char2")],
      chunk: 5,
      remote: { ...fast, retries: 12, timeoutMs: 500, concurrency: 3 },
      progress: "none",
      log: (l) => retries.push(l),
    });
    expect(fs.readFileSync(got, "utf8")).toBe(fs.readFileSync(want, "utf8"));
    const joined = retries.join("\n");
    for (const why of ["HTTP 500", "HTTP 429", "malformed JSON", /no answer within 500 ms/, /fetch failed|socket|ECONNRESET|other side closed/]) expect(joined).toMatch(why);
    expect(flaky.requests["/v1/completions"]).toBeGreaterThan(clean.requests["/v1/completions"]);
  }, 60_000);

  it("a crash between chunks, then the same command: byte-identical, nothing scored twice", async () => {
    const input = path.join(dir, "resume.jsonl");
    writeChatPairs(input, 10, 8);
    const p = await serve(0, "pivot");
    const opts = { input, pivot: served(p, "pivot"), sources: [served(p, "pivot")], chunk: 3, remote: fast, progress: "none" as const, log: quiet };
    const want = path.join(dir, "resume-whole.jsonl");
    await scoreFile({ ...opts, output: want });
    const out = path.join(dir, "resume-cut.jsonl");
    await expect(scoreFile({ ...opts, output: out, stopAfterChunks: 2 })).rejects.toThrow(/stopped after 2 chunks/);
    expect(fs.readFileSync(`${out}.partial`, "utf8").trim().split("\n")).toHaveLength(6);
    const before = p.requests["/v1/completions"];
    const r = await scoreFile({ ...opts, output: out });
    expect(r).toMatchObject({ records: 10, resumedFrom: 6 });
    expect(p.requests["/v1/completions"] - before).toBe(4 * 2 * 2); // 4 pairs × chosen/rejected × 2 models
    expect(fs.readFileSync(out, "utf8")).toBe(fs.readFileSync(want, "utf8"));
  });

  it("a server that keeps failing: a clear error after the retries, the chunks already written kept", async () => {
    const input = path.join(dir, "down.jsonl");
    writeChatPairs(input, 6, 9);
    let completions = 0;
    const p = await serve(0, "pivot", { faults: ({ path: q }) => (q === "/v1/completions" && ++completions > 8 ? "500" : null) });
    const out = path.join(dir, "down-out.jsonl");
    const err = await scoreFile({ input, output: out, pivot: served(p, "pivot"), sources: [served(p, "pivot")], chunk: 2, remote: { ...fast, retries: 2 }, progress: "none", log: quiet }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/lines 3–4 of .*down\.jsonl: POST http:\/\/127\.0\.0\.1:\d+\/v1\/completions: gave up after 3 attempts; last: HTTP 500: injected internal error/);
    expect(fs.readFileSync(`${out}.partial`, "utf8").trim().split("\n")).toHaveLength(2);
  });

  it("a model the server does not serve, and a URL that is not one, are named", async () => {
    const p = await serve(0, "pivot");
    const input = path.join(dir, "x.jsonl");
    writeChatPairs(input, 1);
    const e1 = await scoreFile({ input, output: path.join(dir, "x1.jsonl"), pivot: served(p, "pivto"), sources: [served(p, "pivot")], progress: "none", log: quiet }).catch((e) => e);
    expect(e1.message).toMatch(/model "pivto" is not served there; \/v1\/models lists: pivot/);
    const e2 = await scoreFile({ input, output: path.join(dir, "x2.jsonl"), pivot: { url: "localhost:8000", model: "m" }, sources: [served(p, "pivot")], progress: "none", log: quiet }).catch((e) => e);
    expect(e2.message).toMatch(/not an http\(s\) URL|not a URL/);
  });
});

describe("served models: pieces", () => {
  it("hasSkipMarker finds a marker line anywhere, also across its 1 MiB read boundary", () => {
    const f = path.join(dir, "markers.jsonl");
    const marker = '{"__infifpo_skipped":{"line":9,"problems":["x"]}}\n';
    for (const at of [0, (1 << 20) - 7, (1 << 20) + 3]) {
      fs.writeFileSync(f, "a".repeat(at) + "\n" + marker + '{"prompt":"b"}\n');
      expect(hasSkipMarker(f), `marker after ${at} bytes`).toBe(true);
    }
    fs.writeFileSync(f, "a".repeat((1 << 20) + 100) + '\n{"prompt":"{\\"__infifpo_skipped\\""}\n');
    expect(hasSkipMarker(f)).toBe(false);
  });

  it("prefixMismatch and responseScore (hand-computed)", () => {
    expect(prefixMismatch([1, 5, 6], [1, 5, 6, 7, 8])).toBe(-1);
    expect(prefixMismatch([1, 5, 6], [1, 5, 9, 8])).toBe(2);
    expect(prefixMismatch([1, 5, 6], [1, 5])).toBe(2);
    // F = [BOS, p, r1, r2]: lp = [lp(p), lp(r1), lp(r2)] = [-1, -0.5, -0.25]; |P| = 2 → ℓ = -0.75, n = 2
    expect(responseScore([-1, -0.5, -0.25], 2)).toEqual({ sum: -0.75, mean: -0.375, count: 2 });
  });

  it("scoreRemote tokenizes a shared prompt once, and reports a response with no tokens of its own", async () => {
    const calls: string[] = [];
    const d: Dialect = {
      name: "vllm",
      tokenizeText: async (t) => (calls.push(t), [0, ...[...t].map((ch) => ch.charCodeAt(0))]),
      tokenizeChat: async () => [],
      promptLogProbs: async (ids) => ids.slice(1).map(() => -0.5),
      contextLength: async () => null,
    };
    const out = await scoreRemote(d, [
      { prompt: "ab", response: "c", messages: null },
      { prompt: "ab", response: "de", messages: null },
      { prompt: "x", response: "", messages: null },
    ]);
    expect(out).toEqual([{ sum: -0.5, mean: -0.5, count: 1 }, { sum: -1, mean: -0.5, count: 2 }, { problem: "the response has no tokens of its own" }]);
    expect(calls.filter((c) => c === "ab")).toHaveLength(1);
  });

  it("echoLogProbs: OpenAI echo arrays, vLLM's prompt_logprobs (checked against our token ids), and servers that give none", () => {
    const ids = [1, 7, 9];
    expect(echoLogProbs({ choices: [{ logprobs: { token_logprobs: [null, -0.5, -0.25, -3] } }] }, ids, "srv")).toEqual([-0.5, -0.25]);
    const pl = [null, { "7": { logprob: -0.5, rank: 1 } }, { "9": { logprob: -0.25, rank: 2 }, "4": { logprob: -0.1, rank: 1 } }];
    expect(echoLogProbs({ choices: [{ prompt_logprobs: pl, logprobs: null }] }, ids, "srv")).toEqual([-0.5, -0.25]);
    expect(() => echoLogProbs({ choices: [{ prompt_logprobs: pl }] }, [1, 7, 8], "srv")).toThrow(/srv: prompt_logprobs\[2\] has no finite log-prob for token 8/);
    expect(() => echoLogProbs({ choices: [{ text: "x", logprobs: null }] }, ids, "srv")).toThrow(/srv: the server returned no log-probs \(choices\[0\]\.logprobs is null\); it must support echo/);
    expect(() => echoLogProbs({ choices: [{ logprobs: { token_logprobs: [null, "x", -1] } }] }, ids, "srv")).toThrow(/token_logprobs\[1\] is "x", not a finite number/);
    expect(() => echoLogProbs({ error: "boom" }, ids, "srv")).toThrow(/srv: the answer has no choices\[0\]/);
  });

  it("Semaphore bounds requests in flight; JsonClient accepts /v1 base URLs", async () => {
    const sem = new Semaphore(2);
    let active = 0, peak = 0;
    await Promise.all(
      Array.from({ length: 7 }, () =>
        sem.use(async () => {
          peak = Math.max(peak, ++active);
          await new Promise((r) => setTimeout(r, 5));
          active--;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(new JsonClient("http://127.0.0.1:8000/v1/").base).toBe("http://127.0.0.1:8000");
  });

  it("CLI flags: served and local models, and the mistakes people make", () => {
    const base = { input: "i", output: "o", dialect: "auto", concurrency: 8, retries: 5, timeout: 120, onMismatch: "skip", batchSize: 64, chunk: 256, truncate: "left", progress: "none" };
    expect(modelSpecsFromFlags({ ...base, pivotUrl: "http://a:1", pivotModel: "p", sourceUrl: ["http://b:2"], sourceModel: ["s1", "s2"] })).toEqual({
      pivot: { url: "http://a:1", model: "p", dialect: "auto" },
      sources: [{ url: "http://b:2", model: "s1", dialect: "auto" }, { url: "http://b:2", model: "s2", dialect: "auto" }],
    });
    expect(() => modelSpecsFromFlags({ ...base, pivot: "p.infifpo", pivotUrl: "http://a:1" })).toThrow(/either as --pivot FILE or as --pivot-url/);
    expect(() => modelSpecsFromFlags({ ...base, source: ["s.infifpo"] })).toThrow(/the pivot is required/);
    expect(() => modelSpecsFromFlags({ ...base, pivot: "p", source: ["s"], sourceModel: ["m"], sourceUrl: ["http://b:2"] })).toThrow(/all local .* or all served/);
    expect(() => modelSpecsFromFlags({ ...base, pivot: "p", sourceModel: ["a", "b", "c"], sourceUrl: ["http://b:2", "http://c:3"] })).toThrow(/one --source-url for all 3/);
    expect(() => modelSpecsFromFlags({ ...base, pivot: "p", sourceModel: ["a"], sourceUrl: ["http://b:2"], chatTemplate: ["a"] })).toThrow(/MODEL=FILE/);
    expect(() => modelSpecsFromFlags({ ...base, pivot: "p", sourceModel: ["a"], sourceUrl: ["http://b:2"], dialect: "tgi" })).toThrow(/--dialect must be/);
  });
});

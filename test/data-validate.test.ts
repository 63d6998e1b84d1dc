import { describe, expect, it } from "vitest";
import { DataError } from "../lib/data/errors";
import { parseJsonl, recordValidator } from "../lib/data/jsonl";
import { validateRecord } from "../lib/data/validate";
import { serializeRecord } from "../lib/data/write";
import { UserError } from "../lib/errors";
import { workedExampleRecord } from "./worked-example";

type Obj = Record<string, any>;

/** A valid record with 3 sources (values from infifpo.md's worked example; sums = mean × n). */
function base(): Obj {
  return workedExampleRecord();
}

function chat(): Obj {
  const r = base();
  delete r.prompt;
  r.chosen = [{ role: "system", content: "Be brief." }, { role: "user", content: "2 + 2?" }, { role: "assistant", content: "4" }];
  r.rejected = [{ role: "system", content: "Be brief." }, { role: "user", content: "2 + 2?" }, { role: "assistant", content: "5" }];
  return r;
}

const FILE = "data/x.jsonl";
const GOOD = serializeRecord(base());

/** Validates `line` as line 17 of a file whose first 16 lines are good; returns the single error. */
function errorAt17(line: string): DataError {
  const text = Array(16).fill(GOOD).join("\n") + "\n" + line + "\n" + GOOD + "\n";
  const rows = parseJsonl(text, recordValidator(), { name: FILE, onInvalid: "yield" });
  const bad = rows.filter((r) => r.error);
  expect(rows.length).toBe(18);
  expect(bad.length).toBe(1);
  return bad[0].error!;
}

const withField = (f: (r: Obj) => void, make = base) => {
  const r = make();
  f(r);
  return JSON.stringify(r);
};

// [case, the bad line, field blamed (null = whole line), pattern the reason must match]
const CASES: [string, string, string | null, RegExp][] = [
  ["truncated line", GOOD.slice(0, 120), null, /^invalid JSON \(.*\): truncated line\?/],
  ["garbage", "{ref_chosen_logps: -1}", null, /^invalid JSON/],
  ["blank line", "", null, /^blank line/],
  ["whitespace-only line", "  \t ", null, /^blank line/],
  ["array, not an object", "[1, 2]", null, /expected a JSON object, got an array of 2/],
  ["string, not an object", '"hello"', null, /expected a JSON object, got "hello"/],
  ["null, not an object", "null", null, /expected a JSON object, got null/],
  ["missing sum", withField((r) => delete r.ref_chosen_logps), "ref_chosen_logps", /^missing$/],
  ["missing mean", withField((r) => delete r.ref_mean_rejected_logps), "ref_mean_rejected_logps", /^missing$/],
  ["non-numeric", withField((r) => (r.ref_mean_chosen_logps = "abc")), "ref_mean_chosen_logps", /expected a finite number, got "abc"/],
  ["numeric string", withField((r) => (r.ref_chosen_logps = "-3.5")), "ref_chosen_logps", /expected a finite number, got "-3.5"/],
  ["\"NaN\" string", withField((r) => (r.fuse_chosen_logps[0] = "NaN")), "fuse_chosen_logps[0]", /expected a finite number, got "NaN"/],
  ["1e400 → Infinity", GOOD.replace('"ref_chosen_logps":-0.6975', '"ref_chosen_logps":1e400'), "ref_chosen_logps", /got Infinity/],
  ["-1e400 → -Infinity", GOOD.replace('"ref_chosen_logps":-0.6975', '"ref_chosen_logps":-1e400'), "ref_chosen_logps", /got -Infinity/],
  ["-1e400 in a list", GOOD.replace("[-0.25559,", "[-1e400,"), "fuse_mean_rejected_logps[0]", /got -Infinity/],
  ["null number", withField((r) => (r.fuse_rejected_logps[2] = null)), "fuse_rejected_logps[2]", /got null/],
  ["boolean number", withField((r) => (r.ref_rejected_logps = true)), "ref_rejected_logps", /got true/],
  ["nested list entry", withField((r) => (r.fuse_mean_chosen_logps[1] = [-0.2])), "fuse_mean_chosen_logps[1]", /got an array of 1/],
  ["log-prob > 0 (ref)", withField((r) => { r.ref_chosen_logps = 2.5; r.ref_mean_chosen_logps = 0.25; }), "ref_chosen_logps", /expected a log-prob ≤ 0, got 2.5/],
  ["log-prob > 0 (source)", withField((r) => { r.fuse_rejected_logps[1] = 3; r.fuse_mean_rejected_logps[1] = 0.3; }), "fuse_rejected_logps[1]", /log-prob ≤ 0, got 3/],
  ["sum −3, mean +0.1", withField((r) => { r.ref_chosen_logps = -3; r.ref_mean_chosen_logps = 0.1; }), "ref_mean_chosen_logps", /sign disagrees with its sum "ref_chosen_logps": mean 0.1, sum -3/],
  ["sum 0, mean ≠ 0", withField((r) => { r.ref_rejected_logps = 0; }), "ref_mean_rejected_logps", /sign disagrees/],
  ["sum ≠ 0, mean 0", withField((r) => { r.fuse_mean_chosen_logps[2] = 0; }), "fuse_mean_chosen_logps[2]", /sign disagrees/],
  ["|mean| > |sum|", withField((r) => { r.fuse_chosen_logps[1] = -0.1; }), "fuse_mean_chosen_logps[1]", /larger in magnitude than its sum "fuse_chosen_logps\[1\]"/],
  ["|mean| > |sum| (ref)", withField((r) => { r.ref_mean_rejected_logps = -1.5; }), "ref_mean_rejected_logps", /larger in magnitude/],
  ["source list not a list", withField((r) => (r.fuse_chosen_logps = -2.3)), "fuse_chosen_logps", /expected a list of numbers \(one per source\), got -2.3/],
  ["source list missing", withField((r) => delete r.fuse_mean_rejected_logps), "fuse_mean_rejected_logps", /^missing$/],
  ["source lists of length 0", withField((r) => { r.fuse_chosen_logps = []; r.fuse_rejected_logps = []; r.fuse_mean_chosen_logps = []; r.fuse_mean_rejected_logps = []; }), "fuse_chosen_logps", /expected at least one source, got an empty list/],
  ["different lengths (rejected)", withField((r) => r.fuse_rejected_logps.pop()), "fuse_rejected_logps", /expected 3 entries .*got 2/],
  ["different lengths (mean)", withField((r) => r.fuse_mean_rejected_logps.push(-0.1)), "fuse_mean_rejected_logps", /expected 3 entries .*got 4/],
  ["fewer sources than the file's first record", withField((r) => { for (const k of ["fuse_chosen_logps", "fuse_rejected_logps", "fuse_mean_chosen_logps", "fuse_mean_rejected_logps"]) r[k].pop(); }), "fuse_chosen_logps", /expected 3 sources \(as in the rest of the file\), got 2/],
  ["chosen missing", withField((r) => delete r.chosen), "chosen", /^missing$/],
  ["chosen a number", withField((r) => (r.chosen = 4)), "chosen", /expected a string or a list of \{role, content\} messages, got 4/],
  ["rejected an object", withField((r) => (r.rejected = { text: "5" })), "rejected", /got an object/],
  ["chosen string, rejected list", withField((r) => (r.rejected = [{ role: "assistant", content: "5" }])), "rejected", /expected a string like chosen/],
  ["chosen list, rejected string", withField((r) => (r.rejected = "5"), chat), "rejected", /expected a message list like chosen/],
  ["chat without an assistant turn", withField((r) => (r.chosen = [{ role: "user", content: "2 + 2?" }]), chat), "chosen[0].role", /last message must be the assistant's response, got role "user"/],
  ["chat ending with a user turn", withField((r) => r.rejected.push({ role: "user", content: "sure?" }), chat), "rejected[3].role", /last message must be the assistant's/],
  ["empty chat list", withField((r) => (r.chosen = []), chat), "chosen", /non-empty message list/],
  ["message content not a string", withField((r) => (r.chosen[2].content = ["4"]), chat), "chosen[2].content", /expected a string, got an array of 1/],
  ["message content missing", withField((r) => delete r.rejected[1].content, chat), "rejected[1].content", /^missing$/],
  ["message role missing", withField((r) => delete r.chosen[1].role, chat), "chosen[1].role", /^missing$/],
  ["message role not a string", withField((r) => (r.chosen[0].role = 1), chat), "chosen[0].role", /expected a string, got 1/],
  ["message not an object", withField((r) => (r.chosen[0] = "hi"), chat), "chosen[0]", /expected a \{role, content\} message, got "hi"/],
  ["chat prompts differ", withField((r) => (r.rejected[1].content = "3 + 3?"), chat), "rejected", /differs from chosen's/],
  ["prompt a number", withField((r) => (r.prompt = 7)), "prompt", /expected a string \(chosen and rejected are strings\), got 7/],
  ["prompt null", withField((r) => (r.prompt = null)), "prompt", /got null/],
  ["prompt list with string responses", withField((r) => (r.prompt = [{ role: "user", content: "2+2?" }])), "prompt", /expected a string/],
  ["prompt string with chat responses", withField((r) => (r.prompt = "2+2?"), chat), "prompt", /expected a message list/],
  ["prompt list with a bad message", withField((r) => (r.prompt = [{ role: "user" }]), chat), "prompt[0].content", /^missing$/],
  ["policy columns partly present", withField((r) => { r.policy_chosen_logps = -0.5; r.policy_mean_chosen_logps = -0.05; }), "policy_rejected_logps", /missing: policy columns come all four or none \(found policy_chosen_logps, policy_mean_chosen_logps\)/],
  ["policy column invalid", withField((r) => { r.policy_chosen_logps = -0.5; r.policy_rejected_logps = -1; r.policy_mean_chosen_logps = "x"; r.policy_mean_rejected_logps = -0.1; }), "policy_mean_chosen_logps", /got "x"/],
  ["policy log-prob > 0", withField((r) => { r.policy_chosen_logps = -0.5; r.policy_rejected_logps = 1; r.policy_mean_chosen_logps = -0.05; r.policy_mean_rejected_logps = 0.1; }), "policy_rejected_logps", /log-prob ≤ 0/],
];

describe("validateRecord: every invalid case names file:line:field", () => {
  it.each(CASES)("%s", (_name, line, field, reason) => {
    const err = errorAt17(line);
    expect(err).toBeInstanceOf(DataError);
    expect(err).toBeInstanceOf(UserError);
    expect(err.file).toBe(FILE);
    expect(err.line).toBe(17);
    expect(err.field).toBe(field);
    expect(err.reason).toMatch(reason);
    expect(err.message).toBe(`${FILE}:17: ${field === null ? "" : `field "${field}": `}${err.reason}`);
  });

  it("formats the message exactly as documented", () => {
    const r = base();
    r.fuse_mean_chosen_logps[2] = "abc";
    expect(() => validateRecord(r, { file: FILE, line: 17 })).toThrow(
      new DataError({ file: FILE, line: 17 }, "fuse_mean_chosen_logps[2]", 'expected a finite number, got "abc"'),
    );
    try {
      validateRecord(r, { file: FILE, line: 17 });
    } catch (e) {
      expect((e as Error).message).toBe('data/x.jsonl:17: field "fuse_mean_chosen_logps[2]": expected a finite number, got "abc"');
    }
  });

  it("flags a truncated last line as a possibly cut-off file", () => {
    const rows = parseJsonl(GOOD + "\n" + GOOD.slice(0, 50), recordValidator(), { name: FILE, onInvalid: "yield" });
    expect(rows[1].error?.message).toMatch(/^data\/x.jsonl:2: invalid JSON .*truncated last line\?/);
  });
});

describe("validateRecord: valid records", () => {
  const loc = { file: FILE, line: 1 };

  it("returns the same object, extra fields untouched", () => {
    const r = base();
    r.id = "abc-1";
    r.meta = { source: "x" };
    const out = validateRecord(r, loc);
    expect(out).toBe(r);
    expect(out.meta).toEqual({ source: "x" });
  });

  it("accepts chat records, with or without a separate prompt list", () => {
    expect(() => validateRecord(chat(), loc)).not.toThrow();
    const r = chat();
    r.prompt = [{ role: "user", content: "2 + 2?" }];
    r.chosen = [{ role: "assistant", content: "4" }];
    r.rejected = [{ role: "assistant", content: "5", name: "bot" }];
    expect(() => validateRecord(r, loc)).not.toThrow();
  });

  it("accepts zero log-probs (sum 0 and mean 0, also -0), n = 1 (mean = sum), one source and policy columns", () => {
    const r = base();
    r.ref_chosen_logps = 0;
    r.ref_mean_chosen_logps = -0;
    r.ref_rejected_logps = -1.25;
    r.ref_mean_rejected_logps = -1.25;
    for (const k of ["fuse_chosen_logps", "fuse_rejected_logps", "fuse_mean_chosen_logps", "fuse_mean_rejected_logps"]) r[k] = [r[k][0]];
    Object.assign(r, { policy_chosen_logps: -1, policy_rejected_logps: -2, policy_mean_chosen_logps: -0.1, policy_mean_rejected_logps: -0.2 });
    expect(() => validateRecord(r, loc)).not.toThrow();
    expect(() => validateRecord(r, loc, { sources: 1 })).not.toThrow();
    expect(() => validateRecord(r, loc, { sources: 2 })).toThrow(/expected 2 sources/);
  });

  it("tolerates a float32 mean a hair larger than its sum when n = 1", () => {
    const r = base();
    r.ref_chosen_logps = -0.5;
    r.ref_mean_chosen_logps = -0.5000001;
    expect(() => validateRecord(r, loc)).not.toThrow();
  });

  it("prompt is optional for string records", () => {
    const r = base();
    delete r.prompt;
    expect(() => validateRecord(r, loc)).not.toThrow();
  });
});

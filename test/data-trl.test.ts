import { describe, expect, it } from "vitest";
import { DataError } from "../lib/data/errors";
import { promptMessages, promptText, responseText, validatePair } from "../lib/data/trl";
import type { PreferencePair } from "../lib/data/types";

const loc = { file: "pairs.jsonl", line: 4 };
const sys = { role: "system", content: "Be brief." };
const user = { role: "user", content: "2 + 2?" };

describe("TRL prompt/chosen/rejected", () => {
  it("string records: the strings are the responses, prompt separate", () => {
    const rec: PreferencePair = { prompt: "2 + 2?", chosen: "4", rejected: "5" };
    expect(responseText(rec.chosen)).toBe("4");
    expect(promptText(rec)).toBe("2 + 2?");
    expect(promptMessages(rec)).toEqual([{ role: "user", content: "2 + 2?" }]);
    expect(promptText({ chosen: "4", rejected: "5" })).toBe("");
  });

  it("implicit-prompt chat records: the last assistant turn is the response, the turns before it the prompt", () => {
    const rec: PreferencePair = {
      chosen: [sys, user, { role: "assistant", content: "4" }],
      rejected: [sys, user, { role: "assistant", content: "5" }],
    };
    expect(validatePair(rec, loc)).toBe(rec);
    expect(responseText(rec.chosen)).toBe("4");
    expect(responseText(rec.rejected)).toBe("5");
    expect(promptMessages(rec)).toEqual([sys, user]);
    expect(promptText(rec)).toBe("system: Be brief.\nuser: 2 + 2?");
  });

  it("multi-turn: earlier assistant turns belong to the prompt", () => {
    const turns = [user, { role: "assistant", content: "4" }, { role: "user", content: "times 3?" }];
    const rec: PreferencePair = {
      chosen: [...turns, { role: "assistant", content: "12" }],
      rejected: [...turns, { role: "assistant", content: "7" }],
    };
    expect(validatePair(rec, loc)).toBe(rec);
    expect(responseText(rec.chosen)).toBe("12");
    expect(promptMessages(rec)).toEqual(turns);
  });

  it("explicit-prompt chat records: prompt list + completion lists", () => {
    const rec: PreferencePair = { prompt: [sys, user], chosen: [{ role: "assistant", content: "4" }], rejected: [{ role: "assistant", content: "5" }] };
    expect(validatePair(rec, loc)).toBe(rec);
    expect(promptMessages(rec)).toEqual([sys, user]);
    expect(promptText(rec)).toBe("system: Be brief.\nuser: 2 + 2?");
  });

  it.each<[string, unknown, string | null, RegExp]>([
    ["not an object", [1], null, /expected a JSON object/],
    ["rejected missing", { prompt: "p", chosen: "4" }, "rejected", /^missing$/],
    ["no assistant turn", { chosen: [user], rejected: [user] }, "chosen[0].role", /last message must be the assistant's response/],
    ["different prompts", { chosen: [user, { role: "assistant", content: "4" }], rejected: [{ role: "user", content: "3+3?" }, { role: "assistant", content: "6" }] }, "rejected", /differs from chosen's/],
    ["different prompt lengths", { chosen: [user, { role: "assistant", content: "4" }], rejected: [{ role: "assistant", content: "6" }] }, "rejected", /differs from chosen's/],
    ["mixed kinds", { prompt: "p", chosen: "4", rejected: [{ role: "assistant", content: "5" }] }, "rejected", /expected a string like chosen/],
  ])("validatePair rejects: %s", (_n, obj, field, reason) => {
    let err: unknown;
    try {
      validatePair(obj, loc);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).field).toBe(field);
    expect((err as DataError).reason).toMatch(reason);
    expect((err as DataError).message.startsWith("pairs.jsonl:4: ")).toBe(true);
  });

  it("validatePair ignores scores and keeps extra fields", () => {
    const rec = { prompt: "p", chosen: "a", rejected: "b", ref_chosen_logps: "whatever", id: 3 };
    expect(validatePair(rec, loc)).toEqual(rec);
  });
});

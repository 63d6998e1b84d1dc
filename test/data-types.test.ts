import { describe, expect, expectTypeOf, it } from "vitest";
import type { BadRow, Row } from "../lib/data/jsonl";
import { parseJsonl, readRecords } from "../lib/data/jsonl";
import type { PreferenceRecord } from "../lib/data/types";

describe("reader types", () => {
  it("strict mode yields only good rows; a runtime choice of mode yields both", () => {
    expectTypeOf(readRecords("x")).toEqualTypeOf<AsyncGenerator<Row<PreferenceRecord>>>();
    expectTypeOf(readRecords("x", { onInvalid: "yield" })).toEqualTypeOf<AsyncGenerator<Row<PreferenceRecord> | BadRow>>();
    const skip = process.env.NEVER_SET === "1";
    const gen = readRecords("x", { onInvalid: skip ? "yield" : "throw" });
    expectTypeOf(gen).toEqualTypeOf<AsyncGenerator<Row<PreferenceRecord> | BadRow>>();
    expect(parseJsonl('{"a":1}', (o) => o as { a: number }, { onInvalid: skip ? "yield" : "throw" })[0].line).toBe(1);
  });
});

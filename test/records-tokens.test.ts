import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScoreColumns } from "../lib/data/types";
import { createModel, disposeModel, resolveModelConfig, saveModel, tokenizeWithModels } from "../lib/model";
import { responseTokenCounts, tokenCount } from "../lib/records";
import { CharTokenizer, tokenPieces, trainTokenizer } from "../lib/tokenizers";

/** A record whose models read the chosen response as `c` tokens and the rejected one as `r` (per-token mean m). */
function rec(pivot: [number, number], sources: [number, number][], m = -0.4321): ScoreColumns {
  return {
    ref_chosen_logps: pivot[0] * m, ref_rejected_logps: pivot[1] * m * 1.5,
    ref_mean_chosen_logps: m, ref_mean_rejected_logps: m * 1.5,
    fuse_chosen_logps: sources.map(([c], i) => c * (m - i / 7)), fuse_rejected_logps: sources.map(([, r], i) => r * (m - i / 3)),
    fuse_mean_chosen_logps: sources.map((_, i) => m - i / 7), fuse_mean_rejected_logps: sources.map((_, i) => m - i / 3),
  };
}

describe("token counts from sum and per-token mean", () => {
  it("tokenCount: n = round(ℓ / mean ℓ), exact through float noise", () => {
    expect(tokenCount(-12.6, -0.42)).toBe(30);
    expect(tokenCount(17 * -0.1 + 1e-12, -0.1)).toBe(17);
    expect(tokenCount(-0.4555720090866089, -0.11389300227165222)).toBe(4); // the sample file's first record
  });

  it("tokenCount refuses pairs that determine no count", () => {
    expect(() => tokenCount(-1, 0)).toThrow(RangeError);
    expect(() => tokenCount(0, 0)).toThrow(/no token count/);
    expect(() => tokenCount(NaN, -1)).toThrow(RangeError);
    expect(() => tokenCount(1, -1)).toThrow(RangeError); // a negative count
  });

  it("responseTokenCounts: per side, the pivot and every source, however many sources", () => {
    const records = [rec([10, 12], [[4, 5], [9, 8], [3, 2]]), rec([7, 6], [[2, 3], [5, 5], [1, 9]])];
    expect(responseTokenCounts(records, "chosen")).toEqual({ pivot: [10, 7], sources: [[4, 2], [9, 5], [3, 1]] });
    expect(responseTokenCounts(records, "rejected")).toEqual({ pivot: [12, 6], sources: [[5, 3], [8, 5], [2, 9]] });
    const five = [rec([3, 3], [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]])];
    expect(responseTokenCounts(five, "chosen").sources).toEqual([[1], [2], [3], [4], [5]]);
    expect(responseTokenCounts([], "chosen")).toEqual({ pivot: [], sources: [] });
  });

  it("responseTokenCounts names the record and column it cannot read", () => {
    const bad = rec([3, 3], [[1, 1], [2, 2]]);
    bad.fuse_mean_chosen_logps[1] = 0;
    expect(() => responseTokenCounts([rec([3, 3], [[1, 1], [2, 2]]), bad], "chosen")).toThrow(/record 1, fuse_chosen_logps\[1\]/);
    expect(() => responseTokenCounts([rec([3, 3], [[1, 1], [2, 2]]), rec([3, 3], [[1, 1]])], "chosen")).toThrow(/record 1: 1 source/);
  });
});

describe("one text through several tokenizers", () => {
  it("tokenPieces: the ids and each id decoded alone", () => {
    const digit = trainTokenizer("digit", ["1234+5=1239", "47+8=55"], { chunk: 3 });
    const { ids, pieces } = tokenPieces(digit, "1234+5");
    expect(ids).toEqual(digit.encode("1234+5"));
    expect(pieces).toEqual(["123", "4", "+", "5"]);
  });

  let dir = "";
  beforeAll(async () => {
    await tf.setBackend("cpu");
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tokenize-models-"));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("tokenizeWithModels reads each checkpoint's own tokenizer, in the given order, and frees the models", () => {
    const char = new CharTokenizer({ alphabet: "0123456789+=", fallback: "unk" });
    const digit = trainTokenizer("digit", ["12+7=19", "123+45=168"], { chunk: 2 });
    const files = [
      { name: "pivot", tok: char },
      { name: "src-math", tok: digit },
    ].map(({ name, tok }) => {
      const model = createModel(resolveModelConfig("tiny", { vocabSize: tok.vocabSize, seed: 3 }));
      const file = saveModel(path.join(dir, `${name}.infifpo`), model, tok);
      disposeModel(model);
      return { name, file };
    });
    const before = tf.memory().numTensors;
    const views = tokenizeWithModels(files, "123+45=168");
    expect(tf.memory().numTensors).toBe(before);
    expect(views.map((v) => [v.name, v.kind])).toEqual([["pivot", "char"], ["src-math", "digit"]]);
    expect(views[0].pieces).toEqual("123+45=168".split(""));
    expect(views[1].ids).toEqual(digit.encode("123+45=168"));
    expect(views[1].pieces).toEqual(["12", "3", "+", "45", "=", "16", "8"]);
  });
});

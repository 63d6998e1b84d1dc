/** Tokenizer files: one JSON object (tokenizer.toJSON()) per file. */
import { readFileSync } from "node:fs";
import { UserError } from "../errors";
import { writeFileSafe } from "../data/safe-output";
import { tokenizerFromJSON } from "./json";
import type { Tokenizer } from "./types";

/** Writes `tok.toJSON()` to `path` (compact JSON plus a newline), atomically (lib/data/safe-output.ts). */
export function saveTokenizer(path: string, tok: Tokenizer): void {
  writeFileSafe(path, JSON.stringify(tok.toJSON()) + "\n");
}

/** Reads a tokenizer file; errors name the file (and the field when the JSON is well formed but invalid). */
export function loadTokenizer(path: string): Tokenizer {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UserError(`${path}: cannot read tokenizer file (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  return tokenizerFromJSON(json, path);
}

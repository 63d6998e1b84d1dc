/** Rebuilding a tokenizer from its JSON, with errors that name the source and the field. */
import { UserError } from "../errors";
import { asRecord } from "./base";
import { bpeTokenizerFromJSON } from "./bpe";
import { charTokenizerFromJSON } from "./char";
import { digitTokenizerFromJSON } from "./digit";
import { TOKENIZER_JSON_VERSION, TOKENIZER_KINDS, type Tokenizer, type TokenizerKind } from "./types";
import { wordTokenizerFromJSON } from "./word";

const FROM_JSON: Readonly<Record<TokenizerKind, (obj: Record<string, unknown>, where: string) => Tokenizer>> = Object.freeze({
  char: charTokenizerFromJSON,
  bpe: bpeTokenizerFromJSON,
  word: wordTokenizerFromJSON,
  digit: digitTokenizerFromJSON,
});

/**
 * Validates `json` (the parsed output of `tokenizer.toJSON()`) and rebuilds the tokenizer; it encodes every
 * string exactly as the original did. `where` names the source in errors (e.g. a file path).
 * @example tokenizerFromJSON(JSON.parse(JSON.stringify(tok))).encode("47+8=55") // same ids as tok.encode
 * @throws UserError on a non-object, an unknown kind, a missing/bad field, or a version other than 1.
 */
export function tokenizerFromJSON(json: unknown, where = "tokenizer JSON"): Tokenizer {
  if (typeof json === "string") throw new UserError(`${where} must be a parsed object, got a string (call JSON.parse first)`);
  const obj = asRecord(json, where);
  const kind = obj.kind;
  if (typeof kind !== "string" || !Object.hasOwn(FROM_JSON, kind)) {
    throw new UserError(`${where}: field "kind" must be one of ${TOKENIZER_KINDS.join(", ")}, got ${JSON.stringify(kind)}`);
  }
  const version = obj.version;
  if (typeof version !== "number" || !Number.isInteger(version)) {
    throw new UserError(`${where}: field "version" must be an integer, got ${JSON.stringify(version)}`);
  }
  if (version > TOKENIZER_JSON_VERSION) {
    throw new UserError(
      `${where}: field "version" is ${version}, written by a newer infifpo-ts; this one reads version ${TOKENIZER_JSON_VERSION} only`,
    );
  }
  if (version !== TOKENIZER_JSON_VERSION) {
    throw new UserError(`${where}: field "version" is ${version}; this library reads version ${TOKENIZER_JSON_VERSION} only`);
  }
  return FROM_JSON[kind as TokenizerKind](obj, where);
}

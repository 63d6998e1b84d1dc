/**
 * `infifpo tokenizer train --kind KIND --input CORPUS --output TOK.json [--option key=value ...] [--field NAME ...]`
 *
 * Builds a tokenizer from a corpus so a model can be trained from scratch (`infifpo init`, then `infifpo train`).
 * The corpus is a JSONL file (every string field named by --field is one document; default: prompt, completion,
 * chosen, rejected, answer) or, for any other extension, a text file with one document per line.
 */
import { isUtf8 } from "node:buffer";
import * as fs from "node:fs";
import type { Command } from "commander";
import { UserError } from "../errors";
import { DataError } from "../data/errors";
import { LineScanner } from "../data/lines";
import { checkOutputs } from "../data/safe-output";
import { TOKENIZER_KINDS } from "../tokenizers/types";

const DEFAULT_FIELDS = ["prompt", "completion", "chosen", "rejected", "answer"];

/** `key=value` → [key, parsed value] (numbers and true/false parsed, everything else a string). */
export function parseOption(s: string): [string, unknown] {
  const eq = s.indexOf("=");
  if (eq <= 0) throw new UserError(`--option ${s}: expected key=value`);
  const key = s.slice(0, eq), raw = s.slice(eq + 1);
  const v = raw === "true" ? true : raw === "false" ? false : raw !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  return [key, v];
}

/** The documents of a corpus file (see the module comment). */
export function readCorpus(file: string, fields: readonly string[] = DEFAULT_FIELDS): string[] {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${file}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (e as Error).message}`);
  }
  const text = bytes.toString("utf8");
  if (text.indexOf("\uFFFD") !== -1 && !isUtf8(bytes)) {
    // name the first line that is not UTF-8 (a tokenizer trained on U+FFFD would learn the damage)
    const lines = new LineScanner(Infinity, (buf, start, end, line) => {
      if (!isUtf8(buf.subarray(start, end))) throw new DataError({ file, line }, null, "invalid UTF-8 (the corpus must be UTF-8)");
    }, () => {});
    lines.push(bytes);
    lines.end();
  }
  const lines = text.split("\n");
  if (!file.endsWith(".jsonl")) return lines.filter((l) => l.length > 0);
  const docs: string[] = [];
  lines.forEach((l, i) => {
    if (l.trim() === "") return;
    let o: unknown;
    try {
      o = JSON.parse(l);
    } catch (e) {
      throw new DataError({ file, line: i + 1 }, null, `invalid JSON (${(e as Error).message})`);
    }
    if (typeof o !== "object" || o === null || Array.isArray(o)) throw new DataError({ file, line: i + 1 }, null, "expected a JSON object");
    let found = 0;
    for (const f of fields) {
      const v = (o as Record<string, unknown>)[f];
      if (typeof v === "string") (docs.push(v), found++);
      else if (Array.isArray(v)) for (const m of v) if (m && typeof m.content === "string") (docs.push(m.content), found++);
    }
    if (found === 0) throw new DataError({ file, line: i + 1 }, null, `no text in any of the fields ${fields.join(", ")}`);
  });
  if (docs.length === 0) throw new UserError(`${file}: no documents`);
  return docs;
}

export function register(program: Command): void {
  const tok = program.command("tokenizer").description("tokenizers: train one on a corpus");
  tok
    .command("train")
    .description("train a tokenizer (char, bpe, word, digit) on a corpus and save it as JSON")
    .requiredOption("--kind <kind>", `tokenizer kind: ${TOKENIZER_KINDS.join(", ")}`)
    .requiredOption("-i, --input <file>", "corpus: JSONL (string fields are documents) or text (one document per line)")
    .requiredOption("-o, --output <file>", "where the tokenizer JSON goes")
    .option("--option <key=value>", "a training option, e.g. vocabSize=320, pretokenizer=none, chunk=1 (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--field <name>", `JSONL fields to read (repeatable; default ${DEFAULT_FIELDS.join(", ")})`, (v: string, acc: string[]) => [...acc, v], [] as string[])
    .addHelpText("after", "\nOptions by kind: char {extra}; bpe {vocabSize, pretokenizer: gpt2|none, minFrequency};\n  word {vocabSize, minCount, minCharCount, extra, fallback}; digit {chunk, ...}.\nExample:\n  infifpo tokenizer train --kind bpe -i corpus.jsonl -o tok.json --option vocabSize=320 --option pretokenizer=none")
    .action(async (opts: { kind: string; input: string; output: string; option: string[]; field: string[] }) => {
      const { trainTokenizer, saveTokenizer } = await import("../tokenizers");
      checkOutputs([{ path: opts.input, label: "--input" }], [{ path: opts.output, label: "--output" }]);
      const docs = readCorpus(opts.input, opts.field.length ? opts.field : DEFAULT_FIELDS);
      const options = Object.fromEntries(opts.option.map(parseOption));
      const t = trainTokenizer(opts.kind as "char", docs, options as never);
      saveTokenizer(opts.output, t); // atomic: an exclusive temporary file, then rename
      process.stdout.write(JSON.stringify({ output: opts.output, kind: opts.kind, vocabSize: t.vocabSize, documents: docs.length }) + "\n");
    });
}

/**
 * Tokenizer speed: byte-level BPE training on ~1 MiB corpora (English-like markdown from node_modules, and lab
 * strings), encode throughput (cold and warm pre-token cache), and the other kinds' training. Prints one JSON object.
 *
 *   node --import tsx bench/tokenizers.ts [--mib 1] [--vocab 1000,4000,8000] [--repeat 2] [--file PATH]
 *
 * Each measurement runs `repeat` times; the best run counts (least disturbed by other processes).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { BpeTokenizer, trainTokenizer, type Pretokenizer, type TokenizerKind } from "../lib/tokenizers";
import { labStrings } from "../test/tokenizers-fixtures";

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const mib = Number(arg("mib", "1"));
const vocabs = arg("vocab", "1000,4000,8000").split(",").map(Number);
const repeat = Number(arg("repeat", "2"));
const file = arg("file", "");
const bytes = Math.round(mib * 2 ** 20);

/** Markdown files under node_modules, in sorted path order, concatenated up to `bytes` (deterministic per install). */
function markdownCorpus(): string[] {
  const docs: string[] = [];
  let total = 0;
  const walk = (dir: string, depth: number) => {
    for (const name of readdirSync(dir).sort()) {
      if (total >= bytes) return;
      const p = join(dir, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory() && depth < 3) walk(p, depth + 1);
      else if (st.isFile() && /\.md$/i.test(name) && st.size < 200_000) {
        const text = readFileSync(p, "utf8");
        docs.push(text);
        total += Buffer.byteLength(text);
      }
    }
  };
  walk("node_modules", 0);
  return docs;
}

function labCorpus(): string[] {
  const out: string[] = [];
  let total = 0;
  for (const s of labStrings(200_000, 42)) {
    if (total >= bytes) break;
    out.push(s);
    total += s.length + 1;
  }
  return out;
}

function best<T>(f: () => T): { ms: number; value: T } {
  let ms = Infinity;
  let value!: T;
  for (let r = 0; r < repeat; r++) {
    const t0 = performance.now();
    value = f();
    ms = Math.min(ms, performance.now() - t0);
  }
  return { ms: Math.round(ms), value };
}

const corpora: Record<string, string[]> = file ? { file: [readFileSync(file, "utf8")] } : { markdown: markdownCorpus(), lab: labCorpus() };
const result: Record<string, unknown> = { repeat, node: process.version };
for (const [name, docs] of Object.entries(corpora)) {
  const size = docs.reduce((n, d) => n + Buffer.byteLength(d), 0);
  const text = docs.join("\n");
  const rows: Record<string, unknown>[] = [];
  const pretoks: Pretokenizer[] = name === "lab" ? ["gpt2", "none"] : ["gpt2"];
  for (const pretokenizer of pretoks) {
    for (const vocabSize of vocabs) {
      const train = best(() => trainTokenizer("bpe", docs, { vocabSize, pretokenizer }));
      const tok = train.value;
      const cold = best(() => new BpeTokenizer(tok.merges, pretokenizer).encode(text).length);
      const warm = best(() => tok.encode(text).length);
      rows.push({
        pretokenizer,
        vocabSize: tok.vocabSize,
        train_ms: train.ms,
        encode_cold_ms: cold.ms,
        encode_warm_ms: warm.ms,
        encode_warm_MBps: +(size / 1e6 / (warm.ms / 1000)).toFixed(1),
        tokens: warm.value,
        bytes_per_token: +(size / warm.value).toFixed(2),
      });
    }
  }
  const others: Record<string, unknown> = {};
  for (const kind of ["char", "word", "digit"] as TokenizerKind[]) {
    const opts = kind === "word" ? { vocabSize: 4000 } : {};
    const train = best(() => trainTokenizer(kind, docs, opts as never));
    const enc = best(() => train.value.encode(text).length);
    others[kind] = { train_ms: train.ms, encode_ms: enc.ms, vocabSize: train.value.vocabSize, tokens: enc.value };
  }
  result[name] = { docs: docs.length, bytes: size, bpe: rows, others };
}
console.log(JSON.stringify(result, null, 2));

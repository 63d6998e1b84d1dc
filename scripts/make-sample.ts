/**
 * Writes data/sample/pairs.jsonl (200 synthetic records, 3 sources, seed 0) and data/sample/README.md.
 *
 *   node --import tsx scripts/make-sample.ts [--out data/sample]
 *
 * test/data-sample.test.ts regenerates the records and checks the committed file byte for byte.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SAMPLE_PIVOT, generateSampleRecords, sampleSourceModels } from "../lib/data/sample";
import { writeRecords } from "../lib/data/write";

const SAMPLE = { n: 200, sources: 3, seed: 0 } as const;

const i = process.argv.indexOf("--out");
const outDir = i >= 0 ? process.argv[i + 1] : "data/sample";

const fmt = (m: { charsPerToken: number; scale: number; preference: number; noise: number }): string =>
  `${m.charsPerToken.toFixed(2)} | ${m.scale.toFixed(3)} | ${m.preference.toFixed(2)} | ${m.noise.toFixed(2)}`;

const readme = `# Sample preference data (synthetic)

\`pairs.jsonl\`: ${SAMPLE.n} records in the published InfiFPO JSONL format (see \`lib/data/types.ts\` and
the "Data format" section of the project's InfiFPO notes), with ${SAMPLE.sources} sources.

**The scores are synthetic.** They come from a seeded generator (\`lib/data/sample.ts\`,
\`generateSampleRecords({ n: ${SAMPLE.n}, sources: ${SAMPLE.sources}, seed: ${SAMPLE.seed} })\`), not from real models.
The fusion lab (\`infifpo lab\`) produces model-scored data; this small file serves tests, notebooks and examples.

Made by:

    node --import tsx scripts/make-sample.ts

A test (\`test/data-sample.test.ts\`) regenerates it and checks it byte for byte.

## What is in it

- \`prompt\` / \`chosen\` / \`rejected\`: short arithmetic and reasoning questions (sums, differences,
  products, word problems, decimal comparison, primality, sequences, time conversion, sorting); \`chosen\`
  is a correct worked answer, \`rejected\` a typical mistake (dropped carry, wrong operation, string order…).
- \`ref_*\`: the pivot at init; \`fuse_*\`: one entry per source, in a fixed order. Sums and per-token means.
- Each model has its own tokenizer granularity, so token counts n_M(y) differ per model, as with
  heterogeneous tokenizers; every sum is mean × n_M (mean = sum / n_M), values rounded through float32.
- Per-token NLL = scale × affinity[task type] × difficulty × exp(preference [rejected only] + noise·N(0,1)),
  with a per-record difficulty shared by all models and per-task-type affinities (domain expertise,
  log-normal around 1) for each source. Sources beat the pivot on some responses and not others, so clipping
  and max-margin selection vary from record to record.
- Log-probs are written with a fractional part (\`-60.0\`, never \`-60\`).

| model | chars/token | scale | preference | noise |
|---|---|---|---|---|
| pivot | ${fmt(SAMPLE_PIVOT)} |
${sampleSourceModels(SAMPLE.sources, SAMPLE.seed).map((m, k) => `| source ${k} | ${fmt(m)} |`).join("\n")}
`;

const n = await writeRecords(join(outDir, "pairs.jsonl"), generateSampleRecords(SAMPLE));
await writeFile(join(outDir, "README.md"), readme);
console.log(`wrote ${n} records to ${join(outDir, "pairs.jsonl")}`);

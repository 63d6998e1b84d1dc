/**
 * Dumps the model and pairs that test/model-reference.test.ts pins against PyTorch float64, as JSON on stdout:
 * the `tiny` preset at vocab 16 (char tokenizer "0123456789+=", UNK fallback), seed 0, every parameter × 8.
 *
 *   node --import tsx scripts/pins/dump-tiny-model.ts > /tmp/tiny.json
 *   <venv>/bin/python scripts/pins/torch_logprobs.py /tmp/tiny.json   # prints the pinned sums
 * (venv: python3 -m venv .cache/torch-venv && .cache/torch-venv/bin/pip install torch==2.13.0+cpu numpy)
 */
import * as tf from "@tensorflow/tfjs";
import { createModel, encodePair, namedParameters, resolveModelConfig } from "../../lib/model";
import { CharTokenizer } from "../../lib/tokenizers";

await tf.setBackend("cpu");
const PAIRS = [
  { prompt: "1+2=", response: "3" },
  { prompt: "12+34=", response: "46" },
  { prompt: "", response: "7" },
  { prompt: "99+1=", response: "100" },
];
const tok = new CharTokenizer({ alphabet: "0123456789+=", fallback: "unk" });
const model = createModel(resolveModelConfig("tiny", { vocabSize: tok.vocabSize, seed: 0 }));
for (const [, v] of namedParameters(model)) v.assign(tf.tidy(() => tf.mul(v, 8)));
const params = Object.fromEntries(namedParameters(model).map(([n, v]) => [n, { shape: v.shape, data: Array.from(v.dataSync()) }]));
const pairs = PAIRS.map((p) => ({ ...p, ...encodePair(tok, p.prompt, p.response, model.config.contextLength) }));
process.stdout.write(JSON.stringify({ config: model.config, params, pairs }) + "\n");

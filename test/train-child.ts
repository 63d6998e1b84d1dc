// A tiny training run in its own process, for the kill-and-resume test (test/train-resume.test.ts).
// Usage: node --import tsx test/train-child.ts OUTDIR [--resume] [--slow]
import * as tf from "@tensorflow/tfjs";
import { AdamW } from "../lib/train/optim";
import { warmupCosine } from "../lib/train/schedule";
import { LOOP_DEFAULTS, Trainer } from "../lib/train/trainer";
import { Rng } from "../lib/rng";

const [outDir, ...flags] = process.argv.slice(2);
const r = new Rng(5);
const data = Array.from({ length: 48 }, () => {
  const x = Array.from({ length: 8 }, () => r.next() - 0.5);
  return { x, y: x.reduce((s, v, i) => s + v * Math.sin(i + 1), 0.3) };
});
const init = new Rng(11);
const W1 = tf.variable(tf.tensor2d(Array.from({ length: 8 * 16 }, () => init.next() - 0.5), [8, 16]), true, "child/W1");
const W2 = tf.variable(tf.tensor2d(Array.from({ length: 16 }, () => init.next() - 0.5), [16, 1]), true, "child/W2");
const b1 = tf.variable(tf.zeros([16]), true, "child/b1");
const params = [W1, b1, W2];
const maxSteps = 40;
const trainer = new Trainer({
  params,
  optimizer: new AdamW(params, { weightDecay: 0.1 }),
  schedule: warmupCosine({ lr: 0.02, warmupSteps: 4, totalSteps: maxSteps }),
  data,
  lossFn: {
    prepare: (batch, ctx) => ({
      x: tf.tensor2d(batch.map((e) => e.x)),
      y: tf.tensor2d(batch.map((e) => [e.y])),
      keep: tf.tidy(() => tf.cast(tf.greaterEqual(tf.randomUniform([batch.length, 16], 0, 1, "float32", ctx.seed), 0.1), "float32")), // dropout 0.1, per-step seed
    }),
    compute: ({ x, y, keep }) => {
      const h = x.matMul(W1).add(b1).relu().mul(keep).div(0.9);
      return { loss: h.matMul(W2).sub(y).square().mean() as tf.Scalar };
    },
  },
  loop: { ...LOOP_DEFAULTS, maxSteps, batchSize: 6, gradAccumSteps: 2, checkpointEvery: 10, keepCheckpoints: 2, seed: 3 },
  outDir,
  runConfig: { maxSteps, lr: 0.02 },
  progress: "none",
  onStep: flags.includes("--slow") ? () => new Promise((res) => setTimeout(res, 40)) : undefined,
  onCheckpoint: (_dir, step) => void process.stdout.write(`CKPT ${step}\n`),
});
if (flags.includes("--resume")) process.stdout.write(`RESUMED ${trainer.resume()}\n`);
try {
  await trainer.train();
  process.stdout.write("DONE\n");
} catch (e) {
  if ((e as Error).name !== "TrainingInterrupted") throw e;
  process.stdout.write(`INTERRUPTED ${(e as Error).message}\n`);
  process.exitCode = 130;
}

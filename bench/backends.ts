// Speed of each tfjs backend present here: one JSON line per backend on stdout.
//   npx tsx bench/backends.ts [--reps N]
// matMul n×n (float32) and a tiny op chain (matMul 64² → add → relu → softmax → sum, forward+backward),
// which is dominated by per-op dispatch overhead. Median of N timed runs after 2 warm-ups; each run ends
// with a data download so lazy backends are timed in full. Slow cases (> 1 s) run once after one warm-up.
import * as os from "node:os";
import * as tf from "@tensorflow/tfjs";
import { availableBackends, backendInfo, cpuCount, initBackend, requestFor } from "../lib/backend";

const repsArg = process.argv.indexOf("--reps");
const REPS = repsArg > 0 ? Number(process.argv[repsArg + 1]) : 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median milliseconds of `fn`; reps shrink for slow cases (pure-JS cpu at 1024² takes seconds). */
async function time(fn: () => tf.Tensor, reps: number): Promise<number> {
  const ms: number[] = [];
  let warmups = 2;
  for (let i = 0; i < reps + warmups; i++) {
    const t0 = performance.now();
    const out = fn();
    await out.data();
    const dt = performance.now() - t0;
    out.dispose();
    if (i === 0 && dt > 1000) warmups = 1; // slow backend (pure-JS cpu at 1024²): one warm-up,
    if (i >= warmups) ms.push(dt);
    if (i >= warmups && dt > 1000) break; // and one timed run
  }
  return Number(median(ms).toFixed(2));
}

async function matMulMs(n: number): Promise<number> {
  const a = tf.randomUniform([n, n], -1, 1, "float32", 1);
  const b = tf.randomUniform([n, n], -1, 1, "float32", 2);
  const ms = await time(() => tf.matMul(a, b), REPS);
  tf.dispose([a, b]);
  return ms;
}

async function opChainMs(): Promise<number> {
  const x = tf.randomUniform([64, 64], -1, 1, "float32", 3);
  const w = tf.variable(tf.randomUniform([64, 64], -1, 1, "float32", 4));
  const bias = tf.zeros([64]);
  const step = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => tf.softmax(tf.relu(tf.add(tf.matMul(x, w), bias))).square().sum() as tf.Scalar);
      return tf.add(value, grads[w.name].sum());
    });
  const ms = await time(step, REPS * 4);
  tf.dispose([x, w, bias]);
  return ms;
}

const backends = await availableBackends();
for (const cand of backends) {
  await initBackend({ backend: requestFor(cand), quiet: true });
  const info = backendInfo();
  const row = {
    backend: info.name,
    kind: info.kind,
    version: info.version,
    threads: info.threads ?? null,
    cores: cpuCount(),
    load1: Number(os.loadavg()[0].toFixed(1)), // 1-minute load average: shared machines make timings noisy
    matMul256_ms: await matMulMs(256),
    matMul1024_ms: await matMulMs(1024),
    opChain64_fwd_bwd_ms: await opChainMs(),
    gflops1024: 0,
  };
  row.gflops1024 = Number(((2 * 1024 ** 3) / (row.matMul1024_ms * 1e6)).toFixed(1));
  console.log(JSON.stringify(row));
}

/**
 * Fused LayerNorm ops (native/fused_ops.cc via lib/backend/fused.ts): the same function and gradients as the
 * plain tfjs formulation, op by op and inside a replayed graph. Runs where `npm run native` built the library
 * (CI does); elsewhere it says why it skipped.
 */
import { beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { availableBackends, initBackend } from "../lib/backend";
import { fusedOpsAvailable, fusedOpsProblem } from "../lib/backend/fused";
import { CompiledSite } from "../lib/backend/compile";
import { layerNormFused, layerNormPlain } from "../lib/model/transformer";

let ready = false;
beforeAll(async () => {
  if (!(await availableBackends()).includes("tensorflow")) return void console.warn("[test] native backend not installed: fused-op tests skipped");
  await initBackend({ backend: "tensorflow", quiet: true });
  ready = fusedOpsAvailable();
  if (!ready) console.warn(`[test] fused ops unavailable (${fusedOpsProblem()}): fused-op tests skipped`);
});

function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync(), y = b.dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]) / Math.max(1e-3, Math.abs(y[i])));
  return m;
}

describe("fused LayerNorm", () => {
  const rng = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 3 + (i % 7) * 0.1);
  const N = 37, D = 24;
  const x = () => tf.tensor2d(rng(N * D, 1), [N, D]);
  const g = () => tf.tensor1d(rng(D, 2));
  const b = () => tf.tensor1d(rng(D, 3));
  const w = () => tf.tensor2d(rng(N * D, 4), [N, D]);

  it("matches the plain formulation: values and all three gradients, op by op and as a graph", () => {
    if (!ready) return;
    const [X, G, B, W] = [x(), g(), b(), w()];
    const grads = (ln: typeof layerNormPlain) => () =>
      tf.tidy(() => {
        const f = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(ln(xi as tf.Tensor2D, gi as tf.Tensor1D, bi as tf.Tensor1D, 1e-5), W));
        const { value, grads: gs } = tf.valueAndGrads(f)([X, G, B]);
        return [ln(X, G, B, 1e-5), value, ...gs];
      });
    const ref = grads(layerNormPlain)();
    const fused = grads(layerNormFused)();
    const site = new CompiledSite("test-fused-ln");
    const graphed = [site.run(grads(layerNormFused)), site.run(grads(layerNormFused))][1];
    expect(site.stats).toMatchObject({ traces: 1, replays: 1 });
    ref.forEach((r, i) => {
      expect(maxRelDiff(fused[i], r), `output ${i}`).toBeLessThan(1e-4);
      expect(maxRelDiff(graphed[i], r), `graph output ${i}`).toBeLessThan(1e-4);
    });
    tf.dispose([...ref, ...fused, ...graphed, X, G, B, W]);
    site.dispose();
  });

  it("rejects bad shapes with TensorFlow's error, naming the op", () => {
    if (!ready) return;
    expect(() => layerNormFused(x(), tf.tensor1d([1, 2, 3]), b(), 1e-5)).toThrow(/InfLayerNorm: x must be float32 \[N, D\], g and b float32 \[D\]/);
  });
});

describe("fused AdamW", () => {
  it("gives the same bits as the tfjs update over several steps (decay mask, clipping scale, op by op and as a graph)", async () => {
    if (!ready) return;
    const { AdamW } = await import("../lib/train/optim");
    const shapes = [[7, 5], [5], [3, 4, 2], [9]];
    const init = (seed: number) => shapes.map((s, i) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, j) => Math.sin(seed + i * 31 + j * 0.7)));
    const make = (tag: string) => init(1).map((v, i) => tf.variable(tf.tensor(v, shapes[i]), true, `${tag}${i}`));
    const a = make("fusedA"), b = make("plainB");
    const oa = new AdamW(a, { weightDecay: 0.1, fused: true });
    const ob = new AdamW(b, { weightDecay: 0.1, fused: false });
    for (let step = 0; step < 5; step++) {
      const g = init(10 + step);
      const scale = step % 2 === 0 ? 1 : 0.37;
      oa.apply(Object.fromEntries(a.map((p, i) => [p.name, tf.tensor(g[i], shapes[i])])), 1e-2 * (step + 1), scale);
      ob.apply(Object.fromEntries(b.map((p, i) => [p.name, tf.tensor(g[i], shapes[i])])), 1e-2 * (step + 1), scale);
    }
    // the fused op really ran (in the optimizer's replayed graph), the other optimizer did not use it
    const ops = (o: InstanceType<typeof AdamW>) => (o as unknown as { site: { graphs: { rec: { ops: { op: string }[] } }[] } }).site.graphs.flatMap((g) => g.rec.ops.map((r) => r.op));
    expect(ops(oa)).toContain("InfAdamW");
    expect(ops(ob)).not.toContain("InfAdamW");
    a.forEach((p, i) => expect(Array.from(p.dataSync())).toEqual(Array.from(b[i].dataSync())));
    const [sa, sb] = [oa.state(), ob.state()];
    sa.m.forEach((m, i) => expect(Array.from(m)).toEqual(Array.from(sb.m[i])));
    sa.v.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(sb.v[i])));
    oa.dispose();
    ob.dispose();
    tf.dispose([...a, ...b]);
  });
});

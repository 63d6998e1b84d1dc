// The fused ops against their plain tfjs formulations, in a process of its own (so environment switches such as
// INFIFPO_FUSED_BASELINE=1, read once by the native library, take effect). Prints one JSON line: the largest
// relative difference (floor 0.01) per op, or {"skipped": reason}. Used by test/backend-fused.test.ts.
// Usage: node --import tsx test/fused-child.ts
import * as tf from "@tensorflow/tfjs";
import { availableBackends, initBackend } from "../lib/backend";
import { fusedOpsAvailable, fusedOpsProblem, causalAttentionFused, geluFused, layerNormFused, targetLogProbsFused } from "../lib/backend/fused";
import "../lib/model"; // defines the ops' plain references (lib/model/layers.ts)
import { referenceKernel } from "../lib/seam";
import { causalMask, maxRelDiff, rng, withGrad } from "./fused-fixtures";

// the plain references the fused ops must equal
const [layerNormPlain, geluPlain, targetLogProbsPlain, causalAttention] = [
  referenceKernel("layerNorm"), referenceKernel("gelu"), referenceKernel("targetLogProbs"), referenceKernel("causalAttention"),
];

const diff = (a: tf.Tensor[], b: tf.Tensor[]) => Math.max(...a.map((t, k) => maxRelDiff(t, b[k], 1e-2)));

if (!(await availableBackends()).includes("tensorflow")) {
  console.log(JSON.stringify({ skipped: "native backend not installed" }));
} else {
  await initBackend({ backend: "tensorflow", quiet: true });
  if (!fusedOpsAvailable()) console.log(JSON.stringify({ skipped: fusedOpsProblem() }));
  else {
    const out: Record<string, number> = {};
    const [N, D] = [3001, 27];
    const x = tf.tensor2d(rng(N * D, 1), [N, D]), g = tf.tensor1d(rng(D, 2)), b = tf.tensor1d(rng(D, 3)), w = tf.tensor2d(rng(N * D, 4), [N, D]);
    out.layerNorm = diff(withGrad((v) => layerNormFused(v as tf.Tensor2D, g, b, 1e-5), x, w), withGrad((v) => layerNormPlain(v as tf.Tensor2D, g, b, 1e-5), x, w));
    out.gelu = diff(withGrad((v) => geluFused(v as tf.Tensor2D), x, w), withGrad((v) => geluPlain(v as tf.Tensor2D), x, w));
    const T = tf.tensor1d(Int32Array.from({ length: N }, (_, i) => (i * 7919) % D), "int32"), wr = tf.tensor1d(rng(N, 5));
    out.targetLogProbs = diff(withGrad((v) => targetLogProbsFused(v as tf.Tensor2D, T), x, wr), withGrad((v) => targetLogProbsPlain(v as tf.Tensor2D, T), x, wr));
    const [B, L, H, d] = [4, 70, 4, 16];
    const qkv = tf.tensor2d(rng(B * L * 3 * H * d, 6, 0.4), [B * L, 3 * H * d]), wa = tf.tensor2d(rng(B * L * H * d, 7), [B * L, H * d]);
    const mask = causalMask(L);
    out.attention = diff(withGrad((v) => causalAttentionFused(v as tf.Tensor2D, mask, B, L, H), qkv, wa), withGrad((v) => causalAttention(v as tf.Tensor2D, mask, B, L, H), qkv, wa));
    console.log(JSON.stringify(out));
  }
}

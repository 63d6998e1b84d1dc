/**
 * Which implementation of each op of the execution seam (lib/seam.ts) runs on which tfjs backend, and graph
 * replay as the way programs run. One table, installed by `initBackend`:
 *
 * | op              | native TensorFlow ("tensorflow")    | wasm                             | any other ("*")   |
 * |-----------------|-------------------------------------|----------------------------------|-------------------|
 * | layerNorm       | fused op (./fused.ts)               | written-out gradient, wasm sums  | written-out       |
 * | gelu            | fused op                            | written-out (from "*")           | written-out       |
 * | targetLogProbs  | fused op                            | written-out (from "*")           | written-out       |
 * | causalAttention | fused op                            | written-out, 2-D products        | written-out       |
 * | linear          | reference (matMul + add)            | fused matMul, explicit transposes| reference         |
 * | squaredNorm     | fused op                            | reference                        | reference         |
 * | adamW           | fused op                            | reference                        | reference         |
 *
 * "written-out" is ./gradients.ts; the fused ops replace the written-out ones on native TensorFlow only when the
 * library `npm run native` builds loads there (else the "*" column applies); the references are in lib/model and
 * lib/train. Programs run through graph replay (./compile.ts), which is a no-op off native TensorFlow.
 */
import { registerKernel, setRunner } from "../seam";
import { graphRunner } from "./compile";
import { registerFusedKernels } from "./fused";
import { PLAIN, writtenOutKernels } from "./gradients";
import { WASM, linear as wasmLinear, registerWasmSegmentSum } from "./wasm";

let installed = false;

/** Installs the table above (once); `native`: the native backend is active, so try the fused ops. */
export function installKernels(native: boolean): void {
  if (!installed) {
    installed = true;
    setRunner(graphRunner);
    const any = writtenOutKernels(PLAIN);
    registerKernel("layerNorm", "*", any.layerNorm);
    registerKernel("gelu", "*", any.gelu);
    registerKernel("targetLogProbs", "*", any.targetLogProbs);
    registerKernel("causalAttention", "*", any.causalAttention);
    const wasm = writtenOutKernels(WASM);
    registerKernel("layerNorm", "wasm", wasm.layerNorm);
    registerKernel("causalAttention", "wasm", wasm.causalAttention);
    registerKernel("linear", "wasm", wasmLinear);
    registerWasmSegmentSum();
  }
  if (native) registerFusedKernels();
}

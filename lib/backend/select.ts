/**
 * Backend choice as a pure function: which tfjs backends to try, in which order, given what is installed.
 * No tfjs, no I/O here, so the decision is unit-tested with injected availability (test/backend.test.ts);
 * ./index.ts probes the machine and does the loading.
 */
import { UserError } from "../errors";

/**
 * A concrete thing that can be loaded; `tensorflow-gpu` is tfjs-node-gpu, `tensorflow` is tfjs-node, `webgpu`
 * tfjs-backend-webgpu on Dawn (./webgpu.ts).
 */
export type Candidate = "tensorflow-gpu" | "webgpu" | "tensorflow" | "wasm" | "cpu";

/** What the probe found. `tensorflowGpu`/`tensorflow`: the real npm package is present (not danfo's alias). */
export interface Availability {
  tensorflowGpu: boolean;
  /** An NVIDIA device is visible to this process (/dev/nvidiactl and CUDA_VISIBLE_DEVICES not "" or "-1"). */
  gpuVisible: boolean;
  tensorflow: boolean;
  wasm: boolean;
  /** tfjs-backend-webgpu and Dawn are installed (`bash scripts/install-webgpu.sh`); whether a GPU adapter exists shows when it loads. */
  webgpu?: boolean;
}

/** Request names accepted by `INFIFPO_BACKEND` and `initBackend({backend})`, case-insensitive. */
export const BACKEND_ALIASES: Readonly<Record<string, "auto" | Candidate | "native">> = Object.freeze({
  auto: "auto",
  "": "auto",
  native: "native",
  tensorflow: "native",
  node: "native",
  "tfjs-node": "native",
  "tensorflow-gpu": "tensorflow-gpu",
  "native-gpu": "tensorflow-gpu",
  gpu: "tensorflow-gpu",
  "tfjs-node-gpu": "tensorflow-gpu",
  "tensorflow-cpu": "tensorflow",
  "native-cpu": "tensorflow",
  webgpu: "webgpu",
  wasm: "wasm",
  cpu: "cpu",
});

/** Browser-only backends: named in the error so the user learns why they are refused under Node. */
const BROWSER_ONLY = new Set(["webgl"]);

export const NATIVE_INSTALL_HINT =
  "install it with `npm run native` (re-run it after every `npm ci` / `npm install`, which remove it)";
export const NATIVE_GPU_INSTALL_HINT =
  "install it with `npm run native -- --gpu` (needs internet, CUDA 11.2 and cuDNN 8)";
export const WEBGPU_INSTALL_HINT =
  "install it with `bash scripts/install-webgpu.sh` (~132 MB; it runs where Dawn finds a GPU with a Vulkan, Metal or D3D12 driver)";

/** Normalises a request (from the API or INFIFPO_BACKEND) or throws a UserError listing the valid names. */
export function parseBackendRequest(raw: string | undefined): "auto" | Candidate | "native" {
  const key = (raw ?? "").trim().toLowerCase();
  const hit = BACKEND_ALIASES[key];
  if (hit !== undefined) return hit;
  const valid = Object.keys(BACKEND_ALIASES).filter((k) => k !== "").join(", ");
  if (BROWSER_ONLY.has(key)) {
    throw new UserError(`backend "${raw}" only runs in a browser, not under Node; valid here: ${valid}`);
  }
  throw new UserError(`unknown backend "${raw}"; valid: ${valid}`);
}

/**
 * The ordered list of candidates to try. `auto`: native GPU (package + visible GPU) → WebGPU (installed; used
 * when Dawn finds an adapter) → native → wasm → cpu;
 * the caller falls through the list when a load fails. An explicit request yields exactly one candidate,
 * or throws a UserError naming what to install when it is not available.
 *
 * @example
 * planBackends("auto", { tensorflowGpu: false, gpuVisible: false, tensorflow: true, wasm: true })
 * // → ["tensorflow", "wasm", "cpu"]
 */
export function planBackends(raw: string | undefined, avail: Availability): Candidate[] {
  const req = parseBackendRequest(raw);
  switch (req) {
    case "auto": {
      const out: Candidate[] = [];
      if (avail.tensorflowGpu && avail.gpuVisible) out.push("tensorflow-gpu");
      if (avail.webgpu) out.push("webgpu");
      if (avail.tensorflow) out.push("tensorflow");
      if (avail.wasm) out.push("wasm");
      out.push("cpu");
      return out;
    }
    case "native": {
      // "tensorflow": whichever native package fits; the GPU build only where a GPU is visible.
      if (avail.tensorflowGpu && avail.gpuVisible) return ["tensorflow-gpu"];
      if (avail.tensorflow) return ["tensorflow"];
      if (avail.tensorflowGpu) return ["tensorflow-gpu"]; // no GPU visible: TF falls back to its CPU kernels
      throw new UserError(`backend "tensorflow" requested but @tensorflow/tfjs-node is not installed; ${NATIVE_INSTALL_HINT}`);
    }
    case "tensorflow-gpu": {
      if (!avail.tensorflowGpu) {
        throw new UserError(
          `backend "${raw}" requested but @tensorflow/tfjs-node-gpu is not installed; ${NATIVE_GPU_INSTALL_HINT}`,
        );
      }
      if (!avail.gpuVisible) {
        throw new UserError(
          `backend "${raw}" requested but no NVIDIA GPU is visible (no /dev/nvidiactl, or CUDA_VISIBLE_DEVICES hides it); ` +
            `use INFIFPO_BACKEND=tensorflow for the CPU build`,
        );
      }
      return ["tensorflow-gpu"];
    }
    case "tensorflow":
      if (!avail.tensorflow) {
        throw new UserError(`backend "${raw}" requested but @tensorflow/tfjs-node is not installed; ${NATIVE_INSTALL_HINT}`);
      }
      return ["tensorflow"];
    case "webgpu":
      if (!avail.webgpu) throw new UserError(`backend "webgpu" requested but @tensorflow/tfjs-backend-webgpu is not installed; ${WEBGPU_INSTALL_HINT}`);
      return ["webgpu"];
    case "wasm":
      if (!avail.wasm) {
        throw new UserError(
          `backend "wasm" requested but @tensorflow/tfjs-backend-wasm is not installed; run \`npm install\``,
        );
      }
      return ["wasm"];
    case "cpu":
      return ["cpu"];
  }
}

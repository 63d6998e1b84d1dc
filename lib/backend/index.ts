/**
 * The tfjs backend, chosen once at start-up: the fastest one this machine has.
 *
 * Order (see ./select.ts): native TensorFlow on a GPU (`@tensorflow/tfjs-node-gpu`, only when a GPU is
 * visible) → WebGPU (Dawn; installed on demand, used where it finds a GPU adapter: ./webgpu.ts) → native
 * TensorFlow on the CPU (`@tensorflow/tfjs-node`) → `wasm` (SIMD, single-threaded under Node) → pure-JS `cpu`.
 * Override with `INFIFPO_BACKEND=tensorflow|webgpu|wasm|cpu|tensorflow-gpu|auto` or
 * `initBackend({ backend })` (the argument wins over the variable). Measured on 2 cores (stack.md):
 * matMul 1024² takes ~8 ms native, ~55 ms wasm, ~2300 ms cpu.
 *
 * Library code imports tfjs as `import * as tf from "@tensorflow/tfjs"` and never picks a backend itself;
 * entry points (CLI, notebooks, benches) call `await initBackend()` first.
 *
 * Traps this module handles or documents:
 * - The native packages are NOT in package.json (their install script downloads from Google; see
 *   docs/stack.md). `npm run native` installs tfjs-node with `--no-save`, so `npm ci`/`npm install` remove it
 *   again. They are loaded here with `require` inside try/catch; a missing or unbuilt one falls through.
 * - danfojs-node's override installs `@tensorflow/tfjs` under the name `@tensorflow/tfjs-node`: that alias
 *   is recognised (package.json name) and not taken for the native backend.
 * - wasm: create no tensor before `initBackend()` resolves (wasm initialises asynchronously; tensors made
 *   earlier live on another backend). `tfjs-backend-wasm` is imported lazily for the same reason: once
 *   registered it outranks `cpu`, and tfjs would try to use it synchronously before it is ready.
 * - wasm has no kernel for the gradient of `tf.gather` (UnsortedSegmentSum): ./wasm.ts registers one (in JS)
 *   when a backend is initialised here, so embeddings are plain gathers on every backend.
 * - Requiring tfjs-node calls `tf.setBackend("tensorflow")` at load time, and danfojs-node requires it. So
 *   when wasm or cpu is chosen while the real tfjs-node is installed, it is loaded first (~1.5 s), so that a
 *   later `import("danfojs-node")` cannot switch the backend behind the caller's back.
 * - The native backend must register on the same `@tensorflow/tfjs-core` instance as `@tensorflow/tfjs`;
 *   this is checked after loading (a second core copy would leave `tf.getBackend()` unchanged).
 *
 * @example
 * import { initBackend, backendInfo } from "../lib/backend";
 * await initBackend();            // stderr: "[infifpo] tfjs backend: tensorflow (native, TensorFlow 2.21.0, tfjs 4.22.0)"
 * backendInfo().kind;             // "native"
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync, readdirSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { UserError } from "../errors";
import { installKernels } from "./kernels";
import { packageLoaded, resolvePackage } from "./packages";
import { activateWebgpu, webgpuInstalled, WEBGPU_PACKAGES } from "./webgpu";
import {
  type Availability,
  type Candidate,
  NATIVE_INSTALL_HINT,
  NATIVE_GPU_INSTALL_HINT,
  parseBackendRequest,
  planBackends,
} from "./select";

export { BACKEND_ALIASES, parseBackendRequest, planBackends } from "./select";
export { nativePackageDir } from "./packages";
export type { Availability, Candidate } from "./select";

export type BackendKind = "native-gpu" | "native" | "webgpu" | "wasm" | "cpu";

/** What runs the tensors now. `name` is tfjs's backend name (`tf.getBackend()`). */
export interface BackendInfo {
  name: string;
  kind: BackendKind;
  /** Human-readable versions, e.g. "tfjs 4.22.0, TensorFlow 2.21.0". */
  version: string;
  /** The npm package that provides the backend. */
  package: string;
  /** Worker threads: wasm's XNNPACK pool, 1 for cpu; native TensorFlow sizes its own pools (undefined). */
  threads?: number;
}

export interface InitBackendOptions {
  /** A backend name or alias (see BACKEND_ALIASES); default: `INFIFPO_BACKEND`, else "auto". */
  backend?: string;
  /** No stderr line about the chosen backend. */
  quiet?: boolean;
  /** Where the one-line report goes (default: stderr). */
  log?: (line: string) => void;
  /** Replaces the machine probe (tests). */
  availability?: Availability;
}

const PKG: Record<Candidate, string> = {
  "tensorflow-gpu": "@tensorflow/tfjs-node-gpu",
  webgpu: WEBGPU_PACKAGES.backend,
  tensorflow: "@tensorflow/tfjs-node",
  wasm: "@tensorflow/tfjs-backend-wasm",
  cpu: "@tensorflow/tfjs-backend-cpu",
};

/** Which native package this process has already loaded (both register the backend "tensorflow"). */
function loadedNativePackage(): string | undefined {
  return [PKG.tensorflow, PKG["tensorflow-gpu"]].find(packageLoaded);
}

/** True when an NVIDIA device is visible: the driver's device node exists and CUDA_VISIBLE_DEVICES allows it. */
export function gpuVisible(env: NodeJS.ProcessEnv = process.env): boolean {
  const cvd = env.CUDA_VISIBLE_DEVICES;
  if (cvd !== undefined && (cvd.trim() === "" || cvd.trim() === "-1")) return false;
  if (!existsSync("/dev/nvidiactl")) return false;
  try {
    return readdirSync("/proc/driver/nvidia/gpus").length > 0;
  } catch {
    return existsSync("/dev/nvidia0");
  }
}

/** What is installed here (cheap: reads package.json files, loads nothing). */
export function probeAvailability(): Availability {
  return {
    tensorflowGpu: resolvePackage(PKG["tensorflow-gpu"]) !== undefined,
    gpuVisible: gpuVisible(),
    tensorflow: resolvePackage(PKG.tensorflow) !== undefined,
    wasm: resolvePackage(PKG.wasm) !== undefined,
    webgpu: webgpuInstalled(),
  };
}

let current: BackendInfo | undefined;
let lastAuto: { plan: string; chosen: Candidate } | undefined;
let wasmPathsSet = false;
let queue: Promise<unknown> = Promise.resolve();

/**
 * Environment for libtensorflow, set before it loads (a value the user set wins):
 * - TF_CPP_MIN_LOG_LEVEL=2: TensorFlow's C++ INFO/WARNING lines (CPU feature notes) would drown the one-line
 *   report.
 * - TF_ENABLE_ONEDNN_OPTS=1: oneDNN kernels for matMuls and more (AVX2/FMA picked at run time; the
 *   TensorFlow 2.21 library `npm run native` installs leaves them off otherwise). Measured on bench-small:
 *   ~25% faster steps, op by op and as graphs. TensorFlow then prints one line ("oneDNN custom operations
 *   are on ...") that TF_CPP_MIN_LOG_LEVEL does not silence; set TF_ENABLE_ONEDNN_OPTS=0 for the old kernels.
 */
function nativeEnvDefaults(): void {
  process.env.TF_CPP_MIN_LOG_LEVEL ??= "2";
  process.env.TF_ENABLE_ONEDNN_OPTS ??= "1";
}

async function activateNative(cand: "tensorflow" | "tensorflow-gpu"): Promise<BackendInfo> {
  const pkg = PKG[cand];
  const res = resolvePackage(pkg);
  if (!res) throw new Error(`${pkg} is not installed`);
  nativeEnvDefaults();
  const loaded = loadedNativePackage();
  if (loaded !== undefined && loaded !== pkg) {
    // Both packages register the backend "tensorflow"; the first one loaded in a process keeps it.
    throw new Error(`${loaded} is already loaded in this process, so ${pkg} cannot be; start a new process`);
  }
  if (tf.findBackendFactory("tensorflow") === null) {
    try {
      res.req(pkg);
    } catch (err) {
      throw new Error(`${pkg} is installed but does not load (${firstLine(err)})`);
    }
    if (tf.findBackendFactory("tensorflow") === null) {
      throw new Error(
        `${pkg} registered its backend on another copy of @tensorflow/tfjs-core; ` +
          `check \`npm ls @tensorflow/tfjs-core\` (all must be ${tf.version_core})`,
      );
    }
  }
  if (!(await tf.setBackend("tensorflow"))) throw new Error(`${pkg}: tf.setBackend("tensorflow") failed`);
  await tf.ready();
  const backend = tf.backend() as unknown as {
    isUsingGpuDevice?: boolean;
    binding?: { TF_Version?: string };
  };
  const tfVersion = backend.binding?.TF_Version;
  return {
    name: "tensorflow",
    kind: backend.isUsingGpuDevice ? "native-gpu" : "native",
    version: `tfjs ${tf.version_core}, ${pkg.slice(12)} ${res.version}` + (tfVersion ? `, TensorFlow ${tfVersion}` : ""),
    package: pkg,
  };
}

async function activateWasm(): Promise<BackendInfo> {
  const res = resolvePackage(PKG.wasm);
  if (!res) throw new Error(`${PKG.wasm} is not installed`);
  const wasm = res.req(PKG.wasm) as typeof import("@tensorflow/tfjs-backend-wasm");
  if (tf.findBackendFactory("wasm") === null) {
    throw new Error(`${PKG.wasm} registered on another copy of @tensorflow/tfjs-core`);
  }
  if (!wasmPathsSet) {
    // Under Node the .wasm binaries are read from disk next to the package's dist/ files.
    wasm.setWasmPaths(path.join(res.dir, "dist") + path.sep);
    wasmPathsSet = true;
  }
  if (!(await tf.setBackend("wasm"))) throw new Error(`tf.setBackend("wasm") failed (see the warning above)`);
  await tf.ready();
  return {
    name: "wasm",
    kind: "wasm",
    version: `tfjs ${tf.version_core}, tfjs-backend-wasm ${wasm.version_wasm}, SIMD ${
      (await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")) ? "on" : "off"
    }`,
    package: PKG.wasm,
    threads: wasm.getThreadsCount(),
  };
}

async function activateCpu(): Promise<BackendInfo> {
  if (!(await tf.setBackend("cpu"))) throw new Error(`tf.setBackend("cpu") failed`);
  await tf.ready();
  // tfjs-backend-cpu prints a multi-line "install our node backend" banner on first use under Node;
  // our one log line already names the backend (and the fix), so it is muted.
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  return { name: "cpu", kind: "cpu", version: `tfjs ${tf.version_core} (pure JS)`, package: PKG.cpu, threads: 1 };
}

/**
 * Loads an installed tfjs-node (whose load switches tfjs to "tensorflow") before a non-native backend is
 * activated, so that a later require of it (danfojs-node does one) finds it cached and changes nothing.
 * A tfjs-node that fails to load is ignored here; danfojs-node would then fail on its own.
 */
function preloadNative(): void {
  if (tf.findBackendFactory("tensorflow") !== null) return;
  // The package "auto" would pick, so that a later initBackend() can still switch to it.
  const order = gpuVisible() ? [PKG["tensorflow-gpu"], PKG.tensorflow] : [PKG.tensorflow, PKG["tensorflow-gpu"]];
  for (const pkg of order) {
    const res = resolvePackage(pkg);
    if (!res) continue;
    nativeEnvDefaults();
    try {
      res.req(pkg);
    } catch {
      /* broken install: nothing registered */
    }
    return;
  }
}

function activate(cand: Candidate): Promise<BackendInfo> {
  switch (cand) {
    case "tensorflow-gpu":
    case "tensorflow":
      return activateNative(cand);
    case "webgpu":
      preloadNative();
      return activateWebgpu();
    case "wasm":
      preloadNative();
      return activateWasm();
    case "cpu":
      preloadNative();
      return activateCpu();
  }
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split("\n").find((l) => l.trim() !== "")?.trim() ?? msg;
}

function describe(info: BackendInfo): string {
  const threads = info.threads !== undefined ? `, ${info.threads} thread${info.threads === 1 ? "" : "s"}` : "";
  return `${info.name} (${info.kind}, ${info.version}${threads})`;
}

/**
 * Selects and initialises the tfjs backend; resolves to what is active. Call (and await) it before making
 * any tensor. Safe to call again: the same request returns at once, another request switches backends.
 * An explicitly requested backend that cannot load throws a UserError naming what to install; with "auto"
 * a failing candidate is reported on the log line and the next one is tried.
 *
 * @example
 * await initBackend({ backend: "wasm", quiet: true });  // → { name: "wasm", kind: "wasm", threads: 1, ... }
 */
export function initBackend(opts: InitBackendOptions = {}): Promise<BackendInfo> {
  // Serialised: two concurrent calls must not interleave their setBackend()s.
  const run = queue.then(() => doInit(opts));
  queue = run.catch(() => undefined);
  return run;
}

async function doInit(opts: InitBackendOptions): Promise<BackendInfo> {
  const request = opts.backend ?? process.env.INFIFPO_BACKEND ?? "auto";
  const explicit = parseBackendRequest(request) !== "auto";
  const plan = planBackends(request, opts.availability ?? probeAvailability());
  // Same request as before, still active: nothing to do. "auto" means the first candidate that started
  // for this same plan last time (a failed candidate is not retried on every call).
  if (current && tf.getBackend() === current.name) {
    const want = explicit ? plan[0] : lastAuto?.plan === plan.join() ? lastAuto.chosen : plan[0];
    if (want === candidateOf(current)) return current;
  }
  const skipped: string[] = [];
  for (const cand of plan) {
    try {
      const info = await activate(cand);
      current = info;
      // the fast paths of the execution seam (lib/seam.ts) for this backend; the fused ops are loaded and
      // smoke-tested here, outside any traced function
      installKernels(info.kind === "native");
      if (!explicit) lastAuto = { plan: plan.join(), chosen: cand };
      if (!opts.quiet) {
        let note = skipped.length ? ` [skipped: ${skipped.join("; ")}]` : "";
        if (!explicit && (info.kind === "wasm" || info.kind === "cpu")) {
          note += "; for a 6-9x faster native backend run `npm run native`";
        }
        (opts.log ?? ((l: string) => process.stderr.write(l + "\n")))(`[infifpo] tfjs backend: ${describe(info)}${note}`);
      }
      return info;
    } catch (err) {
      if (explicit) {
        // (webgpu: installed, or planBackends would have said how; it failed for want of an adapter)
        const hint = cand === "tensorflow-gpu" ? NATIVE_GPU_INSTALL_HINT : cand === "tensorflow" ? NATIVE_INSTALL_HINT : "";
        throw new UserError(`backend "${request}" could not start: ${firstLine(err)}${hint ? `; ${hint}` : ""}`);
      }
      skipped.push(`${cand}: ${firstLine(err)}`);
    }
  }
  // Unreachable in practice: cpu is always last in an auto plan and ships with @tensorflow/tfjs.
  throw new UserError(`no tfjs backend could start: ${skipped.join("; ")}`);
}

function candidateOf(info: BackendInfo): Candidate {
  if (info.name === "tensorflow") return info.package === PKG["tensorflow-gpu"] ? "tensorflow-gpu" : "tensorflow";
  return info.name === "webgpu" || info.name === "wasm" ? info.name : "cpu";
}

/**
 * The active backend. Before `initBackend()` (or after someone called `tf.setBackend` directly) it describes
 * whatever tfjs is using, without the extra details.
 */
export function backendInfo(): BackendInfo {
  const name = tf.getBackend();
  if (current && current.name === name) return current;
  const kind: BackendKind = name === "tensorflow" ? "native" : name === "wasm" || name === "webgpu" ? name : "cpu";
  return {
    name,
    kind,
    version: `tfjs ${tf.version_core}`,
    package: name === "tensorflow" ? PKG.tensorflow : name === "wasm" ? PKG.wasm : name === "webgpu" ? PKG.webgpu : PKG.cpu,
    threads: name === "cpu" ? 1 : undefined,
  };
}

/** Candidates that actually start here, in preference order (loads each; leaves the first one active). */
export async function availableBackends(): Promise<Candidate[]> {
  const plan = planBackends("auto", probeAvailability());
  const ok: Candidate[] = [];
  for (const cand of plan) {
    try {
      await initBackend({ backend: requestFor(cand), quiet: true });
      ok.push(cand);
    } catch {
      /* not here */
    }
  }
  if (ok.length) await initBackend({ backend: requestFor(ok[0]), quiet: true });
  return ok;
}

/** The request name that selects exactly this candidate ("tensorflow" alone means "best native"). */
export function requestFor(cand: Candidate): string {
  return cand === "tensorflow" ? "tensorflow-cpu" : cand;
}

/** Logical cores, for reports next to benchmark numbers. */
export function cpuCount(): number {
  return typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
}

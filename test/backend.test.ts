import { afterEach, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import {
  type Availability,
  backendInfo,
  gpuVisible,
  initBackend,
  parseBackendRequest,
  planBackends,
  probeAvailability,
} from "../lib/backend";
import { UserError } from "../lib/errors";
import { webgpuInstalled } from "../lib/backend/webgpu";

const NONE: Availability = { tensorflowGpu: false, gpuVisible: false, tensorflow: false, wasm: false };
const ALL: Availability = { tensorflowGpu: true, gpuVisible: true, tensorflow: true, wasm: true };

describe("planBackends (pure decision)", () => {
  it("auto: native GPU > native > wasm > cpu, cpu always last", () => {
    expect(planBackends("auto", ALL)).toEqual(["tensorflow-gpu", "tensorflow", "wasm", "cpu"]);
    expect(planBackends(undefined, { ...ALL, gpuVisible: false })).toEqual(["tensorflow", "wasm", "cpu"]);
    expect(planBackends("", { ...NONE, tensorflowGpu: true })).toEqual(["cpu"]); // GPU build, no GPU: skip it
    expect(planBackends("auto", { ...NONE, wasm: true })).toEqual(["wasm", "cpu"]);
    expect(planBackends("AUTO", NONE)).toEqual(["cpu"]);
  });

  it("explicit names yield one candidate", () => {
    expect(planBackends("wasm", ALL)).toEqual(["wasm"]);
    expect(planBackends(" CPU ", NONE)).toEqual(["cpu"]);
    expect(planBackends("tensorflow", ALL)).toEqual(["tensorflow-gpu"]);
    expect(planBackends("tensorflow", { ...ALL, gpuVisible: false })).toEqual(["tensorflow"]);
    expect(planBackends("native", { ...NONE, tensorflowGpu: true })).toEqual(["tensorflow-gpu"]);
    expect(planBackends("tensorflow-cpu", ALL)).toEqual(["tensorflow"]);
    expect(planBackends("gpu", ALL)).toEqual(["tensorflow-gpu"]);
  });

  it("requested but unavailable: UserError that says what to install", () => {
    expect(() => planBackends("tensorflow", NONE)).toThrow(UserError);
    expect(() => planBackends("tensorflow", NONE)).toThrow(/npm run native/);
    expect(() => planBackends("tensorflow-cpu", { ...NONE, tensorflowGpu: true })).toThrow(/@tensorflow\/tfjs-node is not installed/);
    expect(() => planBackends("gpu", NONE)).toThrow(/tfjs-node-gpu is not installed.*--gpu/);
    expect(() => planBackends("gpu", { ...NONE, tensorflowGpu: true })).toThrow(/no NVIDIA GPU is visible/);
    expect(() => planBackends("wasm", NONE)).toThrow(/tfjs-backend-wasm is not installed/);
  });

  it("unknown and browser-only names list the valid ones", () => {
    expect(() => parseBackendRequest("tpu")).toThrow(/unknown backend "tpu"; valid: auto, .*webgpu, wasm, cpu/);
    expect(() => parseBackendRequest("webgl")).toThrow(/only runs in a browser/);
  });

  it("WebGPU: after the native GPU build and before native TensorFlow in auto, when installed; explicit when asked", () => {
    expect(planBackends("auto", { ...ALL, webgpu: true })).toEqual(["tensorflow-gpu", "webgpu", "tensorflow", "wasm", "cpu"]);
    expect(planBackends("auto", { ...NONE, webgpu: true, wasm: true })).toEqual(["webgpu", "wasm", "cpu"]);
    expect(planBackends("WebGPU", { ...NONE, webgpu: true })).toEqual(["webgpu"]);
    expect(() => planBackends("webgpu", ALL)).toThrow(/tfjs-backend-webgpu is not installed; install it with `bash scripts\/install-webgpu.sh`/);
  });
});

describe("gpuVisible", () => {
  it("CUDA_VISIBLE_DEVICES='' or -1 hides every GPU", () => {
    expect(gpuVisible({ CUDA_VISIBLE_DEVICES: "" })).toBe(false);
    expect(gpuVisible({ CUDA_VISIBLE_DEVICES: "-1" })).toBe(false);
  });
});

describe("initBackend", () => {
  const saved = process.env.INFIFPO_BACKEND;
  afterEach(() => {
    if (saved === undefined) delete process.env.INFIFPO_BACKEND;
    else process.env.INFIFPO_BACKEND = saved;
  });

  it("honours INFIFPO_BACKEND, and the API argument over it", async () => {
    process.env.INFIFPO_BACKEND = "cpu";
    expect((await initBackend({ quiet: true })).name).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
    const lines: string[] = [];
    const info = await initBackend({ backend: "wasm", log: (l) => lines.push(l) });
    expect(info).toMatchObject({ name: "wasm", kind: "wasm", threads: 1 });
    expect(info.version).toMatch(/SIMD on/);
    expect(tf.getBackend()).toBe("wasm");
    expect(backendInfo()).toEqual(info);
    expect(lines).toEqual([expect.stringMatching(/^\[infifpo\] tfjs backend: wasm \(wasm, /)]);
  });

  it("the same request again returns at once without a second log line", async () => {
    const lines: string[] = [];
    await initBackend({ backend: "cpu", log: (l) => lines.push(l) });
    await initBackend({ backend: "cpu", log: (l) => lines.push(l) });
    expect(lines).toHaveLength(1);
    await initBackend({ backend: "cpu", quiet: true, log: (l) => lines.push(l) });
    expect(lines).toHaveLength(1);
  });

  it("an unknown INFIFPO_BACKEND is a UserError", async () => {
    process.env.INFIFPO_BACKEND = "cuda";
    await expect(initBackend({ quiet: true })).rejects.toThrow(/unknown backend "cuda"/);
  });

  it("auto falls through a candidate that fails to load, and says so", async () => {
    // Claims tfjs-node-gpu and a GPU; the package is absent here, so loading it fails.
    const avail = { ...probeAvailability(), tensorflowGpu: true, gpuVisible: true };
    const lines: string[] = [];
    await initBackend({ backend: "cpu", quiet: true });
    const info = await initBackend({ backend: "auto", availability: avail, log: (l) => lines.push(l) });
    expect(info.name).not.toBe("cpu"); // native or wasm is present in this project
    expect(lines[0]).toMatch(/skipped: tensorflow-gpu: @tensorflow\/tfjs-node-gpu is not installed/);
  });

  it("an explicit backend that cannot load is a UserError naming the fix", async () => {
    const avail = { ...probeAvailability(), tensorflowGpu: true, gpuVisible: true };
    await expect(initBackend({ backend: "gpu", availability: avail, quiet: true })).rejects.toThrow(
      /could not start: .*not installed; install it with `npm run native -- --gpu`/,
    );
  });

  if (!webgpuInstalled()) it.skip("SKIPPED (WebGPU start-up): WebGPU is not installed here (bash scripts/install-webgpu.sh)", () => {});
  it.skipIf(!webgpuInstalled())("WebGPU starts where Dawn finds a GPU adapter; where it finds none, auto falls back naming why", async () => {
    const lines: string[] = [];
    const info = await initBackend({ backend: "auto", log: (l) => lines.push(l) });
    if (info.name === "webgpu") {
      expect(info.kind).toBe("webgpu");
      const y = await tf.matMul(tf.ones([8, 8]), tf.ones([8, 8])).data();
      expect(y[0]).toBe(8);
    } else {
      expect(lines[0]).toMatch(/skipped: webgpu: Dawn found no GPU adapter/);
      await expect(initBackend({ backend: "webgpu", quiet: true })).rejects.toThrow(/backend "webgpu" could not start: Dawn found no GPU adapter/);
    }
  });

  it("concurrent calls are serialised and the last one wins", async () => {
    const [a, b] = await Promise.all([
      initBackend({ backend: "wasm", quiet: true }),
      initBackend({ backend: "cpu", quiet: true }),
    ]);
    expect([a.name, b.name]).toEqual(["wasm", "cpu"]);
    expect(tf.getBackend()).toBe("cpu");
  });
});

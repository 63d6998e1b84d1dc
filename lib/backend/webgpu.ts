/**
 * WebGPU under Node: `@tensorflow/tfjs-backend-webgpu` on Dawn, Chrome's WebGPU implementation, from the `webgpu`
 * npm package (it ships a prebuilt `dawn.node` per platform). Optional and installed on demand, like the native
 * backend: `bash scripts/install-webgpu.sh` puts both packages (~132 MB) into node_modules/.infifpo/webgpu, a
 * folder of its own so that npm's next --no-save install cannot prune them (nor they the native backend).
 *
 * Chosen by INFIFPO_BACKEND=webgpu, or by "auto" when it is installed and Dawn finds a GPU adapter. Where it finds
 * none — no Vulkan/Metal/D3D12 driver for a GPU; Mesa's software Vulkan (lavapipe, Debian 12's mesa 22.3) is
 * refused by Dawn (it lacks shaderUniform*ArrayDynamicIndexing) — "auto" goes on to the next backend with a note
 * on its log line, and an explicit request fails saying so. The model and the trainer need nothing for it: the
 * execution seam runs its programs op by op and its ops with the written-out kernels registered for "*"
 * (./kernels.ts). Not measured on a GPU yet (scripts/gpu-check.sh does, where one is).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { resolvePackage, type ResolvedPackage } from "./packages";

export const WEBGPU_PACKAGES = { backend: "@tensorflow/tfjs-backend-webgpu", dawn: "webgpu" } as const;

/**
 * Where scripts/install-webgpu.sh installs: node_modules/.infifpo/webgpu (next to the fused ops' library), or
 * INFIFPO_WEBGPU_DIR (an install shared by several checkouts).
 */
export function webgpuDir(): string | undefined {
  if (process.env.INFIFPO_WEBGPU_DIR) return path.resolve(process.env.INFIFPO_WEBGPU_DIR);
  const tfjs = resolvePackage("@tensorflow/tfjs")?.dir; // …/node_modules/@tensorflow/tfjs
  return tfjs ? path.resolve(tfjs, "..", "..", ".infifpo", "webgpu") : undefined;
}

/** Both packages, from the on-demand folder (or anywhere Node finds them). */
function packages(): { backend: ResolvedPackage; dawn: ResolvedPackage } | undefined {
  const dir = webgpuDir();
  const extra = dir && fs.existsSync(path.join(dir, "package.json")) ? [path.join(dir, "package.json")] : [];
  const backend = resolvePackage(WEBGPU_PACKAGES.backend, extra);
  const dawn = resolvePackage(WEBGPU_PACKAGES.dawn, extra);
  return backend && dawn ? { backend, dawn } : undefined;
}

/** Whether both packages are installed (cheap: reads package.json files, loads nothing). */
export function webgpuInstalled(): boolean {
  return packages() !== undefined;
}

/** The bits of the WebGPU API used here (no DOM types under Node). */
interface GpuAdapter {
  info?: { vendor?: string; architecture?: string; description?: string };
}
interface Gpu {
  requestAdapter(opts?: { powerPreference?: string }): Promise<GpuAdapter | null>;
}

let gpu: Gpu | null = null;

/** Loads Dawn, asks it for a GPU adapter (throws, saying why, when there is none) and makes WebGPU the tfjs backend. */
export async function activateWebgpu(): Promise<{ name: string; kind: "webgpu"; version: string; package: string }> {
  const pk = packages();
  if (!pk) throw new Error(`${WEBGPU_PACKAGES.backend} and ${WEBGPU_PACKAGES.dawn} are not installed`);
  if (gpu === null) {
    const arch = process.platform === "darwin" ? "universal" : process.arch;
    const binary = path.join(pk.dawn.dir, "dist", `${process.platform}-${arch}`, "dawn.node");
    if (!fs.existsSync(binary)) throw new Error(`${WEBGPU_PACKAGES.dawn} ${pk.dawn.version} has no Dawn build for ${process.platform}-${arch}`);
    const dawn = pk.dawn.req(binary) as { create(flags: string[]): Gpu; globals: Record<string, unknown> };
    Object.assign(globalThis, dawn.globals); // GPUBufferUsage and friends, which tfjs-backend-webgpu reads as globals
    gpu = dawn.create([]);
  }
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    throw new Error(
      "Dawn found no GPU adapter (no Vulkan, Metal or D3D12 driver for a GPU here; Mesa's software Vulkan, lavapipe, is refused by Dawn)",
    );
  }
  // tfjs-backend-webgpu registers itself only where navigator.gpu exists (Node 21+ has a navigator, Node 20 not)
  const g = globalThis as { navigator?: object };
  if (g.navigator === undefined) g.navigator = {};
  Object.defineProperty(g.navigator, "gpu", { value: gpu, configurable: true });
  if (tf.findBackendFactory("webgpu") === null) {
    pk.backend.req(WEBGPU_PACKAGES.backend);
    if (tf.findBackendFactory("webgpu") === null) {
      throw new Error(`${WEBGPU_PACKAGES.backend} registered on another copy of @tensorflow/tfjs-core (all must be ${tf.version_core})`);
    }
  }
  if (!(await tf.setBackend("webgpu"))) throw new Error(`tf.setBackend("webgpu") failed (see the warning above)`);
  await tf.ready();
  const a = adapter.info;
  const gpuName = [a?.vendor, a?.architecture, a?.description].filter((x) => x).join(" ") || "adapter without info";
  return {
    name: "webgpu",
    kind: "webgpu",
    version: `tfjs ${tf.version_core}, tfjs-backend-webgpu ${pk.backend.version}, Dawn (webgpu ${pk.dawn.version}), ${gpuName}`,
    package: WEBGPU_PACKAGES.backend,
  };
}

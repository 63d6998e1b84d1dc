/**
 * Where optional npm packages are installed (the native TensorFlow backend, WebGPU, wasm): found with `require`
 * from several bases, recognised by their real package name (danfojs-node installs `@tensorflow/tfjs` under the
 * name `@tensorflow/tfjs-node`: that alias is not taken for the native backend). Imports nothing of the project,
 * so every file of lib/backend can use it (lib/backend/index.ts and ./fused.ts both do).
 */
import { createRequire } from "node:module";
import * as path from "node:path";

/**
 * `require` functions to resolve optional packages from. No `import.meta` here: tslab runs lib/ as CommonJS.
 * ESM callers (tsx, vitest, bin/) resolve from the entry script and the working directory.
 */
function requirers(extraBases: readonly string[] = []): NodeJS.Require[] {
  const out: NodeJS.Require[] = [];
  if (typeof require === "function") out.push(require);
  for (const base of [...extraBases, process.argv[1], path.join(process.cwd(), "__infifpo__.js")]) {
    if (!base) continue;
    try {
      out.push(createRequire(path.resolve(base)));
    } catch {
      /* not a usable path */
    }
  }
  return out;
}

export interface ResolvedPackage {
  dir: string;
  version: string;
  /** A `require` that finds it (load it with `req(name)`). */
  req: NodeJS.Require;
}

/**
 * The package's folder and version when its real self is installed (an alias under its name does not count).
 * `extraBases`: files to resolve from first (e.g. the package.json of an on-demand install folder).
 */
export function resolvePackage(name: string, extraBases: readonly string[] = []): ResolvedPackage | undefined {
  for (const req of requirers(extraBases)) {
    try {
      const file = req.resolve(`${name}/package.json`);
      const pj = req(file) as { name?: string; version?: string };
      if (pj.name !== name) return undefined;
      return { dir: path.dirname(file), version: pj.version ?? "?", req };
    } catch {
      /* try the next base */
    }
  }
  return undefined;
}

/** Whether this process has already loaded `name` (Node's module cache is shared by every require). */
export function packageLoaded(name: string): boolean {
  const res = resolvePackage(name);
  if (!res) return false;
  try {
    return res.req.cache[res.req.resolve(name)] !== undefined;
  } catch {
    return false; // unresolvable main: not loaded
  }
}

/** The folder of the installed tfjs-node (CPU) package, or undefined. */
export function nativePackageDir(): string | undefined {
  return resolvePackage("@tensorflow/tfjs-node")?.dir;
}

/**
 * Shipped checkpoints (issue 9 §3): source and pivot models trained by the project's own code, committed under
 * `data/lab-models/` with a manifest giving each one's config key, SHA-256 and the exact command that
 * reproduces it. The lab uses a shipped file only when its key equals the key of the config being run and its
 * checksum matches; otherwise it trains the model (and says so).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../errors";

export interface ShippedModel {
  /** The model's config key (lib/lab/pipeline.ts modelKey). */
  key: string;
  /** File name inside the shipped folder. */
  file: string;
  sha256: string;
  bytes: number;
  /** The command that reproduces it, byte for byte on the same backend. */
  command: string;
  backend: string;
  trainedAt: string;
}

export interface ShippedManifest {
  format: "infifpo-lab-models";
  version: 1;
  models: Record<string, ShippedModel>;
}

export const MANIFEST = "manifest.json";

const sums = new Map<string, { mtimeMs: number; size: number; sha: string }>();

/** SHA-256 (hex) of a file, memoised on its size and mtime. */
export function fileSha256(file: string): string {
  const st = fs.statSync(file);
  const c = sums.get(file);
  if (c && c.mtimeMs === st.mtimeMs && c.size === st.size) return c.sha;
  const sha = createHash("sha256").update(fs.readFileSync(file)).digest("hex");
  sums.set(file, { mtimeMs: st.mtimeMs, size: st.size, sha });
  return sha;
}

/** The manifest of a shipped folder, or null when there is none. */
export function readManifest(dir: string): ShippedManifest | null {
  const f = path.join(dir, MANIFEST);
  if (!fs.existsSync(f)) return null;
  let m: ShippedManifest;
  try {
    m = JSON.parse(fs.readFileSync(f, "utf8"));
  } catch (e) {
    throw new UserError(`${f}: invalid JSON (${(e as Error).message})`);
  }
  if (m.format !== "infifpo-lab-models" || typeof m.models !== "object") throw new UserError(`${f}: not a lab-models manifest`);
  return m;
}

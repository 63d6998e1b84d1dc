/**
 * Initial weights in plain JS (no tfjs), from lib/rng's named streams, so they are identical on every backend
 * and do not depend on the order in which tensors are created.
 */
import { Rng } from "../rng";

/** `n` draws from N(0, std²) as float32, from the stream keyed by (seed, name). */
export function normalArray(seed: number, name: string, n: number, std: number): Float32Array {
  const rng = new Rng(seed, name);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
  return out;
}

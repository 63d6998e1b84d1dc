/**
 * The project's one seeded random-number generator (bottom layer: everything from synthetic data and task
 * generators to weight init, data order and token sampling draws from it).
 *
 * Generator: sfc32 (Chris Doty-Humphrey's "small fast chaotic" PRNG, PractRand-clean to 2^40+ bytes), seeded
 * through splitmix32 so nearby seeds give unrelated streams. Its whole state is four uint32 words, so a stream
 * can be saved in a checkpoint and restored exactly (`state` / `Rng.fromState`). Pure integer arithmetic plus
 * V8's fdlibm-based Math.log/cos/sqrt: the same seed gives the same numbers on every platform and backend.
 *
 * Streams are named, never shared by accident: `new Rng(seed, "weights:h0.attn")` or `rng.fork("test-math")`
 * derive an independent stream from a base seed and a label, so the numbers one consumer draws never depend on
 * how many another drew.
 *
 * @example
 * const r = new Rng(42);
 * r.next();          // a float in [0, 1), 53 random bits
 * r.int(6);          // an integer in [0, 6), unbiased
 * r.permutation(5);  // e.g. [3, 0, 4, 1, 2]
 * const saved = r.state();
 * Rng.fromState(saved).nextU32() === r.nextU32(); // true
 */

/** The whole generator state: four uint32 words. */
export type RngState = [number, number, number, number];

/** splitmix32's finaliser: a bijective, well-mixed 32-bit hash of `x`. */
export function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a over the UTF-16 code units of `s`, started from `seed` (both halves of a 53-bit seed): a 32-bit key. */
export function hashSeed(seed: number, s: string): number {
  let h = (0x811c9dc5 ^ (seed | 0)) >>> 0;
  h = Math.imul(h ^ ((seed / 0x100000000) | 0), 0x01000193) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return mix32(h);
}

/**
 * A 31-bit seed derived from a base seed and a path of integers, e.g. `deriveSeed(seed, step, micro)`:
 * stateless per-step seeds make a resumed run draw exactly what the original drew.
 */
export function deriveSeed(seed: number, ...path: number[]): number {
  let h = mix32(seed >>> 0);
  for (const p of path) h = mix32((h ^ mix32(p >>> 0)) >>> 0);
  return h & 0x7fffffff;
}

export class Rng {
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 1;

  /** A stream from an integer seed, optionally narrowed to a named sub-stream (`new Rng(seed, "init")`). */
  constructor(seed: number, stream?: string) {
    if (!Number.isInteger(seed)) throw new Error(`Rng seed must be an integer, got ${seed}`);
    const s = stream === undefined ? mix32(seed >>> 0 ^ mix32((seed / 0x100000000) | 0)) : hashSeed(seed, stream);
    this.a = mix32(s);
    this.b = mix32(this.a ^ 0x1);
    this.c = mix32(this.b ^ 0x2);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.nextU32(); // discard the warm-up outputs
  }

  /** Restores a generator from `state()`; the next draws equal those the saved one would have made. */
  static fromState(s: RngState): Rng {
    if (!Array.isArray(s) || s.length !== 4 || s.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff))
      throw new Error(`invalid RNG state ${JSON.stringify(s)}: expected four uint32 words`);
    const r = new Rng(0);
    [r.a, r.b, r.c, r.d] = s;
    return r;
  }

  state(): RngState {
    return [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
  }

  /** An independent stream derived from this generator's CURRENT state and a label (does not consume draws). */
  fork(stream: string | number): Rng {
    const key = this.state().join(":") + "/" + String(stream);
    return new Rng(this.a | 0, key);
  }

  /** sfc32: the next uint32. */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) throw new Error(`Rng.int: bad bound ${n}`);
    const limit = 0x100000000 - (0x100000000 % n);
    let x: number;
    do x = this.nextU32();
    while (x >= limit);
    return x % n;
  }

  /** Uniform integer in [lo, hi], both ends included. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** true with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Standard normal N(0, 1) (Box–Muller; one value per call, so the state stays four words). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** A uniformly chosen element. */
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error("Rng.pick: empty list");
    return xs[this.int(xs.length)];
  }

  /** Fisher–Yates shuffle in place; returns `arr`. */
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = arr[i];
      arr[i] = arr[j];
      arr[j] = tmp;
    }
    return arr;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }
}

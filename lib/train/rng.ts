/**
 * A small seeded RNG whose whole state is four uint32 words, so it can be saved in a checkpoint and
 * restored exactly. Generator: sfc32 (Chris Doty-Humphrey's "small fast chaotic" PRNG, PractRand-clean),
 * seeded through splitmix32 so that nearby seeds give unrelated streams.
 *
 * @example
 * const rng = new Rng(42);
 * const order = rng.permutation(5);   // e.g. [3, 0, 4, 1, 2], the same for every run with seed 42
 * const saved = rng.state();          // [a, b, c, d]
 * Rng.fromState(saved).next() === rng.next(); // true
 */
export type RngState = [number, number, number, number];

/** splitmix32 step: a well-mixed 32-bit hash of `x`. */
export function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * A 31-bit seed derived from a base seed and a path of integers, e.g. `deriveSeed(seed, step, micro)`:
 * stateless per-step seeds (dropout, sampling) make a resumed run draw exactly what the original drew.
 */
export function deriveSeed(seed: number, ...path: number[]): number {
  let h = mix32(seed >>> 0);
  for (const p of path) h = mix32((h ^ mix32(p >>> 0)) >>> 0);
  return h & 0x7fffffff;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new Error(`Rng seed must be an integer, got ${seed}`);
    this.a = mix32(seed);
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

  /** sfc32: next uint32. */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextU32() / 4294967296;
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

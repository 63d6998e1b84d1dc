/**
 * A small seeded PRNG for synthetic data: mulberry32 (Tommy Ettinger, public domain; 32-bit state,
 * period 2^32, passes gjrand/PractRand to a few GB — plenty for sample data, not for cryptography).
 * The integer seed is first scrambled with splitmix32's finaliser so nearby seeds (0, 1, 2 …) give
 * unrelated streams. Pure integer arithmetic plus V8's fdlibm-based Math.log/cos/sqrt: the same seed gives
 * the same numbers on every platform and Node version that this project supports.
 *
 * @example
 *   const r = rng(0);
 *   r.next();      // a float in [0, 1)
 *   r.int(6);      // an integer in [0, 6)
 *   r.normal();    // a standard normal draw
 */
export interface Rng {
  /** Uniform float in [0, 1), 32 bits of randomness. */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Standard normal N(0, 1) (Box–Muller, one draw per call). */
  normal(): number;
  /** A uniformly chosen element. */
  pick<T>(xs: readonly T[]): T;
  /** An independent generator derived from this one's seed and `stream` (stable: doesn't consume draws). */
  fork(stream: number): Rng;
}

/** splitmix32 finaliser: a bijective 32-bit hash. */
export function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

/** A mulberry32 generator seeded with `mix32(seed)`. Seeds are taken modulo 2^32. */
export function rng(seed: number): Rng {
  const seed32 = mix32(Math.floor(seed) | 0);
  let a = seed32;
  const next = (): number => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    normal: () => {
      const u = 1 - next(); // (0, 1]: log is finite
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
    },
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    fork: (stream) => rng(mix32(seed32 ^ Math.imul(stream + 1, 0x85ebca6b))),
  };
}

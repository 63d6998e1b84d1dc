/** lib/rng: the one seeded generator every layer draws from. */
import { describe, expect, it } from "vitest";
import { Rng, deriveSeed, hashSeed } from "../lib/rng";

describe("Rng", () => {
  it("is deterministic per seed and stream, and different seeds or streams differ", () => {
    const draw = (r: Rng) => Array.from({ length: 5 }, () => r.next());
    const xs = draw(new Rng(0));
    expect(draw(new Rng(0))).toEqual(xs);
    expect(draw(new Rng(1))).not.toEqual(xs);
    expect(draw(new Rng(0, "a"))).toEqual(draw(new Rng(0, "a")));
    expect(draw(new Rng(0, "a"))).not.toEqual(draw(new Rng(0, "b")));
    expect(draw(new Rng(0, "a"))).not.toEqual(xs);
    // both 32-bit halves of a large seed matter
    expect(new Rng(2 ** 40 + 5).nextU32()).not.toBe(new Rng(5).nextU32());
  });

  it("pins its first outputs (a change of generator must be a deliberate one)", () => {
    const r = new Rng(42);
    expect([r.nextU32(), r.nextU32(), r.nextU32()]).toEqual(PINNED_42);
    expect(new Rng(42, "x").nextU32()).toBe(PINNED_42_X);
  });

  it("nextU32 is sfc32, checked against a BigInt re-implementation from the same state", () => {
    const M = 0xffffffffn;
    let [a, b, c, d] = [0x9e3779b9n, 0x243f6a88n, 0xb7e15162n, 1n];
    const r = Rng.fromState([Number(a), Number(b), Number(c), Number(d)]);
    for (let i = 0; i < 1000; i++) {
      const t = (a + b + d) & M;
      d = (d + 1n) & M;
      a = b ^ (b >> 9n);
      b = (c + (c << 3n)) & M;
      c = ((c << 21n) | (c >> 11n)) & M;
      c = (c + t) & M;
      expect(r.nextU32()).toBe(Number(t));
    }
  });

  it("draws look uniform / normal (fixed seed, so not flaky)", () => {
    const r = new Rng(123);
    let s = 0, s2 = 0, lo = 1, hi = 0, ns = 0, ns2 = 0;
    const counts = [0, 0, 0, 0, 0, 0];
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const u = r.next();
      s += u;
      s2 += u * u;
      lo = Math.min(lo, u);
      hi = Math.max(hi, u);
      counts[r.int(6)]++;
      const z = r.normal();
      ns += z;
      ns2 += z * z;
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    expect(s / n).toBeCloseTo(0.5, 2);
    expect(s2 / n - (s / n) ** 2).toBeCloseTo(1 / 12, 2);
    for (const c of counts) expect(Math.abs(c / n - 1 / 6)).toBeLessThan(0.01);
    expect(ns / n).toBeCloseTo(0, 1);
    expect(ns2 / n).toBeCloseTo(1, 1);
  });

  it("between, chance, pick and permutation stay in range", () => {
    const r = new Rng(5);
    for (let i = 0; i < 1000; i++) {
      const v = r.between(3, 7);
      expect(v >= 3 && v <= 7 && Number.isInteger(v)).toBe(true);
    }
    expect([...new Rng(1).permutation(50)].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(["a", "b"]).toContain(r.pick(["a", "b"]));
    expect(() => r.pick([])).toThrow(/empty/);
    let hits = 0;
    for (let i = 0; i < 10_000; i++) if (r.chance(0.3)) hits++;
    expect(Math.abs(hits / 10_000 - 0.3)).toBeLessThan(0.02);
  });

  it("fork gives a stable stream that doesn't consume draws", () => {
    const a = new Rng(7);
    const f1 = a.fork(3).next();
    const x = a.next();
    expect(new Rng(7).fork(3).next()).toBe(f1);
    expect(new Rng(7).next()).toBe(x);
    expect(new Rng(7).fork(4).next()).not.toBe(f1);
    expect(new Rng(7).fork("3").next()).toBe(f1); // labels are strings
  });

  it("state / fromState resume the stream exactly", () => {
    const a = new Rng(9);
    a.next();
    const s = a.state();
    const b = Rng.fromState(s);
    expect(Array.from({ length: 10 }, () => b.nextU32())).toEqual(Array.from({ length: 10 }, () => a.nextU32()));
    expect(() => Rng.fromState([1, 2, 3] as never)).toThrow(/four uint32/);
  });

  it("hashSeed and deriveSeed are stable and spread", () => {
    expect(hashSeed(1, "abc")).toBe(hashSeed(1, "abc"));
    expect(hashSeed(1, "abc")).not.toBe(hashSeed(2, "abc"));
    const seen = new Set<number>();
    for (let s = 0; s < 100; s++) for (let m = 0; m < 4; m++) seen.add(deriveSeed(7, s, m));
    expect(seen.size).toBe(400);
  });
});

const PINNED_42 = [1737485109, 2614069210, 1483159455];
const PINNED_42_X = 1393084331;

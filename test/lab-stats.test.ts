/** lib/lab/stats: pinned to hand values and standard tables, the fast bootstrap against an obvious one. */
import { describe, expect, it } from "vitest";
import { Rng } from "../lib/rng";
import {
  bootstrapBenchmarkMeans, incompleteBeta, logGamma, matrixMean, mean, percentileInterval, quantileSorted, sampleStd,
  tCdf, tInterval, tQuantile,
} from "../lib/lab/stats";

describe("descriptive statistics", () => {
  it("mean, sd, quantiles (NumPy's linear rule)", () => {
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    expect(sampleStd([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(2.138089935299395, 14);
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4, 5], 0.025)).toBeCloseTo(1.1, 14);
    expect(matrixMean([[1, 0], [1, 1]])).toBe(0.75);
  });
});

describe("special functions", () => {
  it("log Γ and the incomplete beta at hand-computed points", () => {
    expect(logGamma(0.5)).toBeCloseTo(0.5723649429247001, 13); // ln √π
    expect(logGamma(10)).toBeCloseTo(Math.log(362880), 12);
    expect(incompleteBeta(0.5, 2, 3)).toBeCloseTo(11 / 16, 13); // Σ_{j=2..4} C(4,j)/16
    expect(incompleteBeta(0.3, 1, 1)).toBeCloseTo(0.3, 14);
  });

  it("Student's t matches standard tables", () => {
    const table: [number, number][] = [[1, 12.7062047], [2, 4.30265273], [3, 3.18244631], [4, 2.77644511], [5, 2.57058184], [10, 2.22813885], [30, 2.04227246], [100, 1.98397152]];
    for (const [df, t] of table) expect(tQuantile(0.975, df)).toBeCloseTo(t, 6);
    expect(tCdf(0, 7)).toBeCloseTo(0.5, 14);
    expect(tQuantile(0.025, 4)).toBeCloseTo(-2.77644511, 6);
  });

  it("t-interval over seeds", () => {
    const r = tInterval([0.6, 0.7, 0.65]);
    expect(r.mean).toBeCloseTo(0.65, 14);
    expect(r.hi - r.mean).toBeCloseTo(4.30265273 * (0.05 / Math.sqrt(3)), 6);
    expect(Number.isNaN(tInterval([0.5]).lo)).toBe(true);
  });
});

/** The same two-stage bootstrap written the obvious way: materialise the resampled matrix, take its mean. */
function naiveBootstrap(scores: number[][][][], replicates: number, seed: number): number[][][] {
  const rng = new Rng(seed, "bootstrap");
  const S = Math.max(...scores.map((v) => v[0].length));
  const out: number[][][] = [];
  for (let r = 0; r < replicates; r++) {
    const seeds = Array.from({ length: S }, () => rng.int(S));
    const rep = scores.map(() => [] as number[]);
    for (let b = 0; b < scores[0].length; b++) {
      const I = scores[0][b][0].length;
      const items = Array.from({ length: I }, () => rng.int(I));
      scores.forEach((v, vi) => {
        const vals: number[] = [];
        for (const s of seeds) for (const i of items) vals.push(v[b][v[b].length === 1 ? 0 : s][i]);
        rep[vi][b] = mean(vals);
      });
    }
    out.push(rep);
  }
  return out;
}

describe("bootstrap", () => {
  const rng = new Rng(1);
  const mat = (S: number, I: number, p: number) => Array.from({ length: S }, () => Array.from({ length: I }, () => (rng.next() < p ? 1 : 0)));

  it("equals the obvious implementation draw for draw (seeded, shared indices, seed-independent rows)", () => {
    const scores = [[mat(3, 20, 0.5), mat(3, 7, 0.2)], [mat(3, 20, 0.7), mat(3, 7, 0.9)], [mat(1, 20, 0.4), mat(1, 7, 0.4)]];
    const fast = bootstrapBenchmarkMeans(scores, { replicates: 50, seed: 4 });
    const slow = naiveBootstrap(scores, 50, 4);
    for (let r = 0; r < 50; r++) for (let v = 0; v < 3; v++) for (let b = 0; b < 2; b++) expect(fast[r][v][b]).toBeCloseTo(slow[r][v][b], 12);
  });

  it("a 95% interval covers the true rate in about 95% of simulated benchmarks", () => {
    let covered = 0;
    const trials = 200;
    for (let t = 0; t < trials; t++) {
      const m = mat(1, 150, 0.6);
      const reps = bootstrapBenchmarkMeans([[m]], { replicates: 400, seed: t });
      const ci = percentileInterval(reps.map((r) => r[0][0]), matrixMean(m));
      if (ci.lo <= 0.6 && 0.6 <= ci.hi) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.9);
    expect(covered / trials).toBeLessThan(0.99);
  });

  it("refuses mismatched shapes", () => {
    expect(() => bootstrapBenchmarkMeans([[mat(2, 5, 0.5)], [mat(2, 6, 0.5)]], { replicates: 1, seed: 0 })).toThrow(/item counts/);
    expect(() => bootstrapBenchmarkMeans([[mat(2, 5, 0.5)], [mat(3, 5, 0.5)]], { replicates: 1, seed: 0 })).toThrow(/seeds/);
  });
});

/**
 * Statistics for the lab's results (pure functions, float64).
 *
 * Scores come as matrices M[s][i]: seed s (an independent repetition of the preference stage) × test item i of
 * one benchmark. A cell's estimate is the mean over seeds and items. Its 95% interval is a two-stage percentile
 * bootstrap: each replicate resamples the seeds with replacement and, independently per benchmark, the test
 * items, so the interval covers both training noise (seeds) and benchmark sampling noise (items); with one seed
 * only the items vary. Category and overall scores are equal-weight means of their benchmarks' means, computed
 * on the same replicates. A paired comparison applies the SAME replicate indices to two variants evaluated on
 * the same seeds and items (paired bootstrap), giving an interval for the difference and the share of replicates
 * in which it is positive.
 */
import { Rng } from "../rng";

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (n − 1 in the denominator); NaN below two values. */
export function sampleStd(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) ** 2;
  return Math.sqrt(s / (xs.length - 1));
}

/**
 * The q-quantile of sorted values by linear interpolation between order statistics (NumPy's default, "linear"):
 * position h = (n − 1)·q.
 * @example quantileSorted([1, 2, 3, 4], 0.5) // 2.5
 */
export function quantileSorted(sorted: readonly number[], q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * q, lo = Math.floor(h), hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; ~15 significant digits). */
export function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Regularised incomplete beta I_x(a, b) (continued fraction, modified Lentz; Numerical Recipes §6.4). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(1 - x, b, a);
  const tiny = 1e-300;
  let f = 1, c = 1, d = 0;
  for (let m = 0; m <= 300; m++) {
    let num: number;
    if (m === 0) num = 1;
    else if (m % 2 === 0) {
      const k = m / 2;
      num = (k * (b - k) * x) / ((a + 2 * k - 1) * (a + 2 * k));
    } else {
      const k = (m - 1) / 2;
      num = -((a + k) * (a + b + k) * x) / ((a + 2 * k) * (a + 2 * k + 1));
    }
    d = 1 + num * d;
    d = Math.abs(d) < tiny ? tiny : d;
    d = 1 / d;
    c = 1 + num / c;
    c = Math.abs(c) < tiny ? tiny : c;
    const cd = c * d;
    f *= cd;
    if (Math.abs(1 - cd) < 1e-15) break;
  }
  return (front * (f - 1)) / a;
}

/** Student's t CDF with ν degrees of freedom. */
export function tCdf(t: number, nu: number): number {
  const x = nu / (nu + t * t);
  const tail = 0.5 * incompleteBeta(x, nu / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The p-quantile of Student's t with ν degrees of freedom (bisection on `tCdf`, to 1e-12). */
export function tQuantile(p: number, nu: number): number {
  if (!(p > 0 && p < 1) || !(nu > 0)) return NaN;
  if (p < 0.5) return -tQuantile(1 - p, nu);
  let lo = 0, hi = 1;
  while (tCdf(hi, nu) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12; i++) {
    const mid = (lo + hi) / 2;
    if (tCdf(mid, nu) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Mean ± t-interval over independent values (e.g. per-seed accuracies); lo/hi NaN below two values. */
export function tInterval(xs: readonly number[], level = 0.95): { mean: number; lo: number; hi: number; sd: number; n: number } {
  const m = mean(xs), sd = sampleStd(xs), n = xs.length;
  const h = n >= 2 ? tQuantile(1 - (1 - level) / 2, n - 1) * (sd / Math.sqrt(n)) : NaN;
  return { mean: m, lo: m - h, hi: m + h, sd, n };
}

/** One variant's scores on one benchmark: rows = seeds, columns = the benchmark's test items. */
export type ScoreMatrix = readonly (readonly number[])[];

/** The estimate of a matrix: the mean over seeds and items. */
export function matrixMean(m: ScoreMatrix): number {
  let s = 0, n = 0;
  for (const row of m) for (const x of row) (s += x), n++;
  return n ? s / n : NaN;
}

export interface BootstrapOptions {
  replicates: number;
  seed: number;
}

/**
 * Bootstrap replicates of every variant's benchmark means, with shared resampling indices: `scores[v][b]` is
 * variant v's matrix on benchmark b; all variants must have the same number of seeds S (a variant with one row
 * is treated as seed-independent and reuses that row) and, per benchmark, the same items. Returns
 * `reps[r][v][b]`, the mean of variant v on benchmark b in replicate r.
 */
export function bootstrapBenchmarkMeans(scores: readonly (readonly ScoreMatrix[])[], opts: BootstrapOptions): Float64Array[][] {
  const V = scores.length;
  if (V === 0) return [];
  const B = scores[0].length;
  const S = Math.max(...scores.map((v) => v[0]?.length ?? 1));
  for (const v of scores) {
    if (v.length !== B) throw new Error("bootstrap: every variant needs the same benchmarks");
    v.forEach((m, b) => {
      if (m.length !== S && m.length !== 1) throw new Error(`bootstrap: ${m.length} seeds where ${S} (or 1) are expected`);
      for (const row of m) if (row.length !== scores[0][b][0].length) throw new Error("bootstrap: item counts differ between variants");
    });
  }
  const rng = new Rng(opts.seed, "bootstrap");
  const out: Float64Array[][] = [];
  const seedW = new Float64Array(S);
  for (let r = 0; r < opts.replicates; r++) {
    seedW.fill(0);
    for (let s = 0; s < S; s++) seedW[rng.int(S)]++;
    const rep = Array.from({ length: V }, () => new Float64Array(B));
    for (let b = 0; b < B; b++) {
      const I = scores[0][b][0].length;
      const itemC = new Float64Array(I);
      for (let i = 0; i < I; i++) itemC[rng.int(I)]++;
      for (let v = 0; v < V; v++) {
        const m = scores[v][b];
        let sum = 0;
        for (let i = 0; i < I; i++) {
          if (itemC[i] === 0) continue;
          let col = 0;
          if (m.length === 1) col = m[0][i] * S;
          else for (let s = 0; s < S; s++) if (seedW[s]) col += seedW[s] * m[s][i];
          sum += itemC[i] * col;
        }
        rep[v][b] = sum / (S * I);
      }
    }
    out.push(rep);
  }
  return out;
}

/** A point estimate with its percentile interval. */
export interface Estimate {
  mean: number;
  lo: number;
  hi: number;
}

/** Percentile interval of `stat` over replicates, around the point value `point`. */
export function percentileInterval(values: readonly number[], point: number, level = 0.95): Estimate {
  const sorted = [...values].sort((a, b) => a - b);
  return { mean: point, lo: quantileSorted(sorted, (1 - level) / 2), hi: quantileSorted(sorted, 1 - (1 - level) / 2) };
}

/**
 * An independent float64 oracle for InfiFPO, written from infifpo.md without importing anything from lib/.
 * Tests compare lib/ (scalar and tensor forms) and the CLI against it.
 */

export type Strategy = "mean" | "confidence" | "max-margin";

export interface OracleSettings {
  strategy: Strategy;
  clip: boolean;
  lengthNorm: boolean;
  beta: number;
  includePivot?: boolean;
  refOffset?: number | null;
  epsilon?: number;
  marginTo?: "pivot" | "policy";
}

export interface OracleRecord {
  ref_chosen_logps: number;
  ref_rejected_logps: number;
  ref_mean_chosen_logps: number;
  ref_mean_rejected_logps: number;
  fuse_chosen_logps: number[];
  fuse_rejected_logps: number[];
  fuse_mean_chosen_logps: number[];
  fuse_mean_rejected_logps: number[];
  policy_chosen_logps?: number;
  policy_rejected_logps?: number;
  policy_mean_chosen_logps?: number;
  policy_mean_rejected_logps?: number;
}

export interface OracleResult {
  fusedChosen: number;
  fusedRejected: number;
  sourceChosen: number | null;
  sourceRejected: number | null;
  z: number;
  loss: number;
  weight: number;
}

/** ℓ_fu for one side, straight from the spec's definitions. */
export function oracleFuse(
  chosenSide: boolean,
  p0: number,
  src: number[],
  s: OracleSettings,
  policy?: number,
): { value: number; index: number | null } {
  // Clipping: chosen → max(ℓ_i, ℓ_p0); rejected → min(ℓ_i, ℓ_p0).
  let c = src.map((v) => (s.clip ? (chosenSide ? (v > p0 ? v : p0) : (v < p0 ? v : p0)) : v));
  if (s.includePivot) c = [...c, p0];
  let value: number;
  let index: number | null = null;
  if (s.strategy === "mean") {
    value = c.reduce((a, b) => a + b, 0) / c.length;
  } else if (s.strategy === "confidence") {
    const eps = s.epsilon ?? 1e-8;
    const raw = c.map((v) => 1 / (eps - v));
    const tot = raw.reduce((a, b) => a + b, 0);
    value = c.reduce((acc, v, i) => acc + (raw[i] / tot) * v, 0);
  } else {
    // distance to the pivot at init, or to the live policy (marginTo "policy")
    const anchor = s.marginTo === "policy" ? (policy as number) : p0;
    const dist = c.map((v) => Math.abs(v - anchor));
    const m = Math.max(...dist);
    index = dist.indexOf(m); // first (lowest) index among ties
    value = c[index];
  }
  if (s.refOffset !== undefined && s.refOffset !== null) {
    if (value < p0 - s.refOffset) value = p0 - s.refOffset;
    if (value > p0 + s.refOffset) value = p0 + s.refOffset;
  }
  return { value, index };
}

/** The full per-record computation: fused reference, logit z, loss −log σ(z), weight σ(−z). */
export function oracleRecord(r: OracleRecord, s: OracleSettings): OracleResult {
  const ln = s.lengthNorm;
  const p0w = ln ? r.ref_mean_chosen_logps : r.ref_chosen_logps;
  const p0l = ln ? r.ref_mean_rejected_logps : r.ref_rejected_logps;
  const srcW = ln ? r.fuse_mean_chosen_logps : r.fuse_chosen_logps;
  const srcL = ln ? r.fuse_mean_rejected_logps : r.fuse_rejected_logps;
  const polW = (ln ? r.policy_mean_chosen_logps : r.policy_chosen_logps) ?? p0w;
  const polL = (ln ? r.policy_mean_rejected_logps : r.policy_rejected_logps) ?? p0l;
  const fw = oracleFuse(true, p0w, srcW, s);
  const fl = oracleFuse(false, p0l, srcL, s);
  const z = s.beta * (polW - fw.value - (polL - fl.value));
  // −log σ(z) and σ(−z) in float64, written without shared helpers.
  const loss = z > 0 ? Math.log1p(Math.exp(-z)) : -z + Math.log1p(Math.exp(z));
  const weight = z > 0 ? Math.exp(-z) / (1 + Math.exp(-z)) : 1 / (1 + Math.exp(z));
  return { fusedChosen: fw.value, fusedRejected: fl.value, sourceChosen: fw.index, sourceRejected: fl.index, z, loss, weight };
}

/** Baseline losses on log-ratio h = (ℓθ−ℓref)(y_w) − (ℓθ−ℓref)(y_l), float64. */
export const oracleLoss = {
  sigmoid: (beta: number, h: number) => {
    const z = beta * h;
    return z > 0 ? Math.log1p(Math.exp(-z)) : -z + Math.log1p(Math.exp(z));
  },
  ipo: (beta: number, h: number) => (h - 1 / (2 * beta)) ** 2,
  hinge: (beta: number, h: number) => Math.max(0, 1 - beta * h),
  simpo: (beta: number, gamma: number, meanW: number, meanL: number) => {
    const z = beta * meanW - beta * meanL - gamma;
    return z > 0 ? Math.log1p(Math.exp(-z)) : -z + Math.log1p(Math.exp(z));
  },
  wrpo: (beta: number, alpha: number, rS: number, rW: number, rL: number) => {
    const z = alpha * beta * rS + (1 - alpha) * beta * rW - beta * rL;
    return z > 0 ? Math.log1p(Math.exp(-z)) : -z + Math.log1p(Math.exp(z));
  },
};

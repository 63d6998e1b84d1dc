/**
 * Scalar (float64) forms of the preference-loss formulas (infifpo.md, "Final loss"), used by data preparation,
 * analysis and the CLI. The tfjs forms in ./tensor-math.ts are tested equal to these.
 */

/** softplus(x) = log(1 + eˣ), stable for any |x|: max(x, 0) + log1p(e^−|x|).  softplus(0) === ln 2 */
export function softplus(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

/** σ(x) = 1 / (1 + e^−x), stable for any |x|.  sigmoid(0) === 0.5 */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** −log σ(z) = softplus(−z): the sigmoid preference loss of DPO and InfiFPO. */
export function sigmoidLoss(z: number): number {
  return softplus(-z);
}

/**
 * The preference logit z = β[(ℓ_θ(y_w) − ℓ_ref(y_w)) − (ℓ_θ(y_l) − ℓ_ref(y_l))], with ℓ_ref = ℓ_p0 (DPO) or ℓ_fu (InfiFPO).
 *   preferenceLogit(2.5, -0.06975, -0.06975, -0.13945, -0.33685) ≈ -0.4935
 */
export function preferenceLogit(
  beta: number,
  policyChosen: number,
  refChosen: number,
  policyRejected: number,
  refRejected: number,
): number {
  return beta * ((policyChosen - refChosen) - (policyRejected - refRejected));
}

/** The preference-disparity weight σ(−z): how hard the gradient pushes this pair (0.5 for DPO at init). */
export function disparityWeight(z: number): number {
  return sigmoid(-z);
}

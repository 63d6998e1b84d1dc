/**
 * Learning-rate schedules: pure functions of the optimizer step (0-based: the lr used by update #s).
 * Same shapes as transformers' `get_cosine_schedule_with_warmup` / `cosine_with_min_lr`, so logged
 * `learning_rate` curves line up with TRL runs.
 */
export interface ScheduleConfig {
  /** Peak learning rate, reached at the end of warm-up. */
  lr: number;
  /** Steps of linear warm-up from 0 to `lr`. */
  warmupSteps: number;
  /** Total optimizer steps; decay reaches `minLrRatio * lr` here. */
  totalSteps: number;
  /** "cosine" (default) decays to `minLrRatio·lr`; "linear" decays linearly; "constant" stays at lr after warm-up. */
  kind?: "cosine" | "linear" | "constant";
  /** Floor of the decay as a fraction of `lr` (default 0). */
  minLrRatio?: number;
}

/**
 * η(s) = lr · s / W                                       for s < W (linear warm-up, transformers' convention)
 * η(s) = lr · (ρ + (1 − ρ) · ½(1 + cos(π · p)))             p = (s − W) / (T − W), clamped to [0, 1]
 *
 * @example
 * const f = warmupCosine({ lr: 1e-3, warmupSteps: 10, totalSteps: 110 });
 * f(0); f(5); f(10); f(60); f(110);   // 0, 5e-4, 1e-3, 5e-4, 0
 */
export function warmupCosine(cfg: ScheduleConfig): (step: number) => number {
  const { lr, warmupSteps: W, totalSteps: T } = cfg;
  const kind = cfg.kind ?? "cosine";
  const rho = cfg.minLrRatio ?? 0;
  if (!(lr >= 0) || !Number.isFinite(lr)) throw new Error(`schedule: lr must be a finite number ≥ 0, got ${lr}`);
  if (!Number.isInteger(W) || W < 0) throw new Error(`schedule: warmupSteps must be an integer ≥ 0, got ${W}`);
  if (!Number.isInteger(T) || T < 1) throw new Error(`schedule: totalSteps must be an integer ≥ 1, got ${T}`);
  if (!(rho >= 0 && rho <= 1)) throw new Error(`schedule: minLrRatio must be in [0, 1], got ${rho}`);
  return (step: number) => {
    if (step < W) return (lr * step) / W;
    if (kind === "constant") return lr;
    const p = Math.min(1, Math.max(0, (step - W) / Math.max(1, T - W)));
    const shape = kind === "linear" ? 1 - p : 0.5 * (1 + Math.cos(Math.PI * p));
    return lr * (rho + (1 - rho) * shape);
  };
}

/**
 * The lab's numbers (issue 9 §2.5, §3): every model's accuracy per benchmark, per category and overall with a
 * 95% bootstrap interval over seeds × items (lib/lab/stats.ts), paired differences of every variant against DPO
 * and against SFT on the same replicates, and the sanity gates. Pure: LabOutputs in, a JSON-able object out.
 *
 * Accuracy is exact match (`correct`; lm-eval's acc for multiple choice). A category's score is the equal-weight
 * mean of its benchmarks, the overall score the equal-weight mean of the categories (so a category with three
 * families does not outweigh one with a single family).
 */
import { CATEGORIES } from "../tasks";
import type { LabOutputs, PairStats, SeedRegime, SelectionReport } from "./pipeline";
import { bootstrapBenchmarkMeans, matrixMean, mean, percentileInterval, type Estimate, type ScoreMatrix } from "./stats";

/** A paired difference a − b: point, percentile interval, and the share of replicates where a − b > 0. */
export interface Difference extends Estimate {
  pPositive: number;
}

export interface ModelRow {
  name: string;
  label: string;
  /** "base" = the initial pivot and the sources (seed-independent); otherwise the variant's group. */
  group: string;
  perBenchmark: Record<string, Estimate>;
  perCategory: Record<string, Estimate>;
  overall: Estimate;
  /** Paired differences (variants only; absent for the comparison's own baseline). */
  vsDpo?: { perCategory: Record<string, Difference>; overall: Difference };
  vsSft?: { perCategory: Record<string, Difference>; overall: Difference };
}

export interface Gate {
  name: string;
  /**
   * "regime": a precondition under which the paper's method can work or fail at all (a run whose regime gates
   * fail says that its claims are not evidence); "sanity": the pipeline did what it says.
   */
  kind: "regime" | "sanity";
  pass: boolean;
  detail: string;
}

/** One of the paper's claims (spec, "What the paper reports") checked on this run. */
export interface Claim {
  claim: string;
  /** reproduced: the paired 95% CI lies above 0 in the claimed direction; not reproduced: below; else inconclusive. */
  verdict: "reproduced" | "not reproduced" | "inconclusive";
  evidence: string;
  /** The difference (claimed-better − claimed-worse) in accuracy, or null for cost claims. */
  difference: Difference | null;
}

/** Per variant, averaged over seeds: nonsense-output rate, drift of logps/chosen, and its hyper-parameters. */
export interface VariantDiagnostics {
  nonsense: number;
  /** logps/chosen at the start and end of training and the change (nats, sums), mean over seeds; null if untrained. */
  drift: { start: number; end: number; change: number } | null;
  hparams: LabOutputs["hparams"][string];
}

export interface LabResults {
  format: "infifpo-lab-results";
  version: 2;
  runId: string;
  preset: string;
  configKey: string;
  backend: string;
  createdAt: string;
  seeds: number[];
  bootstrap: { replicates: number; level: 0.95 };
  benchmarks: { family: string; category: string; items: number; validationItems: number }[];
  categories: string[];
  rows: ModelRow[];
  gates: Gate[];
  /** false when a regime gate failed: the claims are then not evidence about the method. */
  claimsAreEvidence: boolean;
  claims: Claim[];
  pairStats: Record<string, PairStats>;
  /** The regime measured on each seed's pairs. */
  regime: Record<string, SeedRegime>;
  diagnostics: Record<string, VariantDiagnostics>;
  /** Nonsense-output rate of the initial pivot and the sources. */
  baseNonsense: Record<string, number>;
  selection: SelectionReport | null;
  timings: Record<string, number>;
  stageSeconds: Record<string, number>;
  /** The full resolved config. */
  config: unknown;
}

const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1) : "—");

/**
 * The regime's thresholds (issue 19 §1): multi-token answers in which tokenizers differ, a pivot with room to
 * learn, sources with something to fuse, a fused reference at the paper's distance, a preference stage that
 * does not over-train.
 */
export const REGIME = Object.freeze({
  minChosenChars: 20,
  minTokenRatio: 1.5,
  pivotBand: [0.2, 0.8] as const,
  pivotBandMin: 7,
  minSourceLead: 0.1,
  fusedGap: [0.1, 1.0] as const,
  maxNonsense: 0.05,
  /** logps/chosen may become at most this much more negative (relative) over training. */
  maxChosenDrop: 0.5,
});

/** Mean start / end / change of the drifts of the seeds that have one. */
function meanDrift(ds: readonly ({ start: number; end: number; change: number } | null)[]): { start: number; end: number; change: number } | null {
  const xs = ds.filter((d): d is NonNullable<typeof d> => d !== null);
  if (xs.length === 0) return null;
  return { start: mean(xs.map((d) => d.start)), end: mean(xs.map((d) => d.end)), change: mean(xs.map((d) => d.change)) };
}

/** Builds the results object of a lab run. */
export function aggregate(out: LabOutputs, meta: { runId: string; preset: string; configKey: string; createdAt?: string }): LabResults {
  const fams = out.benchmarks.map((b) => b.family);
  const cats = CATEGORIES.filter((c) => out.benchmarks.some((b) => b.category === c));
  const catOf = (c: string) => out.benchmarks.flatMap((b, i) => (b.category === c ? [i] : []));
  const mat = (evals: Record<string, { correct: number }[]>[]): ScoreMatrix[] =>
    fams.map((f) => evals.map((e) => e[f].map((r) => r.correct)));

  // models: initial pivot + sources (one row each), then the variants (one row per seed)
  const entries: { name: string; label: string; group: string; scores: ScoreMatrix[] }[] = [];
  for (const m of out.models) {
    entries.push({
      name: m.role === "pivot" ? `${m.name} (init)` : m.name,
      label: m.role === "pivot" ? `initial pivot (${m.tokenizer} tokenizer, general mix)` : `source: ${m.specialty.join("+")} specialist (${m.tokenizer} tokenizer)`,
      group: "base",
      scores: mat([out.baseEvals[m.name]]),
    });
  }
  for (const v of out.variants) entries.push({ name: v.name, label: v.label, group: v.group, scores: mat(out.seeds.map((s) => s.evals[v.name])) });

  const B = out.config.bootstrap;
  const reps = bootstrapBenchmarkMeans(entries.map((e) => e.scores), { replicates: B, seed: out.config.benchmarks.seed });
  const catMean = (bm: ArrayLike<number>, c: string) => {
    const ix = catOf(c);
    return ix.reduce((s, i) => s + bm[i], 0) / ix.length;
  };
  const overallMean = (bm: ArrayLike<number>) => cats.reduce((s, c) => s + catMean(bm, c), 0) / cats.length;
  const points = entries.map((e) => e.scores.map(matrixMean));

  const est = (v: number, f: (bm: ArrayLike<number>) => number): Estimate => percentileInterval(reps.map((r) => f(r[v])), f(points[v]));
  const diff = (a: number, b: number, f: (bm: ArrayLike<number>) => number): Difference => {
    const d = reps.map((r) => f(r[a]) - f(r[b]));
    return { ...percentileInterval(d, f(points[a]) - f(points[b])), pPositive: d.filter((x) => x > 0).length / Math.max(1, d.length) };
  };
  const idx = (name: string) => entries.findIndex((e) => e.name === name);
  const iDpo = idx("dpo"), iSft = idx("sft");

  const rows: ModelRow[] = entries.map((e, v) => {
    const row: ModelRow = {
      name: e.name, label: e.label, group: e.group,
      perBenchmark: Object.fromEntries(fams.map((f, b) => [f, est(v, (bm) => bm[b])])),
      perCategory: Object.fromEntries(cats.map((c) => [c, est(v, (bm) => catMean(bm, c))])),
      overall: est(v, overallMean),
    };
    if (e.group !== "base") {
      const vs = (j: number) => ({ perCategory: Object.fromEntries(cats.map((c) => [c, diff(v, j, (bm) => catMean(bm, c))])), overall: diff(v, j, overallMean) });
      if (iDpo >= 0 && v !== iDpo) row.vsDpo = vs(iDpo);
      if (iSft >= 0 && v !== iSft) row.vsSft = vs(iSft);
    }
    return row;
  });

  // ---- gates: the regime first (is this a run in which the method can work or fail?), then the pipeline's sanity
  const gates: Gate[] = [];
  const gate = (kind: Gate["kind"], name: string, pass: boolean, detail: string) => gates.push({ name, kind, pass, detail });
  const pivot = out.models.find((m) => m.role === "pivot")!;
  const iPivot = idx(`${pivot.name} (init)`);
  const sources = out.models.filter((x) => x.role === "source");
  const specialtyOf = (m: (typeof sources)[number]) => m.specialty.filter((c) => cats.includes(c as never));
  const specialtyScore = (bm: ArrayLike<number>, spec: string[]) => spec.reduce((s, c) => s + catMean(bm, c), 0) / spec.length;
  const regimes = out.seeds.map((x) => x.regime);
  const perSeed = (f: (r: SeedRegime) => number, digits: number) => regimes.map((r, i) => `seed ${out.seeds[i].seed}: ${f(r).toFixed(digits)}`).join(", ");
  const num = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "—");

  gate("regime", `responses are multi-token text: median chosen response ≥ ${REGIME.minChosenChars} characters`,
    regimes.every((r) => r.lengths.chosenMedian >= REGIME.minChosenChars),
    `${perSeed((r) => r.lengths.chosenMedian, 0)} (rejected median ${regimes.map((r) => num(r.lengths.rejectedMedian, 0)).join(", ")})`);
  gate("regime", `tokenizers differ: median over chosen responses of max ÷ min token count across the ${out.models.length} tokenizers ≥ ${REGIME.minTokenRatio}`,
    regimes.every((r) => r.tokens.maxOverMinMedian >= REGIME.minTokenRatio),
    `${perSeed((r) => r.tokens.maxOverMinMedian, 2)}; per model, median count ÷ the pivot's: ${Object.entries(regimes[0]?.tokens.ratioToPivot ?? {}).map(([n, x]) => `${n} ${num(x)}`).join(", ")}`);
  if (iSft >= 0) {
    const inBand = fams.map((f, b) => ({ f, acc: matrixMean(entries[iSft].scores[b]) })).filter((x) => x.acc >= REGIME.pivotBand[0] && x.acc <= REGIME.pivotBand[1]);
    gate("regime", `the SFT pivot is neither hopeless nor saturated: ${100 * REGIME.pivotBand[0]}–${100 * REGIME.pivotBand[1]}% on ≥ ${REGIME.pivotBandMin} of ${fams.length} benchmarks`,
      inBand.length >= Math.min(REGIME.pivotBandMin, fams.length),
      `${inBand.length} of ${fams.length} in the band: ${fams.map((f, b) => `${f} ${pct(matrixMean(entries[iSft].scores[b]))}%`).join(", ")}`);
    for (const m of sources) {
      const spec = specialtyOf(m);
      if (spec.length === 0) continue;
      const f = (bm: ArrayLike<number>) => specialtyScore(bm, spec);
      const d = diff(idx(m.name), iSft, f);
      gate("regime", `${m.name} beats the SFT pivot on ${spec.join("+")} by ≥ ${100 * REGIME.minSourceLead} pp (CI above 0): there is something to fuse`,
        d.mean >= REGIME.minSourceLead && d.lo > 0,
        `${pct(f(points[idx(m.name)]))}% vs ${pct(f(points[iSft]))}% (difference ${pct(d.mean)} pp, 95% CI [${pct(d.lo)}, ${pct(d.hi)}])`);
    }
  }
  const [g0, g1] = REGIME.fusedGap;
  gate("regime", `the fused reference sits where the paper's does: median fused − pivot margin per token in [${g0}, ${g1}] nats (max-margin + clip + LN), InfiFPO's step-0 z in about [${-2.5 * g1}, ${-2.5 * g0}]`,
    regimes.every((r) => r.fused.gapMedian >= g0 && r.fused.gapMedian <= g1),
    regimes.map((r, i) => `seed ${out.seeds[i].seed}: gap ${num(r.fused.gapMedian, 3)} (p10 ${num(r.fused.gapP10, 3)}, p90 ${num(r.fused.gapP90, 3)}), z₀ median ${num(r.fused.z0Median)}, mean σ(−z₀) ${num(r.fused.disparityMean, 3)}, z₀ < −5: ${pct(r.fused.z0BelowMinus5)}%`).join("; "));
  const trained = out.variants.filter((v) => v.kind !== "sft");
  const nonsenseOf = (v: string) => mean(out.seeds.map((x) => x.nonsense[v]));
  const noisy = trained.filter((v) => !(nonsenseOf(v.name) <= REGIME.maxNonsense));
  gate("regime", `no variant's greedy outputs fill with junk: nonsense-output rate ≤ ${100 * REGIME.maxNonsense}% for every variant (characters no answer has)`,
    noisy.length === 0,
    `${trained.map((v) => `${v.name} ${pct(nonsenseOf(v.name))}%`).join(", ")}${iSft >= 0 ? `; sft ${pct(nonsenseOf("sft"))}%` : ""}`);
  const drifts = trained.map((v) => ({ v: v.name, d: meanDrift(out.seeds.map((x) => x.drift[v.name] ?? null)) })).filter((x) => x.d !== null);
  const fell = drifts.filter((x) => x.d!.end < (1 + REGIME.maxChosenDrop) * x.d!.start);
  gate("regime", `no variant unlearns its chosen responses: logps/chosen falls by at most ${100 * REGIME.maxChosenDrop}% over training`,
    fell.length === 0,
    drifts.map((x) => `${x.v} ${num(x.d!.start, 1)} → ${num(x.d!.end, 1)}`).join(", "));

  for (const m of sources) {
    const spec = specialtyOf(m);
    if (spec.length === 0) continue;
    const f = (bm: ArrayLike<number>) => specialtyScore(bm, spec);
    const d = diff(idx(m.name), iPivot, f);
    gate("sanity", `${m.name} beats the initial pivot on ${spec.join("+")}`, d.mean > 0,
      `${pct(f(points[idx(m.name)]))}% vs ${pct(f(points[iPivot]))}% (difference ${pct(d.mean)} pp, 95% CI [${pct(d.lo)}, ${pct(d.hi)}])`);
  }
  if (iSft >= 0) {
    const d = diff(iSft, iPivot, overallMean);
    gate("sanity", "the SFT pivot beats the initial pivot overall", d.mean > 0,
      `${pct(overallMean(points[iSft]))}% vs ${pct(overallMean(points[iPivot]))}% (difference ${pct(d.mean)} pp, 95% CI [${pct(d.lo)}, ${pct(d.hi)}])`);
  }
  const ps = out.seeds.map((x) => x.pairStats);
  gate("sanity", "chosen responses score higher than rejected ones: the verifier re-run on every written pairs file agrees with it",
    ps.every((p) => p.verified === 1),
    `verified ${ps.map((p) => `${pct(p.verified)}%`).join(", ")} of pairs (per seed); mean reward chosen ${num(mean(ps.map((p) => p.meanRewardChosen)), 3)} vs rejected ${num(mean(ps.map((p) => p.meanRewardRejected)), 3)}`);
  const claimsAreEvidence = gates.every((g) => g.kind !== "regime" || g.pass);

  // ---- the paper's claims ---------------------------------------------------------------------------------
  const claims: Claim[] = [];
  const verdict = (d: Difference): Claim["verdict"] => (d.lo > 0 ? "reproduced" : d.hi < 0 ? "not reproduced" : "inconclusive");
  const claim = (text: string, better: string, worse: string, cat?: string) => {
    const a = idx(better), b = idx(worse);
    if (a < 0 || b < 0 || (cat && !cats.includes(cat as never))) return;
    const f = cat ? (bm: ArrayLike<number>) => catMean(bm, cat) : overallMean;
    const d = diff(a, b, f);
    claims.push({
      claim: text, verdict: verdict(d), difference: d,
      evidence: `${better} − ${worse}${cat ? ` on ${cat}` : " overall"}: ${d.mean >= 0 ? "+" : ""}${pct(d.mean)} pp, 95% CI [${pct(d.lo)}, ${pct(d.hi)}], P(>0) ${d.pPositive.toFixed(2)}`,
    });
  };
  const pivotRow = `${pivot.name} (init)`;
  claim("SFT improves on the initial pivot", "sft", pivotRow);
  // against both SFT checkpoints: the start (sft) and SFT given as much more data / as many more steps (the controls)
  for (const b of ["dpo", "ipo", "wrpo", "infifpo"])
    for (const [ref, what] of [["sft", "SFT"], ["sft-cont", "continued SFT (sft-cont)"], ["sft-all", "SFT on both halves (sft-all)"]] as const)
      claim(`${b === "infifpo" ? "InfiFPO" : b.toUpperCase()} improves on ${what}`, b, ref);
  for (const b of ["dpo", "ipo", "wrpo"]) claim(`InfiFPO beats ${b.toUpperCase()} overall`, "infifpo", b);
  claim("InfiFPO beats DPO on math", "infifpo", "dpo", "math");
  claim("InfiFPO beats DPO on code", "infifpo", "dpo", "code");
  claim("length normalisation helps", "infifpo", "infifpo-noln");
  claim("probability clipping helps", "infifpo", "infifpo-noclip");
  claim("max-margin fusion beats confidence fusion", "infifpo", "infifpo-confidence");
  claim("confidence fusion beats mean fusion", "infifpo-confidence", "infifpo-mean");
  const N = out.models.filter((m) => m.role === "source").length;
  const nName = (n: number) => (n === N ? "infifpo" : `infifpo-n${n}`);
  // each trained number of sources against the next smaller one trained, and all against one
  const ns = Array.from({ length: N }, (_, i) => i + 1).filter((n) => idx(nName(n)) >= 0);
  for (let j = 1; j < ns.length; j++) claim(`more sources help: ${ns[j]} beat ${ns[j - 1]}`, nName(ns[j]), nName(ns[j - 1]));
  if (ns.length > 2 && ns[0] === 1 && ns[ns.length - 1] === N) claim(`more sources help: ${N} beat 1`, nName(N), nName(1));
  // cost once source log-probs are precomputed: the training time of InfiFPO vs DPO (same data, same steps)
  const trainSecs = (v: string) => out.seeds.reduce((s, x) => s + (out.stageSeconds[`seed${x.seed}.train.${v}`] ?? NaN), 0);
  const ti = trainSecs("infifpo"), td = trainSecs("dpo");
  if (Number.isFinite(ti) && Number.isFinite(td) && td > 0) {
    const score = out.seeds.reduce((s, x) => s + (out.stageSeconds[`seed${x.seed}.score`] ?? 0), 0);
    claims.push({
      claim: "InfiFPO costs about as much as DPO once source log-probs are precomputed",
      verdict: ti <= 1.25 * td ? "reproduced" : "not reproduced",
      evidence: `training time InfiFPO ${ti.toFixed(1)} s vs DPO ${td.toFixed(1)} s (${(ti / td).toFixed(2)}x; threshold 1.25x); scoring every response with the ${N} sources once: ${score.toFixed(1)} s`,
      difference: null,
    });
  }

  const diagnostics: Record<string, VariantDiagnostics> = Object.fromEntries(out.variants.map((v) => [v.name, {
    nonsense: nonsenseOf(v.name),
    drift: meanDrift(out.seeds.map((x) => x.drift[v.name] ?? null)),
    hparams: out.hparams[v.name],
  }]));

  return {
    format: "infifpo-lab-results",
    version: 2,
    runId: meta.runId,
    preset: meta.preset,
    configKey: meta.configKey,
    backend: out.backend,
    createdAt: meta.createdAt ?? new Date().toISOString(),
    seeds: out.seeds.map((s) => s.seed),
    bootstrap: { replicates: B, level: 0.95 },
    benchmarks: out.benchmarks.map((b) => ({ family: b.family, category: b.category, items: b.items, validationItems: b.validationItems })),
    categories: [...cats],
    rows,
    gates,
    claimsAreEvidence,
    claims,
    pairStats: Object.fromEntries(out.seeds.map((s) => [String(s.seed), s.pairStats])),
    regime: Object.fromEntries(out.seeds.map((s) => [String(s.seed), s.regime])),
    diagnostics,
    baseNonsense: out.baseNonsense,
    selection: out.selection,
    timings: out.timings,
    stageSeconds: out.stageSeconds,
    config: out.config,
  };
}

const csvCell = (x: string | number) => (typeof x === "number" ? (Number.isFinite(x) ? String(x) : "") : /[",\n]/.test(x) ? `"${x.replace(/"/g, '""')}"` : x);

/** Long-format CSV: one line per (model, scope, key) with the estimate and the paired differences. */
export function resultsCsv(r: LabResults): string {
  const head = ["model", "group", "scope", "key", "mean", "lo", "hi", "vs_dpo", "vs_dpo_lo", "vs_dpo_hi", "vs_dpo_p_positive", "vs_sft", "vs_sft_lo", "vs_sft_hi", "vs_sft_p_positive"];
  const lines = [head.join(",")];
  const d = (x?: Difference) => (x ? [x.mean, x.lo, x.hi, x.pPositive] : [NaN, NaN, NaN, NaN]);
  for (const row of r.rows) {
    const add = (scope: string, key: string, e: Estimate, a?: Difference, b?: Difference) =>
      lines.push([row.name, row.group, scope, key, e.mean, e.lo, e.hi, ...d(a), ...d(b)].map(csvCell).join(","));
    for (const [k, e] of Object.entries(row.perBenchmark)) add("benchmark", k, e);
    for (const [k, e] of Object.entries(row.perCategory)) add("category", k, e, row.vsDpo?.perCategory[k], row.vsSft?.perCategory[k]);
    add("overall", "overall", row.overall, row.vsDpo?.overall, row.vsSft?.overall);
  }
  return lines.join("\n") + "\n";
}

/** The headline table as aligned text: per-category and overall accuracy (%) with 95% CIs, and Δ vs DPO. */
export function headlineTable(r: LabResults): string {
  const cell = (e: Estimate) => `${pct(e.mean)} [${pct(e.lo)},${pct(e.hi)}]`;
  const head = ["model", ...r.categories, "overall", "Δ overall vs DPO"];
  const body = r.rows.map((row) => [
    row.name, ...r.categories.map((c) => cell(row.perCategory[c])), cell(row.overall),
    row.vsDpo ? `${row.vsDpo.overall.mean >= 0 ? "+" : ""}${pct(row.vsDpo.overall.mean)} [${pct(row.vsDpo.overall.lo)},${pct(row.vsDpo.overall.hi)}]` : "",
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cols: string[]) => cols.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join("  ");
  return [fmt(head), w.map((x) => "─".repeat(x)).join("  "), ...body.map(fmt)].join("\n");
}

/** Markdown version of the headline table (for the README). */
export function headlineMarkdown(r: LabResults): string {
  const cell = (e: Estimate) => `${pct(e.mean)} [${pct(e.lo)}, ${pct(e.hi)}]`;
  const head = ["model", ...r.categories, "overall", "Δ overall vs DPO (pp)", "Δ overall vs SFT (pp)"];
  const dd = (x?: Difference) => (x ? `${x.mean >= 0 ? "+" : ""}${pct(x.mean)} [${pct(x.lo)}, ${pct(x.hi)}]` : "—");
  const lines = [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`];
  for (const row of r.rows) lines.push(`| ${[row.name, ...r.categories.map((c) => cell(row.perCategory[c])), cell(row.overall), dd(row.vsDpo?.overall), dd(row.vsSft?.overall)].join(" | ")} |`);
  return lines.join("\n");
}

/** Markdown list of the sanity gates (for the README). */
export function gatesMarkdown(r: LabResults): string {
  const list = (kind: Gate["kind"]) => r.gates.filter((g) => g.kind === kind).map((g) => `- ${g.pass ? "pass" : "**FAIL**"} — ${g.name}: ${g.detail}`).join("\n");
  return `Regime gates${r.claimsAreEvidence ? " (all pass)" : " — **a regime gate failed: the claims are not evidence**"}:\n\n${list("regime")}\n\nSanity gates:\n\n${list("sanity")}`;
}

/**
 * Markdown table of every variant's hyper-parameters (where they come from; with a selection, the validation accuracy
 * of the chosen grid point), nonsense-output rate and drift of logps/chosen (for the README).
 */
export function hparamsMarkdown(r: LabResults): string {
  const lines = ["| variant | lr | β × default | from | validation (chosen point) | nonsense outputs | logps/chosen start → end |", "|---|---:|---:|---|---:|---:|---|"];
  for (const [v, d] of Object.entries(r.diagnostics)) {
    const sft = d.hparams.source === "sft";
    const sel = r.selection?.variants[v];
    const val = sel?.candidates.find((c) => c.lr === sel.chosen.lr && c.betaScale === sel.chosen.betaScale)?.validation;
    lines.push(`| ${v} | ${sft ? "(SFT's)" : d.hparams.lr} | ${sft ? "—" : d.hparams.betaScale} | ${d.hparams.source} | ${val === undefined ? "—" : `${pct(val)}%`} | ${pct(d.nonsense)}% | ${d.drift ? `${d.drift.start.toFixed(1)} → ${d.drift.end.toFixed(1)}` : "—"} |`);
  }
  const grid = r.selection ? `Selected on validation (seed ${r.selection.seed}) from lr ${r.selection.grid.lr.join(", ")} × β ${r.selection.grid.betaScale.join(", ")} (× the loss's default).\n\n` : "No selection in this run.\n\n";
  return grid + lines.join("\n");
}

/** Markdown table of the paper's claims with their verdicts and evidence (for the README). */
export function claimsMarkdown(r: LabResults): string {
  const lines = ["| claim | verdict | evidence |", "|---|---|---|"];
  for (const c of r.claims) lines.push(`| ${c.claim} | ${c.verdict === "reproduced" ? "**reproduced**" : c.verdict} | ${c.evidence} |`);
  return (r.claimsAreEvidence ? "" : "**A regime gate failed: these verdicts are not evidence about the method.**\n\n") + lines.join("\n");
}

/** The terminal summary of a run: the headline table, then one line per sanity gate. */
export function summaryText(r: LabResults): string {
  const list = (kind: Gate["kind"]) => r.gates.filter((g) => g.kind === kind).map((g) => `${g.pass ? "  pass" : "  FAIL"}  ${g.name}: ${g.detail}\n`).join("");
  const verdict = r.claimsAreEvidence ? "" : `\n*** A REGIME GATE FAILED: this run's claims are NOT EVIDENCE about InfiFPO ***\n`;
  return `accuracy (%) with 95% CI; Δ vs DPO in pp (paired bootstrap)\n\n${headlineTable(r)}\n\nregime gates:\n${list("regime")}\nsanity gates:\n${list("sanity")}${verdict}`;
}

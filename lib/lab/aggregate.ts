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
import type { LabOutputs, PairStats } from "./pipeline";
import { bootstrapBenchmarkMeans, matrixMean, percentileInterval, type Estimate, type ScoreMatrix } from "./stats";

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

export interface LabResults {
  format: "infifpo-lab-results";
  version: 1;
  runId: string;
  preset: string;
  configKey: string;
  backend: string;
  createdAt: string;
  seeds: number[];
  bootstrap: { replicates: number; level: 0.95 };
  benchmarks: { family: string; category: string; items: number }[];
  categories: string[];
  rows: ModelRow[];
  gates: Gate[];
  claims: Claim[];
  pairStats: Record<string, PairStats>;
  timings: Record<string, number>;
  stageSeconds: Record<string, number>;
  /** The full resolved config. */
  config: unknown;
}

const pct = (x: number) => (100 * x).toFixed(1);

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

  // ---- sanity gates --------------------------------------------------------------------------------------
  const gates: Gate[] = [];
  const pivot = out.models.find((m) => m.role === "pivot")!;
  const iPivot = idx(`${pivot.name} (init)`);
  const specialtyScore = (bm: ArrayLike<number>, spec: string[]) => spec.reduce((s, c) => s + catMean(bm, c), 0) / spec.length;
  for (const m of out.models.filter((x) => x.role === "source")) {
    const spec = m.specialty.filter((c) => cats.includes(c as never));
    if (spec.length === 0) continue;
    const f = (bm: ArrayLike<number>) => specialtyScore(bm, spec);
    const d = diff(idx(m.name), iPivot, f);
    gates.push({
      name: `${m.name} beats the initial pivot on ${spec.join("+")}`,
      pass: d.mean > 0,
      detail: `${pct(f(points[idx(m.name)]))}% vs ${pct(f(points[iPivot]))}% (difference ${pct(d.mean)} pp, 95% CI [${pct(d.lo)}, ${pct(d.hi)}])`,
    });
  }
  if (iSft >= 0) {
    const d = diff(iSft, iPivot, overallMean);
    gates.push({
      name: "the SFT pivot beats the initial pivot overall",
      pass: d.mean > 0,
      detail: `${pct(overallMean(points[iSft]))}% vs ${pct(overallMean(points[iPivot]))}% (difference ${pct(d.mean)} pp, 95% CI [${pct(d.lo)}, ${pct(d.hi)}])`,
    });
  }
  const ps = out.seeds.map((s) => s.pairStats);
  const allBeat = ps.every((p) => p.chosenBeatsRejected === 1);
  const rc = ps.reduce((s, p) => s + p.meanRewardChosen, 0) / ps.length;
  const rr = ps.reduce((s, p) => s + p.meanRewardRejected, 0) / ps.length;
  gates.push({
    name: "chosen responses score higher than rejected ones under the verifier",
    pass: allBeat && rc > rr,
    detail: `mean reward chosen ${rc.toFixed(3)} vs rejected ${rr.toFixed(3)}; chosen > rejected in ${ps.map((p) => `${pct(p.chosenBeatsRejected)}%`).join(", ")} of pairs (per seed)`,
  });

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
  for (const b of ["dpo", "ipo", "wrpo"]) claim(`${b.toUpperCase()} improves on SFT`, b, "sft");
  for (const b of ["dpo", "ipo", "wrpo"]) claim(`InfiFPO beats ${b.toUpperCase()} overall`, "infifpo", b);
  claim("InfiFPO beats DPO on math", "infifpo", "dpo", "math");
  claim("InfiFPO beats DPO on code", "infifpo", "dpo", "code");
  claim("length normalisation helps", "infifpo", "infifpo-noln");
  claim("probability clipping helps", "infifpo", "infifpo-noclip");
  claim("max-margin fusion beats confidence fusion", "infifpo", "infifpo-confidence");
  claim("confidence fusion beats mean fusion", "infifpo-confidence", "infifpo-mean");
  const N = out.models.filter((m) => m.role === "source").length;
  const nName = (n: number) => (n === N ? "infifpo" : `infifpo-n${n}`);
  for (let n = 2; n <= N; n++) claim(`more sources help: ${n} beat ${n - 1}`, nName(n), nName(n - 1));
  if (N > 1) claim(`more sources help: ${N} beat 1`, nName(N), nName(1));
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

  return {
    format: "infifpo-lab-results",
    version: 1,
    runId: meta.runId,
    preset: meta.preset,
    configKey: meta.configKey,
    backend: out.backend,
    createdAt: meta.createdAt ?? new Date().toISOString(),
    seeds: out.seeds.map((s) => s.seed),
    bootstrap: { replicates: B, level: 0.95 },
    benchmarks: out.benchmarks.map((b) => ({ family: b.family, category: b.category, items: b.items })),
    categories: [...cats],
    rows,
    gates,
    claims,
    pairStats: Object.fromEntries(out.seeds.map((s) => [String(s.seed), s.pairStats])),
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
  return r.gates.map((g) => `- ${g.pass ? "pass" : "**FAIL**"} — ${g.name}: ${g.detail}`).join("\n");
}

/** Markdown table of the paper's claims with their verdicts and evidence (for the README). */
export function claimsMarkdown(r: LabResults): string {
  const lines = ["| claim | verdict | evidence |", "|---|---|---|"];
  for (const c of r.claims) lines.push(`| ${c.claim} | ${c.verdict === "reproduced" ? "**reproduced**" : c.verdict} | ${c.evidence} |`);
  return lines.join("\n");
}

/** The terminal summary of a run: the headline table, then one line per sanity gate. */
export function summaryText(r: LabResults): string {
  const gates = r.gates.map((g) => `${g.pass ? "  pass" : "  FAIL"}  ${g.name}: ${g.detail}\n`).join("");
  return `accuracy (%) with 95% CI; Δ vs DPO in pp (paired bootstrap)\n\n${headlineTable(r)}\n\n${gates}`;
}

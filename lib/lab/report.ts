/**
 * `runs/<run-id>/report.html`: one self-contained page (plotly inlined, no network) with the sanity gates at the
 * top — a failed gate is a red banner, not a footnote — then the headline table, charts, per-benchmark numbers,
 * the preference data's statistics, timings and the full config.
 */
import { figureHtml, plotlyBundleHtml } from "../viz/html";
import type { Figure } from "../viz/types";
import type { Difference, LabResults } from "./aggregate";
import { curveChart, deltaChart, errorBars, heatmap, pairChart, type Curves } from "./figures";
import type { Estimate } from "./stats";

export type { Curves } from "./figures";

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1) : "—");
const ci = (e: Estimate) => `${pct(e.mean)} <span class="ci">[${pct(e.lo)}, ${pct(e.hi)}]</span>`;
const dcell = (d?: Difference) => {
  if (!d) return "<td>—</td>";
  const cls = d.lo > 0 ? "up" : d.hi < 0 ? "down" : "";
  return `<td class="${cls}">${d.mean >= 0 ? "+" : ""}${pct(d.mean)} <span class="ci">[${pct(d.lo)}, ${pct(d.hi)}]</span><br><span class="ci">P(&gt;0) ${d.pPositive.toFixed(2)}</span></td>`;
};

const num = (x: number | undefined, d = 2) => (x !== undefined && Number.isFinite(x) ? x.toFixed(d) : "—");

function gateTable(gs: LabResults["gates"]): string {
  return `<table><tr><th></th><th>gate</th><th>measured</th></tr>${gs.map((g) => `<tr class="${g.pass ? "ok" : "fail"}"><td>${g.pass ? "✔ pass" : "✘ FAIL"}</td><td>${esc(g.name)}</td><td class="label">${esc(g.detail)}</td></tr>`).join("")}</table>`;
}

/** The regime measured on each seed's pairs: lengths, token counts per tokenizer, the fused reference's gap. */
function regimeTable(r: LabResults): string {
  const seeds = Object.keys(r.regime);
  if (seeds.length === 0) return "";
  const models = Object.keys(r.regime[seeds[0]].tokens.ratioToPivot);
  return `<table><tr><th>seed</th><th>chosen chars (median / p90)</th><th>rejected chars (median)</th><th>chosen longer / shorter than rejected</th><th>max ÷ min tokens (median)</th>${models.map((m) => `<th>${esc(m)} tokens ÷ pivot's</th>`).join("")}<th>fused − pivot margin / token (median [p10, p90])</th><th>z₀ median</th><th>mean σ(−z₀)</th><th>z₀ &lt; −5</th></tr>${seeds.map((s) => {
    const g = r.regime[s];
    return `<tr><td>${s}</td><td>${num(g.lengths.chosenMedian, 0)} / ${num(g.lengths.chosenP90, 0)}</td><td>${num(g.lengths.rejectedMedian, 0)}</td><td>${pct(g.lengths.chosenLonger)}% / ${pct(g.lengths.chosenShorter)}%</td><td>${num(g.tokens.maxOverMinMedian)}</td>${models.map((m) => `<td>${num(g.tokens.ratioToPivot[m])}</td>`).join("")}<td>${num(g.fused.gapMedian, 3)} [${num(g.fused.gapP10, 3)}, ${num(g.fused.gapP90, 3)}]</td><td>${num(g.fused.z0Median)}</td><td>${num(g.fused.disparityMean, 3)}</td><td>${pct(g.fused.z0BelowMinus5)}%</td></tr>`;
  }).join("")}</table>`;
}

/** Each variant's hyper-parameters (and where they come from), nonsense-output rate and drift of logps/chosen. */
function diagnosticsTable(r: LabResults): string {
  const rows = Object.entries(r.diagnostics);
  return `<table><tr><th>variant</th><th>lr</th><th>β × default</th><th>hyper-parameters from</th><th>nonsense outputs</th><th>logps/chosen start → end (sum, nats)</th></tr>${rows.map(([v, d]) => `<tr><td>${esc(v)}</td><td>${d.hparams.source === "sft" ? "(SFT's)" : d.hparams.lr}</td><td>${d.hparams.source === "sft" ? "—" : d.hparams.betaScale}</td><td>${esc(d.hparams.source)}</td><td>${pct(d.nonsense)}%</td><td>${d.drift ? `${num(d.drift.start, 1)} → ${num(d.drift.end, 1)}` : "—"}</td></tr>`).join("")}</table>`;
}

/** The validation accuracy of every grid point of every tuned variant (first seed), the winner in bold. */
function selectionTable(r: LabResults): string {
  const sel = r.selection;
  if (!sel) return `<p>No selection in this run: every method trained with the hyper-parameters of the config (<code>hparams</code>, else <code>pref.lr</code> and its loss's default β).</p>`;
  const pts = sel.grid.lr.flatMap((lr) => sel.grid.betaScale.map((b) => ({ lr, b })));
  return `<p>Seed ${sel.seed}, overall validation accuracy (%) of each grid point; methods without β (sft-cont) use the learning rates only. Ties go to the earlier grid point. InfiFPO's ablations (fusion strategy, clipping, length-norm, live margins, fewer sources) are not selected on their own: they use InfiFPO's choice, so each differs from InfiFPO in one component only.</p><table><tr><th>variant</th>${pts.map((p) => `<th>lr ${p.lr}<br>β × ${p.b}</th>`).join("")}</tr>${Object.entries(sel.variants).map(([v, x]) => `<tr><td>${esc(v)}</td>${pts.map((p) => {
    const c = x.candidates.find((c) => c.lr === p.lr && (c.betaScale === p.b || (x.candidates.every((q) => q.betaScale === 1) && p.b === sel.grid.betaScale[0])));
    if (!c) return "<td></td>";
    const won = c.lr === x.chosen.lr && c.betaScale === x.chosen.betaScale;
    return `<td${won ? ' class="up"' : ""}>${won ? "<b>" : ""}${pct(c.validation)}${won ? "</b>" : ""}</td>`;
  }).join("")}</tr>`).join("")}</table>`;
}

/** The whole report page. */
export function reportHtml(r: LabResults, opts: { curves?: Curves; plotly?: string } = {}): string {
  const regime = r.gates.filter((g) => g.kind === "regime"), sanity = r.gates.filter((g) => g.kind === "sanity");
  const failedRegime = regime.filter((g) => !g.pass), failedSanity = sanity.filter((g) => !g.pass);
  const gateBanner = failedRegime.length
    ? `<div class="banner fail"><b>${failedRegime.length} of ${regime.length} regime gate${regime.length > 1 ? "s" : ""} FAILED</b> — this run is not in a regime where the paper's method can work or fail: its claims below are <b>not evidence</b> about InfiFPO.</div>`
    : `<div class="banner ok">All ${regime.length} regime gates pass: the preconditions of the paper's method hold in this run.</div>`;
  const sanityBanner = failedSanity.length
    ? `<div class="banner fail"><b>${failedSanity.length} of ${sanity.length} sanity gate${sanity.length > 1 ? "s" : ""} FAILED</b> — the pipeline did not do what it says.</div>`
    : `<div class="banner ok">All ${sanity.length} sanity gates pass.</div>`;
  const head = `<tr><th>model</th><th>what it is</th>${r.categories.map((c) => `<th>${esc(c)}</th>`).join("")}<th>overall</th><th>Δ overall vs DPO (pp)</th><th>Δ overall vs SFT (pp)</th></tr>`;
  const body = r.rows.map((row) => `<tr class="${row.group}"><td><b>${esc(row.name)}</b></td><td class="label">${esc(row.label)}</td>${r.categories.map((c) => `<td>${ci(row.perCategory[c])}</td>`).join("")}<td><b>${ci(row.overall)}</b></td>${dcell(row.vsDpo?.overall)}${dcell(row.vsSft?.overall)}</tr>`).join("");
  const bench = `<table><tr><th>model</th>${r.benchmarks.map((b) => `<th>${esc(b.family)}<br><span class="ci">${esc(b.category)}, n=${b.items}</span></th>`).join("")}</tr>${r.rows.map((row) => `<tr><td>${esc(row.name)}</td>${r.benchmarks.map((b) => `<td>${ci(row.perBenchmark[b.family])}</td>`).join("")}</tr>`).join("")}</table>`;
  const catDelta = (key: "vsDpo" | "vsSft") => `<table><tr><th>variant</th>${r.categories.map((c) => `<th>${esc(c)}</th>`).join("")}<th>overall</th></tr>${r.rows.filter((x) => x[key]).map((row) => `<tr><td>${esc(row.name)}</td>${r.categories.map((c) => dcell(row[key]!.perCategory[c])).join("")}${dcell(row[key]!.overall)}</tr>`).join("")}</table>`;
  const seeds = Object.keys(r.pairStats);
  const by = (x: Record<string, number>) => Object.entries(x).map(([m, n]) => `${esc(m)} ${n}`).join(", ");
  const pairs = `<table><tr><th>seed</th><th>prompts (per half)</th><th>SFT examples (by model)</th><th>pairs</th><th>dropped (tie / too few finished)</th><th>chosen by</th><th>rejected by</th><th>mean reward chosen / rejected</th><th>verified on the written file</th></tr>${seeds.map((s) => {
    const p = r.pairStats[s];
    return `<tr><td>${s}</td><td>${p.prompts}</td><td>${p.sft} (${by(p.sftBy)})</td><td>${p.pairs}</td><td>${p.dropped.tie} / ${p.dropped["too-few"]}</td><td class="label">${by(p.chosenBy)}</td><td class="label">${by(p.rejectedBy)}</td><td>${p.meanRewardChosen.toFixed(3)} / ${p.meanRewardRejected.toFixed(3)}</td><td>${pct(p.verified)}%</td></tr>`;
  }).join("")}</table>`;
  const sampleRows = (x: Record<string, { finished: number; meanReward: number }>) => Object.entries(x).map(([m, v]) => `<tr><td>${esc(m)}</td><td>${pct(v.finished)}%</td><td>${v.meanReward.toFixed(3)}</td></tr>`).join("");
  const first = seeds.length ? r.pairStats[seeds[0]] : null;
  const samples = first ? `<table><tr><th>model</th><th>finished (EOS within budget)</th><th>mean reward of finished</th></tr><tr><th colspan="3">SFT half (initial pivot and sources)</th></tr>${sampleRows(first.sftSamples)}<tr><th colspan="3">preference half (SFT pivot and sources)</th></tr>${sampleRows(first.samples)}</table>` : "";
  const total = Object.values(r.timings).reduce((a, b) => a + b, 0);
  const computed = Object.values(r.stageSeconds ?? {}).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  const timings = `<table><tr><th>stage</th><th>seconds, this run</th><th>seconds when computed</th></tr>${Object.entries(r.timings).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${v.toFixed(1)}</td><td>${r.stageSeconds?.[k] != null && Number.isFinite(r.stageSeconds[k]) ? r.stageSeconds[k].toFixed(1) : ""}</td></tr>`).join("")}<tr><td><b>total</b></td><td><b>${total.toFixed(1)}</b></td><td><b>${computed.toFixed(1)}</b></td></tr></table>`;

  const overallRows = r.rows;
  const figs: (Figure | null)[] = [
    errorBars(overallRows.map((x) => x.name), overallRows.map((x) => x.overall), "Overall accuracy (equal-weight mean of categories), 95% CI", "accuracy (%)", "#457b9d"),
    heatmap(r),
    deltaChart(r, "vsDpo", "Each variant − DPO, overall"),
    deltaChart(r, "vsSft", "Each variant − SFT, overall"),
    pairChart(r),
    curveChart(opts.curves ?? {}),
  ];
  const plots = figs.filter((f): f is Figure => f !== null).map((f, i) => figureHtml(f, `fig${i}`));

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>InfiFPO fusion lab — ${esc(r.runId)}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1280px;padding:0 16px;color:#222}
table{border-collapse:collapse;margin:8px 0 20px;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:right;vertical-align:top}
th{background:#f4f4f4}td:first-child,th:first-child,td.label{text-align:left}.ci{color:#777;font-size:11px}
.banner{padding:14px 18px;border-radius:6px;font-size:18px;margin:12px 0}.banner.ok{background:#e6f4ea;border:2px solid #34a853}
.banner.fail{background:#fdecea;border:3px solid #d93025;color:#a50e0e}tr.fail td{background:#fdecea;color:#a50e0e;font-weight:600}
tr.ok td:first-child{color:#188038}td.up{background:#e6f4ea}td.down{background:#fdecea}tr.base td{background:#fafafa}
pre{background:#f6f8fa;padding:12px;overflow:auto;font-size:12px}
</style></head><body>
<h1>InfiFPO fusion lab — run <code>${esc(r.runId)}</code></h1>
<p>preset <b>${esc(r.preset)}</b> · backend <b>${esc(r.backend)}</b> · seeds ${r.seeds.join(", ")} · ${r.bootstrap.replicates} bootstrap replicates (seeds × items) · config key <code>${r.configKey.slice(0, 12)}</code> · ${esc(r.createdAt)} · total stage time ${(total / 60).toFixed(1)} min</p>
<h2>Regime gates</h2><p>The preconditions under which the paper's method can work or fail at all, measured on this run.</p>${gateBanner}${gateTable(regime)}
${regimeTable(r)}
<h2>Sanity gates</h2>${sanityBanner}${gateTable(sanity)}
<h2>Headline: accuracy (%) with 95% CI</h2>
<p>Exact match on held-out test sets (multiple choice: log-likelihood acc). Categories are equal-weight means of their benchmarks, overall the equal-weight mean of categories. Differences are paired bootstrap intervals on the same seeds and items; green = interval above 0, red = below.</p>
<table>${head}${body}</table>
${plotlyBundleHtml(opts.plotly)}
${plots.join("\n")}
<h2>The paper's claims at this scale</h2>
${r.claimsAreEvidence ? "" : `<div class="banner fail">A regime gate failed: these verdicts are <b>not evidence</b> about the method.</div>`}
<p>Reproduced: the paired 95% CI of (claimed better − claimed worse) lies above 0; not reproduced: below 0; inconclusive: it contains 0. Cached stages report the time of the run that computed them.</p>
<table><tr><th>claim</th><th>verdict</th><th>evidence</th></tr>${r.claims.map((c) => `<tr><td>${esc(c.claim)}</td><td class="${c.verdict === "reproduced" ? "up" : c.verdict === "not reproduced" ? "down" : ""}">${c.verdict}</td><td class="label">${esc(c.evidence)}</td></tr>`).join("")}</table>
<h2>Per benchmark</h2>${bench}
<h2>Per category: each variant − DPO (pp)</h2>${catDelta("vsDpo")}
<h2>Per category: each variant − SFT (pp)</h2>${catDelta("vsSft")}
<h2>Hyper-parameters</h2>${selectionTable(r)}
<h2>Per variant: hyper-parameters, nonsense outputs, drift of logps/chosen</h2>${diagnosticsTable(r)}
<h2>Preference data</h2>${pairs}<h3>Samples (seed ${esc(seeds[0] ?? "—")})</h3>${samples}
<h2>Timings</h2>${timings}
<h2>Config</h2><pre>${esc(JSON.stringify(r.config, null, 2))}</pre>
</body></html>
`;
}

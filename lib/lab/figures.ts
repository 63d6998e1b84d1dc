/**
 * The lab's plotly figures, as plain {data, layout} specs: the report inlines them, notebooks show them with
 * `showPlot` (lib/viz/notebook). Accuracies in %, differences in percentage points.
 */
import type { Figure, Trace } from "../viz/types";
import type { LabResults } from "./aggregate";
import type { Estimate } from "./stats";

/** Per-variant training curves (seed → rows of metrics.jsonl), optional. */
export type Curves = Record<string, { step: number; loss: number }[]>;

/** Plotly error bars for estimates in %: asymmetric whiskers from each mean to its interval's ends. */
function ciWhiskers(es: readonly Estimate[]) {
  return { type: "data", symmetric: false, array: es.map((e) => 100 * (e.hi - e.mean)), arrayminus: es.map((e) => 100 * (e.mean - e.lo)) };
}

/** Bars with asymmetric 95% CI whiskers, one per name. */
export function errorBars(names: string[], es: Estimate[], title: string, yTitle: string, color?: string): Figure {
  const t: Trace = {
    type: "bar", x: names, y: es.map((e) => 100 * e.mean),
    error_y: ciWhiskers(es),
    hovertemplate: "%{x}: %{y:.1f}%<extra></extra>",
  };
  if (color) t.marker = { color };
  return { data: [t], layout: { title: { text: title }, yaxis: { title: { text: yTitle } }, margin: { l: 60, r: 20, t: 50, b: 110 }, height: 420 } };
}

/** Accuracy of every model on every benchmark. */
export function heatmap(r: LabResults): Figure {
  const fams = r.benchmarks.map((b) => `${b.family} (${b.category})`);
  const z = r.rows.map((row) => r.benchmarks.map((b) => 100 * row.perBenchmark[b.family].mean));
  const t = {
    type: "heatmap", x: fams, y: r.rows.map((x) => x.name), z, zmin: 0, zmax: 100, colorscale: "Viridis",
    text: z.map((row) => row.map((v) => v.toFixed(0))), texttemplate: "%{text}", hovertemplate: "%{y} on %{x}: %{z:.1f}%<extra></extra>",
  } as unknown as Trace;
  return { data: [t], layout: { title: { text: "Accuracy (%) per benchmark" }, height: 80 + 26 * r.rows.length, margin: { l: 150, r: 20, t: 50, b: 120 }, yaxis: { autorange: "reversed" } } };
}

/** Each variant's paired difference in overall accuracy against DPO or SFT, with its CI (green above 0, red below). */
export function deltaChart(r: LabResults, key: "vsDpo" | "vsSft", title: string): Figure | null {
  const rows = r.rows.filter((x) => x[key]);
  if (rows.length === 0) return null;
  const d = rows.map((x) => x[key]!.overall);
  const t: Trace = {
    type: "scatter", mode: "markers", y: rows.map((x) => x.name), x: d.map((e) => 100 * e.mean), orientation: "h",
    error_x: ciWhiskers(d),
    marker: { size: 9, color: d.map((e) => (e.lo > 0 ? "#2a9d8f" : e.hi < 0 ? "#e76f51" : "#6c757d")) },
    hovertemplate: "%{y}: %{x:+.1f} pp<extra></extra>",
  };
  return {
    data: [t],
    layout: {
      title: { text: title }, height: 80 + 28 * rows.length, margin: { l: 150, r: 20, t: 50, b: 50 },
      xaxis: { title: { text: "difference in overall accuracy (pp), 95% paired bootstrap CI" }, zeroline: true, zerolinewidth: 2 },
      yaxis: { autorange: "reversed" },
    },
  };
}

/** Which model wrote the chosen and the rejected responses, summed over seeds. */
export function pairChart(r: LabResults): Figure {
  const seeds = Object.keys(r.pairStats);
  const models = [...new Set(seeds.flatMap((s) => [...Object.keys(r.pairStats[s].chosenBy), ...Object.keys(r.pairStats[s].rejectedBy)]))];
  const sum = (f: (s: string, m: string) => number) => models.map((m) => seeds.reduce((a, s) => a + f(s, m), 0));
  return {
    data: [
      { type: "bar", name: "chosen", x: models, y: sum((s, m) => r.pairStats[s].chosenBy[m] ?? 0) },
      { type: "bar", name: "rejected", x: models, y: sum((s, m) => r.pairStats[s].rejectedBy[m] ?? 0) },
    ],
    layout: { title: { text: "Who wrote the chosen and the rejected responses (all seeds)" }, barmode: "group", height: 380, yaxis: { title: { text: "pairs" } } },
  };
}

/** Preference-training loss curves. */
export function curveChart(curves: Curves): Figure | null {
  const names = Object.keys(curves).filter((k) => curves[k].length > 0);
  if (names.length === 0) return null;
  return {
    data: names.map((n) => ({ type: "scatter", mode: "lines", name: n, x: curves[n].map((p) => p.step), y: curves[n].map((p) => p.loss) }) as Trace),
    layout: { title: { text: "Preference-training loss (first seed)" }, height: 420, xaxis: { title: { text: "step" } }, yaxis: { title: { text: "loss" } } },
  };
}

/** Accuracy per category with 95% CIs, one group of bars per category, one bar per model (default: all rows). */
export function categoryChart(r: LabResults, names: readonly string[] = r.rows.map((x) => x.name), title = "Accuracy per category, 95% CI"): Figure {
  const rows = names.map((n) => {
    const row = r.rows.find((x) => x.name === n);
    if (!row) throw new Error(`categoryChart: no model "${n}" in run ${r.runId}; have ${r.rows.map((x) => x.name).join(", ")}`);
    return row;
  });
  const cats = [...r.categories, "overall"];
  return {
    data: rows.map((row) => {
      const es = cats.map((c) => (c === "overall" ? row.overall : row.perCategory[c]));
      return { type: "bar", name: row.name, x: cats, y: es.map((e) => 100 * e.mean), error_y: ciWhiskers(es), hovertemplate: `${row.name} · %{x}: %{y:.1f}%<extra></extra>` } as Trace;
    }),
    layout: { title: { text: title }, barmode: "group", height: 440, yaxis: { title: { text: "accuracy (%)" } }, margin: { l: 60, r: 20, t: 50, b: 50 } },
  };
}

/** The ablation levels the lab trains, as (factor, level, variant) — InfiFPO itself is the default level of each. */
export const ABLATIONS: readonly { factor: string; level: string; variant: string }[] = [
  { factor: "fusion", level: "mean", variant: "infifpo-mean" },
  { factor: "fusion", level: "confidence", variant: "infifpo-confidence" },
  { factor: "fusion", level: "max-margin", variant: "infifpo" },
  { factor: "clipping", level: "off", variant: "infifpo-noclip" },
  { factor: "clipping", level: "on", variant: "infifpo" },
  { factor: "length-norm", level: "off", variant: "infifpo-noln" },
  { factor: "length-norm", level: "on", variant: "infifpo" },
  { factor: "max-margin to", level: "pivot at init", variant: "infifpo" },
  { factor: "max-margin to", level: "live policy", variant: "infifpo-live" },
  ...[1, 2, 3].map((n) => ({ factor: "sources", level: `${n}`, variant: `infifpo-n${n}` })),
  { factor: "sources", level: "all", variant: "infifpo" },
];

/**
 * Overall accuracy of each ablation level with its 95% CI, one colour per factor; levels whose variant the run
 * did not train are left out. DPO and SFT are drawn as dashed reference lines when present.
 */
export function ablationChart(r: LabResults): Figure {
  const byName = new Map(r.rows.map((x) => [x.name, x]));
  const factors = [...new Set(ABLATIONS.map((a) => a.factor))];
  const data: Trace[] = factors.map((f) => {
    const lv = ABLATIONS.filter((a) => a.factor === f && byName.has(a.variant));
    const es = lv.map((a) => byName.get(a.variant)!.overall);
    return {
      type: "bar", name: f, x: lv.map((a) => `${f}: ${a.level}`), y: es.map((e) => 100 * e.mean),
      error_y: ciWhiskers(es),
      hovertemplate: "%{x}: %{y:.1f}%<extra></extra>",
    } as Trace;
  });
  const lines = ["dpo", "sft"].filter((n) => byName.has(n)).map((n) => ({ n, y: 100 * byName.get(n)!.overall.mean }));
  const refs = lines.map(({ y }, i) => ({ type: "line", xref: "paper", x0: 0, x1: 1, y0: y, y1: y, line: { dash: i === 0 ? "dash" : "dot", color: "#444", width: 1.5 } }));
  const notes = lines.map(({ n, y }) => ({ xref: "paper", x: 1, xanchor: "right", y, yanchor: "bottom", text: `${n.toUpperCase()} ${y.toFixed(1)}%`, showarrow: false, font: { size: 11 } }));
  return {
    data,
    layout: {
      title: { text: "InfiFPO ablations: overall accuracy, 95% CI" }, height: 460, margin: { l: 60, r: 20, t: 50, b: 130 },
      yaxis: { title: { text: "accuracy (%)" } }, shapes: refs, annotations: notes, bargap: 0.25,
    } as Figure["layout"],
  };
}

/** The paired differences behind the paper's claims (those with a difference), with CIs, coloured by verdict. */
export function claimsChart(r: LabResults, filter: (claim: string) => boolean = () => true): Figure | null {
  const cs = r.claims.filter((c) => c.difference && filter(c.claim));
  if (cs.length === 0) return null;
  const d = cs.map((c) => c.difference!);
  const colour = { reproduced: "#2a9d8f", "not reproduced": "#e76f51", inconclusive: "#6c757d" } as const;
  return {
    data: [{
      type: "scatter", mode: "markers", y: cs.map((c) => c.claim), x: d.map((e) => 100 * e.mean), orientation: "h",
      error_x: ciWhiskers(d),
      marker: { size: 9, color: cs.map((c) => colour[c.verdict]) }, text: cs.map((c) => c.verdict),
      hovertemplate: "%{y}: %{x:+.1f} pp (%{text})<extra></extra>",
    } as Trace],
    layout: {
      title: { text: "The paper's claims: claimed-better − claimed-worse (pp), 95% paired CI" }, height: 90 + 30 * cs.length,
      margin: { l: 330, r: 20, t: 50, b: 50 }, xaxis: { zeroline: true, zerolinewidth: 2, title: { text: "difference (pp)" } }, yaxis: { autorange: "reversed" },
    },
  };
}

/** The claims that compare ablation levels (LN, clipping, fusion strategy, number of sources). */
export function isAblationClaim(claim: string): boolean {
  return /length normalisation|clipping|fusion|sources/.test(claim);
}

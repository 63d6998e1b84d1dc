import { describe, expect, it } from "vitest";
import {
  PLOTLY_MIME,
  PLOT_DIV_CLASS,
  clipRatePlot,
  escapeInlineScript,
  NO_PICTURE_CLASS,
  PICTURE_CLASS,
  figureDisplay,
  figureHtml,
  figureMimeBundle,
  fusedVsPivotMarginPlot,
  groupedBarChart,
  histogram,
  lineChart,
  plotlyBundleHtml,
  scatterWithDiagonal,
  selectionPlot,
  seriesFromLog,
  settingsComparisonPlot,
  tableHtml,
  tableText,
  trainingCurves,
  type Figure,
} from "../lib/viz";

/** Every builder must return plain JSON: what goes to the notebook and to Plotly.toImage. */
function expectJsonSafe(fig: Figure): void {
  expect(JSON.parse(JSON.stringify(fig))).toEqual(fig);
}

const summary = {
  marginSample: { pivot: [0.1, -0.2, 0.3], fused: [0.4, 0.0, 0.3] },
  clipRate: { chosen: [0.5, 0.25, 0], rejected: [0.1, 0.2, 0.3] },
  selection: { chosen: [2, 1, 0], rejected: [0, 0, 3] },
  loss: { mean: 0.9 },
  disparityWeight: { mean: 0.6 },
};

describe("generic charts", () => {
  it("lineChart: one line per series, x defaults to 0..n-1, explicit x kept", () => {
    const fig = lineChart({ loss: [0.7, 0.6, 0.5], eval_loss: { x: [10, 20], y: [0.8, 0.7] } }, { title: "t", xTitle: "step" });
    expect(fig.data).toEqual([
      { type: "scatter", mode: "lines", name: "loss", x: [0, 1, 2], y: [0.7, 0.6, 0.5] },
      { type: "scatter", mode: "lines", name: "eval_loss", x: [10, 20], y: [0.8, 0.7] },
    ]);
    expect(fig.layout.title).toEqual({ text: "t" });
    expect(fig.layout.xaxis).toEqual({ title: { text: "step" } });
    expectJsonSafe(fig);
  });

  it("lineChart rejects NaN and mismatched lengths (plotly would drop them silently)", () => {
    expect(() => lineChart({ loss: [0.7, NaN] })).toThrow(/series "loss" y\[1\] is NaN/);
    expect(() => lineChart({ loss: { x: [1, 2], y: [1] } })).toThrow(/2 x values but 1 y values/);
  });

  it("seriesFromLog / trainingCurves: metric name → series, rows lacking a metric skipped", () => {
    const rows = [
      { step: 1, loss: 0.7, "rewards/margins": 0 },
      { step: 2, loss: 0.6 },
      { step: 3, loss: 0.5, "rewards/margins": 0.4, eval_loss: 0.65 },
    ];
    expect(seriesFromLog(rows, ["loss", "rewards/margins"])).toEqual({
      loss: { x: [1, 2, 3], y: [0.7, 0.6, 0.5] },
      "rewards/margins": { x: [1, 3], y: [0, 0.4] },
    });
    const fig = trainingCurves(rows, ["loss", "eval_loss"], { title: "curves" });
    expect(fig.data.map((t) => [t.name, t.x, t.y])).toEqual([
      ["loss", [1, 2, 3], [0.7, 0.6, 0.5]],
      ["eval_loss", [3], [0.65]],
    ]);
    expect(fig.layout.xaxis).toEqual({ title: { text: "step" } });
  });

  it("groupedBarChart: group barmode, lengths checked, optional text labels", () => {
    const fig = groupedBarChart(["a", "b"], { chosen: [0.1, 0.2], rejected: [0.3, 0] }, { textFormat: (v) => v.toFixed(1) });
    expect(fig.layout.barmode).toBe("group");
    expect(fig.data.map((t) => [t.type, t.name, t.x, t.y, t.text])).toEqual([
      ["bar", "chosen", ["a", "b"], [0.1, 0.2], ["0.1", "0.2"]],
      ["bar", "rejected", ["a", "b"], [0.3, 0], ["0.3", "0.0"]],
    ]);
    expect(() => groupedBarChart(["a"], { x: [1, 2] })).toThrow(/2 values for 1 categories/);
  });

  it("scatterWithDiagonal: y = x first, spanning every point with a margin", () => {
    const fig = scatterWithDiagonal({ g: { x: [0, 1], y: [-1, 3], text: ["r0", "r1"] } });
    const [diag, g] = fig.data;
    expect(diag.name).toBe("y = x");
    expect(diag.mode).toBe("lines");
    expect(diag.x).toEqual(diag.y);
    const [lo, hi] = diag.x as number[];
    expect(lo).toBeLessThan(-1);
    expect(hi).toBeGreaterThan(3);
    expect(g).toMatchObject({ type: "scatter", mode: "markers", name: "g", x: [0, 1], y: [-1, 3], text: ["r0", "r1"] });
  });

  it("histogram: overlaid traces", () => {
    const fig = histogram({ a: [1, 2, 2] }, { nbins: 5 });
    expect(fig.data[0]).toMatchObject({ type: "histogram", name: "a", x: [1, 2, 2], nbinsx: 5 });
    expect(fig.layout.barmode).toBe("overlay");
  });
});

describe("fusion figures", () => {
  it("fusedVsPivotMarginPlot: one marker group per setting, pivot on x, fused on y", () => {
    const fig = fusedVsPivotMarginPlot([{ label: "max-margin, clip", summary }, { label: "mean", summary }]);
    expect(fig.data.map((t) => t.name)).toEqual(["y = x", "max-margin, clip", "mean"]);
    expect(fig.data[1].x).toEqual([0.1, -0.2, 0.3]);
    expect(fig.data[1].y).toEqual([0.4, 0.0, 0.3]);
    expect(JSON.stringify(fig.layout)).toContain("pivot margin");
    expectJsonSafe(fig);
  });

  it("clipRatePlot: sources on x, chosen/rejected bars, y as a share in [0, 1]", () => {
    const fig = clipRatePlot(summary);
    expect(fig.data.map((t) => [t.name, t.x, t.y])).toEqual([
      ["chosen", ["source 0", "source 1", "source 2"], [0.5, 0.25, 0]],
      ["rejected", ["source 0", "source 1", "source 2"], [0.1, 0.2, 0.3]],
    ]);
    expect(fig.layout.yaxis).toMatchObject({ range: [0, 1] });
    expect(() => clipRatePlot({ clipRate: { chosen: [1], rejected: [1, 2] } })).toThrow(/1 chosen vs 2 rejected/);
  });

  it("selectionPlot: counts per source; refuses a non-max-margin summary", () => {
    const fig = selectionPlot(summary);
    expect(fig.data.map((t) => t.y)).toEqual([
      [2, 1, 0],
      [0, 0, 3],
    ]);
    expect(() => selectionPlot({ selection: null })).toThrow(/max-margin/);
    const split = selectionPlot(summary, { pivotKept: { chosen: 1, rejected: 0 } });
    expect(split.data.map((t) => [t.x, t.y])).toEqual([
      [["pivot (all clipped)", "source 0", "source 1", "source 2"], [1, 1, 1, 0]],
      [["pivot (all clipped)", "source 0", "source 1", "source 2"], [0, 0, 0, 3]],
    ]);
    expect(() => selectionPlot(summary, { pivotKept: { chosen: 3, rejected: 0 } })).toThrow(/source 0 holds only 2/);
  });

  it("clipRatePlot / selectionPlot: the sources' names on x when given, one per source", () => {
    const names = ["src-math", "src-code", "src-know"];
    expect(clipRatePlot(summary, { names }).data[0].x).toEqual(names);
    expect(selectionPlot(summary, { names, pivotKept: { chosen: 1, rejected: 0 } }).data[0].x).toEqual(["pivot (all clipped)", ...names]);
    expect(() => clipRatePlot(summary, { names: names.slice(1) })).toThrow(/2 source name\(s\) for 3 source\(s\)/);
    expect(() => selectionPlot(summary, { names: [...names, "x"] })).toThrow(/4 source name/);
  });

  it("settingsComparisonPlot: loss and weight on two stacked axes with DPO reference lines", () => {
    const fig = settingsComparisonPlot([
      { label: "a", summary },
      { label: "b", summary: { loss: { mean: 0.7 }, disparityWeight: { mean: 0.5 } } },
    ]);
    expect(fig.data.map((t) => [t.yaxis, t.x, t.y])).toEqual([
      ["y", ["a", "b"], [0.9, 0.7]],
      ["y2", ["a", "b"], [0.6, 0.5]],
    ]);
    const shapes = fig.layout.shapes as { y0: number }[];
    expect(shapes.map((s) => s.y0)).toEqual([Math.LN2, 0.5]);
    expect(() => settingsComparisonPlot([{ label: "x", summary: { loss: { mean: NaN }, disparityWeight: { mean: 0.5 } } }])).toThrow();
  });
});

describe("HTML and mime bundles", () => {
  const fig = lineChart({ loss: [1, 2] }, { title: "a </script> title" });

  it("the bundle script hides RequireJS's define while plotly loads and restores it", () => {
    const html = plotlyBundleHtml("window.Plotly = {};");
    const hide = html.indexOf("window.define = undefined");
    const body = html.indexOf("window.Plotly = {};");
    const restore = html.indexOf("window.define = hiddenDefine");
    expect(hide).toBeGreaterThan(0);
    expect(body).toBeGreaterThan(hide);
    expect(restore).toBeGreaterThan(body);
    expect(html.startsWith("<script")).toBe(true);
    expect(html.trimEnd().endsWith("</script>")).toBe(true);
  });

  it("the bundle script runs: define hidden during, restored after, even when the bundle throws", () => {
    const run = (src: string) => {
      const html = plotlyBundleHtml(src);
      const js = html.slice(html.indexOf(">") + 1, html.lastIndexOf("</script>"));
      const amd = () => undefined;
      const window: Record<string, unknown> = { define: amd };
      let seen: unknown = "unset";
      try {
        new Function("window", "seen", js)(window, (v: unknown) => (seen = v));
      } catch {
        /* the bundle's own error */
      }
      return { window, seen, amd };
    };
    const ok = run("seen(window.define); window.Plotly = 1;");
    expect(ok.seen).toBeUndefined();
    expect(ok.window.define).toBe(ok.amd);
    expect(ok.window.Plotly).toBe(1);
    const bad = run("throw new Error('x')");
    expect(bad.window.define).toBe(bad.amd);
  });

  it("escapes </script> inside inline scripts", () => {
    expect(escapeInlineScript('a</script>b</SCRIPT>')).toBe("a<\\/script>b<\\/SCRIPT>");
    const html = figureHtml(fig, "p1");
    // Only the one closing tag of the snippet itself.
    expect(html.match(/<\/script>/gi)).toHaveLength(1);
  });

  it("figureHtml: a div with the marker class, the data inline, Plotly.newPlot", () => {
    const html = figureHtml(fig, "plot-1");
    expect(html).toContain(`<div id="plot-1" class="${PLOT_DIV_CLASS}">`);
    expect(html).toContain("window.Plotly.newPlot(el, data, layout, config)");
    expect(html).toContain('"y":[1,2]');
    expect(() => figureHtml(fig, 'x" onload="evil')).toThrow(/invalid div id/);
  });

  const picture = { png: "iVBORw0KGgo=", width: 640, height: 300 };

  it("figureHtml: the static picture inside the div, before the script", () => {
    const html = figureHtml(fig, "p1", picture);
    const div = html.slice(0, html.indexOf("</div>"));
    expect(div).toContain(`<img class="${PICTURE_CLASS}" src="data:image/png;base64,iVBORw0KGgo="`);
    expect(div).toContain('width="640"');
    expect(div).toContain('alt="a &lt;/script&gt; title (static picture');
    expect(div).not.toContain(NO_PICTURE_CLASS);
    expect(() => figureHtml(fig, "p1", { ...picture, png: '"><script>' })).toThrow(/base64/);
  });

  it("figureHtml without a picture: the div says in words why the figure is not drawn (never an empty box)", () => {
    const html = figureHtml(fig, "p1", undefined, "no <Chromium>");
    const div = html.slice(0, html.indexOf("</div>"));
    expect(div).toContain(`class="${NO_PICTURE_CLASS}"`);
    expect(div).toContain("Figure “a &lt;/script&gt; title” (1 trace) is not drawn here");
    expect(div).toContain("(no &lt;Chromium&gt;)");
    expect(div).not.toContain("<img");
  });

  /** Runs a figure's script against a minimal page: a div with children and an optional window.Plotly. */
  function runFigureScript(html: string, plotly: boolean) {
    const js = html.slice(html.indexOf("<script") + html.slice(html.indexOf("<script")).indexOf(">") + 1, html.lastIndexOf("</script>"));
    const children = ["picture"];
    const el = {
      style: {} as Record<string, string>,
      get firstChild() { return children[0] ?? null; },
      removeChild: () => children.shift(),
    };
    const calls: unknown[][] = [];
    const window: Record<string, unknown> = plotly ? { Plotly: { newPlot: (...a: unknown[]) => calls.push(a) } } : {};
    const timers: (() => void)[] = [];
    const document = { getElementById: (id: string) => (id === "p1" ? el : null) };
    new Function("window", "document", "setTimeout", js)(window, document, (f: () => void) => timers.push(f));
    return { children, el, calls, timers };
  }

  it("the figure script swaps the picture for the plot where plotly.js is loaded, and keeps it where not", () => {
    const html = figureHtml(fig, "p1", picture);
    const drawn = runFigureScript(html, true);
    expect(drawn.children).toEqual([]);
    expect(drawn.calls).toHaveLength(1);
    expect(drawn.calls[0][0]).toBe(drawn.el);
    expect(drawn.el.style.height).toBe("420px");
    const waiting = runFigureScript(html, false);
    expect(waiting.children).toEqual(["picture"]);
    expect(waiting.timers).toHaveLength(1); // polls for plotly.js, leaving the picture in place meanwhile
  });

  it("figureDisplay: HTML, the plotly JSON, image/png with its size (only with a picture), text", () => {
    const withPic = figureDisplay(fig, "p2", picture);
    expect(Object.keys(withPic.data)).toEqual(["text/html", PLOTLY_MIME, "image/png", "text/plain"]);
    expect(withPic.data["image/png"]).toBe(picture.png);
    expect(withPic.metadata).toEqual({ "image/png": { width: 640, height: 300 } });
    const without = figureDisplay(fig, "p2");
    expect(Object.keys(without.data)).toEqual(["text/html", PLOTLY_MIME, "text/plain"]);
    expect(without.metadata).toEqual({});
  });

  it("figureMimeBundle: HTML, the plotly JSON mime and text side by side", () => {
    const b = figureMimeBundle(fig, "p2");
    expect(Object.keys(b).sort()).toEqual([PLOTLY_MIME, "text/html", "text/plain"].sort());
    expect(b[PLOTLY_MIME]).toEqual({ data: fig.data, layout: fig.layout, config: {} });
    expect(b["text/plain"]).toContain("1 trace(s)");
  });

  it("tableHtml / tableText: header, rows, number formatting, escaping, truncation", () => {
    const t = { columns: ["name", "x"], values: [["<a>", 1.23456], ["b", 2], ["c", 3]] };
    const html = tableHtml(t, { maxRows: 2, digits: 2 });
    expect(html).toContain("<th>name</th><th>x</th>");
    expect(html).toContain("<td>&lt;a&gt;</td><td>1.23</td>");
    expect(html).toContain("1 more row(s) of 3");
    expect(tableText(t, { digits: 1 }).split("\n")).toEqual(["name    x", " <a>  1.2", "   b    2", "   c    3"]);
  });
});

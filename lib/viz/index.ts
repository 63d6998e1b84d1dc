/**
 * Plotly figure specs for fusion analysis and training curves, and their HTML. Pure: no DOM, no notebook.
 * Notebook display helpers live in ./notebook (tslab, loaded on first use); static pictures (PNG/SVG, headless
 * Chromium) in ./render, which is not re-exported here (it loads playwright-core on demand).
 */
export * from "./types";
export * from "./charts";
export * from "./html";
export * from "./fusion";

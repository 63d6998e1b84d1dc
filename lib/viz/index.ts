/**
 * Plotly figure specs for fusion analysis and training curves, and their HTML. Pure: no DOM, no notebook.
 * Notebook display helpers live in ./notebook (imports tslab); headless PNG/SVG in scripts/figures.ts.
 */
export * from "./types";
export * from "./charts";
export * from "./html";
export * from "./fusion";

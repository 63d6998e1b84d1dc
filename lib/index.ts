/**
 * infifpo-ts public API. Grouped by layer, bottom to top (see shared architecture notes):
 * fusion → losses → data → backend → tokenizers → model → train → viz.
 */
export { UserError } from "./errors";

/** Sequence-level probability synthesis: length normalisation, clipping, fusion strategies (infifpo.md). */
export * from "./options";
export * from "./scalar";
export * from "./tensor";

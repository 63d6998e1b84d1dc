/**
 * Record-level fusion over the published format: settings, per-record annotation, streaming statistics, and the
 * same over whole files in constant memory (`fuseFile` on worker threads for large inputs, `statsFile`).
 */
export * from "./settings";
export * from "./annotate";
export * from "./stats";
export * from "./tokens";
export { fuseFile, statsFile, rejectsPathFor, defaultFuseThreads, type FuseFileOptions, type FuseFileResult } from "./files";

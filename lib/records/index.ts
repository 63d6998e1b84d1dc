/** Record-level fusion over the published format: settings, per-record annotation, streaming statistics. */
export * from "./settings";
export * from "./annotate";
export * from "./stats";
export * from "./tokens";

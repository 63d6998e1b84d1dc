/**
 * The fusion lab's public API (`infifpo lab` is a thin CLI over it): presets and config, the whole run with
 * its report, the pieces notebooks show one at a time (models, pairs, evaluation, aggregation, statistics).
 */
export { LAB_PRESETS, ALL_VARIANTS, resolveLabConfig, parseLabSetting, configKey, canonicalJson, type LabConfig, type SourceConfig } from "./config";
export { runLab, labModels, labBenchmarks, modelSpecs, modelKey, type LabRunOptions, type LabOutputs, type SeedOutputs, type PairStats, type EvalResult } from "./pipeline";
export { runLabAndReport, shipLabModels, defaultRunId, type LabRunResult } from "./run";
export { aggregate, resultsCsv, headlineTable, headlineMarkdown, gatesMarkdown, hparamsMarkdown, claimsMarkdown, summaryText, type LabResults, type ModelRow, type Gate, type Claim, type Difference } from "./aggregate";
export { asLabResults, readLabResults, LAB_RESULTS_FORMAT } from "./results-file";
export { reportHtml } from "./report";
export type { Curves } from "./figures";
export { evaluateModel, accuracyByFamily, type Benchmark, type ItemResult, type EvaluateOptions } from "./evaluate";
export { buildPair, wrpoTriple, type Sample, type Pair, type PairOutcome } from "./pairs";
export { variantSpec, selectedWith, tunedKnobs, type VariantSpec } from "./variants";
export { lengthStats, tokenStats, fusedGapStats, nonsenseRate, answerAlphabet, logpsDrift, type LengthStats, type TokenStats, type FusedGapStats, type Drift } from "./regime";
export { trainScratchModel, type ScratchModelSpec, type TokenizerSpec } from "./models";
export { mixWeights } from "./mix";
export { cachedStage, stageDir, type StageInfo } from "./cache";
export { readManifest, fileSha256, MANIFEST, type ShippedManifest, type ShippedModel } from "./shipped";
export { tInterval, percentileInterval, bootstrapBenchmarkMeans, type Estimate, type BootstrapOptions, type ScoreMatrix } from "./stats";
export { errorBars, heatmap, deltaChart, pairChart, curveChart, categoryChart, ablationChart, claimsChart, ABLATIONS, isAblationClaim } from "./figures";

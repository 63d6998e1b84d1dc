/**
 * infifpo-ts public API, grouped by layer from the bottom up (see docs: fusion → losses → data → records →
 * backend → tokenizers → model → train → viz). Notebooks and scripts import from here.
 */

// Errors shown to users as one line (file:line:field for data)
export { UserError } from "./errors";

// Sequence-level probability synthesis (infifpo.md, "The three add-ons")
export * from "./fusion";

// Preference losses by name, TRL metric names (infifpo.md, "Final loss", "Baselines")
export * from "./losses";

// The published JSONL format: validation, streaming, writing, DataFrames, sample data
export * from "./data";

// Record-level fusion and statistics, per record and over files (what `infifpo fuse` / `stats` run)
export * from "./records";
export { sweepFusionSettings, sweepSettings, sweepTable, fusedRecords, type SweepOptions, type SweepRow } from "./records/sweep";

// TensorFlow.js backend choice (native → wasm → cpu) and info
export * from "./backend";

// Tokenizers: char, byte-level BPE, word, digit-chunk (heterogeneous on purpose)
export * from "./tokenizers";

// Small causal transformer: config/presets, forward, sequence log-probs, generation, save/load
export * from "./model";
// The one seeded RNG (sfc32 with savable state, named streams) every layer draws from
export { Rng, hashSeed, deriveSeed, mix32, type RngState } from "./rng";

// Training: generic loop, AdamW, schedule, checkpoints/resume, metrics, SFT and preference adapters, runTraining
export {
  Trainer, NonFiniteError, TrainingInterrupted, LOOP_DEFAULTS, AdamW, ADAMW_DEFAULTS, warmupCosine,
  globalNorm, clipCoefficient, EpochSampler, MetricsLog, readMetrics,
  writeCheckpoint, readCheckpoint, listCheckpoints, latestCheckpoint, pruneCheckpoints, restoreParams, writeFileAtomic,
  CHECKPOINT_FORMAT, createProgress, TRAIN_DEFAULTS, TRAIN_PRESETS, resolveTrainConfig, parseSetting,
  encodePreferenceExample, preferenceLossFn, preferenceTokens, sftLossFn, sftTokens, runTraining, validateSftRecord,
  type LoopConfig, type LossFn, type StepContext, type TrainerOptions, type TrainResult, type AdamWConfig,
  type AdamWState, type ScheduleConfig, type SamplerState, type MetricsRecord, type Checkpoint,
  type CheckpointState, type Progress, type ProgressMode, type TrainConfig, type PreferenceExample,
  type ResponseColumns, type RunOptions, type RunResult,
} from "./train";

// Figures: plain plotly {data, layout} specs and their HTML; notebook display (tslab loaded on first use): each
// figure with its static picture (headless Chromium, lib/viz/render.ts), so saved notebooks show it anywhere
export * from "./viz/index";
export { plotlyInit, showPlot, showTable } from "./viz/notebook";

// Synthetic benchmark families with verifiers, the train/test split (lib/tasks)
export * from "./tasks";

// The fusion lab: presets, the cached pipeline, aggregation with CIs and claims, the HTML report (lib/lab)
export * from "./lab/index";

// Served models (vLLM / llama.cpp OpenAI-compatible servers): client, dialects, scoring, a server for checkpoints (lib/remote)
export * from "./remote/index";

// The TRL hand-off: a fused record as DPOTrainer's row with the fused reference on TRL's sum scale
export { trlRow, trlLossType, type TrlRow } from "./data/trl-export";

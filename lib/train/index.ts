/**
 * Training: a generic loop over tf.Variables (knows nothing about models or InfiFPO), its pieces
 * (AdamW, schedule, clipping, seeded data order, checkpoints, metrics, progress), and thin adapters for SFT
 * and preference optimisation with any loss of the registry.
 */
export { Trainer, NonFiniteError, TrainingInterrupted, LOOP_DEFAULTS, type LoopConfig, type LossFn, type LossOutput, type StepContext, type TrainerOptions, type TrainResult } from "./trainer";
export { AdamW, ADAMW_DEFAULTS, type AdamWConfig, type AdamWState } from "./optim";
export { warmupCosine, type ScheduleConfig } from "./schedule";
export { globalNorm, clipCoefficient } from "./clip";
export { Rng, deriveSeed, mix32, type RngState } from "../rng";
export { EpochSampler, type SamplerState } from "./sampler";
export { MetricsLog, readMetrics, type MetricsRecord } from "./metrics";
export {
  writeCheckpoint,
  readCheckpoint,
  listCheckpoints,
  latestCheckpoint,
  pruneCheckpoints,
  restoreParams,
  writeFileAtomic,
  CHECKPOINT_FORMAT,
  type Checkpoint,
  type CheckpointState,
} from "./checkpoint";
export { createProgress, type Progress, type ProgressMode } from "./progress";
export { TRAIN_DEFAULTS, TRAIN_PRESETS, resolveTrainConfig, parseSetting, type TrainConfig } from "./config";
export { encodePreferenceExample, preferenceLossFn, preferenceTokens, type PreferenceExample, type ResponseColumns } from "./preference";
export { sftLossFn, sftTokens } from "./sft";
export { runTraining, validateSftRecord, type RunOptions, type RunResult } from "./run";

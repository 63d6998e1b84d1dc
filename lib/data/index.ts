/**
 * lib/data: records in the published InfiFPO JSONL format — validation, streaming read, atomic write,
 * TRL prompt/chosen/rejected helpers, DataFrames, and a seeded synthetic-data generator.
 * Importing this module loads neither danfojs nor tfjs.
 */

// Record types (infifpo.md, "Data format")
export type {
  Message, Conversation, ScoreColumns, PolicyColumns, PreferenceRecord, PreferencePair, FusedColumns,
} from "./types";

// Errors: every data error names file:line and the field
export { DataError, showValue, type Loc } from "./errors";

// Validation of one parsed line
export { validateRecord, sourceCount, checkSumMean, LOGP_MIN, type ValidateOptions } from "./validate";
export { validatePair, checkPairFields, responseText, promptText, promptMessages } from "./trl";

// Streaming read
export {
  readRecords, readRecordBatches, readPairs, readJsonl, readJsonlBatches, loadRecords, parseJsonl,
  recordValidator, MAX_JSON_DEPTH, tooDeepField,
  type Row, type BadRow, type Validator, type ReadOptions, type ThrowOptions, type YieldOptions,
  type RecordReadOptions, type Source,
} from "./jsonl";
// The one byte-level line scanner under every reader (bounded memory, line numbers, CRLF, BOM)
export {
  LineChunker, LineScanner, LineSplitter, scanFileSync, countLines, DEFAULT_MAX_LINE_BYTES, DEFAULT_CHUNK_BYTES, type LineRuns,
} from "./lines";

// The log-prob columns of one response slot (ref_* and fuse_*), and of a pair in the published order
export { logpColumns, logpPairColumns, type LogpScore, type SlotScores } from "./columns";

// Writing: log-probs always with a fractional part; atomic files
export {
  serializeRecord, recordSerializer, floatJson, isFloatField, DEFAULT_FLOAT_FIELDS,
  openAtomicWriter, writeRecords,
  type SerializeOptions, type AtomicWriter, type AtomicWriterOptions,
} from "./write";

// Safe outputs: exclusive per-process temporary files, outputs checked against inputs, one-line write errors
export { checkOutputs, writeFileSafe, copyFileSafe, outputError, type InputRef, type OutputRef } from "./safe-output";

// Tables (danfojs loaded lazily)
export { recordColumns, recordsToDataFrame, type Cell, type FrameOptions } from "./frame";

// Synthetic data (seeded with lib/rng)
export {
  generateSampleRecords, sampleSourceModels, SAMPLE_PIVOT, type SampleOptions, type SampleModel,
} from "./sample";

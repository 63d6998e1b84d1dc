/** Served models (OpenAI-compatible servers): HTTP client, dialects, scoring, a server for project models, and scoreFile (`infifpo score`: local or served models). */
export { JsonClient, RemoteError, Semaphore, type ClientOptions } from "./http";
export { DIALECTS, detectDialect, echoLogProbs, makeDialect, type Dialect, type DialectName } from "./dialect";
export { isProblem, prefixMismatch, responseScore, scoreRemote, type RemoteScore, type ScoreProblem, type ScoreRequest } from "./scorer";
export { serveModel, templateIds, type Fault, type ServeOptions, type ServedModel } from "./serve";
export { scoreFile, type ModelSpec, type RemoteModelSpec, type ScoreFileOptions, type ScoreFileResult } from "./score-file";

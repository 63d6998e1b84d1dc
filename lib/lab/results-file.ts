/**
 * Reading a lab run's `results.json` (`infifpo lab-results`, notebooks): the file is checked against its format on
 * read, so a missing, null or mistyped field is one line naming the file and the field
 * (`r.json: field "rows[2].overall.lo": expected a finite number, got null`), never a TypeError or an "undefined"
 * printed later.
 *
 * The format is the table LAB_RESULTS_FORMAT below: one entry per top-level field, built from a few small checks
 * (str, num, arr, obj, …). A new field is one line there; `obj` accepts extra keys, so files written by newer
 * versions with added fields still read. Checks that span fields (every row has every listed category) are in
 * CROSS_CHECKS.
 */
import { isUtf8 } from "node:buffer";
import * as fs from "node:fs";
import { UserError } from "../errors";
import { CATEGORIES } from "../tasks";
import type { LabResults } from "./aggregate";

/** Checks one value; returns why it is wrong, or null. `at` is the field's path, for nested checks. */
type Check = (v: unknown, at: string, fail: (at: string, why: string) => never) => void;

const show = (v: unknown): string =>
  v === undefined ? "nothing" : v === null ? "null" : Array.isArray(v) ? "a list" : typeof v === "object" ? "an object" : typeof v === "string" ? JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v) : String(v);

const str: Check = (v, at, fail) => void (typeof v !== "string" && fail(at, `expected a string, got ${show(v)}`));
const num: Check = (v, at, fail) => void (!(typeof v === "number" && Number.isFinite(v)) && fail(at, `expected a finite number, got ${show(v)}`));
const int: Check = (v, at, fail) => void (!Number.isInteger(v) && fail(at, `expected a whole number, got ${show(v)}`));
const bool: Check = (v, at, fail) => void (typeof v !== "boolean" && fail(at, `expected true or false, got ${show(v)}`));
const any: Check = () => undefined;
const oneOf = (values: readonly (string | number)[]): Check => (v, at, fail) =>
  void (!values.includes(v as string) && fail(at, `expected one of ${values.map((x) => JSON.stringify(x)).join(", ")}, got ${show(v)}`));
const nullable = (c: Check): Check => (v, at, fail) => (v === null ? undefined : c(v, at, fail));
/** An optional key: absent is fine; present must pass `c`. */
const opt = (c: Check): Check & { optional: true } => Object.assign(((v, at, fail) => (v === undefined ? undefined : c(v, at, fail))) as Check, { optional: true as const });
const arr = (item: Check, min = 0): Check => (v, at, fail) => {
  if (!Array.isArray(v)) return fail(at, `expected a list, got ${show(v)}`);
  if (v.length < min) fail(at, `expected at least ${min} entr${min === 1 ? "y" : "ies"}, got an empty list`);
  v.forEach((x, i) => item(x, `${at}[${i}]`, fail));
};
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
/** An object with these fields (extra keys allowed). */
const obj = (fields: Record<string, Check>): Check => (v, at, fail) => {
  if (!isObj(v)) return fail(at, `expected an object, got ${show(v)}`);
  for (const [k, c] of Object.entries(fields)) {
    if (v[k] === undefined && !(c as { optional?: true }).optional) fail(`${at}.${k}`, "missing");
    c(v[k], `${at}.${k}`, fail);
  }
};
/** An object whose every value passes `c` (keys free). */
const rec = (c: Check): Check => (v, at, fail) => {
  if (!isObj(v)) return fail(at, `expected an object, got ${show(v)}`);
  for (const [k, x] of Object.entries(v)) c(x, `${at}.${k}`, fail);
};

const ESTIMATE = obj({ mean: num, lo: num, hi: num });
const DIFFERENCE = obj({ mean: num, lo: num, hi: num, pPositive: num });
const VERSUS = obj({ perCategory: rec(DIFFERENCE), overall: DIFFERENCE });
const CATEGORY = oneOf(CATEGORIES);

const HPARAMS = obj({ lr: num, betaScale: num });

/** The version this code writes and reads. */
export const LAB_RESULTS_VERSION = 2;

/** The format of results.json, version 2 (LabResults in lib/lab/aggregate.ts), field by field. */
export const LAB_RESULTS_FORMAT: Record<string, Check> = {
  format: oneOf(["infifpo-lab-results"]),
  version: oneOf([2]), // = LAB_RESULTS_VERSION
  runId: str,
  preset: str,
  configKey: str,
  backend: str,
  createdAt: str,
  seeds: arr(int, 1),
  bootstrap: obj({ replicates: int, level: num }),
  benchmarks: arr(obj({ family: str, category: CATEGORY, items: int, validationItems: int })),
  categories: arr(CATEGORY, 1),
  rows: arr(obj({ name: str, label: str, group: str, perBenchmark: rec(ESTIMATE), perCategory: rec(ESTIMATE), overall: ESTIMATE, vsDpo: opt(VERSUS), vsSft: opt(VERSUS) }), 1),
  gates: arr(obj({ name: str, kind: oneOf(["regime", "sanity"]), pass: bool, detail: str })),
  claimsAreEvidence: bool,
  claims: arr(obj({ claim: str, verdict: oneOf(["reproduced", "not reproduced", "inconclusive"]), evidence: str, difference: nullable(DIFFERENCE) })),
  pairStats: rec(obj({ prompts: int, sft: int, pairs: int, verified: nullable(num) })),
  regime: rec(obj({
    lengths: obj({ chosenMedian: num, chosenP90: num, rejectedMedian: num, chosenMean: num, rejectedMean: num, chosenLonger: num, chosenShorter: num }),
    tokens: obj({ maxOverMinMedian: nullable(num), ratioToPivot: rec(nullable(num)), meanCount: rec(nullable(num)) }),
    fused: obj({ settings: str, gapMedian: num, gapP10: num, gapP90: num, z0Median: num, z0BelowMinus5: num, disparityMean: num }),
  })),
  diagnostics: rec(obj({
    nonsense: nullable(num),
    drift: nullable(obj({ start: num, end: num, change: num })),
    hparams: obj({ lr: num, betaScale: num, source: oneOf(["selected", "config", "default", "sft", "infifpo's"]) }),
  })),
  baseNonsense: rec(nullable(num)),
  selection: nullable(obj({
    seed: int,
    grid: obj({ lr: arr(num, 1), betaScale: arr(num, 1) }),
    variants: rec(obj({ candidates: arr(obj({ lr: num, betaScale: num, validation: num }), 1), chosen: HPARAMS })),
  })),
  timings: rec(nullable(num)),
  stageSeconds: rec(nullable(num)),
  config: any,
};

/** Checks across fields, after every field passed its own. */
const CROSS_CHECKS: ((r: LabResults, fail: (at: string, why: string) => never) => void)[] = [
  (r, fail) =>
    r.rows.forEach((row, i) => {
      for (const c of r.categories) if (row.perCategory[c] === undefined) fail(`rows[${i}].perCategory.${c}`, `missing (category "${c}" is listed in "categories")`);
    }),
  (r, fail) =>
    Object.keys(r.diagnostics).forEach((v) => {
      if (!r.rows.some((row) => row.name === v)) fail(`diagnostics.${v}`, `no row "${v}" in "rows"`);
    }),
  (r, fail) =>
    r.benchmarks.forEach((b, i) => {
      if (!r.categories.includes(b.category)) fail(`benchmarks[${i}].category`, `"${b.category}" is not listed in "categories"`);
    }),
];

/**
 * Checks that a parsed JSON value is lab results in the format above, naming `file` and the first field that is not.
 *
 * @example
 *   asLabResults(JSON.parse(text), "runs/x/results.json");
 *   // UserError: runs/x/results.json: field "seeds": missing
 */
export function asLabResults(x: unknown, file: string): LabResults {
  const fail = (at: string, why: string): never => {
    throw new UserError(`${file}: field "${at.replace(/^\./, "")}": ${why}`);
  };
  if (!isObj(x) || x.format !== "infifpo-lab-results") throw new UserError(`${file}: not a lab results file (field "format" must be "infifpo-lab-results")`);
  if (x.version !== LAB_RESULTS_VERSION) throw new UserError(`${file}: field "version": ${JSON.stringify(x.version) ?? "nothing"} is not supported (expected ${LAB_RESULTS_VERSION}; files of version 1 come from the lab before issue 19's regime)`);
  obj(LAB_RESULTS_FORMAT)(x, "", fail);
  for (const check of CROSS_CHECKS) check(x as unknown as LabResults, fail);
  return x as unknown as LabResults;
}

/** Reads a results.json written by the lab, naming the file when it cannot be read, is not UTF-8 or JSON, or is not lab results. */
export function readLabResults(file: string): LabResults {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${file}: cannot read (${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (e as Error).message})`);
  }
  if (!isUtf8(bytes)) throw new UserError(`${file}: not valid UTF-8`);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw new UserError(`${file}: invalid JSON (${(e as Error).message})`);
  }
  return asLabResults(json, file);
}

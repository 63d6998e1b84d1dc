import { UserError } from "../errors";

/** Where a record came from: the file name as the user gave it and the 1-based line number. */
export interface Loc {
  file: string;
  line: number;
}

/**
 * An invalid input line. The message always starts with `file:line:` and, when one field is to blame,
 * `field "name":` (array entries as `name[i]`, chat messages as `chosen[2].content`), e.g.
 *
 *     data/x.jsonl:17: field "fuse_mean_chosen_logps[2]": expected a finite number, got "abc"
 *     data/x.jsonl:18: invalid JSON (Unexpected end of JSON input): truncated line?
 *
 * `reason` is the message without the location, for tables of skipped lines.
 */
export class DataError extends UserError {
  readonly file: string;
  readonly line: number;
  /** The offending field, or null when the whole line is bad (invalid JSON, not an object, blank, too long). */
  readonly field: string | null;
  readonly reason: string;

  constructor(loc: Loc, field: string | null, reason: string) {
    super(`${loc.file}:${loc.line}: ${field === null ? "" : `field "${field}": `}${reason}`);
    this.name = "DataError";
    this.file = loc.file;
    this.line = loc.line;
    this.field = field;
    this.reason = reason;
  }
}

/** A short, quoted rendering of an offending value for error messages (strings cut at 40 characters). */
export function showValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v);
  if (typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === "object") return "an object";
  return typeof v;
}

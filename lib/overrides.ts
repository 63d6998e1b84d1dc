/**
 * Strict overrides for every typed config of the project (the training run's, the lab's): nanoGPT's
 * configurator, with checks. An override may only name keys the base has, with values of the base's type; some
 * keys hold free-form objects (merged key by key, checked by their own resolver) and some may be null.
 */
import { UserError } from "./errors";

export interface MergeRules {
  /** Dotted keys whose value is a free-form object: merged key by key without a schema. */
  open?: ReadonlySet<string>;
  /** Dotted keys that may be null, with the type their value has otherwise ("number", "string", "object"). */
  nullable?: Readonly<Record<string, string>>;
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

const typeName = (x: unknown) => (Array.isArray(x) ? "list" : x === null ? "null" : typeof x);

/**
 * `over` merged into a copy of `base`: unknown keys and values of the wrong type are a UserError naming the
 * dotted key and `where` (the file or flag it came from); lists replace lists; nested objects merge.
 *
 * @example strictMerge({ a: { b: 1 } }, { a: { b: 2 } }, "--set a.b=2") // → { a: { b: 2 } }
 * @example strictMerge({ a: 1 }, { c: 2 }, "x") // throws: x: unknown key "c"; valid: a
 */
export function strictMerge<T extends object>(base: T, over: unknown, where: string, rules: MergeRules = {}, prefix = ""): T {
  if (!isObj(over)) throw new UserError(`${where}: ${prefix || "config"} must be an object, got ${JSON.stringify(over)}`);
  const b = base as Record<string, unknown>;
  const out: Record<string, unknown> = { ...b };
  for (const [k, v] of Object.entries(over)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (!Object.hasOwn(b, k)) throw new UserError(`${where}: unknown key "${key}"; valid: ${Object.keys(b).map((x) => (prefix ? `${prefix}.${x}` : x)).join(", ")}`);
    if (v === undefined) continue;
    const d = b[k];
    const nullType = rules.nullable?.[key];
    if (v === null) {
      if (nullType === undefined) throw new UserError(`${where}: "${key}" cannot be null`);
      out[k] = null;
    } else if (rules.open?.has(key)) {
      if (!isObj(v)) throw new UserError(`${where}: "${key}" must be an object, got ${JSON.stringify(v)}`);
      out[k] = { ...(isObj(d) ? d : {}), ...v };
    } else if (isObj(d)) {
      out[k] = strictMerge(d, v, where, rules, key);
    } else {
      const want = d === null ? nullType! : typeName(d);
      if (typeName(v) !== want) throw new UserError(`${where}: "${key}" must be a ${want}, got ${JSON.stringify(v)}`);
      out[k] = v;
    }
  }
  return out as T;
}

/**
 * `a.b.c=value` → `{ a: { b: { c: value } } }`, the value as JSON when it parses, else the plain string.
 * @example parseSetting("loop.maxSteps=20") // → { loop: { maxSteps: 20 } }
 */
export function parseSetting(s: string): Record<string, unknown> {
  const eq = s.indexOf("=");
  if (eq <= 0) throw new UserError(`--set expects key=value, got "${s}"`);
  let value: unknown = s.slice(eq + 1);
  try {
    value = JSON.parse(value as string);
  } catch {
    // a plain string
  }
  const out: Record<string, unknown> = {};
  let at = out;
  s.slice(0, eq).split(".").forEach((k, i, keys) => {
    if (i === keys.length - 1) at[k] = value;
    else at = at[k] = {} as Record<string, unknown>;
  });
  return out;
}

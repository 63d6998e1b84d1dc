/**
 * Training mixes: a model's specialty (one or two categories) gets `specialtyWeight` of the draws, shared
 * equally by the families of those categories; the rest is spread over every family (a general mix), so a
 * source is strong at its specialty and has seen the other formats. No specialty = the general mix alone.
 * The general mix is uniform unless `general` gives families relative weights (a missing family weighs 1).
 */
import { UserError } from "../errors";
import { TASKS, type Category, type StreamPart, type TaskFamily } from "../tasks";

/** Family weights for a model with `specialty`, over `families` (default: every family). */
export function mixWeights(
  specialty: readonly Category[],
  specialtyWeight: number,
  families: readonly TaskFamily[] = Object.values(TASKS),
  levels: Record<string, number> = {},
  general: Record<string, number> = {},
): StreamPart[] {
  if (!(specialtyWeight >= 0 && specialtyWeight <= 1)) throw new UserError(`specialtyWeight must be in [0, 1], got ${specialtyWeight}`);
  for (const [name, w] of Object.entries(general)) {
    if (!families.some((f) => f.name === name)) throw new UserError(`general mix: unknown family "${name}"; valid: ${families.map((f) => f.name).join(", ")}`);
    if (!(typeof w === "number" && w > 0 && Number.isFinite(w))) throw new UserError(`general mix: the weight of "${name}" must be a finite number > 0, got ${JSON.stringify(w)}`);
  }
  const special = families.filter((f) => specialty.includes(f.category));
  if (specialty.length > 0 && special.length === 0) throw new UserError(`no task family in categories ${specialty.join(", ")}`);
  const share = specialty.length === 0 ? 1 : 1 - specialtyWeight;
  const rel = (f: TaskFamily) => general[f.name] ?? 1;
  const total = families.reduce((s, f) => s + rel(f), 0);
  return families.map((f) => ({
    family: f,
    weight: (share * rel(f)) / total + (special.includes(f) ? specialtyWeight / special.length : 0),
    level: levels[f.name],
  }));
}

/**
 * Training mixes: a model's specialty (one or two categories) gets `specialtyWeight` of the draws, shared
 * equally by the families of those categories; the rest is spread over every family (a general mix), so a
 * source is strong at its specialty and has seen the other formats. No specialty = the uniform general mix.
 */
import { UserError } from "../errors";
import { TASKS, type Category, type StreamPart, type TaskFamily } from "../tasks";

/** Family weights for a model with `specialty`, over `families` (default: every family). */
export function mixWeights(specialty: readonly Category[], specialtyWeight: number, families: readonly TaskFamily[] = Object.values(TASKS), levels: Record<string, number> = {}): StreamPart[] {
  if (!(specialtyWeight >= 0 && specialtyWeight <= 1)) throw new UserError(`specialtyWeight must be in [0, 1], got ${specialtyWeight}`);
  const special = families.filter((f) => specialty.includes(f.category));
  if (specialty.length > 0 && special.length === 0) throw new UserError(`no task family in categories ${specialty.join(", ")}`);
  const general = specialty.length === 0 ? 1 : 1 - specialtyWeight;
  return families.map((f) => ({
    family: f,
    weight: general / families.length + (special.includes(f) ? specialtyWeight / special.length : 0),
    level: levels[f.name],
  }));
}

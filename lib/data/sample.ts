/**
 * Synthetic records in the published format, from a seeded generator: small arithmetic / reasoning
 * prompts with a correct (chosen) and a typically-wrong (rejected) answer, and made-up scores for a pivot
 * and N sources. The scores are NOT from real models; they imitate the shape of real data:
 *
 * - each model has its own tokenizer granularity (characters per token), so n_M(y) differs per model,
 *   as heterogeneous tokenizers do; every sum is mean × n_M and every mean is sum / n_M;
 * - values pass through float32 (as `.item()` of a float32 tensor would), e.g. -37.21905517578125;
 * - per model: a scale (how unlikely its tokens are on this data; the pivot, an SFT model, is among the
 *   most confident), a per-task-type affinity (domain expertise), a preference strength (how much less
 *   likely it finds the rejected answer; some sources even prefer the rejected one) and per-response
 *   noise, over a per-record difficulty shared by all models:
 *   per-token NLL = scale · affinity[task] · difficulty · exp(preference [rejected only] + noise · N(0,1)).
 *   So sources beat the pivot on some responses and not others: clipping rates, max-margin selections
 *   and the sign of the fused margin all vary from record to record.
 *
 * Deterministic: the same (n, sources, seed, options) gives the same records, byte for byte once written.
 */
import { Rng } from "../rng";
import type { Message, PreferenceRecord } from "./types";

export interface SampleOptions {
  /** Number of records. */
  n: number;
  /** Number of source models N ≥ 1. */
  sources: number;
  /** PRNG seed (integer). */
  seed: number;
  /** "string": prompt/chosen/rejected strings (default); "chat": chosen/rejected as [user, assistant] message lists. */
  format?: "string" | "chat";
  /** Also emit policy_* columns (a policy drifted a little from the pivot). Default false. */
  policy?: boolean;
}

/** One synthetic model's scoring behaviour (exported for tests and for the sample README). */
export interface SampleModel {
  /** Characters per token of its tokenizer. */
  charsPerToken: number;
  /** Typical per-token negative log-prob of a chosen response of average difficulty. */
  scale: number;
  /** log of (rejected / chosen) per-token NLL ratio: > 0 prefers chosen, < 0 prefers rejected. */
  preference: number;
  /** Per-response log-normal noise of the per-token NLL. */
  noise: number;
  /**
   * Per task type, a multiplier of `scale` (domain expertise: a source strong at arithmetic may be weak
   * at sorting). Empty = 1 everywhere.
   */
  affinity: number[];
}

/** The pivot (an SFT model on this kind of data): confident, prefers chosen clearly. */
export const SAMPLE_PIVOT: SampleModel = { charsPerToken: 3.8, scale: 0.12, preference: 0.6, noise: 0.15, affinity: [] };

/** Source i's behaviour for a given seed: drawn from wide ranges so sources differ. */
export function sampleSourceModels(sources: number, seed: number): SampleModel[] {
  const models: SampleModel[] = [];
  for (let i = 0; i < sources; i++) {
    const r = new Rng(seed, `sample-source:${i}`);
    models.push({
      charsPerToken: r.uniform(2.6, 4.6),
      scale: 0.08 * Math.exp(r.uniform(0, Math.log(4))), // 0.08 … 0.32
      preference: r.uniform(-0.3, 0.9),
      noise: r.uniform(0.15, 0.4),
      affinity: TASKS.map(() => Math.exp(0.45 * r.normal())),
    });
  }
  return models;
}

interface Pair {
  prompt: string;
  chosen: string;
  rejected: string;
}

const NAMES = ["Sam", "Ana", "Li", "Omar", "Priya", "Jonas", "Mei", "Tom", "Zara", "Ivan"];
const ITEMS = ["apples", "marbles", "stickers", "books", "coins", "pencils", "cards", "shells"];

function between(r: Rng, lo: number, hi: number): number {
  return lo + r.int(hi - lo + 1);
}

function smallestFactor(n: number): number {
  for (let p = 2; p * p <= n; p++) if (n % p === 0) return p;
  return n;
}

/** Prompt builders: each returns a question, a correct worked answer and a plausible wrong one. */
const TASKS: ((r: Rng) => Pair)[] = [
  (r) => {
    const a = between(r, 12, 989), b = between(r, 12, 989), s = a + b;
    const wrong = s + (r.next() < 0.5 ? -10 : 10);
    return { prompt: `What is ${a} + ${b}?`, chosen: `${a} + ${b} = ${s}. The answer is ${s}.`, rejected: `${a} + ${b} = ${wrong}. The answer is ${wrong}.` };
  },
  (r) => {
    const a = between(r, 100, 999), b = between(r, 11, a - 1), d = a - b;
    const wrong = Math.abs(d + (r.next() < 0.5 ? 10 : -10));
    return { prompt: `What is ${a} - ${b}?`, chosen: `${a} - ${b} = ${d}.`, rejected: `${a} - ${b} = ${wrong}.` };
  },
  (r) => {
    const t = between(r, 1, 9), u = between(r, 1, 9), b = between(r, 3, 9), a = 10 * t + u;
    return {
      prompt: `Compute ${a} × ${b}.`,
      chosen: `${a} × ${b} = ${10 * t} × ${b} + ${u} × ${b} = ${10 * t * b} + ${u * b} = ${a * b}.`,
      rejected: `${a} × ${b} = ${10 * t} × ${b} + ${u} = ${10 * t * b + u}.`,
    };
  },
  (r) => {
    const name = r.pick(NAMES), item = r.pick(ITEMS);
    const a = between(r, 5, 40), b = between(r, 2, 20), c = between(r, 1, a + b - 1);
    return {
      prompt: `${name} has ${a} ${item}, buys ${b} more and then gives away ${c}. How many ${item} does ${name} have now?`,
      chosen: `Start with ${a}. After buying ${b}: ${a} + ${b} = ${a + b}. After giving away ${c}: ${a + b} - ${c} = ${a + b - c}. ${name} has ${a + b - c} ${item}.`,
      rejected: `${a} + ${b} + ${c} = ${a + b + c}, so ${name} has ${a + b + c} ${item}.`,
    };
  },
  (r) => {
    const d = between(r, 2, 9);
    let ab = between(r, 11, 10 * d - 1);
    if (ab % 10 === 0) ab += 1;
    const x = `0.${d}`, y = `0.${ab}`;
    const [p, q] = r.next() < 0.5 ? [x, y] : [y, x];
    return {
      prompt: `Which is larger: ${p} or ${q}?`,
      chosen: `Write both with two decimals: ${x} = 0.${d}0 and 0.${d}0 > ${y}, so ${x} is larger.`,
      rejected: `${ab} is more than ${d}, so ${y} is larger.`,
    };
  },
  (r) => {
    const composite = r.next() < 0.5;
    let n = between(r, 11, 199) | 1;
    while ((smallestFactor(n) === n) === composite || n % 3 === 0 || n % 5 === 0) n = between(r, 11, 199) | 1;
    const p = smallestFactor(n);
    const lie = [7, 11, 13].find((k) => n % k !== 0) ?? 17;
    return composite
      ? { prompt: `Is ${n} a prime number?`, chosen: `No. ${n} = ${p} × ${n / p}, so ${n} is not prime.`, rejected: `Yes. ${n} is odd and not divisible by 3 or 5, so ${n} is prime.` }
      : { prompt: `Is ${n} a prime number?`, chosen: `Yes. No prime up to √${n} divides ${n}, so ${n} is prime.`, rejected: `No. ${n} is divisible by ${lie}.` };
  },
  (r) => {
    const a = between(r, 1, 30), d = between(r, 2, 12);
    const seq = [a, a + d, a + 2 * d, a + 3 * d].join(", ");
    return {
      prompt: `What number comes next: ${seq}, ...?`,
      chosen: `Each number is ${d} more than the one before, so the next one is ${a + 4 * d}.`,
      rejected: `The numbers grow by ${d + 1} each time, so the next one is ${a + 3 * d + d + 1}.`,
    };
  },
  (r) => {
    const h = between(r, 1, 9), m = between(r, 1, 59);
    return {
      prompt: `How many minutes are in ${h} hours and ${m} minutes?`,
      chosen: `${h} × 60 = ${h * 60} minutes, plus ${m} makes ${h * 60 + m} minutes.`,
      rejected: `${h} hours is ${h * 100} minutes, plus ${m} makes ${h * 100 + m} minutes.`,
    };
  },
  (r) => {
    const xs = [between(r, 2, 9), between(r, 10, 99), between(r, 10, 99), between(r, 2, 9), between(r, 100, 400)];
    const sorted = [...xs].sort((p, q) => p - q).join(", ");
    const lexical = xs.map(String).sort().join(", ");
    return {
      prompt: `Sort from smallest to largest: ${xs.join(", ")}.`,
      chosen: `From smallest to largest: ${sorted}.`,
      rejected: `From smallest to largest: ${lexical === sorted ? [...xs].sort((p, q) => q - p).join(", ") : lexical}.`,
    };
  },
];

/** One response's (sum, mean) under a model: n = its own token count, mean = −NLL, both float32. */
function score(r: Rng, text: string, model: SampleModel, task: number, hardness: number, preference: number): [number, number] {
  const n = Math.max(1, Math.round((text.length / model.charsPerToken) * Math.exp(0.04 * r.normal())));
  const nll = model.scale * (model.affinity[task] ?? 1) * hardness * Math.exp(preference + model.noise * r.normal());
  const sum = Math.fround(-nll * n);
  return [sum, Math.fround(sum / n)];
}

/**
 * Yields `n` synthetic scored records (see the module comment). Streaming: constant memory for any n.
 *
 * @example
 *   const recs = [...generateSampleRecords({ n: 2, sources: 3, seed: 0 })];
 *   recs[0].fuse_mean_chosen_logps.length;   // 3
 */
export function* generateSampleRecords(opts: SampleOptions): Generator<PreferenceRecord> {
  const { n, sources, seed } = opts;
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(sources) || sources < 1) throw new RangeError(`sources must be an integer ≥ 1, got ${sources}`);
  const models = sampleSourceModels(sources, seed);
  const r = new Rng(seed, "sample-records");
  const chat = opts.format === "chat";
  for (let k = 0; k < n; k++) {
    const t = r.int(TASKS.length);
    const task = TASKS[t](r);
    // Shared per-record difficulty: all models find the same texts easy or hard, to a degree.
    const d = Math.exp(0.35 * r.normal());
    const hc = d * Math.exp(0.1 * r.normal()), hr = d * Math.exp(0.1 * r.normal());
    const [rc, rmc] = score(r, task.chosen, SAMPLE_PIVOT, t, hc, 0);
    const [rr, rmr] = score(r, task.rejected, SAMPLE_PIVOT, t, hr, SAMPLE_PIVOT.preference);
    const fc: number[] = new Array(sources), fr: number[] = new Array(sources);
    const fmc: number[] = new Array(sources), fmr: number[] = new Array(sources);
    for (let i = 0; i < sources; i++) {
      const m = models[i];
      [fc[i], fmc[i]] = score(r, task.chosen, m, t, hc, 0);
      [fr[i], fmr[i]] = score(r, task.rejected, m, t, hr, m.preference);
    }
    let rec: PreferenceRecord;
    if (chat) {
      const user: Message = { role: "user", content: task.prompt };
      rec = {
        chosen: [user, { role: "assistant", content: task.chosen }],
        rejected: [{ ...user }, { role: "assistant", content: task.rejected }],
      } as PreferenceRecord;
    } else {
      rec = { prompt: task.prompt, chosen: task.chosen, rejected: task.rejected } as PreferenceRecord;
    }
    rec.ref_chosen_logps = rc;
    rec.ref_rejected_logps = rr;
    rec.ref_mean_chosen_logps = rmc;
    rec.ref_mean_rejected_logps = rmr;
    rec.fuse_chosen_logps = fc;
    rec.fuse_rejected_logps = fr;
    rec.fuse_mean_chosen_logps = fmc;
    rec.fuse_mean_rejected_logps = fmr;
    if (opts.policy) {
      // A policy a few steps into training: the pivot's per-token means, drifted by ~5 %, same token counts.
      const nc = Math.round(rc / rmc), nr = Math.round(rr / rmr);
      const pmc = Math.fround(rmc * Math.exp(0.05 * r.normal())), pmr = Math.fround(rmr * Math.exp(0.05 * r.normal()));
      rec.policy_chosen_logps = Math.fround(pmc * nc);
      rec.policy_rejected_logps = Math.fround(pmr * nr);
      rec.policy_mean_chosen_logps = Math.fround(rec.policy_chosen_logps / nc);
      rec.policy_mean_rejected_logps = Math.fround(rec.policy_rejected_logps / nr);
    }
    yield rec;
  }
}

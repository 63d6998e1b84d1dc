/** Lab-style strings (lab-scale.md §1: math, bool, code, fmt; EOS "$") for the tokenizer tests and benchmark. */

/** mulberry32: a tiny seeded generator, so fixtures are identical on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` lab examples `prompt + answer + "$"`, cycling math, bool, code, fmt. */
export function labStrings(n: number, seed = 0): string[] {
  const rnd = seededRandom(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)];
  const num = () => int(0, 10 ** int(1, 3) - 1);
  const boolExpr = (depth: number): [string, boolean] => {
    if (depth === 0 || rnd() < 0.3) {
      const v = rnd() < 0.5;
      return rnd() < 0.3 ? [`~${v ? "T" : "F"}`, !v] : [v ? "T" : "F", v];
    }
    const [l, lv] = boolExpr(depth - 1);
    const [r, rv] = boolExpr(depth - 1);
    return rnd() < 0.5 ? [`(${l}&${r})`, lv && rv] : [`(${l}|${r})`, lv || rv];
  };
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const word = (lo: number, hi: number) => Array.from({ length: int(lo, hi) }, () => pick([...letters])).join("");
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    switch (i % 4) {
      case 0: {
        const a = num();
        const b = num();
        out.push(`${a}+${b}=${a + b}$`);
        break;
      }
      case 1: {
        const [e, v] = boolExpr(3);
        out.push(`${e}=${v ? "T" : "F"}$`);
        break;
      }
      case 2: {
        const xs = Array.from({ length: int(1, 5) }, () => int(0, 9));
        const op = pick(["+1", "+2", "+3", "*2"]);
        const f = pick(["rev", "sort", "map"]);
        const inner = `rev([${xs.join(",")}])`;
        const ys = [...xs].reverse();
        const res = f === "rev" ? [...ys].reverse() : f === "sort" ? [...ys].sort((x, y) => x - y) : ys.map((x) => (op === "*2" ? 2 * x : x + Number(op.slice(1))));
        const call = f === "map" ? `map(${op},${inner})` : `${f}(${inner})`;
        out.push(`${call}=[${res.join(",")}]$`);
        break;
      }
      default: {
        if (rnd() < 0.5) {
          const w = word(1, 3);
          const k = int(2, 4);
          out.push(`repeat '${w}' ${k} times=${w.repeat(k)}$`);
        } else {
          const w = word(2, 5);
          const sep = pick(["-", ".", ","]);
          out.push(`join '${w}' with ${sep}=${[...w].join(sep)}$`);
        }
      }
    }
  }
  return out;
}

/** A few hand-written lab strings (one per task) used by exact-count tests. */
export const LAB_EXAMPLES = ["47+8=55$", "(~(F|F)&(T|F))=T$", "map(+2,rev([3,1,2]))=[4,3,5]$", "repeat 'pu' 3 times=pupupu$"] as const;

/** Mixed-script text: multi-byte characters make byte-level merges split characters. */
export const UNICODE_SAMPLES = [
  "naïve café — déjà vu",
  "Ελληνικά και русский текст",
  "日本語のテキストと中文文本",
  "emoji 😀👍🏽 and 🏳️‍🌈 flags",
  "tabs\tand\nnewlines\r\n  spaces",
  "mixed 123 ٤٥٦ ١٢٣ numbers",
] as const;

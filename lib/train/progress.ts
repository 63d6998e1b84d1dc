import cliProgress from "cli-progress";

export type ProgressMode = "auto" | "bar" | "lines" | "none";

/** What a long-running stage reports: a position out of a total and a few named values. */
export interface Progress {
  start(total: number, start: number): void;
  update(done: number, values: { loss?: number; tokensPerS?: number; [k: string]: number | undefined }): void;
  /** A line that must not be clobbered by the bar (eval results, checkpoints, warnings). */
  log(line: string): void;
  stop(): void;
}

function fmt(x: number | undefined, digits = 4): string {
  if (x == null || Number.isNaN(x)) return "-";
  if (Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0)) return x.toExponential(2);
  return x.toFixed(digits);
}

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

/**
 * A cli-progress bar (step, loss, tokens/s, ETA) when `stream` is a TTY; otherwise one plain line every
 * `every` updates, at most one per `minIntervalMs` (CI logs). "none" is silent.
 */
export function createProgress(
  label: string,
  mode: ProgressMode = "auto",
  opts: {
    stream?: NodeJS.WriteStream;
    every?: number;
    /** count only: no loss / tok/s columns (sampling, evaluation) */
    plain?: boolean;
    /** what is counted (e.g. "pairs"): shows its rate per second and tokens/s instead of the loss */
    unit?: string;
    /** plain lines: at most one per this many ms (the last update always prints), so CI logs stay compact */
    minIntervalMs?: number;
  } = {},
): Progress {
  const stream = opts.stream ?? process.stderr;
  const resolved = mode === "auto" ? (stream.isTTY ? "bar" : "lines") : mode;
  if (resolved === "none") return { start() {}, update() {}, log() {}, stop() {} };
  if (resolved === "bar") {
    // A MultiBar with one bar: its log() prints above the bar and redraws it (SingleBar has no log API).
    const multi = new cliProgress.MultiBar(
      {
        stream,
        format: opts.plain
          ? `${label} |{bar}| {value}/{total} | ETA {eta_formatted}`
          : opts.unit
            ? `${label} |{bar}| {value}/{total} ${opts.unit} | {rate} ${opts.unit}/s | {tps} tok/s | ETA {eta_formatted}`
            : `${label} |{bar}| {value}/{total} loss {loss} | {tps} tok/s | ETA {eta_formatted}`,
        hideCursor: true,
        etaBuffer: 20,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    let bar: cliProgress.SingleBar | null = null;
    let first = 0, t0 = 0;
    return {
      start: (total, start) => {
        first = start;
        t0 = Date.now();
        bar = multi.create(total, start, { loss: "-", tps: "-", rate: "-" });
      },
      update: (done, v) =>
        bar?.update(done, {
          loss: fmt(v.loss),
          tps: v.tokensPerS == null ? "-" : Math.round(v.tokensPerS),
          rate: ((done - first) / Math.max(1e-9, (Date.now() - t0) / 1000)).toFixed(1),
        }),
      log: (line) => {
        // a line wider than the terminal would wrap and break the in-place redraw: cut it
        const width = (stream.columns || 120) - 1;
        multi.log(`${line.length > width ? line.slice(0, width - 1) + "…" : line}\n`);
      },
      stop: () => {
        multi.update(); // flush lines logged since the last redraw
        multi.stop();
      },
    };
  }
  const every = Math.max(1, opts.every ?? 1);
  const interval = opts.minIntervalMs ?? 0;
  let total = 0, first = 0, t0 = 0, last = -Infinity;
  return {
    start(t, s) {
      total = t;
      first = s;
      t0 = Date.now();
    },
    update(done, v) {
      if (done !== total && (done % every !== 0 || Date.now() - last < interval)) return;
      last = Date.now();
      const rate = (done - first) / Math.max(1e-9, (Date.now() - t0) / 1000);
      const eta = rate > 0 ? (total - done) / rate : Infinity;
      const extra = Object.entries(v)
        .filter(([k]) => k !== "loss" && k !== "tokensPerS")
        .map(([k, x]) => ` ${k} ${x !== undefined && Number.isInteger(x) ? x : fmt(x)}`) // counts (skipped pairs) as they are
        .join("");
      if (opts.plain) return void stream.write(`${label} ${done}/${total} eta ${fmtSeconds(eta)}\n`);
      if (opts.unit) {
        const tps = v.tokensPerS == null ? "-" : Math.round(v.tokensPerS);
        return void stream.write(`${label} ${done}/${total} ${opts.unit}${extra} ${rate.toFixed(1)} ${opts.unit}/s tok/s ${tps} eta ${fmtSeconds(eta)}\n`);
      }
      stream.write(
        `${label} ${done}/${total} loss ${fmt(v.loss)}${extra} tok/s ${v.tokensPerS == null ? "-" : Math.round(v.tokensPerS)} eta ${fmtSeconds(eta)}\n`,
      );
    },
    log: (line) => stream.write(line + "\n"),
    stop() {},
  };
}

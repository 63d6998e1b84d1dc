/**
 * Side by side: bench/train.ts (each tfjs backend) and bench/torch_step.py (PyTorch eager CPU, 2 threads),
 * run back to back in `--rounds` interleaved rounds; per backend the best round counts (on a shared machine
 * the least disturbed run is the best estimate of the machine's speed). Prints the raw JSON lines, a table
 * and one summary JSON line with the ratios behind the targets: native ≥ PyTorch, wasm ≥ 25% of native — from
 * the best rounds, and as the median of each round's own ratio (the backends of one round ran minutes apart, so
 * this one is less sensitive to other load on a shared machine).
 *
 *   node --import tsx bench/compare.ts [--rounds 2] [--iters 5] [--python .cache/torch-venv/bin/python] [--no-wasm]
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";

const args = process.argv.slice(2);
const arg = (n: string, d: string) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const rounds = Number(arg("--rounds", "2"));
const iters = arg("--iters", "5");
const python = arg("--python", ".cache/torch-venv/bin/python");
const backends = args.includes("--no-wasm") ? ["tensorflow"] : ["tensorflow", "wasm"];

type Row = Record<string, number | string | null>;
const runs: Row[] = [];

function run(cmd: string, argv: string[]): Row[] {
  const r = spawnSync(cmd, argv, { encoding: "utf8", maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    console.error(`[compare] ${cmd} ${argv.join(" ")} failed: ${r.stderr.trim().split("\n").pop()}`);
    return [];
  }
  return r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

const haveTorch = fs.existsSync(python);
if (!haveTorch) console.error(`[compare] ${python} not found: PyTorch side skipped (see bench/torch_step.py for the venv)`);
for (let r = 0; r < rounds; r++) {
  for (const be of backends) {
    for (const row of run(process.execPath, ["--import", "tsx", "bench/train.ts", "--backends", be, "--iters", iters])) {
      console.log(JSON.stringify(row));
      if (!row.skipped) runs.push({ ...row, round: r });
    }
  }
  if (haveTorch)
    for (const row of run(python, ["bench/torch_step.py", "--iters", iters, "--threads", "2"])) {
      console.log(JSON.stringify(row));
      runs.push({ ...row, round: r });
    }
}

const KEYS = ["train_tokens_per_s", "score_tokens_per_s", "sft_tokens_per_s"] as const;
// per backend and per figure, the best round (the least disturbed one)
const best: Record<string, Row> = {};
for (const row of runs) {
  const b = String(row.backend);
  best[b] ??= { ...row };
  for (const k of KEYS) if ((row[k] as number) > (best[b][k] as number)) best[b][k] = row[k];
  best[b].load1 = Math.min(best[b].load1 as number, row.load1 as number);
}
const ratio = (a?: Row, b?: Row, k?: string) => (a && b && k ? Number(((a[k] as number) / (b[k] as number)).toFixed(3)) : null);
console.log(`\nbench-small, batch 16 x 128 tokens, best of ${rounds} rounds; ${os.cpus().length} cpus, load1 now ${os.loadavg()[0].toFixed(2)}`);
console.log("backend      " + KEYS.map((k) => k.padStart(20)).join("") + "  min load1");
for (const [b, row] of Object.entries(best))
  console.log(b.padEnd(13) + KEYS.map((k) => String(row[k]).padStart(20)).join("") + String(row.load1).padStart(8));
// each round's own ratio, then the median over rounds
const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length === 0 ? null : v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const perRound = (num: string, den: string) =>
  Object.fromEntries(
    KEYS.map((k) => {
      const rs: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const a = runs.find((x) => x.backend === num && x.round === r), b = runs.find((x) => x.backend === den && x.round === r);
        if (a && b) rs.push((a[k] as number) / (b[k] as number));
      }
      const m = median(rs);
      return [k, m === null ? null : Number(m.toFixed(3))];
    }),
  );
const summary = {
  bench: "compare",
  rounds,
  native_over_pytorch: Object.fromEntries(KEYS.map((k) => [k, ratio(best.tensorflow, best.pytorch, k)])),
  wasm_over_native: Object.fromEntries(KEYS.map((k) => [k, ratio(best.wasm, best.tensorflow, k)])),
  median_round_native_over_pytorch: perRound("tensorflow", "pytorch"),
  median_round_wasm_over_native: perRound("wasm", "tensorflow"),
  targets: { native_over_pytorch: ">= 1", wasm_over_native: ">= 0.25" },
};
console.log(JSON.stringify(summary));

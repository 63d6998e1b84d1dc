import { describe, expect, it } from "vitest";
import { spawn, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { listCheckpoints } from "../lib/train/checkpoint";
import { readMetrics } from "../lib/train/metrics";

const child = path.join(__dirname, "train-child.ts");
const run = (dir: string, ...flags: string[]) =>
  execFileSync(process.execPath, ["--import", "tsx", child, dir, ...flags], { encoding: "utf8" });

/** Starts the child and sends `signal` as soon as it reports checkpoint `atStep`. */
function runAndKill(dir: string, atStep: number, signal: NodeJS.Signals = "SIGKILL"): Promise<{ signal: NodeJS.Signals | null; code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--import", "tsx", child, dir, "--slow"], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d) => {
      out += d;
      if (out.includes(`CKPT ${atStep}\n`) && !p.killed) p.kill(signal);
    });
    p.on("error", reject);
    p.on("exit", (code, sig) => resolve({ signal: sig, code, out }));
  });
}

describe("kill -9 and resume", () => {
  it("gives final weights bit-identical to an uninterrupted run", async () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), "infifpo-resume-"));
    const a = path.join(base, "uninterrupted"), b = path.join(base, "killed");
    expect(run(a)).toContain("DONE");

    const killed = await runAndKill(b, 20);
    expect(killed.signal).toBe("SIGKILL");
    expect(killed.out).not.toContain("DONE");
    expect(fs.existsSync(path.join(b, "final"))).toBe(false);
    expect(listCheckpoints(path.join(b, "checkpoints")).map((c) => c.step)).toContain(20);

    const resumed = run(b, "--resume");
    expect(resumed).toMatch(/RESUMED (20|30)/); // the kill lands right after step 20's checkpoint
    expect(resumed).toContain("DONE");
    const wa = fs.readFileSync(path.join(a, "final", "params.bin"));
    const wb = fs.readFileSync(path.join(b, "final", "params.bin"));
    expect(wa.length).toBe((8 * 16 + 16 + 16) * 4);
    expect(Buffer.compare(wa, wb)).toBe(0);
    // the metrics log of the resumed run matches the uninterrupted one line for line (timing fields aside)
    const strip = (f: string) => readMetrics(f).map(({ step, loss, grad_norm, learning_rate }) => ({ step, loss, grad_norm, learning_rate }));
    expect(strip(path.join(b, "metrics.jsonl"))).toEqual(strip(path.join(a, "metrics.jsonl")));
    // only the newest two checkpoints are kept, and no temp directories are left
    expect(fs.readdirSync(path.join(b, "checkpoints")).sort()).toEqual(["step-00000030", "step-00000040"]);
  });

  it("SIGINT: finishes the step, writes a checkpoint, exits; resuming gives the same final bytes", async () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), "infifpo-sigint-"));
    const a = path.join(base, "uninterrupted"), b = path.join(base, "interrupted");
    run(a);
    const r = await runAndKill(b, 10, "SIGINT");
    expect(r.code).toBe(130);
    const m = /INTERRUPTED training interrupted after step (\d+); checkpoint written to (\S+)/.exec(r.out);
    expect(m, r.out).not.toBeNull();
    const step = Number(m![1]);
    expect(step).toBeGreaterThanOrEqual(10);
    expect(step).toBeLessThan(40);
    expect(listCheckpoints(path.join(b, "checkpoints")).map((c) => c.step)).toContain(step);
    expect(run(b, "--resume")).toContain(`RESUMED ${step}`);
    expect(Buffer.compare(fs.readFileSync(path.join(a, "final", "params.bin")), fs.readFileSync(path.join(b, "final", "params.bin")))).toBe(0);
  });
});

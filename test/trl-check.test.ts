import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

// The TRL hand-off end to end (examples/trl/check.sh): the sample exported with `fuse --export trl`, trained with
// TRL 1.13's DPOTrainer on a small random Llama, with TRL's loss before training asserted equal to the loss computed
// independently from the file's fused reference; then two data-parallel CPU processes. Needs examples/trl/.venv
// (`bash examples/trl/setup.sh`; .ci/run makes it where pip can reach torch, transformers, trl, datasets, accelerate)
// or INFIFPO_TRL_PYTHON. Skipped without it: the Python stack is not part of this project's install.
const venvPython = path.resolve("examples", "trl", ".venv", "bin", "python");
const python = process.env.INFIFPO_TRL_PYTHON ?? (fs.existsSync(venvPython) ? venvPython : null);
const ready = python !== null && spawnSync(python, ["-c", "import torch, transformers, trl, datasets, accelerate"], { stdio: "ignore" }).status === 0;

describe("TRL hand-off (examples/trl/check.sh)", () => {
  if (!ready) {
    it.skip("SKIPPED: no Python with torch/transformers/trl/datasets/accelerate (bash examples/trl/setup.sh, or INFIFPO_TRL_PYTHON)", () => {});
    return;
  }
  it(
    "TRL reads the fused reference as written: its loss equals the independent computation, with and without length-norm",
    () => {
      const r = spawnSync("bash", ["examples/trl/check.sh"], { encoding: "utf8", env: { ...process.env, PYTHON: python! }, timeout: 600_000 });
      expect(r.status, r.stderr.slice(-3000)).toBe(0);
      const results = r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
      expect(results.map((x) => x.loss_type)).toEqual(["sigmoid_norm", "sigmoid", "sigmoid_norm"]);
      for (const x of results.slice(0, 2)) {
        expect(Math.abs(x.eval_loss_trl - x.eval_loss_independent)).toBeLessThan(1e-4 * x.eval_loss_independent);
        expect(Number.isFinite(x.train_loss)).toBe(true);
      }
      expect(results[2].steps).toBe(4);
      expect(r.stdout).toContain("trl check: ok");
    },
    600_000,
  );
});

/**
 * lib/data/safe-output.ts: outputs never overwrite or collide with inputs (paths, symlinks, hard links, side files),
 * temporary files are exclusive and per process, and write failures are one line naming the file.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { checkOutputs, outputError, writeFileSafe } from "../lib/data/safe-output";
import { openAtomicWriter } from "../lib/data/write";
import { UserError } from "../lib/errors";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "safe-out-"));

describe("checkOutputs", () => {
  it("refuses an output that is an input: same path, via '..', via a symlink either way, via a hard link", () => {
    const d = tmp();
    const input = path.join(d, "in.jsonl");
    fs.writeFileSync(input, "x\n");
    fs.mkdirSync(path.join(d, "sub"));
    fs.symlinkSync(input, path.join(d, "link.jsonl"));
    fs.linkSync(input, path.join(d, "hard.jsonl"));
    const cases: [string, string][] = [
      [input, input],
      [input, path.join(d, "sub", "..", "in.jsonl")],
      [path.join(d, "link.jsonl"), input], // reading through a link, writing the target
      [input, path.join(d, "link.jsonl")], // writing through a link onto the input
      [input, path.join(d, "hard.jsonl")],
    ];
    for (const [i, o] of cases) {
      expect(() => checkOutputs([{ path: i, label: "--input" }], [{ path: o, label: "--output" }]), `${i} → ${o}`).toThrow(
        /^--output .* would overwrite the input \(--input .*\); choose another output$/,
      );
    }
    expect(fs.readFileSync(input, "utf8")).toBe("x\n");
  });

  it("refuses a side file that collides with an input, and a folder output that holds an input", () => {
    const d = tmp();
    const input = path.join(d, "R.rejects.jsonl");
    fs.writeFileSync(input, "x\n");
    expect(() => checkOutputs([{ path: input, label: "--input" }], [{ path: path.join(d, "R.jsonl") }, { path: input, label: "the rejects file" }]))
      .toThrow(/the rejects file .*R\.rejects\.jsonl would overwrite the input/);
    fs.mkdirSync(path.join(d, "run", "checkpoints"), { recursive: true });
    const inside = path.join(d, "run", "checkpoints", "pairs.jsonl");
    fs.writeFileSync(inside, "x\n");
    expect(() => checkOutputs([{ path: inside }], [{ path: path.join(d, "run", "checkpoints"), kind: "dir", label: "checkpoints" }]))
      .toThrow(/checkpoints .* would write into the folder holding the input/);
    // a file beside the folder is fine, and so are distinct files, stdin and inputs that don't exist yet
    checkOutputs([{ path: path.join(d, "run", "pairs.jsonl") }, { path: "-" }], [{ path: path.join(d, "run", "checkpoints"), kind: "dir" }, { path: path.join(d, "o.jsonl") }]);
  });

  it("refuses an output that is an existing directory, naming it", () => {
    const d = tmp();
    expect(() => checkOutputs([], [{ path: d, label: "--output" }])).toThrow(new RegExp(`^--output ${d}: is a directory`));
  });
});

describe("writing", () => {
  it("writeFileSafe leaves no temporary file and never touches an existing OUT.tmp", () => {
    const d = tmp();
    const out = path.join(d, "a", "b.json");
    fs.mkdirSync(path.dirname(out));
    fs.writeFileSync(`${out}.tmp`, "someone's input");
    writeFileSafe(out, "{}\n");
    writeFileSafe(out, "{\"v\":2}\n");
    expect(fs.readFileSync(out, "utf8")).toBe("{\"v\":2}\n");
    expect(fs.readFileSync(`${out}.tmp`, "utf8")).toBe("someone's input");
    expect(fs.readdirSync(path.dirname(out)).sort()).toEqual(["b.json", "b.json.tmp"]);
  });

  it("outputError: one line naming the file, for ENOSPC, EISDIR, EACCES and unknown codes", () => {
    const err = (code: string) => Object.assign(new Error(`${code}: something, write`), { code });
    expect(outputError("o.jsonl", err("ENOSPC")).message).toBe("cannot write o.jsonl: no space left on device (ENOSPC)");
    expect(outputError("o.jsonl", err("EISDIR")).message).toBe("cannot write o.jsonl: is a directory (EISDIR)");
    expect(outputError("o.jsonl", err("EACCES")).message).toBe("cannot write o.jsonl: permission denied (EACCES)");
    expect(outputError("o.jsonl", err("EWEIRD")).message).toBe("cannot write o.jsonl: EWEIRD");
    expect(outputError("o.jsonl", err("ENOSPC"))).toBeInstanceOf(UserError);
  });

  it("a temporary file still held when the process exits is removed (an early exit leaves nothing behind)", () => {
    const d = tmp();
    const out = path.join(d, "o.jsonl");
    const code = `import("${path.resolve("lib/data/write.ts")}").then(async (m) => { const w = await m.openAtomicWriter(${JSON.stringify(out)}); await w.write("{}"); process.stdout.write(w.tmpPath); process.exit(0); });`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "-e", code], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/o\.jsonl\.tmp-\d+-[0-9a-f]{8}$/);
    expect(fs.readdirSync(d)).toEqual([]);
  });
});

// A full disk needs a small filesystem: a 64 KiB tmpfs, which only root can mount. Skipped elsewhere, saying why.
const mnt = fs.mkdtempSync(path.join(os.tmpdir(), "safe-out-full-"));
const mountTmpfs = () => spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt]).status === 0;
// probed (mounted and unmounted at once) so that a filtered run leaves nothing mounted
const mountable = process.getuid?.() === 0 && mountTmpfs() && spawnSync("umount", [mnt]).status === 0;

describe("a full disk", () => {
  it.skipIf(!mountable)("ENOSPC while writing: one line naming the output, no temporary file, an older output kept (needs root to mount a tmpfs)", async () => {
    expect(mountTmpfs()).toBe(true);
    try {
      const out = path.join(mnt, "o.jsonl");
      fs.writeFileSync(out, "old\n");
      let failure: unknown = null;
      try {
        const w = await openAtomicWriter(out, { bufferBytes: 4096 });
        try {
          for (let i = 0; i < 10_000; i++) await w.write(JSON.stringify({ i, pad: "x".repeat(100) }));
          await w.commit();
        } catch (e) {
          await w.abort();
          throw e;
        }
      } catch (e) {
        failure = e;
      }
      expect(failure).toBeInstanceOf(UserError);
      expect((failure as Error).message).toBe(`cannot write ${out}: no space left on device (ENOSPC)`);
      expect(fs.readdirSync(mnt)).toEqual(["o.jsonl"]);
      expect(fs.readFileSync(out, "utf8")).toBe("old\n");
      expect(() => writeFileSafe(path.join(mnt, "big.bin"), new Uint8Array(1 << 20))).toThrow(/^cannot write .*big\.bin: no space left on device \(ENOSPC\)$/);
      expect(fs.readdirSync(mnt)).toEqual(["o.jsonl"]);
    } finally {
      spawnSync("umount", [mnt]);
    }
  });
});

describe("temporary files a killed writer left", () => {
  it("the next write of the same output removes those of dead pids untouched for 10 minutes, and nothing else", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stale-temps-"));
    const out = path.join(dir, "out.jsonl");
    const dead = spawnSync(process.execPath, ["-e", "process.pid"]).pid!; // exited: its pid runs nothing now
    const live = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    try {
      const old = (Date.now() - 20 * 60_000) / 1000;
      const files = {
        staleDead: `out.jsonl.tmp-${dead}-0123abcd`,
        freshDead: `out.jsonl.tmp-${dead}-89abcdef`, // a writer on another host may still be at it
        staleLive: `out.jsonl.tmp-${live.pid}-00c0ffee`,
        staleMine: `out.jsonl.tmp-${process.pid}-0badf00d`,
        otherOutput: `other.jsonl.tmp-${dead}-0123abcd`,
        notATemp: `out.jsonl.tmp-${dead}-xyz`,
      };
      for (const [k, name] of Object.entries(files)) {
        fs.writeFileSync(path.join(dir, name), k);
        if (k !== "freshDead") fs.utimesSync(path.join(dir, name), old, old);
      }
      writeFileSafe(out, "x\n");
      const left = fs.readdirSync(dir).sort();
      expect(left).toEqual([files.freshDead, files.notATemp, files.otherOutput, "out.jsonl", files.staleLive, files.staleMine].sort());
      expect(fs.readFileSync(out, "utf8")).toBe("x\n");
    } finally {
      live.kill("SIGKILL");
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

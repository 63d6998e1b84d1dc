/** `infifpo lab-results`: results.json is checked against its format on read (lib/lab/results-file.ts). */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { UserError } from "../lib/errors";
import { asLabResults, readLabResults } from "../lib/lab/results-file";
import { LAB_PRESETS, configKey } from "../lib/lab/config";

const CLI = path.join(__dirname, "..", "bin", "infifpo.mjs");
const SHIPPED = path.join(__dirname, "..", "data", "results", "results.json");
const good = () => JSON.parse(fs.readFileSync(SHIPPED, "utf8"));

describe("results.json validation", () => {
  it("accepts the shipped results", () => {
    expect(readLabResults(SHIPPED).rows.length).toBeGreaterThan(5);
  });

  it("the shipped results are a full run, and quick trains with the hyper-parameters it selected", () => {
    const r = readLabResults(SHIPPED);
    expect(r.preset).toBe("full");
    expect(r.seeds.length).toBeGreaterThanOrEqual(5);
    // of today's full preset: a change to any knob of it must come with a rerun (README's numbers are these)
    expect(r.configKey, "data/results/results.json was run with another full config: rerun `infifpo lab --preset full`").toBe(configKey(LAB_PRESETS.full));
    const quick = LAB_PRESETS.quick;
    for (const v of quick.variants) {
      const chosen = r.selection?.variants[v]?.chosen;
      if (v === "sft") expect(chosen).toBeUndefined();
      else expect(quick.hparams[v], v).toEqual(chosen);
    }
  });

  it("the shipped quick runs (on-policy and pool rejected responses, README) are of today's quick preset", () => {
    const dir = path.dirname(SHIPPED);
    const q = readLabResults(path.join(dir, "quick.json"));
    expect(q.preset).toBe("quick");
    expect(q.configKey).toBe(configKey(LAB_PRESETS.quick));
    const pool = readLabResults(path.join(dir, "quick-pool.json"));
    expect(pool.configKey).toBe(configKey({ ...LAB_PRESETS.quick, data: { ...LAB_PRESETS.quick.data, rejected: "pool" } }));
  });

  it("the shipped full and quick runs pass every regime gate (README: their claims are evidence); the pool run is kept as measured", () => {
    const dir = path.dirname(SHIPPED);
    for (const f of ["results.json", "quick.json"]) {
      const r = readLabResults(path.join(dir, f));
      expect(r.gates.filter((g) => !g.pass).map((g) => g.name), f).toEqual([]);
      expect(r.claimsAreEvidence, f).toBe(true);
    }
    // earlier runs kept for the README's "What was tried" stay readable
    const hist = path.join(dir, "history");
    const files = fs.readdirSync(hist).filter((f) => f.endsWith(".json"));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(readLabResults(path.join(hist, f)).preset, f).toBe("full");
  });

  const cases: [string, (r: any) => void, RegExp][] = [
    ["missing seeds", (r) => delete r.seeds, /field "seeds": missing/],
    ["a null row", (r) => (r.rows[2] = null), /field "rows\[2\]": expected an object, got null/],
    ["a null gate", (r) => (r.gates[0] = null), /field "gates\[0\]": expected an object, got null/],
    ["a null claim", (r) => (r.claims[1] = null), /field "claims\[1\]": expected an object, got null/],
    ["an unknown category", (r) => (r.categories = [...r.categories, "astrology"]), /field "categories\[5\]": expected one of "math", .*got "astrology"/],
    ["a listed category a row lacks", (r) => delete r.rows[0].perCategory.code, /field "rows\[0\]\.perCategory\.code": missing \(category "code" is listed/],
    ["a missing runId (printed 'undefined' before)", (r) => delete r.runId, /field "runId": missing/],
    ["a null estimate bound", (r) => (r.rows[1].overall.lo = null), /field "rows\[1\]\.overall\.lo": expected a finite number, got null/],
    ["a string gate verdict", (r) => (r.gates[1].pass = "yes"), /field "gates\[1\]\.pass": expected true or false, got "yes"/],
    ["an unknown claim verdict", (r) => (r.claims[0].verdict = "maybe"), /field "claims\[0\]\.verdict": expected one of/],
    ["seeds not whole numbers", (r) => (r.seeds = [1, 2.5]), /field "seeds\[1\]": expected a whole number, got 2\.5/],
    ["rows not a list", (r) => (r.rows = {}), /field "rows": expected a list, got an object/],
    ["a vsDpo without overall", (r) => (r.rows.find((x: any) => x.vsDpo).vsDpo.overall = undefined), /field "rows\[\d+\]\.vsDpo\.overall": missing/],
    ["a gate without its kind", (r) => delete r.gates[0].kind, /field "gates\[0\]\.kind": missing/],
    ["claimsAreEvidence not a boolean", (r) => (r.claimsAreEvidence = "no"), /field "claimsAreEvidence": expected true or false, got "no"/],
    ["a null fused gap in the regime", (r) => (r.regime[String(r.seeds[0])].fused.gapMedian = null), /field "regime\.\d+\.fused\.gapMedian": expected a finite number, got null/],
    ["diagnostics of a variant without a row", (r) => (r.diagnostics.kto = r.diagnostics.dpo), /field "diagnostics\.kto": no row "kto" in "rows"/],
    ["a hyper-parameter source it cannot have", (r) => (r.diagnostics.dpo.hparams.source = "guessed"), /field "diagnostics\.dpo\.hparams\.source": expected one of/],
  ];
  for (const [name, mutate, want] of cases) {
    it(`refuses ${name}, naming the file and the field`, () => {
      const r = good();
      mutate(r);
      let err: unknown = null;
      try {
        asLabResults(r, "r.json");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(/^r\.json: /);
      expect((err as Error).message).toMatch(want);
      expect((err as Error).message).not.toMatch(/\n/);
    });
  }

  it("extra fields (a newer writer's) are accepted", () => {
    const r = good();
    r.newField = { anything: [1, 2] };
    r.rows[0].extra = "x";
    expect(asLabResults(r, "r.json").rows[0].name).toBe(r.rows[0].name);
  });

  it("CLI: one line, exit 2; a file that is not UTF-8 is named", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-results-"));
    const bad = path.join(dir, "r.json");
    const r = good();
    delete r.seeds;
    fs.writeFileSync(bad, JSON.stringify(r));
    const p = spawnSync(process.execPath, [CLI, "lab-results", "-i", bad], { encoding: "utf8" });
    expect(p.status).toBe(2);
    expect(p.stdout).toBe("");
    expect(p.stderr).toBe(`infifpo: error: ${bad}: field "seeds": missing\n`);
    const latin1 = path.join(dir, "l.json");
    fs.writeFileSync(latin1, Buffer.concat([Buffer.from('{"format":"infifpo-lab-results","runId":"'), Buffer.from([0xe9]), Buffer.from('"}')]));
    expect(() => readLabResults(latin1)).toThrow(/l\.json: not valid UTF-8/);
  });
});

import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";

describe("infifpo CLI", () => {
  it("prints --help and exits 0", () => {
    const out = execFileSync("node", ["bin/infifpo.mjs", "--help"], { encoding: "utf8" });
    expect(out).toContain("Usage: infifpo");
  });
});

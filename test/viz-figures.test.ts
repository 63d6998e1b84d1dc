import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { lineChart } from "../lib/viz";
import { CHROMIUM_INSTALL_HINT, findChromium, renderFigures, stabilizeSvgIds } from "../scripts/figures";

describe("headless figures", () => {
  it("stabilizeSvgIds replaces plotly's random uid in names only, the same way for the same figure name", () => {
    const make = (u: string) => `<defs id="defs-${u}"/><clipPath id="clip${u}xyplot"/><g clip-path="url(#clip${u}x)"/><path d="M1.a1b2c3"/>`;
    const svg = make("a1b2c3");
    const out = stabilizeSvgIds(svg, "fig");
    expect(out).not.toMatch(/[A-Za-z#-]a1b2c3/);
    expect(out).toContain('d="M1.a1b2c3"'); // not part of a name: untouched
    const uid = /defs-([0-9a-f]{6})/.exec(out)![1];
    expect(out).toContain(`clip${uid}xyplot`);
    expect(stabilizeSvgIds(make("ffffff"), "fig")).toBe(out);
    expect(stabilizeSvgIds(svg, "other")).not.toBe(out);
  });

  const exe = findChromium();
  it.skipIf(!exe)(
    `renders a figure to PNG and SVG with chromium${exe ? "" : ` (SKIPPED: ${CHROMIUM_INSTALL_HINT.split("\n")[1].trim()})`}`,
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), "infifpo-fig-"));
      const fig = lineChart({ loss: [0.69, 0.6, 0.52] }, { title: "loss" });
      const { files } = await renderFigures([{ name: "loss", figure: fig, width: 400, height: 300 }], {
        outDir: dir,
        formats: ["png", "svg"],
        executablePath: exe!,
        log: () => {},
      });
      expect(files.map((f) => path.basename(f))).toEqual(["loss.png", "loss.svg"]);
      const png = readFileSync(files[0]);
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      expect(png.readUInt32BE(16)).toBe(800); // width × scale 2
      const svg = readFileSync(files[1], "utf8");
      expect(svg.startsWith("<svg")).toBe(true);
      expect(svg).toContain(">loss<"); // the title text
    },
    60_000,
  );
});

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../lib/errors";
import {
  createModel,
  disposeModel,
  forward,
  loadModel,
  MODEL_FILE_NAME,
  modelFromBytes,
  modelToBytes,
  namedParameters,
  resolveModelConfig,
  saveModel,
} from "../lib/model";
import { CharTokenizer } from "../lib/tokenizers";

let dir = "";
beforeAll(async () => {
  await tf.setBackend("cpu");
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "model-io-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const tok = new CharTokenizer({ alphabet: "0123456789+=", fallback: "unk" });
const cfg = (o = {}) => resolveModelConfig("tiny", { vocabSize: tok.vocabSize, seed: 7, ...o });

/** Header length, header JSON and payload offset of a saved file. */
function parts(bytes: Uint8Array) {
  const hLen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + hLen)));
  return { hLen, header };
}
/** Rewrites the header (keeping the payload) with `edit` applied. */
function withHeader(bytes: Uint8Array, edit: (h: Record<string, unknown>) => void): Uint8Array {
  const { header } = parts(bytes);
  const data = bytes.subarray(header.dataOffset);
  edit(header);
  const hb = new TextEncoder().encode(JSON.stringify({ ...header, dataOffset: 0 }));
  const off = Math.ceil((12 + hb.length + 16) / 4) * 4;
  const hb2 = new TextEncoder().encode(JSON.stringify({ ...header, dataOffset: off }));
  const out = new Uint8Array(off + data.length).fill(0x20);
  out.set(bytes.subarray(0, 8));
  new DataView(out.buffer).setUint32(8, hb2.length, true);
  out.set(hb2, 12);
  out.set(data, off);
  return out;
}

describe("save/load", () => {
  it("round trip is bit-exact (weights, config, tokenizer, meta, logits), tied and untied", () => {
    for (const c of [cfg(), cfg({ tieEmbeddings: true, mlpRatio: 2 })]) {
      const m = createModel(c);
      // non-round values everywhere, including LayerNorm gains and biases
      for (const [, v] of namedParameters(m)) v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.1, "float32", v.size))));
      const file = saveModel(path.join(dir, `m-${c.tieEmbeddings}.infifpo`), m, tok, { step: 12, note: "x" });
      const { model: m2, tokenizer, meta } = loadModel(file);
      expect(m2.config).toEqual(m.config);
      expect(tokenizer.toJSON()).toEqual(tok.toJSON());
      expect(meta).toEqual({ step: 12, note: "x" });
      const a = namedParameters(m), b = namedParameters(m2);
      expect(b.map(([n]) => n)).toEqual(a.map(([n]) => n));
      a.forEach(([n, v], i) => {
        expect(Buffer.from(b[i][1].dataSync().buffer).equals(Buffer.from(v.dataSync().buffer)), n).toBe(true);
      });
      const ids = tf.tensor2d([[1, 5, 6, 7]], [1, 4], "int32");
      const [la, lb] = tf.tidy(() => [forward(m, ids).dataSync(), forward(m2, ids).dataSync()]);
      expect(Array.from(lb)).toEqual(Array.from(la));
      ids.dispose();
      disposeModel(m);
      disposeModel(m2);
    }
  });

  it("accepts a directory (writes and reads <dir>/model.infifpo); bytes are deterministic", () => {
    const m = createModel(cfg());
    const sub = path.join(dir, "run1");
    fs.mkdirSync(sub);
    expect(saveModel(sub, m, tok)).toBe(path.join(sub, MODEL_FILE_NAME));
    const l = loadModel(sub);
    expect(l.file).toBe(path.join(sub, MODEL_FILE_NAME));
    expect(Buffer.from(modelToBytes(l.model, tok)).equals(Buffer.from(modelToBytes(m, tok)))).toBe(true);
    disposeModel(l.model);
    disposeModel(m);
  });

  describe("bad files fail with a UserError naming the file and the problem", () => {
    const m = createModel(cfg());
    const good = modelToBytes(m, tok);
    disposeModel(m);
    const expectLoadError = (bytes: Uint8Array, name: string, re: RegExp) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, bytes);
      let err: unknown;
      try {
        loadModel(file);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toContain(file);
      expect((err as Error).message).toMatch(re);
    };

    it("sanity: the unmodified bytes load", () => {
      const l = modelFromBytes(good);
      disposeModel(l.model);
    });
    it("future format version", () => {
      expectLoadError(withHeader(good, (h) => (h.version = 2)), "future.infifpo", /format version 2.*reads only up to version 1/);
    });
    it("truncated weights", () => {
      expectLoadError(good.subarray(0, good.length - 10), "trunc.infifpo", /truncated: expected \d+ bytes/);
    });
    it("truncated header", () => {
      expectLoadError(good.subarray(0, 40), "trunc-header.infifpo", /truncated/);
    });
    it("a flipped bit in the weights", () => {
      const bad = good.slice();
      bad[bad.length - 3] ^= 0x10;
      expectLoadError(bad, "flip.infifpo", /corrupt weights: CRC-32/);
    });
    it("not a model file at all", () => {
      expectLoadError(new TextEncoder().encode('{"hello": "world"}'), "json.infifpo", /not an infifpo model file/);
    });
    it("garbage in the header", () => {
      const bad = good.slice();
      bad[13] = 0x7b; // '{{"format"…' is not JSON
      expectLoadError(bad, "header.infifpo", /corrupt header/);
    });
    it("a header whose tensors do not match its config", () => {
      expectLoadError(withHeader(good, (h) => ((h.config as { nLayers: number }).nLayers = 3)), "shape.infifpo", /tensors|dataBytes/);
    });
    it("a missing file", () => {
      expect(() => loadModel(path.join(dir, "nope.infifpo"))).toThrow(/nope\.infifpo: cannot read the model \(ENOENT\)/);
    });
  });
});

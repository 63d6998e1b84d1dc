// Own file, so that tfjs-node is not loaded yet when the test starts (vitest runs each file in a fresh process).
import { expect, it } from "vitest";
import { createRequire } from "node:module";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend, probeAvailability } from "../lib/backend";

it.runIf(probeAvailability().tensorflow)("a later require of tfjs-node (danfojs-node does one) keeps the chosen backend", async () => {
  expect(tf.findBackendFactory("tensorflow")).toBeNull(); // not loaded yet: the test is not vacuous
  await initBackend({ backend: "wasm", quiet: true });
  createRequire(path.join(process.cwd(), "x.js"))("@tensorflow/tfjs-node"); // its load calls tf.setBackend("tensorflow")
  expect(tf.getBackend()).toBe("wasm");
});

#!/usr/bin/env node
// The `infifpo` command: runs the TypeScript CLI through tsx (no build step).
import { register } from "tsx/esm/api";

register();
const { main, handleClosedPipes } = await import("../lib/cli/main.ts");
handleClosedPipes();
process.exitCode = await main(process.argv);

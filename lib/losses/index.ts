/** Preference losses by name, with TRL-named metrics (infifpo.md, "Final loss", "Baselines"). */
export * from "./types";
export * from "./math";
export { softplus as softplusTensor, sigmoidLoss as sigmoidLossTensor } from "./tensor-math";
export * from "./metrics";
export * from "./config";
export * from "./registry";

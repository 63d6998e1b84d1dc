import type { Command } from "commander";

/** A CLI sub-command: adds itself to the program. One file per command under lib/cli/. */
export type CommandModule = { register(program: Command): void };

/**
 * Every sub-command, in the order `--help` lists them. Add one line per new command.
 * Command modules import heavy dependencies (tfjs, danfo) inside their actions, so `--help` stays fast.
 */
export async function loadCommands(): Promise<CommandModule[]> {
  return Promise.all([
    import("./fuse"),
    import("./stats"),
    import("./train"),
    import("./score"),
    import("./serve"),
    import("./tokenizer"),
    import("./init"),
    import("./lab"),
  ]);
}

import { Command, CommanderError } from "commander";
import { loadCommands } from "./commands";
import { UserError } from "../errors";

/** Builds the `infifpo` program with every registered sub-command. */
export async function buildProgram(): Promise<Command> {
  const program = new Command("infifpo")
    .description("InfiFPO: implicit model fusion via preference optimization (sequence-level fusion of source models)")
    .showHelpAfterError()
    .exitOverride();
  for (const mod of await loadCommands()) mod.register(program);
  return program;
}

/** Runs the CLI; returns the process exit code. User errors print one line, never a stack trace. */
export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof UserError) {
      process.stderr.write(`infifpo: error: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}

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

/**
 * For the `infifpo` process (bin/infifpo.mjs), before it runs a command: a reader that stops reading (`| head`) ends
 * the command quietly, exit 0 — the same for every command. Writing to a closed standard output raises EPIPE;
 * without a listener Node prints that as a stack trace. A closed standard error is ignored (the command goes on and
 * its outputs stay whole). Any other failure to write standard output (a full disk) is one line and exit 2.
 * Temporary files still held are removed on the way out (lib/data/safe-output.ts).
 */
export function handleClosedPipes(): void {
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    try {
      process.stderr.write(`infifpo: error: cannot write standard output: ${err.code ?? err.message}\n`);
    } finally {
      process.exit(2);
    }
  });
  process.stderr.on("error", () => {
    // nowhere left to report it
  });
}

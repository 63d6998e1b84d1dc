/** An error caused by the user's input or environment: the CLI prints its message alone (no stack) and exits. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = "UserError";
  }
}

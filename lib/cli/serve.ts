/**
 * `infifpo serve --model MODEL.infifpo [--name NAME] [--port 8000] [--dialect vllm|llamacpp]`
 *
 * Serves one project checkpoint with the part of vLLM's / llama.cpp's OpenAI-compatible API that
 * `infifpo score --pivot-url/--source-url` uses (lib/remote/serve.ts), so the served-model path can be tried end
 * to end on one machine. Listens on 127.0.0.1 unless told otherwise; stops on Ctrl-C / SIGTERM.
 */
import type { Command } from "commander";
import { DIALECTS } from "../remote/dialect";
import { oneOf, orList } from "./input";

export function register(program: Command): void {
  program
    .command("serve")
    .description("serve a project checkpoint over an OpenAI-compatible API (vLLM or llama.cpp dialect) for `infifpo score --*-url`")
    .requiredOption("--model <file>", "a .infifpo file or a directory holding model.infifpo")
    .option("--name <name>", "the model name clients send (default: the file's base name)")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port (0 = any free port)", "8000")
    .option("--dialect <name>", `which server to imitate: ${orList(DIALECTS)}`, "vllm")
    .option("--backend <name>", "tfjs backend: auto, native, wasm, cpu (default: INFIFPO_BACKEND or auto)")
    .action(async (opts: { model: string; name?: string; host: string; port: string; dialect: string; backend?: string }) => {
      const { UserError } = await import("../errors");
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--port must be 0..65535, got ${opts.port}`);
      const dialect = oneOf("--dialect", opts.dialect, DIALECTS);
      const path = await import("node:path");
      const { initBackend } = await import("../backend");
      await initBackend({ backend: opts.backend });
      const { loadModel } = await import("../model");
      const { serveModel } = await import("../remote/serve");
      const { model, tokenizer } = loadModel(opts.model, { trainable: false });
      const name = opts.name ?? path.basename(opts.model.replace(/[/\\]+$/, "")).replace(/\.infifpo$/, "");
      const served = await serveModel({ model, tokenizer, name, dialect, host: opts.host, port, log: (l) => process.stderr.write(l + "\n") });
      process.stderr.write(`[infifpo] serving "${name}" (${dialect} dialect) at ${served.url} — Ctrl-C to stop\n`);
      process.stdout.write(JSON.stringify({ url: served.url, model: name, dialect }) + "\n");
      await new Promise<void>((resolve) => {
        const stop = () => void served.close().then(resolve);
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
}

/**
 * `npm run notebooks:clean [-- FILE ...] [--check]`: strips outputs, execution counts, injected parameter
 * cells and volatile metadata from notebooks/*.ipynb (what `cleanNotebook` keeps: kernelspec,
 * metadata.infifpo, cell tags and ids). `--check` changes nothing and exits 1 if a notebook is not clean.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { cleanNotebook, cleanlinessProblems, notebookJson, readNotebook } from "./notebooks-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export function committedNotebooks(dir = path.join(ROOT, "notebooks")): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".ipynb"))
    .sort()
    .map((f) => path.join(dir, f));
}

function main(argv: string[]): number {
  const program = new Command()
    .name("npm run notebooks:clean --")
    .description("Strip outputs, execution counts and volatile metadata from notebooks (default: notebooks/*.ipynb).")
    .argument("[files...]", "notebook files")
    .option("--check", "report unclean notebooks and exit 1, change nothing")
    .parse(argv);
  const files = program.args.length ? program.args.map((f) => path.resolve(f)) : committedNotebooks();
  const check = !!program.opts().check;
  let dirty = 0;
  for (const f of files) {
    const raw = readFileSync(f, "utf8");
    const nb = readNotebook(f);
    const problems = cleanlinessProblems(nb, raw);
    const rel = path.relative(process.cwd(), f);
    if (problems.length === 0) continue;
    dirty++;
    if (check) {
      process.stderr.write(`${rel} is not clean:\n  ${problems.join("\n  ")}\n`);
    } else {
      writeFileSync(f, notebookJson(cleanNotebook(nb)));
      process.stderr.write(`cleaned ${rel}\n`);
    }
  }
  if (check && dirty) process.stderr.write("run `npm run notebooks:clean` to fix\n");
  return check && dirty ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exit(main(process.argv));
}

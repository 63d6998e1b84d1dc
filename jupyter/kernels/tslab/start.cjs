// Starts tslab from the project root, whatever directory Jupyter launched the kernel in:
// tslab type-checks only files under its working directory, so `import ... from "../lib"` needs the root.
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");
const root = path.resolve(__dirname, "..", "..", "..");
process.chdir(root);

// Four fixes to tslab 1.0.22, applied by loading its modules with a small source edit (each anchor is checked;
// if tslab changed, that module runs unpatched and a note goes to the kernel log):
// 1. executor.js runs the project's .ts files from its in-memory compile output, looked up as `<import path>.js`
//    only: a directory import (`./lib/fusion`, `../data` inside lib/) misses `<dir>/index.js` and falls through
//    to Node, which finds no index.js on disk ("Cannot find module './lib/fusion'"). Add that fallback.
// 2. converter.js type-checks WITHOUT `strict`, unlike this project's tsconfig: strict-clean lib/ code can then
//    fail in a notebook (without strictNullChecks, `v === null` does not narrow `unknown`). Turn `strict` on, so
//    notebooks and lib/ are checked as `npm run typecheck` checks them (tslab's TypeScript is 5.0.4, though).
// 3. converter.js drops the file name of chained type errors ("72:7 - Type 'unknown[]' is not assignable …"
//    with no file), so an error inside an imported lib/ file looked like one in the cell. Keep the name.
// 4. executor.js runs those files as CommonJS, where `import.meta` is a syntax error (Node then retries the file as an
//    ES module and fails with "exports is not defined in ES module scope"): lib/index.ts reaches lib files that use
//    `import.meta.url` (lib/backend, lib/records/fuse-parallel). Replace it by the CommonJS equivalent, the file's own URL.
// The real path: Node caches modules under it, so a symlinked node_modules (a git worktree sharing one) would
// otherwise load tslab's own, unpatched files beside the patched ones.
const dist = fs.realpathSync(path.join(root, "node_modules", "tslab", "dist"));
const patches = [
  {
    file: path.join(dist, "executor.js"),
    edits: [
      [
        "const cached = sideModules.get(filename);",
        'if (!sideOutputs.has(filename) && filename.endsWith(".js") && sideOutputs.has(filename.slice(0, -3) + "/index.js")) ' +
          '{ filename = filename.slice(0, -3) + "/index.js"; }\n        const cached = sideModules.get(filename);',
      ],
      [
        "mod._compile(sideOutputs.get(filename), filename);",
        "mod._compile(sideOutputs.get(filename).replace(/\\bimport\\.meta\\.url\\b/g, 'require(\"node:url\").pathToFileURL(__filename).href'), filename);",
      ],
    ],
  },
  {
    file: path.join(dist, "converter.js"),
    edits: [
      ["        esModuleInterop: true,\n        target: transpileTarget,", "        esModuleInterop: true,\n        strict: true,\n        target: transpileTarget,"],
      ["            code: msg.code,\n        });\n        if (!msg.next) {", "            code: msg.code,\n            fileName,\n        });\n        if (!msg.next) {"],
      ["traverseDiagnosticMessageChain(start, end, child, out);", "traverseDiagnosticMessageChain(start, end, child, out, fileName);"],
    ],
  },
];
for (const { file, edits } of patches) {
  let source = fs.readFileSync(file, "utf8");
  const missing = edits.filter(([anchor]) => !source.includes(anchor));
  if (missing.length) {
    process.stderr.write(`infifpo kernel: ${path.basename(file)} changed in this tslab; running it unpatched\n`);
    continue;
  }
  for (const [anchor, replacement] of edits) source = source.replace(anchor, replacement);
  const m = new Module(file, module);
  m.filename = file;
  m.paths = Module._nodeModulePaths(path.dirname(file));
  m._compile(source, file);
  m.loaded = true;
  require.cache[file] = m;
}

process.argv = [process.argv[0], path.join(root, "node_modules", ".bin", "tslab"), "kernel", "--config-path", process.argv[2]];
require(path.join(dist, "main.js")).main();

// Starts tslab from the project root, whatever directory Jupyter launched the kernel in:
// tslab type-checks only files under its working directory, so `import ... from "../lib"` needs the root.
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");
const root = path.resolve(__dirname, "..", "..", "..");
process.chdir(root);

// tslab 1.0.22 runs the project's .ts files from its in-memory compile output, looked up as `<import path>.js`
// only: a directory import (`./lib/fusion`, `../data` inside lib/) misses `<dir>/index.js` and falls through
// to Node, which finds no index.js on disk ("Cannot find module './lib/fusion'"). Load tslab's executor
// with a one-line fallback to `<dir>/index.js`. If tslab changes and the anchor is gone, run it unpatched.
const executorPath = path.join(root, "node_modules", "tslab", "dist", "executor.js");
const anchor = "const cached = sideModules.get(filename);";
const source = fs.readFileSync(executorPath, "utf8");
if (source.includes(anchor)) {
  const fallback =
    'if (!sideOutputs.has(filename) && filename.endsWith(".js") && sideOutputs.has(filename.slice(0, -3) + "/index.js")) ' +
    '{ filename = filename.slice(0, -3) + "/index.js"; }\n        ';
  const m = new Module(executorPath, module);
  m.filename = executorPath;
  m.paths = Module._nodeModulePaths(path.dirname(executorPath));
  m._compile(source.replace(anchor, fallback + anchor), executorPath);
  m.loaded = true;
  require.cache[executorPath] = m;
} else {
  process.stderr.write("infifpo kernel: tslab's executor changed; directory imports (./lib/x → ./lib/x/index) are not patched\n");
}

process.argv = [process.argv[0], path.join(root, "node_modules", ".bin", "tslab"), "kernel", "--config-path", process.argv[2]];
require(path.join(root, "node_modules", "tslab", "dist", "main.js")).main();

// Starts tslab from the project root, whatever directory Jupyter launched the kernel in:
// tslab type-checks only files under its working directory, so `import ... from "../lib"` needs the root.
const path = require("node:path");
const root = path.resolve(__dirname, "..", "..", "..");
process.chdir(root);
process.argv = [process.argv[0], path.join(root, "node_modules", ".bin", "tslab"), "kernel", "--config-path", process.argv[2]];
require(path.join(root, "node_modules", "tslab", "dist", "main.js")).main();

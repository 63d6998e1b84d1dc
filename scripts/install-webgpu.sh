#!/usr/bin/env bash
# bash scripts/install-webgpu.sh [--check] [--remove]
#
# Installs the optional WebGPU backend: @tensorflow/tfjs-backend-webgpu 4.22.0 on Dawn (the `webgpu` npm package,
# which ships a prebuilt dawn.node for linux/mac/windows; ~132 MB unpacked) into node_modules/.infifpo/webgpu
# (or $INFIFPO_WEBGPU_DIR): a folder of its own, so that npm neither prunes it on the next --no-save install of
# the native backend nor prunes that backend here; package.json stays as it is. lib/backend/webgpu.ts finds it
# there: INFIFPO_BACKEND=webgpu uses it, "auto" prefers it whenever Dawn finds a GPU adapter.
#
# It runs where Dawn finds a GPU with a Vulkan, Metal or D3D12 driver. On a CPU-only machine it installs but
# finds no adapter (Debian's software Vulkan, Mesa's lavapipe, is refused by Dawn: "Vulkan
# shaderUniform*ArrayDynamicIndexing required"); the check below says so and exits 3, and "auto" skips it.
# `npm ci` removes node_modules and with it this install: run the script again after it.
#
# Options: --check (report only: 0 works, 3 no adapter or not installed, 1 broken), --remove.
set -euo pipefail

TFJS_WEBGPU_VERSION=4.22.0
DAWN_VERSION=0.6.2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DIR="${INFIFPO_WEBGPU_DIR:-$ROOT/node_modules/.infifpo/webgpu}"
say() { echo "install-webgpu: $*" >&2; }

MODE="${1:-install}" # one of: install (no option), --check, --remove
case "$MODE" in
  install | --check | --remove) ;;
  -h | --help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) say "unknown option $MODE (see --help)"; exit 2 ;;
esac

# Exit 0: WebGPU initialises and multiplies two matrices; 3: not installed or no adapter; 1: broken.
verify() {
  INFIFPO_WEBGPU_DIR="$DIR" node --import tsx --input-type=module -e '
    import * as tf from "@tensorflow/tfjs";
    import { initBackend } from "./lib/backend/index.ts";
    import { webgpuInstalled } from "./lib/backend/webgpu.ts";
    if (!webgpuInstalled()) { console.error("not installed in " + process.env.INFIFPO_WEBGPU_DIR); process.exit(3); }
    try {
      const info = await initBackend({ backend: "webgpu", quiet: true });
      const y = await tf.matMul(tf.ones([64, 64]), tf.ones([64, 64])).data();
      if (y[0] !== 64) throw new Error("matMul gave " + y[0]);
      console.log("WebGPU works: " + info.version);
    } catch (e) {
      const msg = String(e && e.message || e).split("\n")[0];
      console.error(msg);
      process.exit(/no GPU adapter/.test(msg) ? 3 : 1);
    }
  '
}

if [ "$MODE" = --remove ]; then rm -rf "$DIR"; say "removed $DIR"; exit 0; fi
if [ "$MODE" = install ]; then
  mkdir -p "$DIR"
  [ -f "$DIR/package.json" ] || echo '{ "name": "infifpo-webgpu", "private": true, "description": "the optional WebGPU backend (scripts/install-webgpu.sh)" }' > "$DIR/package.json"
  say "installing @tensorflow/tfjs-backend-webgpu@$TFJS_WEBGPU_VERSION and webgpu@$DAWN_VERSION into $DIR (~132 MB)"
  # --legacy-peer-deps: @tensorflow/tfjs-core comes from the project (one copy, or the backend registers elsewhere);
  # --ignore-scripts: webgpu's postinstall only clears a macOS quarantine flag
  lock() { if command -v flock >/dev/null 2>&1; then flock "${TMPDIR:-/tmp}/npm.lock" "$@"; else "$@"; fi; }
  lock npm install --prefix "$DIR" --save-exact --legacy-peer-deps --ignore-scripts --no-audit --no-fund --loglevel=error \
    "@tensorflow/tfjs-backend-webgpu@$TFJS_WEBGPU_VERSION" "webgpu@$DAWN_VERSION" >&2
fi
status=0
out="$(verify 2>&1)" || status=$?
case "$status" in
  0) say "$(echo "$out" | tail -n1)" ;;
  3) say "$(echo "$out" | grep -v '^\s*at \|^$' | tail -n1) — WebGPU is installed but unusable here; \"auto\" skips it" ;;
  *) say "WebGPU does not work: $(echo "$out" | tail -n1)" ;;
esac
exit "$status"

#!/usr/bin/env bash
# npm run native [-- --gpu] [--force] [--offline] [--check] [--remove]
#
# Installs the native TensorFlow backend for tfjs (@tensorflow/tfjs-node 4.22.0) into node_modules,
# without touching package.json / package-lock.json (--no-save): see docs/stack.md for why it is not a
# dependency. lib/backend picks it up automatically (INFIFPO_BACKEND=tensorflow to insist on it).
#
#   with internet:  npm install --no-save @tensorflow/tfjs-node@4.22.0 (its install script downloads
#                   libtensorflow 2.9.1 and a prebuilt addon from storage.googleapis.com)
#   offline route:  npm install --no-save --ignore-scripts, then libtensorflow from the tensorflow-cpu
#                   2.21.0 wheel (pip: a local mirror is enough), then build the addon with node-gyp
#                   (needs python3, make, g++)
#   --gpu:          @tensorflow/tfjs-node-gpu the ordinary way (internet + CUDA 11.2 + cuDNN 8 at run time)
#
# `npm ci` and `npm install` remove --no-save packages: run `npm run native` again after them.
# Idempotent: when the backend already loads it says so and exits. On failure it rolls node_modules back
# (danfojs-node resolves @tensorflow/tfjs-node too, so a half-installed one would break it).
#
# Options: --force (reinstall), --offline (skip the internet probe), --check (only report), --remove
# (restore node_modules to package-lock.json), --gpu. Env: INFIFPO_WHEEL_CACHE (default .cache/wheels).
set -Eeuo pipefail  # -E: the rollback trap also fires inside functions

TFJS_VERSION=4.22.0
TF_WHEEL=tensorflow-cpu
TF_WHEEL_VERSION=2.21.0
# The addon is linked against libtensorflow.so.2.9.1 by name; the 2.21 C API is a superset.
LIBTF_SONAME_VERSION=2.9.1
PROBE_URL=https://storage.googleapis.com/tf-builds/
# What binding/*.cc include, transitively (g++ -M): the TF C API, ctstring and tsl_status.
C_API_HEADERS=('tensorflow/include/tensorflow/c/*' 'tensorflow/include/tensorflow/core/platform/*'
  'tensorflow/include/tsl/platform/*' 'tensorflow/include/xla/tsl/c/*')

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CACHE="${INFIFPO_WHEEL_CACHE:-$ROOT/.cache/wheels}"

GPU=0 FORCE=0 OFFLINE=0 CHECK=0 REMOVE=0
for arg in "$@"; do
  case "$arg" in
    --gpu) GPU=1 ;;
    --force) FORCE=1 ;;
    --offline) OFFLINE=1 ;;
    --check) CHECK=1 ;;
    --remove) REMOVE=1 ;;
    -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-native: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done
PKG=@tensorflow/tfjs-node
[ "$GPU" = 1 ] && PKG=@tensorflow/tfjs-node-gpu
PKG_DIR="$ROOT/node_modules/$PKG"

say() { echo "install-native: [${SECONDS}s] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# npm installs are serialised when several processes share one checkout (flock is optional).
npm_locked() {
  if command -v flock >/dev/null 2>&1; then flock "${TMPDIR:-/tmp}/npm.lock" npm "$@"; else npm "$@"; fi
}

# Loads the package in a fresh Node process on the same @tensorflow/tfjs-core as "@tensorflow/tfjs" and
# runs a matMul. Exit 0: works; 3: not installed (or only danfo's alias); 1: installed but broken.
verify() {
  TF_CPP_MIN_LOG_LEVEL=2 node --input-type=commonjs -e '
    const pkg = process.argv[1];
    let pj;
    try { pj = require(pkg + "/package.json"); } catch { process.exit(3); }
    if (pj.name !== pkg) process.exit(3);
    (async () => {
      require(pkg);
      const tf = require("@tensorflow/tfjs");
      if (!(await tf.setBackend("tensorflow"))) throw new Error("tf.setBackend(\"tensorflow\") failed");
      if (tf.getBackend() !== "tensorflow") throw new Error("@tensorflow/tfjs is still on " + tf.getBackend() + " (two tfjs-core copies?)");
      const y = tf.matMul(tf.ones([64, 64]), tf.ones([64, 64])).dataSync();
      if (y[0] !== 64) throw new Error("matMul gave " + y[0]);
      const b = tf.backend();
      console.log(pkg + " " + pj.version + " works: TensorFlow " + (b.binding && b.binding.TF_Version) +
        (b.isUsingGpuDevice ? ", GPU" : ", CPU"));
    })().catch((e) => { console.error(String(e && e.message || e).split("\n")[0]); process.exit(1); });
  ' "$PKG"
}

# Puts node_modules back to what package-lock.json says (danfo's alias at node_modules/@tensorflow/tfjs-node).
# Not `npm ci`: that would delete and re-download everything.
rollback() {
  say "rolling back: removing $PKG and restoring node_modules from package-lock.json"
  rm -rf "$PKG_DIR"
  npm_locked install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error >&2 ||
    say "WARNING: restore failed; run \`npm install\` (or \`npm ci\`) yourself"
}

check_danfo() {
  if [ -d node_modules/danfojs-node ]; then
    TF_CPP_MIN_LOG_LEVEL=2 node --input-type=commonjs -e '
      const dfd = require("danfojs-node");
      const df = new dfd.DataFrame({ a: [1, 2, 3] });
      if (df.shape[0] !== 3) process.exit(1);
      console.log("danfojs-node loads and works next to " + process.argv[1]);' "$PKG"
  fi
}

disk_mb() { { du -sm "$@" 2>/dev/null || true; } | awk '{s += $1} END {print s + 0}'; }

online() {
  [ "$OFFLINE" = 1 ] && return 1
  if command -v curl >/dev/null 2>&1; then
    timeout 8 curl -sS -m 5 -o /dev/null -I "$PROBE_URL" 2>/dev/null
  else
    timeout 8 node -e 'fetch(process.argv[1], { method: "HEAD", signal: AbortSignal.timeout(5000) }).then(() => process.exit(0), () => process.exit(1))' "$PROBE_URL"
  fi
}

# The offline route: tfjs-node without its install script, libtensorflow from the tensorflow-cpu wheel,
# the addon built with node-gyp. Runs under the ERR trap (any failure rolls back).
install_offline() {
  STEP="npm install --ignore-scripts"
  for tool in python3 make g++ unzip; do
    command -v "$tool" >/dev/null 2>&1 || { say "the offline route needs $tool (apt-get install python3 make g++ unzip)"; false; }
  done
  npm_locked install --no-save --ignore-scripts --no-audit --no-fund "$PKG@$TFJS_VERSION" >&2
  [ "$(node -p "require('$PKG/package.json').name")" = "$PKG" ] || false

  STEP="getting the wheel"
  mkdir -p "$CACHE"
  wheel="$(ls "$CACHE"/${TF_WHEEL//-/_}-$TF_WHEEL_VERSION-*.whl 2>/dev/null | head -n1 || true)"
  if [ -z "$wheel" ]; then
    say "downloading the $TF_WHEEL==$TF_WHEEL_VERSION wheel with pip into $CACHE"
    if ! python3 -m pip download --no-deps --only-binary=:all: --retries 1 --timeout 15 -q -d "$CACHE" "$TF_WHEEL==$TF_WHEEL_VERSION" >&2; then
      say "pip could not get $TF_WHEEL==$TF_WHEEL_VERSION (no internet and no pip mirror that has it)."
      say "Either connect to the internet and re-run, or put the wheel into $CACHE yourself."
      false
    fi
    wheel="$(ls "$CACHE"/${TF_WHEEL//-/_}-$TF_WHEEL_VERSION-*.whl | head -n1)"
  else
    say "using cached wheel $wheel"
  fi

  STEP="unpacking libtensorflow"
  deps="$PKG_DIR/deps"
  tmp="$deps/.unpack"
  rm -rf "$deps" && mkdir -p "$deps/lib" "$tmp"
  say "unpacking libtensorflow from $(basename "$wheel")"
  # Only the C API headers the addon includes (~1.5 MB; the wheel's whole include/ is ~290 MB).
  if ! unzip -q -o "$wheel" 'tensorflow/libtensorflow_cc.so.2' 'tensorflow/libtensorflow_framework.so.2' \
    "${C_API_HEADERS[@]}" -d "$tmp" >&2; then
    say "cannot unpack $wheel (corrupt or unexpected layout); deleting it so the next run downloads it again"
    rm -f "$wheel"
    false
  fi
  mv "$tmp/tensorflow/libtensorflow_cc.so.2" "$tmp/tensorflow/libtensorflow_framework.so.2" "$deps/lib/"
  mv "$tmp/tensorflow/include" "$deps/include"
  rm -rf "$tmp"
  # The addon links -ltensorflow -ltensorflow_framework and libtensorflow.so.2.9.1 by name (relative links).
  for name in libtensorflow.so libtensorflow.so.2 "libtensorflow.so.$LIBTF_SONAME_VERSION"; do
    ln -sf libtensorflow_cc.so.2 "$deps/lib/$name"
  done
  for name in libtensorflow_framework.so "libtensorflow_framework.so.$LIBTF_SONAME_VERSION"; do
    ln -sf libtensorflow_framework.so.2 "$deps/lib/$name"
  done
  STEP="building the addon"
  say "building the addon (node-gyp)"
  # build-from-source: skip node-pre-gyp's attempt to download a prebuilt addon (no internet anyway).
  if ! npm_config_build_from_source=true npm_locked rebuild --foreground-scripts "$PKG" >&2; then
    # A newer wheel may include more headers from the C API ones: retry once with the whole include/.
    say "build failed with the C API headers alone; retrying with the wheel's whole include/ (~290 MB)"
    rm -rf "$deps/include" && unzip -q -o "$wheel" 'tensorflow/include/*' -d "$tmp"
    mv "$tmp/tensorflow/include" "$deps/include" && rm -rf "$tmp"
    npm_config_build_from_source=true npm_locked rebuild --foreground-scripts "$PKG" >&2
  fi
}

if [ "$REMOVE" = 1 ]; then rollback; exit 0; fi

status=0
out="$(verify 2>&1)" || status=$?
if [ "$status" = 0 ] && [ "$FORCE" = 0 ]; then
  say "already installed: $out"
  if [ "$GPU" = 0 ]; then
    if [ "$CHECK" = 1 ]; then bash "$(dirname "${BASH_SOURCE[0]}")/build-fused-ops.sh" --check; else bash "$(dirname "${BASH_SOURCE[0]}")/build-fused-ops.sh"; fi
  fi
  exit 0
fi
if [ "$CHECK" = 1 ]; then
  case "$status" in
    0) say "$out" ;;
    3) say "$PKG is not installed (run \`npm run native\`)" ;;
    *) say "$PKG is installed but broken: $out (run \`npm run native -- --force\`)" ;;
  esac
  exit "$status"
fi
[ "$status" = 1 ] && say "$PKG is present but does not load ($out); reinstalling"

SECONDS=0
before_mb=$(disk_mb node_modules "$CACHE")
STEP="npm install"
trap 'say "FAILED during: $STEP"; rollback' ERR

if [ "$GPU" = 1 ]; then
  if ! online; then
    trap - ERR
    die "$PKG needs internet (its install script downloads libtensorflow-gpu 2.9.1 from storage.googleapis.com)
  and CUDA 11.2 + cuDNN 8 at run time; there is no offline route for it. Without a GPU use \`npm run native\`."
  fi
  say "internet reachable: npm install --no-save $PKG@$TFJS_VERSION"
  npm_locked install --no-save --no-audit --no-fund "$PKG@$TFJS_VERSION" >&2
elif online; then
  say "internet reachable: npm install --no-save $PKG@$TFJS_VERSION"
  if npm_locked install --no-save --no-audit --no-fund "$PKG@$TFJS_VERSION" >&2 && verify >/dev/null 2>&1; then
    :
  else
    say "the ordinary install gave no working backend; trying the offline route"
    install_offline
  fi
else
  say "storage.googleapis.com not reachable: offline route (tfjs-node without scripts + libtensorflow from the $TF_WHEEL $TF_WHEEL_VERSION wheel)"
  install_offline
fi

STEP="verifying"
out="$(verify 2>&1)" || { say "verification failed: $out"; false; }
trap - ERR
say "$out"
check_danfo || say "WARNING: danfojs-node does not load next to $PKG"
# fused LayerNorm ops for the CPU build (best effort: without a compiler the plain tfjs ops are used)
if [ "$GPU" = 0 ]; then bash "$(dirname "${BASH_SOURCE[0]}")/build-fused-ops.sh" --force; fi
after_mb=$(disk_mb node_modules "$CACHE")
say "done in ${SECONDS} s, disk +$((after_mb - before_mb)) MB (node_modules and wheel cache)"
say "note: \`npm ci\` / \`npm install\` remove it again; re-run \`npm run native\` after them"

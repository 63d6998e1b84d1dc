#!/usr/bin/env bash
# Builds native/fused_ops.cc (+ native/kernels.inc: fused TensorFlow ops for LayerNorm, causal attention, AdamW) into
# node_modules/.infifpo/fused_ops.node against the libtensorflow_framework.so.2 that tfjs-node loads.
# Called by `npm run native`; best effort: without a C++ compiler the library uses plain tfjs ops (slower).
#   bash scripts/build-fused-ops.sh [--force] [--check]
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FORCE=0; CHECK=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --check) CHECK=1 ;;
    -h|--help) sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-fused-ops: unknown option $arg" >&2; exit 2 ;;
  esac
done
say() { echo "build-fused-ops: $*" >&2; }
SRC=native/fused_ops.cc
OUT=node_modules/.infifpo/fused_ops.node
LIBDIR=node_modules/@tensorflow/tfjs-node/deps/lib
if [ ! -e "$LIBDIR/libtensorflow_framework.so.2" ]; then
  say "skipped: $LIBDIR/libtensorflow_framework.so.2 not found (install the native backend first: npm run native)"
  exit 0
fi
if [ "$CHECK" = 1 ]; then
  if [ -e "$OUT" ]; then say "built: $OUT"; else say "not built (npm run native builds it)"; fi
  exit 0
fi
if [ "$FORCE" = 0 ] && [ -e "$OUT" ] && [ "$OUT" -nt "$SRC" ] && [ "$OUT" -nt native/kernels.inc ] && [ "$OUT" -nt "$LIBDIR/libtensorflow_framework.so.2" ]; then
  say "up to date: $OUT"
  exit 0
fi
CXX="${CXX:-$(command -v g++ || command -v c++ || command -v clang++ || true)}"
if [ -z "$CXX" ]; then
  say "skipped: no C++ compiler (g++/c++/clang++); LayerNorm, attention and AdamW run as plain tfjs ops"
  exit 0
fi
mkdir -p "$(dirname "$OUT")"
LIBABS="$(cd "$LIBDIR" && pwd)"
# -O2 and no -march: the kernels are simple loops; the binary must run wherever node_modules does.
if "$CXX" -O2 -ffp-contract=off -std=c++17 -pthread -fPIC -shared -o "$OUT.tmp" "$SRC" -L"$LIBABS" -l:libtensorflow_framework.so.2 \
     -Wl,-rpath,"$LIBABS" 2> "$OUT.log"; then
  mv "$OUT.tmp" "$OUT"
  rm -f "$OUT.log"
  say "built $OUT with $CXX"
else
  say "WARNING: compiling $SRC failed (see $OUT.log); LayerNorm, attention and AdamW run as plain tfjs ops"
  rm -f "$OUT.tmp"
fi
exit 0

#!/usr/bin/env bash
# bash scripts/gpu-check.sh [--install] [--iters N]
#
# On a machine with a GPU (or any other): which tfjs backends initialise here, then `npm run bench`
# (bench/train.ts: bench-small training, scoring and SFT tokens/s) on each that does but the pure-JS cpu one,
# one JSON line per backend.
# --install first installs the optional backends that are missing: WebGPU (scripts/install-webgpu.sh, ~132 MB)
# and the native one (npm run native; with `-- --gpu` where nvidia-smi sees a GPU: needs internet, CUDA 11.2 and
# cuDNN 8). Without it nothing is installed. Reports go to stdout; a backend that does not start is listed with
# its reason (e.g. WebGPU on a CPU-only machine: "Dawn found no GPU adapter").
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
INSTALL=0 ITERS=5
while [ $# -gt 0 ]; do
  case "$1" in
    --install) INSTALL=1 ;;
    --iters) ITERS="$2"; shift ;;
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

echo "== machine: $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg), node $(node --version)"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/== gpu: /'
  GPU=1
else
  echo "== gpu: no nvidia-smi"
  GPU=0
fi

if [ "$INSTALL" = 1 ]; then
  bash scripts/install-webgpu.sh || echo "gpu-check: WebGPU installed but not usable here (see above)"
  if [ "$GPU" = 1 ]; then npm run native -- --gpu || echo "gpu-check: tfjs-node-gpu could not be installed"; fi
  npm run native || echo "gpu-check: tfjs-node could not be installed"
fi

echo "== which backends initialise"
ok=()
for b in tensorflow-gpu webgpu tensorflow-cpu wasm cpu; do
  line="$(node --import tsx --input-type=module -e '
    import { initBackend } from "./lib/backend/index.ts";
    try {
      const info = await initBackend({ backend: process.argv[1], quiet: true });
      console.log("OK " + info.name + " (" + info.kind + ", " + info.version + ")");
    } catch (e) {
      console.log("NO " + String(e && e.message || e).split("\n")[0]);
    }' "$b" 2>/dev/null | tail -n1)"
  printf '%-15s %s\n' "$b" "${line:-NO (crashed)}"
  case "$line" in OK*) ok+=("$b") ;; esac
done

echo "== npm run bench on each (bench-small; medians of $ITERS steps; cpu skipped: pure JS, ~100x slower than native)"
for b in "${ok[@]}"; do
  [ "$b" = cpu ] && continue
  cand="$b"; [ "$b" = tensorflow-cpu ] && cand=tensorflow
  npm run --silent bench -- --backends "$cand" --iters "$ITERS" 2>/dev/null | grep '^{' || echo "{\"backend\":\"$cand\",\"error\":\"bench failed\"}"
done

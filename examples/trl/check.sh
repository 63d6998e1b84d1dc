#!/usr/bin/env bash
# Checks the TRL hand-off end to end on a CPU: exports the shipped sample with `infifpo fuse --export trl` (with and
# without length-norm), trains a small random Llama on each with TRL's DPOTrainer (asserting that TRL's loss before
# training equals the loss computed independently from the file's fused reference), then the same over two
# data-parallel CPU processes with `accelerate launch`. Needs Python 3.10+ with torch, transformers, trl 1.13,
# datasets and accelerate; set PYTHON (default: examples/trl/.venv/bin/python, made by setup.sh if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=examples/trl
py=${PYTHON:-$here/.venv/bin/python}
if [ ! -x "$py" ]; then
  bash "$here/setup.sh"
  py=$here/.venv/bin/python
fi
out=runs/trl-check
mkdir -p "$out"
node bin/infifpo.mjs fuse -i data/sample/pairs.jsonl -o "$out/trl-ln.jsonl" --export trl
node bin/infifpo.mjs fuse -i data/sample/pairs.jsonl -o "$out/trl-sum.jsonl" --export trl --no-length-norm
"$py" "$here/train_dpo.py" --data "$out/trl-ln.jsonl" --tiny --check --loss-type sigmoid_norm --beta 2.5 --max-steps 8 --output-dir "$out/ln" 2>/dev/null | tail -n 1
"$py" "$here/train_dpo.py" --data "$out/trl-sum.jsonl" --tiny --check --loss-type sigmoid --beta 0.1 --max-steps 8 --output-dir "$out/sum" 2>/dev/null | tail -n 1
"$(dirname "$py")/accelerate" launch --cpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no \
  "$here/train_dpo.py" --data "$out/trl-ln.jsonl" --tiny --max-steps 4 --output-dir "$out/ddp" 2>/dev/null | tail -n 1
echo "trl check: ok"

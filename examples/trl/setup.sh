#!/usr/bin/env bash
# Makes examples/trl/.venv with the Python stack the TRL check was run with (CPU torch is enough for it).
# Uses pip's configured indexes; PIP_RETRIES / PIP_TIMEOUT apply as usual.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python3 -m venv "$here/.venv"
"$here/.venv/bin/pip" install -q torch==2.13.0 transformers==5.18.0 trl==1.13.0 datasets==5.0.1 accelerate==1.15.0 tokenizers
"$here/.venv/bin/python" -c "import torch, transformers, trl; print('examples/trl/.venv: torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__)"

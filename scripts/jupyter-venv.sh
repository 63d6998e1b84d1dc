#!/usr/bin/env bash
# Makes jupyter/.venv with the front ends `npm run notebooks:browser` drives: JupyterLab 4 and Notebook 7, pinned, plus
# plotly (its JupyterLab extension `jupyterlab-plotly` draws `application/vnd.plotly.v1+json` outputs, trusted or not;
# the browser check runs Lab with it disabled and enabled). The classic Notebook 6 comes from Debian (.ci/run).
# Uses pip's configured indexes; set PIP_RETRIES=0 where the default index is unreachable (it then fails at once and
# pip goes on with the extra indexes).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)/jupyter
py=${PYTHON:-python3}
"$py" -m venv "$here/.venv"
"$here/.venv/bin/pip" install -q jupyterlab==4.6.4 notebook==7.6.3 plotly==7.1.0
"$here/.venv/bin/python" -c "import jupyterlab, notebook, plotly; print('jupyter/.venv: jupyterlab', jupyterlab.__version__, 'notebook', notebook.__version__, 'plotly', plotly.__version__)"

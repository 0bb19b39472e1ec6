#!/usr/bin/env bash
# Makes (once) a Python venv with the same XGBoost as the Rust build links, for the test
# that loads a claims-ops model in Python's xgboost. Prints the venv's python, or nothing
# (with a reason on stderr) when it cannot be made; the parity test then says it skipped.
set -uo pipefail
venv="${CLAIMS_VENV:-$HOME/.cache/claims-ops/venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import xgboost, numpy, check_jsonschema" 2>/dev/null; then
  py=$(command -v python3) || { echo "python-venv: no python3; the Python parity test will be skipped" >&2; exit 0; }
  { "$py" -m venv "$venv" && "$venv/bin/pip" install --quiet "xgboost-cpu==${XGBOOST_VERSION:-3.2.0}" numpy check-jsonschema; } >&2 \
    || { echo "python-venv: could not install xgboost-cpu into $venv; the Python parity test will be skipped" >&2; exit 0; }
fi
echo "$venv/bin/python"

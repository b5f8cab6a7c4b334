#!/usr/bin/env bash
# The whole test suite (sets up ./.venv first). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
# Test files run on up to 4 worker processes (pytest-xdist, one file per worker at a time: module fixtures are
# built once); each worker's torch gets its share of the cores. One worker more than the cores keeps them busy
# while other workers wait on the subprocesses many end-to-end tests start (BENCHMARKS.md). `-n 0` runs serially.
cores=$(nproc 2>/dev/null || echo 2)
workers=$(( cores + 1 < 4 ? cores + 1 : 4 ))
workers=$(( workers < 1 ? 1 : workers ))
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( cores / workers > 0 ? cores / workers : 1 ))} HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest -q -n "$workers" --dist loadfile "$@"

#!/usr/bin/env bash
# The main job (sets up ./.venv first): make the synthetic Bridge data if it is missing, train the tiny
# action-conditioned world model on CPU, evaluate it against baselines and print the summary table.
# Extra arguments go to scripts/quickstart.py (e.g. --max_iter 50 for a quick look).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m scripts.quickstart "$@"

#!/usr/bin/env bash
# Create ./.venv (once) and install this project with its test and simulator extras, CPU build of torch pinned.
# The simulator renders offscreen with OSMesa: installed with apt-get when running as root, else the command is
# printed (the project works without it; the simulated datasets and their tests need it).
# Re-running is cheap: it only reinstalls when pyproject.toml changed since the last install.
# COSMOS_NO_SIM=1 leaves the simulator out.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
extras="test,sim"
if [ "${COSMOS_NO_SIM:-0}" = "1" ]; then extras="test"; fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)-$extras
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  # torch first and pinned: an unpinned torch would pull several GB of CUDA packages.
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
  .venv/bin/python -m pip install --quiet -e ".[$extras]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
if [ "$extras" = "test,sim" ] && ! ldconfig -p 2>/dev/null | grep -q libOSMesa; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "setup_env: installing the offscreen renderer for MuJoCo (libosmesa6)"
    export DEBIAN_FRONTEND=noninteractive
    (apt-get install -y -qq libosmesa6 >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && \
      apt-get install -y -qq libosmesa6 >/dev/null 2>&1; }) || \
      echo "setup_env: could not install libosmesa6; the simulator stays unavailable (apt-get install libosmesa6)"
  else
    echo "setup_env: the MuJoCo simulator needs an offscreen renderer: run 'sudo apt-get install libosmesa6'" \
         "(without it the simulated-robot data is skipped and the synthetic scene is used)"
  fi
fi

#!/usr/bin/env bash
# Set aeserve up on a fresh Debian/Ubuntu machine: the system packages it needs (Fashion-MNIST,
# venv, chromium for the explorer page's browser tests), then .venv/ at the repository root with the
# project and its test tools. Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
packages=()
[ -d /usr/share/datasets/fashion-mnist ] || packages+=(dataset-fashion-mnist)
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
# Playwright drives the system's chromium (its own browser download needs a host we cannot reach)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || packages+=(chromium)
if [ ${#packages[@]} -gt 0 ]; then
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch is pinned to its CPU build in pyproject.toml; for a GPU, install the CUDA build first (README).
.venv/bin/python -m pip install -q -e '.[train,dev,ray]'

#!/usr/bin/env bash
# Installs the system packages SMM needs on Debian: libopenblas-dev (the BLAS the engine opens at
# run time). Does nothing when it is already there.
set -euo pipefail
if ! dpkg -s libopenblas-dev >/dev/null 2>&1; then
  echo "[install_deps] installing libopenblas-dev"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq libopenblas-dev
fi

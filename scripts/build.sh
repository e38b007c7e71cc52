#!/usr/bin/env bash
# Configures and builds unmark into a build folder (default: build).
#   scripts/build.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -G Ninja -DUNMARK_WERROR=ON "$@" >/dev/null
ninja -C "$dir"

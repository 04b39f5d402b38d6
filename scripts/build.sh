#!/usr/bin/env bash
# build.sh [DIR] [cmake args...]: configure and build mx (Release) into DIR
# (default build/).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
if [ ! -f "$dir/CMakeCache.txt" ]; then
  cmake -S . -B "$dir" "${gen[@]}" "$@" >/dev/null
fi
cmake --build "$dir" -j "$(nproc)"

#!/usr/bin/env bash
# test.sh: install what is missing, then run the whole test suite twice: a
# Release build, and a build with AddressSanitizer + UBSan. A CUDA build is
# also compiled when the CUDA toolkit is present (its tests need a GPU and run
# on the GPU machine, see bench/gpu/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
status=0

echo "== release build" >&2
scripts/build.sh build -DMX_CUDA=OFF
(cd build && ctest --output-on-failure -j "$jobs") || status=1

echo "== ASan + UBSan build" >&2
scripts/build.sh build-asan -DMX_CUDA=OFF -DMX_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 MX_SANITIZED=1 \
   ctest --output-on-failure -j "$jobs") || status=1

if [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null; then
  echo "== CUDA build (compile only: no GPU here)" >&2
  scripts/build.sh build-cuda -DMX_CUDA=ON || status=1
fi

if [ $status -eq 0 ]; then echo "mx: all test suites passed" >&2; else echo "mx: FAILURES" >&2; fi
exit $status

#!/usr/bin/env bash
# bench/gpu/run.sh: the one script for the GPU machine: build the CUDA build,
# run the GPU tests (test_cuda compares every CUDA primitive with the CPU),
# then the whole suite in that build, writing logs under $OUT (or /tmp).
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/mx-gpu}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
command -v ninja >/dev/null || gen="" && gen="-G Ninja"
command -v ninja >/dev/null || gen=""
cmake -S . -B build-gpu $gen -DMX_CUDA=ON -DCMAKE_BUILD_TYPE=Release > "$out/cmake.log" 2>&1 || { tail -20 "$out/cmake.log"; exit 1; }
cmake --build build-gpu -j "$(nproc)" > "$out/build.log" 2>&1 || { grep -E "error" "$out/build.log" | head -30; exit 1; }
echo "== test_cuda"
./build-gpu/test_cuda 2>&1 | tee "$out/test_cuda.log" | tail -30
rc=${PIPESTATUS[0]}
echo "== full suite (CUDA build)"
(cd build-gpu && ctest --output-on-failure -j 8 -E "test_hub" 2>&1 | tail -15) | tee "$out/ctest.log"
exit $rc

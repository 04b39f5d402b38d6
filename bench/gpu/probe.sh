#!/usr/bin/env bash
# bench/gpu/probe.sh: decode kernels built with other values of their
# build-time knobs (software prefetch distances: MX_QPF for the 4-bit
# bfloat16 tiles, MX_QPF8 for the generic tiles, MX_BF16_PF_TILES for the
# bfloat16 rows; 0 turns one off), compared on the GPU machine's host CPU
# (two pinned cores, like the issue's 2-vCPU reference): bench_qkern on one
# cold core, then bench_lm --quick on the llama shape, two rounds.
# MX_PROBE_VARIANTS="name:-DFLAG=V;-DFLAG2=V ..." replaces the variants,
# MX_BENCH_BITS narrows the models; MX_PROBE_ENVS="A=1 A=0" runs each build
# once per environment setting (e.g. MX_PREFETCH_NTA, read at run time).
# Works here too (taskset on cores 0,1).
# `run(carry=[".deps"], command="bash bench/gpu/probe.sh")`.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/mx-probe}; mkdir -p "$out"
pkg-config --exists libcjson 2>/dev/null || . bench/gpu/sysroot.sh
gen=""; command -v ninja >/dev/null && gen="-G Ninja"
pin="taskset -c 0,1"
variants=${MX_PROBE_VARIANTS:-"base:-DMX_QPF=4 nopf:-DMX_QPF=0;-DMX_BF16_PF_TILES=0;-DMX_QPF8=0 far:-DMX_QPF=8;-DMX_BF16_PF_TILES=2;-DMX_QPF8=2"}
names=""
for v in $variants; do
  name=${v%%:*}; flags=$(echo "${v#*:}" | tr ';' ' '); names="$names $name"
  cmake -S . -B build-p-$name $gen -DMX_CUDA=OFF -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="$flags" > "$out/cmake-$name.log" 2>&1 || { tail -20 "$out/cmake-$name.log"; exit 1; }
  cmake --build build-p-$name -j "$(nproc)" --target bench_lm bench_qkern > "$out/build-$name.log" 2>&1 || { grep -E "error" "$out/build-$name.log" | head; exit 1; }
done
echo "== qkern (one thread, cold)"
for n in $names; do echo "-- $n"; QK_COLD=1 $pin ./build-p-$n/bench_qkern 4864x896,896x4864 2>&1 | grep "M=1"; done
for r in $(seq 1 ${MX_PROBE_ROUNDS:-2}); do
  for n in $names; do
    for e in ${MX_PROBE_ENVS:-MX_PROBE=1}; do
      echo "== bench_lm $n $e (round $r)"
      env "$e" MX_NUM_THREADS=2 MX_BENCH_MODELS=llama MX_BENCH_BITS=${MX_BENCH_BITS:-0,8,4} $pin ./build-p-$n/bench_lm --quick 2>&1 | grep -E "0.4B"
    done
  done
done

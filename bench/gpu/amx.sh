#!/usr/bin/env bash
# bench/gpu/amx.sh: the GPU machine's host CPU (Intel Xeon with AMX-BF16)
# for the AMX path of the bfloat16 GEMM: a CPU-only build, the GEMM and
# quantized-matmul tests (which run every ISA level the CPU has, AMX
# first), then bench_matmul and bench_lm's prefill on two pinned cores
# (the issue's reference machine has 2 vCPUs), AMX against the vdpbf16ps
# kernel (MX_CPU_ISA=avx512bf16) in the same run, and bench_amx (the tile
# unit's own rate). Logs under $OUT. MX_AMX_TESTS (a ctest regex),
# MX_AMX_LM=0 (no bench_lm) and MX_BENCH_MODELS narrow it.
# `run(carry=[".deps"], command="bash bench/gpu/amx.sh")`.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/mx-amx}
mkdir -p "$out"
. bench/gpu/sysroot.sh
lscpu | grep -E "Model name|^CPU\(s\)|MHz" | tee "$out/cpu.txt"
gen=""
command -v ninja >/dev/null && gen="-G Ninja"
cmake -S . -B build-amx $gen -DMX_CUDA=OFF -DCMAKE_BUILD_TYPE=Release > "$out/cmake.log" 2>&1 || { tail -30 "$out/cmake.log"; exit 1; }
cmake --build build-amx -j "$(nproc)" > "$out/build.log" 2>&1 || { grep -E "error|undefined" "$out/build.log" | head -30; exit 1; }
rc=0
echo "== tests (every ISA level the CPU has, AMX first)"
(cd build-amx && MX_PYTHON=python3 ctest --output-on-failure -j 8 -R "${MX_AMX_TESTS:-test_matmul|test_quant|test_lm|test_generate|test_adapters}" > "$out/ctest.log" 2>&1) || rc=1
tail -8 "$out/ctest.log"
pin="taskset -c 0,1"
echo "== bench_amx (one thread)"
$pin ./build-amx/bench_amx | tee "$out/amx_micro.txt"
echo "== bench_matmul, 2 cores, amx (MX_GEMM_PROF: cycles per phase)"
MX_GEMM_PROF=1 MX_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 $pin ./build-amx/bench_matmul 512 | tee "$out/matmul_amx.txt" | sed -n 2,11p
echo "== bench_matmul, 2 cores, avx512bf16"
MX_CPU_ISA=avx512bf16 MX_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 $pin ./build-amx/bench_matmul 512 | tee "$out/matmul_bf16.txt" | head -7
if [ "${MX_AMX_LM:-1}" = 1 ]; then
  for isa in amx avx512bf16; do
    echo "== bench_lm --quick, 2 cores, $isa"
    MX_CPU_ISA=$isa MX_NUM_THREADS=2 MX_BENCH_MODELS=${MX_BENCH_MODELS:-llama} $pin ./build-amx/bench_lm --quick 2>&1 | tee "$out/lm_$isa.txt" | tail -4
  done
fi
exit $rc

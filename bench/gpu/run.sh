#!/usr/bin/env bash
# bench/gpu/run.sh: the one script for the GPU machine (no package registry
# there): unpack the Debian build dependencies carried in .deps/ into a
# private sysroot, build mx with CUDA, run the GPU tests (test_cuda compares
# every CUDA primitive with the CPU), then the suite in that build. Logs go
# under $OUT (or /tmp/mx-gpu).
# Carry .deps: `run(carry=[".deps"], command="bench/gpu/run.sh")`. Fill it
# here with: mkdir -p .deps && cd .deps && apt-get download libopenblas-dev
#   libopenblas0 libopenblas0-pthread libopenblas-pthread-dev libcjson-dev
#   libcjson1 libpcre2-dev libpcre2-8-0 libutf8proc-dev libutf8proc2
#   libcurl4-openssl-dev libedit-dev libedit2 libgfortran5 libbsd0 libmd0
#   libcurl4 libpsl5 libssh2-1 libnghttp2-14 librtmp1 libidn2-0 libunistring2
#   libbrotli1 libldap-2.5-0 libsasl2-2 libsasl2-modules-db libdb5.3 libgcrypt20
#   libgpg-error0 libgnutls30 libhogweed6 libnettle8 libgmp10 libtasn1-6
#   libp11-kit0 libffi8 zstd libzstd1   (libcurl's runtime closure, and zstd
#   for the compressed tokenizer fixtures)
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/mx-gpu}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
. bench/gpu/sysroot.sh
gen=""
command -v ninja >/dev/null && gen="-G Ninja"
cmake -S . -B build-gpu $gen -DMX_CUDA=ON -DCMAKE_BUILD_TYPE=Release > "$out/cmake.log" 2>&1 || { tail -30 "$out/cmake.log"; exit 1; }
cmake --build build-gpu -j "$(nproc)" > "$out/build.log" 2>&1 || { grep -E "error|undefined" "$out/build.log" | head -30; exit 1; }
rc=0
for t in test_cuda test_transforms_gpu; do
  echo "== $t"
  ./build-gpu/$t > "$out/$t.log" 2>&1 || rc=1
  tail -25 "$out/$t.log"
done
if [ "${MX_GPU_SUITE:-1}" = 1 ]; then
  echo "== suite (CUDA build, CPU tests)"
  (cd build-gpu && MX_PYTHON=python3 ctest --output-on-failure -j 8 -E "test_hub|test_cuda" > "$out/ctest.log" 2>&1; tail -12 "$out/ctest.log")
fi
exit $rc

#!/usr/bin/env bash
# valgrind.sh [TEST...]: run test programs of the Release build under
# valgrind's memcheck (definite leaks and invalid accesses fail). Default:
# test_core test_lm test_generate. Slow (minutes); not part of test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh build -DMX_CUDA=OFF >/dev/null
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(test_core test_lm test_generate)
status=0
for t in "${tests[@]}"; do
  echo "== valgrind $t" >&2
  MX_SOURCE_DIR=$PWD MX_BIN=$PWD/build/mx valgrind --quiet --leak-check=full \
    --errors-for-leak-kinds=definite --error-exitcode=9 "build/$t" >/dev/null || status=1
done
exit $status

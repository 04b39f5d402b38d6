#!/usr/bin/env bash
# isa_transitions.sh: no code in libmx runs legacy-SSE instructions while
# the upper halves of the YMM/ZMM registers are live. The kernels are
# compiled per ISA (target attributes) next to baseline x86-64 helpers, and
# GCC omits the vzeroupper before a call to a local function whose register
# use it knows (an IPA-CP clone) when it keeps vector values live across
# the call. On Intel CPUs the SSE code then runs with dirty upper state,
# which cost a bfloat16 decode kernel 2.5x on the GPU machine's Xeon (AMD
# CPUs do not penalize it, so timings on the development machine miss it).
# Checked statically: in each object of libmx.a, a call from a point where
# a ymm/zmm register was touched with no vzeroupper since, to a function of
# the same object that executes non-VEX xmm instructions, is reported.
set -euo pipefail
lib=$(realpath "${MX_BUILD_DIR:?}/libmx.a")
case $(uname -m) in x86_64) ;; *) echo "not x86-64: nothing to check"; exit 0 ;; esac
command -v objdump >/dev/null || { echo "objdump (binutils) is needed"; exit 1; }
# sanitizer builds are not optimized the same way (GCC's vzeroupper pass,
# inlining); only the code that ships is checked: skipped (ctest code 77)
if nm "$lib" 2>/dev/null | grep "__asan_report" >/dev/null; then
  echo "sanitizer build: the check applies to optimized builds; skipped"
  exit 77
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && ar x "$lib")
bad=0 nobj=0
for o in "$tmp"/*.o; do
  nobj=$((nobj + 1))
  objdump -d --no-show-raw-insn "$o" > "$tmp/d.txt"
  out=$(awk '
    # pass 1: functions with legacy-SSE (non-VEX) xmm instructions
    FNR == NR {
      if (match($0, /^[0-9a-f]+ <[^>]+>:/)) { f = substr($0, index($0, "<") + 1); sub(/>:.*/, "", f); next }
      if (f != "" && $0 ~ /%xmm/) {
        split($0, p, "\t"); ins = p[2]; sub(/^ +/, "", ins)
        if (ins !~ /^v/ && ins !~ /^(call|jmp|lea|mov[a-z]* +[^%]*%[re]|nop)/) sse[f] = 1
      }
      next
    }
    # pass 2: calls to those from code with dirty upper state
    /^[0-9a-f]+ <[^>]+>:/ { f = substr($0, index($0, "<") + 1); sub(/>:.*/, "", f); dirty = 0; next }
    {
      if ($0 ~ /vzeroupper|vzeroall/) { dirty = 0; next }
      if ($0 ~ /%[yz]mm[0-9]/) dirty = 1
      if (dirty && match($0, /call +[0-9a-f]+ <[^>+]+/)) {
        c = substr($0, RSTART, RLENGTH); sub(/.*</, "", c)
        if (c in sse) print f " calls " c " with live upper vector state"
      }
    }' "$tmp/d.txt" "$tmp/d.txt" | sort -u)
  if [ -n "$out" ]; then
    echo "$(basename "$o"):"; echo "$out" | sed 's/^/  /'
    bad=$((bad + 1))
  fi
done
echo "checked $nobj objects of $(basename "$lib"): $bad with SSE code reached from live AVX state"
[ "$bad" -eq 0 ]

#!/usr/bin/env bash
# fuzz/run.sh: build the libFuzzer targets with clang, ASan and UBSan
# (build-fuzz/), then run each for SECONDS (default 60) from seeds taken from
# the test fixtures. Findings (crash-*, leak-*, timeout-*) land in
# build-fuzz/findings/<target>/. usage: fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
secs=${1:-60}; shift || true
targets=${*:-"fuzz_template fuzz_tokenizer_json fuzz_encode fuzz_safetensors fuzz_npy fuzz_config fuzz_prompt_cache"}
command -v clang >/dev/null || { echo "fuzz/run.sh: clang is needed (apt install clang)"; exit 1; }
gen=""; command -v ninja >/dev/null && gen="-G Ninja"
CC=clang cmake -S . -B build-fuzz $gen -DMX_CUDA=OFF -DMX_FUZZ=ON -DMX_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build-fuzz -j "$(nproc)" --target $targets mx_fuzz_seeds > build-fuzz/build.log 2>&1 ||
  { grep -E "error" build-fuzz/build.log | head -20; exit 1; }
fx=$src/tests/fixtures
seeds=build-fuzz/seeds; rm -rf "$seeds"; mkdir -p "$seeds"
mkdir -p $seeds/{fuzz_template,fuzz_tokenizer_json,fuzz_encode,fuzz_safetensors,fuzz_npy,fuzz_config,fuzz_prompt_cache}
# chat templates: every model's tokenizer_config.json template, as text
for t in "$fx"/tokenizers/*/tokenizer_config.json; do
  n=$(basename "$(dirname "$t")")
  node -e 'const c=require(process.argv[1]); let t=c.chat_template; if (Array.isArray(t)) t=t[0].template; if (t) process.stdout.write(t)' "$t" > "$seeds/fuzz_template/$n" 2>/dev/null || true
done
# the fixtures' tokenizers are zstd-compressed: unpack them once
toks=build-fuzz/tokenizers
for t in "$fx"/tokenizers/*/tokenizer.*; do
  n=$(basename "$(dirname "$t")"); f=$(basename "$t" .zst); mkdir -p "$toks/$n"
  case $t in *.zst) zstd -q -d -f "$t" -o "$toks/$n/$f" ;; *) cp "$t" "$toks/$n/$f" ;; esac
done
for t in "$toks"/*/tokenizer.json; do cp "$t" "$seeds/fuzz_tokenizer_json/$(basename "$(dirname "$t")").json"; done
cp "$fx"/tokenizers/PROVENANCE.md "$seeds/fuzz_encode/"
printf 'Hello world <|im_start|> caf\xc3\xa9 \xf0\x9f\x98\x80 \xff' > "$seeds/fuzz_encode/mixed"
for m in tiny-qwen3 tiny-llama tiny-mistral tiny-qwen2 tiny-phi3-longrope; do cp "$fx/models/$m/config.json" "$seeds/fuzz_config/$m.json"; done
export MX_FUZZ_TOKENIZERS=$PWD/$toks MX_FUZZ_MODEL=$fx/models/tiny-qwen3
# .npy files, a small safetensors file and a prompt cache written by mx itself
./build-fuzz/fuzz/mx_fuzz_seeds "$seeds/fuzz_npy" "$seeds/fuzz_safetensors" "$seeds/fuzz_prompt_cache"
rc=0
for t in $targets; do
  out=build-fuzz/findings/$t; mkdir -p "$out" build-fuzz/corpus/$t
  echo "== $t ($secs s)"
  if ! ./build-fuzz/fuzz/$t -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
      -artifact_prefix="$out/" -print_final_stats=1 build-fuzz/corpus/$t "$seeds/$t" \
      > "$out/log" 2>&1; then
    rc=1; grep -E "ERROR|SUMMARY|Test unit written" "$out/log" | head -5
  fi
  grep -E "stat::number_of_executed_units|cov:" "$out/log" | tail -2 || true
done
exit $rc

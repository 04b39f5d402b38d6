#!/usr/bin/env bash
# install-deps.sh: install the Debian/Ubuntu packages mx builds and tests
# with, only those missing. Runs as root or through sudo.
set -euo pipefail

PKGS=(build-essential cmake ninja-build pkg-config
      libopenblas-dev libcjson-dev libpcre2-dev libutf8proc-dev
      libcurl4-openssl-dev libmicrohttpd-dev libedit-dev
      python3 python3-numpy python3-jinja2 nodejs npm valgrind zstd)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# a node/npm that did not come from Debian (e.g. nodesource) is fine too
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "mx: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "mx: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

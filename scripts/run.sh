#!/usr/bin/env bash
# run.sh: install what is missing, build mx and run the main job: generate a
# story with the bundled default model (stories260K).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build >/dev/null
if [ $# -eq 0 ]; then
  set -- --prompt "Once upon a time" --max-tokens 200
fi
exec build/mx generate "$@"

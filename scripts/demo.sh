#!/usr/bin/env bash
# `make demo`: the main job. Until the embedded lab lands, triage the example bundles built from the
# seed KBs' excerpts (KB 392634 storage loss -> BSOD, KB 308590 Lost Heartbeat purple screen).
set -euo pipefail
cd "$(dirname "$0")/.."
out=demo-bundle
.venv/bin/python scripts/example_bundle.py "$out" >/dev/null
for bundle in "$out"/esx-*.tgz; do
  echo "== faultlab triage $bundle"
  .venv/bin/faultlab triage "$bundle"
done

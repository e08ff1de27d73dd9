#!/usr/bin/env bash
# make demo: run the main job with no credentials. The Microsoft and Devo stand-ins are not
# built yet, so for now the demo proves the distribution loads and validates the demo pipeline,
# and says plainly that it does not move data.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== otelcol-msgtrace demo"
./bin/otelcol-msgtrace components | grep -E 'name: (office365_message_trace|devo|file_storage)$' | sed 's/^/   /'
./bin/otelcol-msgtrace validate --config testdata/demo/config.yaml
echo "   testdata/demo/config.yaml is valid."
echo "   Not yet available: the local Microsoft tenant and Devo sink stand-ins, so no rows move in this demo."

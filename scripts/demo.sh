#!/usr/bin/env bash
# make demo: runs internal/cmd/demo, which starts the Microsoft and Devo stand-ins and the
# distribution, and shows rows flowing. Ctrl-C or DEMO_DURATION=90s ends it.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./internal/cmd/demo "$@"

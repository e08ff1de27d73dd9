#!/usr/bin/env bash
# Rebuilding beside a running collector: starts bin/otelcol-msgtrace (loopback-only pipeline),
# shows that copying onto it in place fails ("Text file busy"), then runs the install step of
# `make build` (make install-bin) onto it and checks that it succeeded, that bin/ now holds a
# new file, and that the running collector is still healthy. Run after `make build`.
set -euo pipefail
command -v curl >/dev/null || { echo "$0 needs curl"; exit 1; }
cd "$(dirname "$0")/.."
bin=bin/otelcol-msgtrace
built=_build/otelcol-msgtrace
for f in "$bin" "$built"; do [ -x "$f" ] || { echo "$f missing: run make build first"; exit 1; }; done

work=$(mktemp -d)
pid=
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT

port=$(( 20000 + RANDOM % 20000 ))
export HEALTH_PORT=$port OTLP_PORT=$((port + 1))

healthy() { curl -fs -o /dev/null "http://127.0.0.1:$port/"; }

"$bin" --config testdata/loopback-health.yaml > "$work/log" 2>&1 &
pid=$!
for _ in $(seq 300); do healthy && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
healthy || { cat "$work/log"; echo "FAIL: the collector did not become healthy"; exit 1; }
before=$(stat -c %i "$bin")

# The problem this guards against: writing into the executable of a running process.
if out=$(cp "$built" "$bin" 2>&1); then
  echo "FAIL: copying onto the running $bin succeeded, so this check does not reproduce the problem"; exit 1
fi
case "$out" in *"Text file busy"*) ;; *) echo "FAIL: unexpected error copying in place: $out"; exit 1;; esac
echo "in-place copy onto the running collector fails as expected: $out"

make --no-print-directory install-bin FROM="$built" TO="$bin"
after=$(stat -c %i "$bin")
[ "$before" != "$after" ] || { echo "FAIL: $bin is the same file as before the install"; exit 1; }
cmp -s "$built" "$bin" || { echo "FAIL: $bin differs from $built"; exit 1; }
[ -x "$bin" ] || { echo "FAIL: $bin is not executable"; exit 1; }
healthy || { echo "FAIL: the running collector is no longer healthy"; exit 1; }
"$bin" --version
ls -a bin | grep -q '^\.otelcol-msgtrace\.' && { echo "FAIL: temporary file left in bin/"; exit 1; }
echo "PASS: bin/otelcol-msgtrace replaced (inode $before -> $after) while a collector ran from it"

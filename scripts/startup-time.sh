#!/usr/bin/env bash
# Start-up time of a collector binary, RUNS times each (default 5), printed per run and as the
# median:
#   validate: `BIN validate --config testdata/minimal.yaml` (load, build and check the config)
#   healthy:  from exec until the health_check extension answers 200, with an OTLP receiver and a
#             debug exporter on loopback ports (no component that reaches out of the machine)
# Usage: scripts/startup-time.sh [BIN]   (default bin/otelcol-msgtrace; run from the repo root)
set -euo pipefail
command -v curl >/dev/null || { echo "$0 needs curl"; exit 1; }
bin=${1:-bin/otelcol-msgtrace}
runs=${RUNS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

port=$(( 20000 + RANDOM % 20000 ))
export HEALTH_PORT=$port OTLP_PORT=$((port + 1))

: > "$work/validate"; : > "$work/healthy"
for i in $(seq "$runs"); do
  t0=$(now_ms)
  "$bin" validate --config testdata/minimal.yaml >/dev/null
  echo $(( $(now_ms) - t0 )) >> "$work/validate"

  t0=$(now_ms)
  "$bin" --config testdata/loopback-health.yaml > "$work/log" 2>&1 &
  pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$port/"; do
    if ! kill -0 "$pid" 2>/dev/null; then cat "$work/log"; echo "collector exited before it was healthy"; exit 1; fi
    if (( $(now_ms) - t0 > 30000 )); then kill "$pid"; echo "not healthy within 30s"; exit 1; fi
    sleep 0.01
  done
  echo $(( $(now_ms) - t0 )) >> "$work/healthy"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
echo "$bin ($(stat -c %s "$bin") bytes), $runs runs"
echo "validate ms: $(tr '\n' ' ' < "$work/validate")median $(median < "$work/validate")"
echo "healthy  ms: $(tr '\n' ' ' < "$work/healthy")median $(median < "$work/healthy")"

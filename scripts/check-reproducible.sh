#!/usr/bin/env bash
# check-reproducible: two builds of one commit give the same binaries. The second build is of a
# copy of the checkout at another path, with an empty build cache (so nothing is reused and no
# path can leak in); the collector and the tenant generator for linux/amd64 are compared
# (TARGETS=... for more).
set -euo pipefail
cd "$(dirname "$0")/.."
export TARGETS=${TARGETS:-linux/amd64}
tmp=$(mktemp -d /tmp/otelcol-msgtrace-repro.XXXXXX)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
scripts/release.sh --binaries-only "$tmp/here"
mkdir -p "$tmp/elsewhere/src"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$tmp/elsewhere/src"
cp -a .tools "$tmp/elsewhere/src/"
(cd "$tmp/elsewhere/src" && GOCACHE=$tmp/elsewhere/cache TOOLS=.tools scripts/release.sh --binaries-only "$tmp/there")
(cd "$tmp/here" && sha256sum */*) >"$tmp/here.sums"
(cd "$tmp/there" && sha256sum */*) >"$tmp/there.sums"
cat "$tmp/here.sums"
if ! diff "$tmp/here.sums" "$tmp/there.sums"; then
	echo "check-reproducible: the builds differ (above: here, there)"
	exit 1
fi
echo "check-reproducible: built here and at $tmp/elsewhere with an empty cache: identical"

#!/usr/bin/env bash
# check-modules: the Go modules of this repository stay consistent with each other, so that no
# build depends on a go.work file or on a module version that was never tagged:
#   - every go.mod in the tree (but tools/, deploy/ and ocb's _build/ output) is in GO_MODULES;
#   - every requirement of one of our modules is at the product version (dist.version) and is
#     replaced by the directory that holds that module;
#   - both ocb manifests take our components at the product version;
#   - each module is tidy (go mod tidy -diff);
#   - CHANGELOG.md's "Tags a release needs" names the tag of every nested module (a user's
#     go get of a component fails on a required module whose version was never tagged).
# Usage: scripts/check-modules.sh VERSION MODULE_DIR...
set -euo pipefail
cd "$(dirname "$0")/.."
version=v$1
shift
modules=("$@")
prefix=github.com/msgtrace/otelcol-msgtrace
fail=0
err() { echo "check-modules: $*" >&2; fail=1; }

# The module path a directory holds.
modpath() { sed -n 's/^module[[:space:]]*//p' "$1/go.mod"; }

declare -A dir_of
for m in "${modules[@]}"; do
	[ -f "$m/go.mod" ] || { err "$m is in GO_MODULES but has no go.mod"; continue; }
	dir_of[$(modpath "$m")]=$m
done
while read -r f; do
	d=$(dirname "$f")
	found=0
	for m in "${modules[@]}"; do [ "$m" = "$d" ] && found=1; done
	[ $found = 1 ] || err "$f is not in the Makefile's GO_MODULES: add it (make test vets and tests every module there)"
done < <(find . -name go.mod -not -path './tools/*' -not -path './deploy/*' -not -path '*/_build/*' -not -path './.tools/*' | sed 's|^\./||')

for m in "${modules[@]}"; do
	[ -f "$m/go.mod" ] || continue
	# Requirements of our modules (both the one-line and the block form).
	while read -r path ver; do
		[ -n "$path" ] || continue
		[ "$ver" = "$version" ] || err "$m/go.mod requires $path $ver; our modules are at the product version $version (builder-config.yaml dist.version)"
		want=${dir_of[$path]:-}
		[ -n "$want" ] || { err "$m/go.mod requires $path, which no directory of GO_MODULES holds"; continue; }
		got=$(sed -n "s|^[[:space:]]*\(replace[[:space:]]\+\)\{0,1\}$path[[:space:]]\+=>[[:space:]]\+\([^[:space:]]*\).*|\2|p" "$m/go.mod")
		if [ -z "$got" ] || [ "$(realpath -m "$m/$got")" != "$(realpath -m "$want")" ]; then
			err "$m/go.mod: $path must be replaced by $(realpath -m --relative-to="$m" "$want") (the checkout's copy), found '${got}'"
		fi
	done < <(sed -n "s|^[[:space:]]*\(require[[:space:]]*\)\{0,1\}\($prefix/[^[:space:]]*\)[[:space:]]\+\(v[^[:space:]]*\).*|\2 \3|p" "$m/go.mod")
	(cd "$m" && go mod tidy -diff >/dev/null 2>&1) || err "$m is not tidy: run (cd $m && go mod tidy)"
done

for manifest in builder-config.yaml testdata/dropin/builder-config.yaml; do
	while read -r path ver; do
		[ "$ver" = "$version" ] || err "$manifest takes $path $ver; our components are at the product version $version"
		[ -n "${dir_of[$path]:-}" ] || err "$manifest takes $path, which is not one of our modules"
	done < <(sed -n "s|^[[:space:]]*- gomod: \($prefix/[^[:space:]]*\) \(v[^[:space:]]*\).*|\1 \2|p" "$manifest")
done

for m in "${modules[@]}"; do
	[ "$m" = . ] && continue
	grep -qE "^$m/vX\.Y\.Z( |$)" CHANGELOG.md ||
		err "CHANGELOG.md's \"Tags a release needs\" lacks $m/vX.Y.Z: a release must tag every nested module"
done

[ $fail = 0 ] || exit 1
echo "check-modules: ${#modules[@]} modules consistent at $version, each tidy"

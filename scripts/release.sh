#!/usr/bin/env bash
# make release: every artifact of this commit into dist/ (README, "Install"):
#   otelcol-msgtrace_V_{linux_amd64,linux_arm64,darwin_arm64}.tar.gz, _windows_amd64.zip
#       the collector, the tenant generator (otelcol-msgtrace-tenantconfig), LICENSE, README.md,
#       CHANGELOG.md and the example configuration config.yaml (deploy/config.yaml);
#   otelcol-msgtrace_V_{amd64,arm64}.deb, otelcol-msgtrace-V-1.{x86_64,aarch64}.rpm (nfpm);
#   otelcol-msgtrace_V_image_linux_amd64.oci.tar (podman load / docker load) and its digest
#       in otelcol-msgtrace_V_image.digest, the Kubernetes manifests naming that image in
#       otelcol-msgtrace_V_kubernetes.tar.gz;
#   otelcol-msgtrace_V.sbom.json (CycloneDX, the binary's modules); SHA256SUMS over all of them.
# Reproducible: -trimpath, no VCS stamp, no build time or path; archives and packages carry the
# commit's time (SOURCE_DATE_EPOCH). `scripts/release.sh --binaries-only DIR` builds only the
# binaries into DIR (make check-reproducible compares two such builds).
# Needs Go, the module proxy, the tools of tools/ (make tools release-tools) and, for the
# image, podman (as root; IMAGE=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${VERSION:?VERSION is the product version (make release sets it)}"
TOOLS=${TOOLS:-.tools}
tools=$(realpath "$TOOLS")
DIST=${DIST:-dist}
IMAGE=${IMAGE:-1}
IMAGE_NAME=${IMAGE_NAME:-localhost/otelcol-msgtrace:$VERSION}
# BUILDER_CONFIG: the ocb manifest built (check-packages builds a copy naming the next version);
# its dist.output_path is where ocb writes the sources compiled here.
BUILDER_CONFIG=${BUILDER_CONFIG:-builder-config.yaml}
build_dir=$(sed -n '/^dist:/,/^[^ ]/s/^  output_path: *//p' "$BUILDER_CONFIG")
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 1700000000)}
export CGO_ENABLED=0
read -r -a TARGETS <<<"${TARGETS:-linux/amd64 linux/arm64 windows/amd64 darwin/arm64}"
LDFLAGS="-s -w"
name=otelcol-msgtrace

# build_binaries DIR: the collector (ocb's generated sources in _build/) and the tenant
# generator for every target, into DIR/<os>_<arch>/.
build_binaries() {
	local out=$1 t os arch ext
	"$tools/builder" --config "$BUILDER_CONFIG" --skip-compilation >/dev/null
	for t in "${TARGETS[@]}"; do
		os=${t%/*} arch=${t#*/} ext=
		[ "$os" = windows ] && ext=.exe
		mkdir -p "$out/${os}_$arch"
		(cd "$build_dir" && GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=false -ldflags "$LDFLAGS" \
			-o "$out/${os}_$arch/$name$ext" .)
		GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=false -ldflags "$LDFLAGS" \
			-o "$out/${os}_$arch/$name-tenantconfig$ext" ./internal/cmd/tenantconfig
	done
}

if [ "${1:-}" = --binaries-only ]; then
	mkdir -p "$2"
	build_binaries "$(realpath "$2")"
	exit 0
fi

rm -rf "$DIST"
mkdir -p "$DIST"
dist=$(realpath "$DIST")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bins=$work/bin
build_binaries "$bins"

# Archives: one directory per target, the same files in each.
for t in "${TARGETS[@]}"; do
	os=${t%/*} arch=${t#*/} ext= fmt=tar.gz
	[ "$os" = windows ] && ext=.exe fmt=zip
	base=${name}_${VERSION}_${os}_$arch
	"$tools/archive" -o "$dist/$base.$fmt" -prefix "$base/" -mtime "$SOURCE_DATE_EPOCH" \
		"$bins/${os}_$arch/$name$ext=$name$ext" "$bins/${os}_$arch/$name-tenantconfig$ext=$name-tenantconfig$ext" \
		LICENSE=LICENSE README.md=README.md CHANGELOG.md=CHANGELOG.md deploy/config.yaml=config.yaml
done

# Packages: the unit as the packages install it (binary in /usr/bin, documentation in
# /usr/share/doc), otherwise deploy/systemd/otelcol-msgtrace.service unchanged.
stage=$work/stage
mkdir -p "$stage"
sed -e 's|/usr/local/bin/otelcol-msgtrace|/usr/bin/otelcol-msgtrace|g' \
	-e 's|^Documentation=file:///usr/local/share/doc/|Documentation=file:///usr/share/doc/|' \
	deploy/systemd/otelcol-msgtrace.service >"$stage/otelcol-msgtrace.service"
mtime=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
for arch in amd64 arm64; do
	# nfpm expands the environment in its fields but not in contents' paths: those are filled here.
	sed -e "s|\${BIN_DIR}|$bins/linux_$arch|g" -e "s|\${STAGE_DIR}|$stage|g" deploy/packaging/nfpm.yaml >"$work/nfpm-$arch.yaml"
	for packager in deb rpm; do
		VERSION=$VERSION PKG_ARCH=$arch "$tools/nfpm" package --config "$work/nfpm-$arch.yaml" --packager "$packager" --target "$dist/" >/dev/null
	done
done

# SBOM of the modules compiled into the linux/amd64 collector (read from the binary's build
# information, so it lists exactly what is inside). No serial number nor time stamp: two runs
# give the same file.
"$tools/cyclonedx-gomod" bin -json -std -noserial -notimestamp -version "v$VERSION" \
	-output "$dist/${name}_$VERSION.sbom.json" "$bins/linux_amd64/$name" 2>"$work/sbom.log" || { cat "$work/sbom.log"; exit 1; }

# Kubernetes manifests naming the image of this release.
kube=$work/kubernetes
mkdir -p "$kube"
for f in deploy/kubernetes/*.yaml; do
	sed -E "s|^(\s*image:\s*).*$|\1$IMAGE_NAME|" "$f" >"$kube/$(basename "$f")"
done
kfiles=()
for f in "$kube"/*.yaml; do kfiles+=("$f=$(basename "$f")"); done
"$tools/archive" -o "$dist/${name}_${VERSION}_kubernetes.tar.gz" -prefix "${name}_${VERSION}_kubernetes/" \
	-mtime "$SOURCE_DATE_EPOCH" "${kfiles[@]}"

# The image: deploy/image/Dockerfile.release around the linux/amd64 binaries, saved as an OCI
# archive; its digest is the manifest's (what `podman load` and a registry show).
if [ "$IMAGE" = 1 ]; then
	ctx=$work/image
	mkdir -p "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/etc/otelcol-msgtrace" "$ctx/state"
	cp "$bins/linux_amd64/$name" "$bins/linux_amd64/$name-tenantconfig" "$ctx/rootfs/"
	cp /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/"
	cp deploy/config.yaml "$ctx/rootfs/etc/otelcol-msgtrace/config.yaml"
	echo 'otelcol-msgtrace:x:10001:10001:otelcol-msgtrace:/var/lib/otelcol-msgtrace:/sbin/nologin' >"$ctx/rootfs/etc/passwd"
	echo 'otelcol-msgtrace:x:10001:' >"$ctx/rootfs/etc/group"
	find "$ctx" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	podman=(podman ${PODMAN_GLOBAL_FLAGS---runtime runc})
	"${podman[@]}" build --layers=false --timestamp "$SOURCE_DATE_EPOCH" --platform linux/amd64 \
		-f "$PWD/deploy/image/Dockerfile.release" -t "$IMAGE_NAME" "$ctx" >/dev/null
	oci=$dist/${name}_${VERSION}_image_linux_amd64.oci.tar
	# podman's own oci-archive carries the save time; the OCI layout packed by the archiver
	# does not, so the archive is as reproducible as the image.
	"${podman[@]}" save --format oci-dir -o "$work/oci" "$IMAGE_NAME"
	ofiles=()
	while read -r f; do ofiles+=("$work/oci/$f=$f"); done < <(cd "$work/oci" && find . -type f | sed 's|^\./||' | sort)
	"$tools/archive" -o "$oci" -mtime "$SOURCE_DATE_EPOCH" "${ofiles[@]}"
	digest=$(sed -E 's/.*"digest":"(sha256:[0-9a-f]{64})".*/\1/' "$work/oci/index.json")
	echo "$IMAGE_NAME@$digest" >"$dist/${name}_${VERSION}_image.digest"
fi

(cd "$dist" && sha256sum -- * | grep -v ' SHA256SUMS$' >SHA256SUMS)
echo "dist/:"
(cd "$dist" && ls -l --time-style=+ | awk 'NR>1 {printf "  %10d  %s\n", $5, $NF}')

#!/usr/bin/env bash
# check-packages (make check-release, root): the packages of dist/ (make release first).
#   - the .rpm files: contents, configuration files, owners and modes, scripts (rpm -qp);
#   - the .deb files: contents, conffiles, control fields (dpkg-deb);
#   - the amd64 .deb in a Debian container with systemd: install, configure for the stand-ins,
#     rows at the Devo stand-in, upgrade to a package of the next patch version, remove, purge
#     (e2e TestDebPackageInstallUpgradeRemovePurge).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${VERSION:?}"
TOOLS=${TOOLS:-.tools}
fail=0
err() { echo "check-packages: $*" >&2; fail=1; }
want_lines() { # want_lines WHAT OUTPUT LINE...
	local what=$1 out=$2
	shift 2
	for l in "$@"; do grep -qxF -- "$l" <<<"$out" || err "$what lacks: $l"; done
}

for arch in x86_64 aarch64; do
	rpm=dist/otelcol-msgtrace-$VERSION-1.$arch.rpm
	[ -f "$rpm" ] || { err "$rpm missing (make release)"; continue; }
	want_lines "$rpm version" "$(rpm -qp --queryformat '%{NAME} %{VERSION} %{ARCH} %{LICENSE}\n' "$rpm")" \
		"otelcol-msgtrace $VERSION $arch Apache-2.0"
	want_lines "$rpm files" "$(rpm -qpl "$rpm")" /usr/bin/otelcol-msgtrace /usr/bin/otelcol-msgtrace-tenantconfig \
		/usr/lib/systemd/system/otelcol-msgtrace.service /usr/lib/sysusers.d/otelcol-msgtrace.conf \
		/etc/otelcol-msgtrace/config.yaml /etc/otelcol-msgtrace/env /var/lib/otelcol-msgtrace \
		/usr/share/doc/otelcol-msgtrace/setup.md /usr/share/doc/otelcol-msgtrace/LICENSE
	want_lines "$rpm configuration files" "$(rpm -qpc "$rpm")" /etc/otelcol-msgtrace/config.yaml /etc/otelcol-msgtrace/env
	# noreplace: an upgrade keeps a file the user edited.
	want_lines "$rpm file flags" "$(rpm -qp --queryformat '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$rpm")" \
		"/etc/otelcol-msgtrace/config.yaml cn" "/etc/otelcol-msgtrace/env cn"
	want_lines "$rpm owners and modes" "$(rpm -qp --queryformat '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]' "$rpm")" \
		"-rw-r----- root otelcol-msgtrace /etc/otelcol-msgtrace/env" \
		"-rw-r----- root otelcol-msgtrace /etc/otelcol-msgtrace/config.yaml" \
		"drwxr-x--- otelcol-msgtrace otelcol-msgtrace /var/lib/otelcol-msgtrace" \
		"-rwxr-xr-x root root /usr/bin/otelcol-msgtrace"
	scripts=$(rpm -qp --scripts "$rpm")
	for s in 'preinstall scriptlet' 'postinstall scriptlet' 'preuninstall scriptlet' 'postuninstall scriptlet' \
		'systemd-sysusers' 'try-restart otelcol-msgtrace.service' 'disable --now otelcol-msgtrace.service'; do
		grep -qF -- "$s" <<<"$scripts" || err "$rpm scripts lack '$s'"
	done
	grep -vE 'echo|disable --now' <<<"$scripts" | grep -qE 'systemctl (enable|start)' && err "$rpm scripts enable or start the service"
	bin=$(mktemp -d)
	rpm2cpio "$rpm" | (cd "$bin" && cpio -idm --quiet ./usr/bin/otelcol-msgtrace)
	case $arch in x86_64) "$bin/usr/bin/otelcol-msgtrace" --version | grep -qx "otelcol-msgtrace version $VERSION" || err "$rpm's binary does not report $VERSION" ;; esac
	rm -rf "$bin"
done

for arch in amd64 arm64; do
	deb=dist/otelcol-msgtrace_${VERSION}-1_$arch.deb
	[ -f "$deb" ] || { err "$deb missing (make release)"; continue; }
	want_lines "$deb control" "$(dpkg-deb -f "$deb" Package Version Architecture)" \
		"Package: otelcol-msgtrace" "Version: $VERSION-1" "Architecture: $arch"
	want_lines "$deb conffiles" "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" \
		/etc/otelcol-msgtrace/config.yaml /etc/otelcol-msgtrace/env
done

if [ $fail = 0 ] && [ "${PACKAGE_E2E:-1}" = 1 ]; then
	next=$(awk -F. '{printf "%d.%d.%d", $1, $2, $3+1}' <<<"$VERSION")
	work=$(mktemp -d)
	# The next patch's package: this commit built as the next version (ocb's dist.version, which
	# the binary reports), packaged from the same files, so that the upgrade really replaces
	# the binary and the test can see it did.
	next_config=.builder-config-next.yaml next_build=_build-next
	trap 'rm -rf "$work" "$next_config" "$next_build"' EXIT
	sed -e "/^dist:/,/^[^ ]/s|^  version: .*|  version: $next|" -e "s|^  output_path: .*|  output_path: ./$next_build|" \
		builder-config.yaml >"$next_config"
	BUILDER_CONFIG=$next_config TARGETS=linux/amd64 VERSION=$next TOOLS=$TOOLS scripts/release.sh --binaries-only "$work/next"
	bin=$work/next/linux_amd64
	"$bin/otelcol-msgtrace" --version | grep -qx "otelcol-msgtrace version $next" || { err "the next patch's binary does not report $next"; exit 1; }
	mkdir -p "$work/stage"
	dpkg-deb -x "dist/otelcol-msgtrace_${VERSION}-1_amd64.deb" "$work/root"
	cp "$work/root/usr/lib/systemd/system/otelcol-msgtrace.service" "$work/stage/"
	sed -e "s|\${BIN_DIR}|$bin|g" -e "s|\${STAGE_DIR}|$work/stage|g" deploy/packaging/nfpm.yaml >"$work/nfpm.yaml"
	VERSION=$next PKG_ARCH=amd64 "$TOOLS/nfpm" package --config "$work/nfpm.yaml" --packager deb --target "$work/next.deb" >/dev/null
	deploy/image/systemd-host.sh "${SYSTEMD_HOST_IMAGE:-localhost/otelcol-msgtrace-systemd-host:bookworm}"
	OTELCOL_MSGTRACE_SYSTEMD_IMAGE=${SYSTEMD_HOST_IMAGE:-localhost/otelcol-msgtrace-systemd-host:bookworm} \
		OTELCOL_MSGTRACE_DEB=$PWD/dist/otelcol-msgtrace_${VERSION}-1_amd64.deb OTELCOL_MSGTRACE_DEB_NEXT=$work/next.deb \
		go test -tags 'e2e image' -count=1 -timeout 10m -v -run '^TestDebPackageInstallUpgradeRemovePurge$' ./e2e/ \
		| grep -E '^(---|ok|FAIL|PASS)|\.go:[0-9]+:' || fail=1
fi
[ $fail = 0 ] || exit 1
echo "check-packages: rpm -qp, dpkg-deb and the .deb's install, upgrade, remove and purge under systemd: ok"

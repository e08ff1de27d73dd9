#!/usr/bin/env bash
# Makes the image `make check-image` boots to run deploy/systemd/otelcol-msgtrace.service under a
# real systemd (e2e/systemd_test.go): a minimal Debian bookworm from debootstrap with systemd
# and curl, nothing of this project in it (the test mounts the unit, binary and configuration).
#   deploy/image/systemd-host.sh [IMAGE]     (default localhost/otelcol-msgtrace-systemd-host:bookworm)
set -euo pipefail
image=${1:-localhost/otelcol-msgtrace-systemd-host:bookworm}
podman=(podman ${PODMAN_GLOBAL_FLAGS---runtime runc})
if "${podman[@]}" image exists "$image"; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "making $image with debootstrap"
debootstrap --variant=minbase --include=systemd,systemd-sysv,curl,ca-certificates bookworm "$work/rootfs" \
  >"$work/debootstrap.log" || { tail -20 "$work/debootstrap.log"; exit 1; }
tar -C "$work/rootfs" -c . | "${podman[@]}" import --change 'CMD ["/sbin/init"]' - "$image"

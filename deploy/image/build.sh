#!/usr/bin/env bash
# Builds the container image from deploy/Dockerfile with podman (no Docker engine needed):
#   deploy/image/build.sh [IMAGE]          (default otelcol-msgtrace:0.1.0; `make image`)
#
# GO_IMAGE (the Dockerfile's build stage) defaults to Docker Hub's golang image. Where Docker Hub
# cannot be reached, GO_IMAGE=local makes one from Debian packages instead: a minimal bookworm
# from debootstrap with make, git and ca-certificates, plus this machine's Go toolchain (the
# version go.mod needs), kept as localhost/otelcol-msgtrace-go:<go version> for the next build.
# The build reuses this machine's module and build caches and its CA bundle (SSL_CERT_FILE, else
# the system's) as build-time mounts only: none of them enters the image.
set -euo pipefail
cd "$(dirname "$0")/../.."

image=${1:-otelcol-msgtrace:0.1.0}
go_image=${GO_IMAGE:-golang:1.26-bookworm}
# Inside a container without full control of cgroups and rlimits (as in CI), crun cannot start
# RUN steps ("cgroups in hybrid mode", setrlimit denied); runc with modest limits can. Override
# with PODMAN_GLOBAL_FLAGS= and PODMAN_LIMITS= on an ordinary host.
podman=(podman ${PODMAN_GLOBAL_FLAGS---runtime runc})
limits=(${PODMAN_LIMITS---ulimit nofile=4096:4096 --ulimit nproc=4096:4096})

if [ "$go_image" = local ]; then
  go_version=$(go env GOVERSION)
  go_image=localhost/otelcol-msgtrace-go:${go_version#go}
  if ! "${podman[@]}" image exists "$go_image"; then
    echo "making $go_image with debootstrap and $(go env GOROOT)"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    debootstrap --variant=minbase --include=make,git,ca-certificates bookworm "$work/rootfs" >"$work/debootstrap.log" \
      || { tail -20 "$work/debootstrap.log"; exit 1; }
    cp -a "$(go env GOROOT)" "$work/rootfs/usr/local/go"
    tar -C "$work/rootfs" -c . | "${podman[@]}" import \
      --change 'ENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$go_image"
  fi
fi

mounts=(-v "$(go env GOMODCACHE):/root/go/pkg/mod" -v "$(go env GOCACHE):/root/.cache/go-build")
args=(--build-arg "GO_IMAGE=$go_image" --build-arg "GOPROXY=$(go env GOPROXY)")
# The build stage fetches what the module cache lacks and checks the checksum database; it trusts
# the CA bundle this machine's Go trusts (one a TLS-inspecting proxy needs included).
ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
if [ -f "$ca" ]; then
  mounts+=(-v "$ca:/run/build-ca.crt:ro")
  args+=(--build-arg SSL_CERT_FILE=/run/build-ca.crt)
fi
mkdir -p "$(go env GOMODCACHE)" "$(go env GOCACHE)"
# No layer cache: a cached build stage is a ~700 MB image per source change; make build with
# the mounted Go caches takes seconds anyway.
previous=$("${podman[@]}" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
"${podman[@]}" build --layers=false "${limits[@]}" "${mounts[@]}" "${args[@]}" -f deploy/Dockerfile -t "$image" .
# The image this build replaced is left without a name; remove it unless a container uses it.
current=$("${podman[@]}" image inspect --format '{{.Id}}' "$image")
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
  "${podman[@]}" rmi "$previous" >/dev/null 2>&1 || true
fi

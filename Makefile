# otelcol-msgtrace: everything a user or CI runs goes through these targets.
# Tools (ocb, mdatagen) are built into ./.tools from the pinned tools/ module, so a clean
# machine with only Go and the module proxy can run every target.

SHELL       := /bin/bash
GO          ?= go
TOOLS_DIR   := $(CURDIR)/.tools
MDATAGEN    := $(TOOLS_DIR)/mdatagen
OCB         := $(TOOLS_DIR)/builder
DIST_DIR    := _build
BIN         := bin/otelcol-msgtrace
DROPIN_DIR  := testdata/dropin
DROPIN_BIN  := bin/otelcol-dropin
CONFIG      ?=
# The product version, kept in one place: dist.version of builder-config.yaml (ocb builds it into
# --version and service.version; CHANGELOG.md must have its entry, see TestChangelogHasBuiltVersion).
space       := $(subst ,, )
VERSION     := $(shell sed -n '/^dist:/,/^[^ ]/s/^  version: *//p' builder-config.yaml)
FUZZTIME    ?= 15s
BENCHCOUNT  ?= 5
# The Go modules make test vets and tests (tools/ and deploy/ have their own targets): the root
# (distribution tests, e2e, bench, internal/stack and cmd), the stand-ins the components' tests
# import, the two components, and the JSON-library comparison. scripts/check-modules.sh fails when
# a go.mod is missing here, when a requirement of one of ours is not the product version replaced
# by its directory, or when a module is not tidy.
GO_MODULES  := . internal/testcerts internal/msgtracetest internal/devotest internal/boltcheck internal/storagefile \
               receiver/messagetracereceiver exporter/devoexporter \
               receiver/messagetracereceiver/internal/tracepage/jsonlibs
# Runs $(1) in every module of GO_MODULES, stopping at the first failure.
define each-module
	@set -e; for m in $(GO_MODULES); do echo "($$m) $(1)"; (cd $$m && $(1)); done
endef

.PHONY: version check-modules all build lint-tools check-fmt dropin install-bin check-rebuild-while-running demo run test unit vet lint fmt generate check-generated check-dist-versions e2e soak bench fuzz tools clean check-deploy check-systemd check-release check-soak image check-image release release-tools need-podman check-reproducible check-packages check-release-image check-cross

all: build

## tools: build ocb and mdatagen at the versions pinned in tools/go.mod
tools: $(TOOLS_DIR)/.stamp

$(TOOLS_DIR)/.stamp: tools/go.mod tools/go.sum
	@mkdir -p $(TOOLS_DIR)
	cd tools && $(GO) build -o $(TOOLS_DIR)/ go.opentelemetry.io/collector/cmd/mdatagen go.opentelemetry.io/collector/cmd/builder
	@touch $@

## build: generate the distribution with ocb and put the binary at bin/otelcol-msgtrace
build: tools
	$(OCB) --config builder-config.yaml
	@$(MAKE) --no-print-directory install-bin FROM=$(DIST_DIR)/otelcol-msgtrace TO=$(BIN)
	@$(MAKE) --no-print-directory check-dist-versions

## install-bin: put FROM at TO atomically. Copying onto TO in place fails with "Text file busy"
## while a collector runs from it; a temporary file beside TO renamed over it leaves a running
## collector on the old file and starts the next one on the new.
install-bin:
	@mkdir -p $(dir $(TO))
	@tmp=$$(mktemp $(dir $(TO)).$(notdir $(TO)).XXXXXX) && \
	if cp $(FROM) "$$tmp" && chmod 0755 "$$tmp" && mv -f "$$tmp" $(TO); then echo "installed $(TO)"; \
	else rm -f "$$tmp"; exit 1; fi

## check-rebuild-while-running: install-bin replaces bin/otelcol-msgtrace while a collector runs
## from it, and that collector keeps running (needs make build first)
check-rebuild-while-running:
	./scripts/rebuild-while-running.sh

## check-dist-versions: the generated go.mod (of DIST_DIR) must only hold the pinned collector
## modules: core v1.71.0 / v0.165.0 and contrib v0.165.1.
check-dist-versions:
	@bad=$$( { grep -E '^\s*go\.opentelemetry\.io/collector/' $(DIST_DIR)/go.mod | grep -vE ' (v1\.71\.0|v0\.165\.0)( |$$)'; \
		grep -E '^\s*github\.com/open-telemetry/opentelemetry-collector-contrib/' $(DIST_DIR)/go.mod | grep -vE ' v0\.165\.1( |$$)'; } || true); \
	if [ -n "$$bad" ]; then echo "$(DIST_DIR)/go.mod mixes in unpinned collector modules:"; echo "$$bad"; exit 1; fi; \
	echo "$(DIST_DIR)/go.mod: every collector module is at core v1.71.0 / v0.165.0, contrib v0.165.1"

## lint-tools: golangci-lint at the version pinned in tools/lint/go.mod (a module of its own, so
## its dependencies stay out of ocb's and mdatagen's), into ./.tools
GOLANGCI_LINT := $(TOOLS_DIR)/golangci-lint
lint-tools: $(TOOLS_DIR)/.lint-stamp

$(TOOLS_DIR)/.lint-stamp: tools/lint/go.mod tools/lint/go.sum
	@mkdir -p $(TOOLS_DIR)
	cd tools/lint && $(GO) build -o $(TOOLS_DIR)/ github.com/golangci/golangci-lint/v2/cmd/golangci-lint
	@touch $@

## release-tools: nfpm, cyclonedx-gomod (pinned in tools/release/go.mod) and the reproducible
## archiver of tools/release/archive, into ./.tools
RELEASE_TOOLS := $(TOOLS_DIR)/nfpm $(TOOLS_DIR)/cyclonedx-gomod $(TOOLS_DIR)/archive
release-tools: $(TOOLS_DIR)/.release-stamp

$(TOOLS_DIR)/.release-stamp: tools/release/go.mod tools/release/go.sum tools/release/archive/main.go
	@mkdir -p $(TOOLS_DIR)
	cd tools/release && $(GO) build -o $(TOOLS_DIR)/ github.com/goreleaser/nfpm/v2/cmd/nfpm github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod ./archive
	@touch $@

## release: every artifact of this commit into dist/ (scripts/release.sh: archives for 4
## platforms, .deb and .rpm, the OCI image archive with its digest, the Kubernetes manifests
## naming it, the SBOM, SHA256SUMS). The image needs podman: as root it is installed with apt;
## IMAGE=0 skips the image.
release: tools release-tools
	@if [ "$(IMAGE)" != 0 ]; then $(MAKE) --no-print-directory need-podman; fi
	VERSION=$(VERSION) IMAGE=$(if $(filter 0,$(IMAGE)),0,1) scripts/release.sh

need-podman:
	$(call need-apt,podman runc,podman runc)

## check-reproducible: the linux/amd64 binaries built here and from a copy of the checkout at
## another path with an empty build cache are byte for byte the same (part of check-release)
check-reproducible: tools
	VERSION=$(VERSION) scripts/check-reproducible.sh

## dropin: build $(DROPIN_DIR)/builder-config.yaml, a user's own distribution with our receiver
## and exporter taken by module path, into bin/otelcol-dropin (the e2e tests run it). It shares
## the Go module and build caches with `make build`, so after it only new packages and the
## link cost time.
dropin: tools
	cd $(DROPIN_DIR) && $(OCB) --config builder-config.yaml
	@$(MAKE) --no-print-directory install-bin FROM=$(DROPIN_DIR)/_build/otelcol-acme TO=$(DROPIN_BIN)
	@$(MAKE) --no-print-directory check-dist-versions DIST_DIR=$(DROPIN_DIR)/_build

## demo: the main job on an embedded default, no credentials needed
demo: build
	./scripts/demo.sh

## run: run the distribution with a user's configuration: make run CONFIG=path/to/config.yaml
run: build
	@if [ -z "$(CONFIG)" ]; then echo "usage: make run CONFIG=path/to/config.yaml"; exit 2; fi
	./$(BIN) --config "$(CONFIG)"

## test: the unit and end-to-end tests of the product, as any user (no root, no apt, no podman)
test: check-fmt vet check-generated check-modules unit build check-rebuild-while-running dropin e2e check-deploy

## check-release: what needs root, podman or systemd (CI runs it as root after make test and
## make release; a maintainer needs it when changing deploy/, the packaging or the image):
## the systemd unit through systemd-analyze, the image run against the stand-ins, the unit under
## a real systemd
## ... and what make release wrote: the packages (rpm -qp, dpkg-deb, the .deb installed, upgraded,
## removed and purged under systemd), the image archive loaded and run, SHA256SUMS, two builds
## giving the same binaries, go vet of our packages for every release target.
check-release: check-systemd check-image check-soak soak check-packages check-release-image check-reproducible check-cross

## check-packages: scripts/check-packages.sh (needs make release first; root: podman)
check-packages: build
	$(call need-apt,podman runc debootstrap rpm rpm2cpio cpio,podman runc debootstrap rpm rpm2cpio cpio)
	VERSION=$(VERSION) scripts/check-packages.sh

## check-release-image: the image archive of dist/ loaded with podman load, its digest the
## published one, and run against the stand-ins by the image tests (e2e/image_test.go)
check-release-image: build
	$(call need-apt,podman runc,podman runc)
	cd dist && sha256sum -c --quiet SHA256SUMS
	podman load -q -i dist/otelcol-msgtrace_$(VERSION)_image_linux_amd64.oci.tar
	@want=$$(cat dist/otelcol-msgtrace_$(VERSION)_image.digest); got=localhost/otelcol-msgtrace:$(VERSION)@$$(podman image inspect --format '{{.Digest}}' localhost/otelcol-msgtrace:$(VERSION)); \
	if [ "$$want" != "$$got" ]; then echo "check-release-image: loaded $$got, dist/ says $$want"; exit 1; fi; echo "loaded $$got"
	OTELCOL_MSGTRACE_IMAGE=localhost/otelcol-msgtrace:$(VERSION) OTELCOL_MSGTRACE_BIN=$(CURDIR)/$(BIN) \
		$(GO) test -tags 'e2e image' -count=1 -timeout 10m -run '^TestImage' ./e2e/

## check-cross: go vet, for every release target, of what the release ships: the two components
## (with their tests) and the tenant generator. (The e2e harness, internal/stack, is Unix-only:
## it starts the collector in its own process group.)
RELEASE_TARGETS := linux/amd64 linux/arm64 windows/amd64 darwin/arm64
CROSS_VET       := receiver/messagetracereceiver:./... exporter/devoexporter:./... .:./internal/tenantconfig/...,./internal/cmd/tenantconfig
check-cross:
	@set -e; for t in $(RELEASE_TARGETS); do for mp in $(CROSS_VET); do m=$${mp%%:*}; p=$${mp#*:}; \
		echo "GOOS=$${t%/*} GOARCH=$${t#*/} go vet ($$m) $${p//,/ }"; (cd $$m && GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet $${p//,/ }); done; done

## check-soak: the end-to-end checks that take minutes by design (e2e/soak_test.go), each of
## which must pass (part of check-release; no root needed)
SOAK_TESTS  := TestDevoOutageLongerThanFiveMinutesWithCrash TestDetailsListThroughputWhileDetailsRun
check-soak: build
	@set -o pipefail; log=$$(mktemp); \
	OTELCOL_MSGTRACE_SOAK=1 OTELCOL_MSGTRACE_BIN=$(CURDIR)/$(BIN) $(GO) test -tags e2e -count=1 -timeout 20m -v \
		-run '^($(subst $(space),|,$(strip $(SOAK_TESTS))))$$' ./e2e/ | tee $$log | grep -E '^(---|ok|FAIL|PASS)' || { rm -f $$log; exit 1; }; \
	for t in $(SOAK_TESTS); do grep -q "^--- PASS: $$t " $$log || { echo "check-soak: $$t did not pass"; rm -f $$log; exit 1; }; done; rm -f $$log

vet:
	$(call each-module,$(GO) vet ./...)

## check-modules: the modules of GO_MODULES consistent with each other and tidy (see GO_MODULES)
check-modules:
	scripts/check-modules.sh $(VERSION) $(GO_MODULES)

## lint: gofmt, go vet and golangci-lint (.golangci.yml) in every module of LINT_MODULES. The
## analysis cache (golangci-lint's, under the user's cache directory, and Go's build cache) makes
## a second run take seconds.
LINT_MODULES := $(GO_MODULES) tools/release deploy
lint: check-fmt vet lint-tools
	@set -e; fail=0; for m in $(LINT_MODULES); do echo "($$m) golangci-lint run"; \
		(cd $$m && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...) || fail=1; done; exit $$fail

fmt:
	gofmt -w $$(git ls-files '*.go')

## check-fmt: gofmt -l finds nothing (part of make test and make lint)
check-fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './_build/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

unit:
	$(call each-module,$(GO) test -race -count=1 ./...)

## e2e: black-box tests of bin/otelcol-msgtrace and bin/otelcol-dropin (needs `make build dropin` first).
## The tests that wait (backoff, outages) run side by side, E2E_PARALLEL at a time: they sleep
## more than they compute (e2e/parallel_test.go says which stay serial and why).
E2E_PARALLEL ?= 16
e2e:
	OTELCOL_MSGTRACE_BIN=$(CURDIR)/$(BIN) OTELCOL_DROPIN_BIN=$(CURDIR)/$(DROPIN_BIN) $(GO) test -tags e2e -count=1 -timeout 20m -parallel $(E2E_PARALLEL) ./e2e/...

## soak: the cases that need many repetitions, against bin/otelcol-msgtrace (needs make build and
## root for the 3 MB tmpfs; CI runs it): a persistent queue on a volume that fills up while Devo
## stalls, SOAK_FULLDISK_RUNS times (issue 20 item 6; about a minute each; make e2e runs it once)
SOAK_FULLDISK_RUNS ?= 10
soak:
	OTELCOL_MSGTRACE_BIN=$(CURDIR)/$(BIN) FULLDISK_RUNS=$(SOAK_FULLDISK_RUNS) $(GO) test -tags e2e -count=1 -timeout 40m \
		-run '^TestFullDiskPersistentQueueLosesNothing$$' ./e2e/

# need-apt: the commands $(1) from the Debian packages $(2). As root the Makefile installs them
# (CI runs as root on a machine with only Go, the module proxy and apt); otherwise it stops and
# says what to install. A check whose tool is missing never passes by skipping.
define need-apt
	@missing=""; for c in $(1); do command -v $$c >/dev/null || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "$@ needs$$missing: run apt-get install -y $(2) as root"; exit 1; fi; \
		echo "$@: installing $(2) for$$missing"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; } || exit 1; \
		for c in $(1); do command -v $$c >/dev/null || { echo "$@: $$c still missing after installing $(2)"; exit 1; }; done; \
	fi
endef

## check-deploy: deploy/ checked: the Kubernetes manifests decoded strictly into the API types and
## wired together, and the shipped configuration validated by the built binary (own module:
## k8s.io/api stays out of go.mod). No root needed; the systemd checks are check-systemd's.
check-deploy: build
	cd deploy && $(GO) vet ./... && $(GO) vet -tags systemd ./... && OTELCOL_MSGTRACE_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 ./...

## check-systemd: the systemd unit through systemd-analyze verify and security, the sysusers.d
## file through systemd-sysusers (deploy/systemd_test.go, build tag systemd; part of check-release)
check-systemd: build
	$(call need-apt,systemd-analyze systemd-sysusers,systemd)
	cd deploy && OTELCOL_MSGTRACE_BIN=$(CURDIR)/$(BIN) $(GO) test -tags systemd -count=1 -run '^TestSystemd' ./...

## image: the container image of deploy/Dockerfile, built with podman (no Docker engine needed).
## GO_IMAGE=local (the default here: no Docker Hub) makes the Go build image from Debian packages
## and this machine's Go; GO_IMAGE=golang:1.26-bookworm uses Docker Hub's.
IMAGE       ?= localhost/otelcol-msgtrace:$(VERSION)
GO_IMAGE    ?= local
image:
	$(call need-apt,podman runc debootstrap,podman runc debootstrap)
	GO_IMAGE=$(GO_IMAGE) deploy/image/build.sh $(IMAGE)

## check-image: builds the image and runs it (non-root, state volume, CA bundle) against the
## stand-ins; boots systemd in a container and runs the systemd unit with the built binary
SYSTEMD_HOST_IMAGE ?= localhost/otelcol-msgtrace-systemd-host:bookworm
check-image: image build
	deploy/image/systemd-host.sh $(SYSTEMD_HOST_IMAGE)
	OTELCOL_MSGTRACE_IMAGE=$(IMAGE) OTELCOL_MSGTRACE_SYSTEMD_IMAGE=$(SYSTEMD_HOST_IMAGE) OTELCOL_MSGTRACE_BIN=$(CURDIR)/$(BIN) \
		$(GO) test -tags 'e2e image' -count=1 -timeout 10m -run '^Test(Image|SystemdUnit)' ./e2e/

## generate: run mdatagen on every metadata.yaml
generate: tools
	@for m in $$(git ls-files '*metadata.yaml' | grep -v '/internal/metadata/' | grep -vx metadata.yaml); do \
		echo "mdatagen $$m"; (cd $$(dirname $$m) && $(MDATAGEN) metadata.yaml) || exit 1; \
	done
	@# mdatagen names a package after its directory and fails when that is no Go identifier, as
	@# the checkout's directory rarely is (otelcol-msgtrace, a number): the root package is
	@# generated through a link named like it.
	@echo "mdatagen metadata.yaml"; ln -sfn $(CURDIR) $(TOOLS_DIR)/otelcolmsgtrace && cd $(TOOLS_DIR)/otelcolmsgtrace && $(MDATAGEN) metadata.yaml

## check-generated: mdatagen output in the tree must match metadata.yaml
check-generated: generate
	@if ! git diff --quiet -- '*generated_*' '*/internal/metadata/*' README.md '*/README.md' 2>/dev/null; then \
		echo "generated files are stale; run make generate and commit:"; git diff --stat; exit 1; fi

## bench: the issue 6 benchmarks (decode, framing, TLS export, quota use, whole binary) with
## their baselines, BENCHCOUNT counts, one table of medians (see BENCHMARKS.md). The whole-binary
## figures use bin/otelcol-msgtrace (run make build first); BENCHSKIP=quota,binary skips groups.
BENCHSKIP   ?=
bench:
	$(GO) run ./bench/run -count $(BENCHCOUNT) -skip "$(BENCHSKIP)"

## fuzz: every fuzz target for FUZZTIME each (short and bounded)
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		dir=$$(dirname $$f); mod=$$dir; while [ ! -f $$mod/go.mod ]; do mod=$$(dirname $$mod); done; \
		pkg=./$$(realpath -m --relative-to=$$mod $$dir); \
		for t in $$(grep -oE '^func Fuzz[A-Za-z0-9_]+' $$f | sed 's/^func //'); do \
			echo "fuzz ($$mod) $$pkg $$t ($(FUZZTIME))"; \
			(cd $$mod && $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg); \
		done; \
	done

## version: the product version (dist.version of builder-config.yaml)
version:
	@echo $(VERSION)

clean:
	rm -rf $(DIST_DIR) $(DROPIN_DIR)/_build bin

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
CONFIG      ?=
FUZZTIME    ?= 15s
BENCHCOUNT  ?= 5
# Packages of the root module; the nested tools/ and _build/ modules are excluded by go itself.
PKGS        := ./...

.PHONY: all build demo run test unit vet lint fmt generate check-generated check-dist-versions e2e bench fuzz tools clean

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
	@mkdir -p bin
	cp $(DIST_DIR)/otelcol-msgtrace $(BIN)
	@$(MAKE) --no-print-directory check-dist-versions

## check-dist-versions: the generated go.mod must only hold the pinned collector modules
check-dist-versions:
	@bad=$$(grep -E '^\s*(go\.opentelemetry\.io/collector|github\.com/open-telemetry/opentelemetry-collector-contrib)/' $(DIST_DIR)/go.mod \
		| grep -vE ' (v1\.68\.0|v0\.162\.0)( |$$)' || true); \
	if [ -n "$$bad" ]; then echo "$(DIST_DIR)/go.mod mixes in unpinned collector modules:"; echo "$$bad"; exit 1; fi; \
	echo "$(DIST_DIR)/go.mod: every collector module is at v1.68.0 / v0.162.0"

## demo: the main job on an embedded default, no credentials needed
demo: build
	./scripts/demo.sh

## run: run the distribution with a user's configuration: make run CONFIG=path/to/config.yaml
run: build
	@if [ -z "$(CONFIG)" ]; then echo "usage: make run CONFIG=path/to/config.yaml"; exit 2; fi
	./$(BIN) --config "$(CONFIG)"

## test: everything CI checks
test: lint check-generated unit build e2e

vet:
	$(GO) vet $(PKGS)

## lint: gofmt and go vet
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './_build/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

unit:
	$(GO) test -race -count=1 $(PKGS)

## e2e: black-box tests of bin/otelcol-msgtrace (needs `make build` first)
e2e:
	OTELCOL_MSGTRACE_BIN=$(CURDIR)/$(BIN) $(GO) test -tags e2e -count=1 -timeout 20m ./e2e/...

## generate: run mdatagen on every metadata.yaml
generate: tools
	@# mdatagen names the package after the directory holding metadata.yaml, and fails when the
	@# checkout's name is not a Go identifier (otelcol-msgtrace): the root one runs through a
	@# link named after the root package.
	@for m in $$(git ls-files '*metadata.yaml' | grep -v '/internal/metadata/'); do \
		dir=$$(dirname $$m); \
		tmp=""; if [ "$$dir" = "." ]; then tmp=$$(mktemp -d); dir=$$tmp/otelcolmsgtrace; ln -s "$(CURDIR)" "$$dir"; fi; \
		echo "mdatagen $$m"; (cd "$$dir" && $(MDATAGEN) metadata.yaml); rc=$$?; \
		if [ -n "$$tmp" ]; then rm -rf "$$tmp"; fi; [ $$rc -eq 0 ] || exit 1; \
	done
	sed -i 's/^package .*/package otelcolmsgtrace/' generated_package_test.go

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
		pkg=./$$(dirname $$f); \
		for t in $$(grep -oE '^func Fuzz[A-Za-z0-9_]+' $$f | sed 's/^func //'); do \
			echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

clean:
	rm -rf $(DIST_DIR) bin

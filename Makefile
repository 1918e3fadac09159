# devtool — the two set-up commands (README): `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
STATE ?= $(CURDIR)/.testenv
REGISTRY ?= 127.0.0.1:5555
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
DEVTOOL := $(CURDIR)/bin/devtool
TESTENV := $(CURDIR)/bin/testenv

.PHONY: all build deps deps-demo testenv-up testenv-down demo test test-short vet bench clean
.PHONY: fuzz

all: build

build:
	$(GO) build -ldflags "-X github.com/devtool/devtool/pkg/cli.Version=$(VERSION)" -o $(DEVTOOL) ./cmd/devtool
	$(GO) build -o $(TESTENV) ./test/testenv/cmd/testenv

# Debian packages (buildah, podman + runc, docker.io, busybox-static; docs/engines.md) and the
# test API server binary.
deps:
	test/testenv/install-deps.sh

# The demo environment is the test node (docs/node.md): install-deps.sh builds all of it.
deps-demo:
	test/testenv/install-deps.sh --with-kcm

testenv-up: deps-demo build
	$(TESTENV) up -dir $(STATE) -registry $(REGISTRY)

testenv-down:
	@if [ -x $(TESTENV) ]; then $(TESTENV) down -dir $(STATE); fi

# Deploy testdata/samples/hello to the local node (docs/node.md), twice: the second run is
# cached; the first waits for the real rollout. Then the app answers on its pod IP.
# UNDEPLOY=1 removes it again at the end.
UNDEPLOY ?=
demo: testenv-up
	@echo "== devtool deploy --wait (first run builds and pushes the image, the node pulls and runs it)"
	$(DEVTOOL) deploy --wait=3m --devfile testdata/samples/hello --kubeconfig $(STATE)/kubeconfig --image-registry $(REGISTRY)/demo --var BASE_IMAGE=$(REGISTRY)/base/busybox:latest
	@echo "== devtool deploy again (nothing changed: cached image, objects unchanged)"
	$(DEVTOOL) deploy --devfile testdata/samples/hello --kubeconfig $(STATE)/kubeconfig --image-registry $(REGISTRY)/demo --var BASE_IMAGE=$(REGISTRY)/base/busybox:latest
	@echo "== what is deployed"
	$(TESTENV) show -dir $(STATE) -n devtool-demo
	@echo "== the app answers (HTTP GET to the Pod's IP)"
	$(TESTENV) get -dir $(STATE) -n devtool-demo -l app=hello
	@if [ -n "$(UNDEPLOY)" ]; then echo "== devtool undeploy"; $(DEVTOOL) undeploy --devfile testdata/samples/hello --kubeconfig $(STATE)/kubeconfig; fi
	@echo "== stop the local environment with: make testenv-down"

# All tests, unit and integration (real registry, buildah, kube-apiserver + etcd).
test: deps
	$(GO) vet ./...
	DEVTOOL_REQUIRE_TESTENV=1 TESTAPISERVER_BIN=$(CURDIR)/test/testenv/bin/testapiserver $(GO) test -race -timeout 30m ./...

# Unit tests only (no environment needed; integration tests skip).
test-short:
	$(GO) test ./...

vet:
	$(GO) vet ./...

# Benchmarks (docs/bench.md, issue 12): devtool side by side with its peers — kubectl and
# buildah; odo and skaffold when ODO_BIN / SKAFFOLD_BIN name their binaries, else skipped with a
# note — in one run against a local API server and registry started for it (and stopped after):
# medians of alternating runs and peer/devtool ratios as a markdown table on stdout, the raw
# numbers in bench/out/results.json, CPU profiles where devtool misses a target. BENCHFLAGS adds
# flags: -runs N (default 5), -only REGEXP (scenario ids), -keep.
BENCHFLAGS ?=
bench: deps build
	$(GO) run ./test/bench -devtool $(DEVTOOL) -out $(CURDIR)/bench/out $(BENCHFLAGS)

# Fuzz every target for FUZZTIME each, one after the other (go test -fuzz takes one package and
# one target per run). Crashers are written to the package's testdata/fuzz/FuzzXxx/, which plain
# `go test` replays: check them in with the fix. FUZZMINIMIZETIME caps the minimisation of each
# new input (Go's default, 60 s per input, would take most of a short run); FUZZFLAGS adds flags
# such as -parallel=1 on a shared machine.
FUZZTIME ?= 10m
FUZZMINIMIZETIME ?= 500x
FUZZFLAGS ?=
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzSubstitute$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $(FUZZFLAGS) ./pkg/vars
	$(GO) test -run '^$$' -fuzz '^FuzzParseFile$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $(FUZZFLAGS) ./pkg/vars
	$(GO) test -run '^$$' -fuzz '^FuzzParseFlags$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $(FUZZFLAGS) ./pkg/vars
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $(FUZZFLAGS) ./pkg/devfile
	$(GO) test -run '^$$' -fuzz '^FuzzSupports$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $(FUZZFLAGS) ./pkg/build/native
	$(GO) test -run '^$$' -fuzz '^FuzzBuild$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $(FUZZFLAGS) ./pkg/build/native
	$(GO) test -run '^$$' -fuzz '^FuzzExpand$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $(FUZZFLAGS) ./pkg/build/native
	$(GO) test -run '^$$' -fuzz '^FuzzMatchImage$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $(FUZZFLAGS) ./pkg/deploy
	$(GO) test -run '^$$' -fuzz '^FuzzPinImages$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $(FUZZFLAGS) ./pkg/deploy

clean: testenv-down
	rm -rf bin $(STATE)

# KubeDevAIOps build, generation and test entry points. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

GO       ?= go
ROOT     := $(abspath .)
BIN      := $(ROOT)/bin
TOOLBIN  := $(BIN)/tools
TESTBIN  := $(BIN)/testbin
COMMIT   := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
VERSION  ?= v0.1.0-dev
BENCHTIME ?= 3x
LDFLAGS  := -X main.commit=$(COMMIT) -X main.version=$(VERSION)
# Generated files, checked for staleness by `make test`.
GENERATED := api proto charts/kubedevaiops-agent/crds test/capi/testdata

export TESTBIN

.PHONY: fuzz help build test testbin generate check-generated lint bench bench-store bench-fleet demo tools clean test-linearizability

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build bin/kubedevaiops-hub, bin/kubedevaiops-agent, bin/kubectl-aiops and bin/fleetsim
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kubedevaiops-hub ./hub
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kubedevaiops-agent ./spoke
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kubectl-aiops ./tools/kubectl-aiops
	$(GO) build -trimpath -o $(BIN)/fleetsim ./tools/fleetsim

testbin: ## build the pinned test binaries (apiserver, controller-manager, scheduler, etcd, kwok, vault) into bin/testbin
	tools/testbin/build.sh all

tools: ## build the pinned code generators into bin/tools
	cd tools/codegen && $(GO) build -o $(TOOLBIN)/ sigs.k8s.io/controller-tools/cmd/controller-gen \
		google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
	cd tools/codegen/buf && $(GO) build -o $(TOOLBIN)/ github.com/bufbuild/buf/cmd/buf

generate: tools ## regenerate deep-copy code, CRDs and protobuf/gRPC code
	$(TOOLBIN)/controller-gen object paths=./api/...
	$(TOOLBIN)/controller-gen crd paths=./api/v1alpha1/... output:crd:artifacts:config=api/crds/bases
	rm -rf charts/kubedevaiops-agent/crds && mkdir -p charts/kubedevaiops-agent/crds
	cp api/crds/bases/*.yaml charts/kubedevaiops-agent/crds/
	cd proto && PATH=$(TOOLBIN):$$PATH $(TOOLBIN)/buf generate
	@# test/capi installs Cluster API's Cluster CRD, generated from the pinned v1beta2 Go types (go.mod).
	tmp=$$(mktemp -d) && $(TOOLBIN)/controller-gen crd paths=sigs.k8s.io/cluster-api/api/core/v1beta2 output:crd:artifacts:config=$$tmp && \
		mkdir -p test/capi/testdata && cp $$tmp/cluster.x-k8s.io_clusters.yaml test/capi/testdata/ && rm -rf $$tmp

check-generated: generate ## fail when committed generated code differs from what `make generate` makes
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
		echo "generated code is stale; run 'make generate' and commit the result:"; \
		git status --porcelain -- $(GENERATED); git diff --stat -- $(GENERATED); exit 1; fi

lint: tools ## gofmt, go vet and buf lint
	cd proto && $(TOOLBIN)/buf lint
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...

test: lint check-generated testbin ## everything CI checks: lint, generated code, test binaries, all tests
	$(GO) test -count=1 -timeout 20m ./...
	tools/testbin/leftovers.sh
	FUZZTIME=$(or $(FUZZTIME),3s) GO=$(GO) tools/fuzz/run.sh

test-linearizability: ## the long linearizability run: SCHEDULES fault schedules (default 100: leader kills and partitions) against a 3-member hub
	LINEARIZABILITY_SCHEDULES=$(or $(SCHEDULES),100) $(GO) test -count=1 -timeout 180m -run TestLinearizableUnderLeaderKillsAndPartitions -v ./test/hub/

bench-store: testbin ## committed writes/s and p50/p99 of a 3-member hub and a 3-member etcd, side by side
	$(GO) test -run '^$$' -bench BenchmarkWrites -benchtime=$(or $(STORE_WRITES),3000)x -timeout 60m ./test/hub/

bench-fleet: testbin ## registrations/s, hub RSS per spoke and ingest of simulated spokes (FLEET_SIZES, default 1000,10000)
	$(GO) test -run '^$$' -bench BenchmarkFleet -benchtime=1x -timeout 90m ./test/fleet/

fuzz: ## run every fuzz target for FUZZTIME (default 30s) each
	FUZZTIME=$(or $(FUZZTIME),30s) GO=$(GO) tools/fuzz/run.sh

bench: testbin ## run the benchmarks (only the packages that have some, so no suite starts its test bed for nothing)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime=$(BENCHTIME) \
		$$(grep -rl --include='*_test.go' '^func Benchmark' hub spoke api proto test tools | xargs -n1 dirname | sort -u | sed 's|^|./|')

demo: build ## the main job: a dev hub driven with the CLI (grows as capabilities land)
	BIN=$(BIN) tools/demo/demo.sh

clean: ## remove built binaries (keeps bin/testbin, which is slow to rebuild)
	rm -rf $(BIN)/kubedevaiops-hub $(BIN)/kubedevaiops-agent $(BIN)/kubectl-aiops $(BIN)/fleetsim $(TOOLBIN)

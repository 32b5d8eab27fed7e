# Rampart — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
VERSITYGW_VERSION := v1.8.0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TEST_TIMEOUT ?= 25m

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/rampart
	$(GO) build -o $(BIN)/rampart ./cmd/rampart

.PHONY: run
run: build ## serve on 127.0.0.1:8080 with embedded S3 and MongoDB, data under ./data
	$(BIN)/rampart serve

.PHONY: gamedata
gamedata: build ## validate gamedata/src and rewrite the committed bundle
	$(BIN)/rampart gamedata build

.PHONY: test
test: test-deps ## the whole suite: vet, race tests on real S3 (embedded and versitygw), MongoDB wire (FerretDB on SQLite and PostgreSQL) and headless Chromium
	$(GO) vet ./...
	RAMPART_VERSITYGW=$(BIN)/versitygw RAMPART_REQUIRE_VERSITYGW=1 RAMPART_REQUIRE_POSTGRES=1 RAMPART_BROWSER_TESTS=1 RAMPART_PROMTOOL_TESTS=1 \
		$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

.PHONY: test-deps
test-deps: $(BIN)/versitygw ## install what the tests need (versitygw, chromium, promtool, postgresql)
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }
	@command -v promtool >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@command -v /usr/lib/postgresql/*/bin/postgres >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }

$(BIN)/versitygw:
	GOBIN=$(BIN) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

.PHONY: fuzz
fuzz: ## run every fuzz target in turn (FUZZTIME=30s each); seed corpora live in testdata/fuzz
	@for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$t"; $(GO) test -run=^$$ -fuzz=^$$t$$ -fuzztime=$${FUZZTIME:-30s} $$pkg || exit 1; \
		done; \
	done

.PHONY: bench
bench: bench-micro bench-load ## micro-benchmarks, then the end-to-end runs (BENCHMARKS.md); BENCH_FULL=1 adds the 10k-player memory bench

BENCH_PKGS := ./actions ./profiler ./bookkeeper ./state ./loadtest
BENCHTIME ?= 200ms

.PHONY: bench-micro
bench-micro: $(BIN)/versitygw ## Go micro-benchmarks (BENCHTIME=200ms; BENCH_FULL=1 adds IdlePlayerMemory)
	RAMPART_VERSITYGW=$(BIN)/versitygw $(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) \
		-skip='^Benchmark(IdlePlayerMemory|LoginSave)$$' $(BENCH_PKGS)
	RAMPART_VERSITYGW=$(BIN)/versitygw $(GO) test -run='^$$' -bench='^BenchmarkLoginSave$$' -benchtime=500x ./state/
	@if [ -n "$(BENCH_FULL)" ]; then $(GO) test -run='^$$' -bench='^BenchmarkIdlePlayerMemory$$' -benchtime=1x ./state/; \
	else echo "(BenchmarkIdlePlayerMemory skipped: BENCH_FULL=1 runs it)"; fi

.PHONY: bench-load
bench-load: build ## end-to-end runs of the default configuration, server on core 0, loadtest on core 1 (bench/e2e.sh; BENCH_SECTIONS, BENCH_HALF=300s, BENCH_MONGO=off for an A/B ...)
	$(GO) build -o $(BIN)/benchq ./bench/benchq
	BIN=$(BIN) bash bench/e2e.sh $(BENCH_SECTIONS)

.PHONY: clean
clean: ## remove build output (keeps ./data)
	rm -rf $(BIN)

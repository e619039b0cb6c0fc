# crewtrace — one Go module per deployable; every target runs in every module.
# Modules are found from the tree (every go.mod), and `make check-work` fails
# if go.work does not list exactly those, so a new module cannot be missed.
# Modules under tools/ hold programs we only build (Jaeger ...): they stay out
# of go.work so their dependency graphs never constrain ours.

SHELL := /bin/bash
MODULES := $(sort $(patsubst ./%,%,$(patsubst %/go.mod,%,$(shell find . -name go.mod -not -path './.git/*' -not -path '*/testdata/*' -not -path './.build/*' -not -path './tools/*'))))
GO ?= go
RACE ?= -race
TESTFLAGS ?=

.PHONY: test fmt-check vet unit check-work tidy modules demo e2e e2e-build fuzz-short load work-sum tree-check rules-test bench-store screenshots bench-viewer kafka-load kafka-plain bench-hotpath time-to-first-session

## test: everything CI checks — formatting, go.work, vet, and race tests in every module
## (the e2e module runs the collector, Jaeger and the example crew as processes),
## and that none of it modified the tree.
test: fmt-check check-work vet rules-test e2e-build unit fuzz-short tree-check

# The tree as `make` found it (read before any recipe runs): tree-check fails
# when the targets above left it otherwise — a tracked file modified (an
# incomplete go.work.sum, a golden file rewritten), or a new file not ignored.
TREE_STATE = { git status --porcelain; git diff; } 2>/dev/null | git hash-object --stdin
TREE_AT_START := $(shell $(TREE_STATE))

## tree-check: fail if the tree differs from when make started.
tree-check:
	@if [ "$$($(TREE_STATE))" != "$(TREE_AT_START)" ]; then \
		echo "the tests modified the tree (git status --porcelain):"; git status --porcelain; \
		echo "go.work.sum: run scripts/work-sum.sh and commit it; anything else: a test must not write there"; exit 1; \
	fi

## work-sum: complete go.work.sum with every checksum CI and the tests look up (commit it).
work-sum:
	@scripts/work-sum.sh

modules:
	@echo $(MODULES)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

check-work:
	@scripts/check-work.sh

vet:
	@set -e; for m in $(MODULES); do echo "== vet $$m"; (cd $$m && $(GO) vet ./...); done

# The e2e module runs binaries from $(BUILD) that go test's cache cannot see,
# so its results are never reused from the cache.
NOCACHE_MODULES ?= e2e

unit:
	@set -e; for m in $(MODULES); do echo "== test $$m"; \
	  nc=; case " $(NOCACHE_MODULES) " in *" $$m "*) nc=-count=1;; esac; \
	  (cd $$m && $(GO) test $(RACE) $$nc $(TESTFLAGS) ./...); done

tidy:
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) mod tidy); done

# Prometheus configuration, recording rules and alerts (deploy/prometheus,
# docs/MONITORING.md): promtool checks them and runs their unit tests (input
# series -> expected values and alerts). Debian's `prometheus` package has promtool.
PROMTOOL ?= promtool
PROMDIR := deploy/prometheus

## rules-test: promtool check config/rules and promtool test rules.
rules-test:
	@$(PROMTOOL) check config $(PROMDIR)/prometheus.yml
	@$(PROMTOOL) check rules $(PROMDIR)/crewtrace-rules.yml
	@$(PROMTOOL) test rules $(PROMDIR)/crewtrace-rules.test.yml

# Demo and end-to-end runs. Binaries (collector, Jaeger v2, example crew,
# crewtrace) are built into $(BUILD) and reused by both: Jaeger's first build
# takes minutes (a stamp beside it says what it was built from), later runs
# skip it; the others go through go build's cache. e2e-build runs before the
# module tests so that this build is not charged to a go test -timeout.
BUILD ?= .build
DEMO_ARGS ?=

$(BUILD)/crewtrace-demo: FORCE
	@$(GO) build -trimpath -o $@ ./e2e/cmd/crewtrace-demo

.PHONY: FORCE
FORCE:

## e2e-build: build (or reuse) the collector, Jaeger and the example crew into $(BUILD),
## and install the framework tests' npm packages (e2e/frameworks/node) when its lockfile changed.
e2e-build: $(BUILD)/crewtrace-demo e2e-node
	@CREWTRACE_BUILD_DIR=$(abspath $(BUILD)) $(BUILD)/crewtrace-demo -build-only

NODE_DIR := e2e/frameworks/node
.PHONY: e2e-node
e2e-node: $(NODE_DIR)/node_modules/.package-lock.json

$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package-lock.json $(NODE_DIR)/package.json
	@cd $(NODE_DIR) && npm ci --no-audit --no-fund

## demo: build and start the collector on 127.0.0.1, run the example crew, print its sessions as they
## land and their table (crewtrace sessions), start the viewer (crewtrace ui) and print its URL; Jaeger
## starts with them when built, else builds in the background and joins when ready. Ctrl-C stops
## everything. DEMO_ARGS="-tasks 20" etc.
demo: $(BUILD)/crewtrace-demo
	@CREWTRACE_BUILD_DIR=$(abspath $(BUILD)) $(BUILD)/crewtrace-demo $(DEMO_ARGS)

## e2e: only the end-to-end tests (verbose).
e2e: e2e-build
	@cd e2e && CREWTRACE_BUILD_DIR=$(abspath $(BUILD)) $(GO) test $(RACE) -count=1 -v $(TESTFLAGS) ./...

# Time to first session: clones this checkout (what is committed) into a
# temporary directory, runs make demo there on free ports and times, from
# the start of the clone, the first session on screen and Jaeger showing the
# crew's traces. TTFS=warm uses Go's caches as they are (a second clone on
# this machine); TTFS=cold empty module and build caches (a fresh machine:
# many minutes). Not part of `test`.
TTFS ?= warm

## time-to-first-session: time from git clone to the first session in make demo (TTFS=warm|cold).
time-to-first-session:
	@scripts/time-to-first-session.sh $(TTFS)

# Fuzzing. Each target is module-dir:package:FuzzName; go test -fuzz takes one
# target per invocation. fuzz-short runs each for FUZZTIME (CI: 5 s each, under
# a minute in all); failing inputs land in the package's testdata/fuzz/ to commit
# as regression seeds. Longer: make fuzz-short FUZZTIME=10m.
FUZZTIME ?= 5s
FUZZ_TARGETS := \
	.:./otelsession:FuzzRecordEvent \
	.:./internal/sse:FuzzParser \
	exporter/sessionexporter:./internal/assembler:FuzzAssembler \
	exporter/sessionexporter:./internal/dialect:FuzzRead \
	.:./record:FuzzEncoderMatchesEncodingJSON \
	.:./record:FuzzDecode \
	.:./pricing:FuzzMatch \
	exporter/sessionexporter:./internal/sink:FuzzRetryAfter

# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" when -fuzztime ends while a worker is busy (golang/go#75804, fixed
# in Go 1.27): no input failed, none is written. A run fails here only when go
# test fails otherwise, or wrote a failing input.
## fuzz-short: run every fuzz target for $(FUZZTIME) (one target per go test -fuzz).
fuzz-short:
	@for t in $(FUZZ_TARGETS); do IFS=: read -r mod pkg name <<<"$$t"; \
		echo "== fuzz $$mod $$pkg $$name ($(FUZZTIME))"; \
		out=$$(cd $$mod && $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg 2>&1); rc=$$?; \
		grep -v '^fuzz: elapsed' <<<"$$out"; \
		if [ $$rc -ne 0 ]; then \
			if grep -q 'context deadline exceeded' <<<"$$out" && ! grep -q 'Failing input written' <<<"$$out"; then \
				echo "   (fuzz coordinator deadline race at -fuzztime, golang/go#75804: no failing input; not a failure)"; \
			else exit 1; fi; \
		fi; \
	done

# Load. cmd/crewtrace-load (e2e module) builds and starts the collector and
# Jaeger on loopback ports, drives the sessions in-process over OTLP/gRPC
# beside telemetrygen traffic (tools/telemetrygen), reports throughput, the
# collector's peak RSS and the exporter's buffer peak, and fails unless every
# session started has exactly one complete record. Not part of `test` (the e2e
# tests run it with 300 sessions). LOAD_ARGS="-sessions 3000 -rate 200" etc.
LOAD_ARGS ?= -sessions 10000 -max-sessions 20000 -noise-workers 2 -noise-traces 1500 -noise-rate 100

## load: 10,000 sessions open at once + 3,000 telemetrygen traces through the real collector (minutes).
load: e2e-build
	@cd e2e && CREWTRACE_BUILD_DIR=$(abspath $(BUILD)) $(GO) run ./cmd/crewtrace-load $(LOAD_ARGS)

# Scale-out on Kafka (docs/SCALE.md): the e2e Kafka tests start a
# Kafka-protocol broker (franz-go's kfake), 2 gateways and 3 session
# collectors on 127.0.0.1. `test` runs them with 3,000 sessions; kafka-load
# runs TestKafkaScaleOut with KAFKA_SESSIONS and logs each collector's spans,
# CPU time and peak RSS; kafka-plain runs every Kafka test on the plain setup
# (no scale_out, the kafka receiver's default marking) and logs what each
# fault costs there, without failing on it.
KAFKA_SESSIONS ?= 20000

## kafka-load: TestKafkaScaleOut with $(KAFKA_SESSIONS) sessions, with per-collector CPU and memory (minutes).
kafka-load: e2e-build
	@cd e2e && CREWTRACE_BUILD_DIR=$(abspath $(BUILD)) CREWTRACE_KAFKA_SESSIONS=$(KAFKA_SESSIONS) \
		$(GO) test -count=1 -v -timeout 30m -run '^TestKafkaScaleOut$$' .

## kafka-plain: the Kafka tests on the plain setup, figures logged, not required (minutes).
kafka-plain: e2e-build
	@cd e2e && CREWTRACE_BUILD_DIR=$(abspath $(BUILD)) CREWTRACE_KAFKA_PLAIN=1 \
		$(GO) test -count=1 -v -timeout 30m -run '^TestKafka' .

# Store benchmarks. The read benchmarks build a store of 100,000 generated
# sessions per dialect (SQLite and PostgreSQL via pgtest) once per run, out of
# the timer, and report p50/p95/p99 per page, then the write benchmarks. The
# exporter's throughput with the store sinks is in its benchmarks module
# (BenchmarkSinks). Not part of `test`.
# BENCH_STORE_SESSIONS=10000 for a quicker look.
BENCH_STORE_SESSIONS ?= 100000
BENCH_STORE_COUNT ?= 3

## bench-store: store read latencies on 100,000 sessions and write throughput, both dialects (minutes).
bench-store:
	@cd store && CREWTRACE_BENCH_SESSIONS=$(BENCH_STORE_SESSIONS) $(GO) test -run '^$$' -bench BenchmarkRead -benchtime 100x -count $(BENCH_STORE_COUNT) -timeout 60m .
	@cd store && $(GO) test -run '^$$' -bench BenchmarkWrite -benchtime 3000x -count $(BENCH_STORE_COUNT) -benchmem .

# The viewer's screenshots in docs/ (shown in the README and docs/VIEWER.md):
# the browser test runs the example crew through the collector into the
# embedded store, serves it with `crewtrace ui` and checks every page in
# chromium; with CREWTRACE_SCREENSHOT_DIR set it writes its screenshots of
# the three pages there. Not part of `test` (the test runs there, writing its
# screenshots to its own temporary directory).
## screenshots: regenerate docs/viewer-*.png from a real run (needs chromium).
screenshots:
	@cd e2e && CREWTRACE_BUILD_DIR=$(abspath $(BUILD)) CREWTRACE_SCREENSHOT_DIR=$(abspath docs) $(GO) test -count=1 -run '^TestViewerInABrowser$$' .

# Viewer benchmarks: the server time of each page and API answer on a store of
# 100,000 generated sessions, SQLite and PostgreSQL (pgtest), beside the store
# call behind it in the same run. Not part of `test`. BENCH_STORE_SESSIONS
# and BENCH_STORE_COUNT apply here too.
## bench-viewer: viewer page latencies on 100,000 sessions, both dialects (minutes).
bench-viewer:
	@cd cmd/crewtrace/internal/viewer && CREWTRACE_BENCH_SESSIONS=$(BENCH_STORE_SESSIONS) $(GO) test -run '^$$' -bench BenchmarkPages -benchtime 100x -count $(BENCH_STORE_COUNT) -timeout 60m .

# The exporter's hot path side by side with its references, as separate
# collector processes on loopback (exporter/sessionexporter/benchmarks/hotpath):
# the same OTLP/gRPC receiver into a nop exporter, into contrib groupbytrace →
# file exporter, and into the session exporter with each sink and with
# file_storage; the same load into each, interleaved over rounds; spans per
# collector CPU-second, peak RSS, bytes out and the ratios with their spread.
# Not part of `test` (its smoke test is). HOTPATH_ARGS="-rounds 3 -profile /tmp/prof" etc.
HOTPATH_ARGS ?= -sessions 20000 -spans 10 -rounds 5

## bench-hotpath: the session exporter against nop and groupbytrace collectors, 20,000 sessions × 10 spans (minutes).
bench-hotpath:
	@cd exporter/sessionexporter/benchmarks && $(GO) run ./cmd/bench-hotpath $(HOTPATH_ARGS)

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

.PHONY: test fmt-check vet unit check-work tidy modules

## test: everything CI checks — formatting, go.work, vet, and race tests in every module.
test: fmt-check check-work vet unit

modules:
	@echo $(MODULES)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

check-work:
	@scripts/check-work.sh

vet:
	@set -e; for m in $(MODULES); do echo "== vet $$m"; (cd $$m && $(GO) vet ./...); done

unit:
	@set -e; for m in $(MODULES); do echo "== test $$m"; (cd $$m && $(GO) test $(RACE) $(TESTFLAGS) ./...); done

tidy:
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) mod tidy); done

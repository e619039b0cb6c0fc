#!/usr/bin/env bash
# Completes go.work.sum: runs, in every module of the workspace, what .ci/run
# and `make test` make the go command look up (go mod download, vet, test
# builds), so that the checksums those commands need are recorded once and
# committed, and no later run modifies the file (`make test` and .ci/run fail
# when a tracked file is left modified). Run it after changing any go.mod,
# then commit go.work.sum.
set -euo pipefail
cd "$(dirname "$0")/.."
# First what .ci/run does before `make test`: go mod download in every module
# found in the tree; it prunes and completes go.work.sum on its own.
for m in $(find . -name go.mod -not -path './.git/*' -not -path '*/testdata/*' -not -path './.build/*' -exec dirname {} \;); do
  (cd "$m" && go mod download)
done
for m in $(go list -m -f '{{.Dir}}'); do
  (cd "$m" && go mod download && go mod verify >/dev/null && go vet ./... && go test -count=1 -run '^$' ./... >/dev/null)
done
git status --short go.work.sum

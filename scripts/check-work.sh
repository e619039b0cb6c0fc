#!/usr/bin/env bash
# Fails when go.work does not use exactly the modules found in the tree, so a
# module added later cannot be left out of `make test` or the workspace.
# Modules under tools/ are deliberately outside the workspace (see Makefile).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
want=$(find . -name go.mod -not -path './.git/*' -not -path '*/testdata/*' -not -path './.build/*' -not -path './tools/*' \
  | sed 's|/go.mod$||; s|^\./||; s|^\.$|.|' | sort)
have=$(go list -m -f '{{.Dir}}' | sed "s|^$root||; s|^/||; s|^\$|.|" | sort)
if [ "$want" != "$have" ]; then
  echo "go.work uses:"; echo "$have" | sed 's/^/  /'
  echo "the tree has:"; echo "$want" | sed 's/^/  /'
  echo "run: go work use -r ."
  exit 1
fi

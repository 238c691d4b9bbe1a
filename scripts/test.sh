#!/usr/bin/env bash
# Runs every socialbridge test. Works on a fresh Debian machine: it installs
# what is missing (Chromium for the browser tests, Go modules), then vets and
# tests. Set MONGODB_URI to also run the store suite, and the service tests,
# against MongoDB.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium (browser tests)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

echo "== go mod download"
go mod download

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

# One run, race detector on every package. The first run on a fresh machine
# spends most of its time compiling (modernc.org/sqlite is large); later runs
# use the build cache. Each package prints a line as it finishes.
echo "== go test -race ./... (first run compiles for several minutes)"
start=$(date +%s)
go test -count=1 -race -timeout 30m ./...
echo "== all tests passed in $(( $(date +%s) - start ))s"

#!/usr/bin/env bash
# Runs every socialbridge test. Works on a fresh Debian machine: it installs
# what is missing (Chromium for the browser tests, Go modules), then vets and
# tests. Set MONGODB_URI to also run the store suite against MongoDB.
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

# The race detector turns the embedded FerretDB into its debug build, so it
# runs on the packages that do not start a database.
echo "== go test -race (packages without the embedded database)"
go test -count=1 -race ./claims/... ./tokens/... ./providers/... ./configs/...

echo "== go test (everything)"
go test -count=1 ./...

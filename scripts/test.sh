#!/usr/bin/env bash
# Runs every socialbridge test. Works on a fresh Debian machine: it installs
# what is missing (Chromium for the browser tests, Go modules), then vets and
# tests. Set MONGODB_URI to also run the store suite, and the service tests,
# against MongoDB.
set -euo pipefail
cd "$(dirname "$0")/.."

# go.mod's toolchain line names the Go release to build and test with (one
# with the standard library's security fixes); with GOTOOLCHAIN=auto an older
# installed Go fetches it from the module proxy. Some installations default
# to GOTOOLCHAIN=local (this machine image's go.env, the official golang
# Docker images), which would test with the installed release instead.
case "${GOTOOLCHAIN:-}" in
  "" | local) export GOTOOLCHAIN=auto ;;
esac
echo "== $(go version) (GOTOOLCHAIN=$GOTOOLCHAIN)"

start=$(date +%s)
# A heartbeat, so that minutes of compiling do not look like a hang.
( while sleep 60; do echo "   ... still working ($(( $(date +%s) - start ))s)"; done ) 2>/dev/null &
heartbeat=$!
disown # no "Terminated" notice when it is stopped
# Stop the loop and its sleep, which would otherwise hold the output open.
# "|| true": under set -e a failing kill (the loop already gone) would
# otherwise become the script's exit status.
trap '{ pkill -P "$heartbeat"; kill "$heartbeat"; } 2>/dev/null || true' EXIT

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
go test -count=1 -race -timeout 30m ./...
echo "== all tests passed ($(( $(date +%s) - start ))s since the start)"

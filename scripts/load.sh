#!/usr/bin/env bash
# Load test: builds socialbridge and cmd/sbload and runs sbload against the
# server on loopback, in dev mode on its embedded SQLite store. Prints
# refresh grants and complete sign-ins at 1, 8, 32 and 64 clients next to
# the bare store calls they are built on (measured in the same run on the
# same database file), with p50/p99, failed requests (non-2xx, transport),
# server CPU per operation, server RSS before and after each measurement,
# and WAL size. Failed requests are reported, not fatal: the exit status is
# non-zero only when sbload cannot run or the server dies.
# Extra arguments go to sbload, e.g.:
#   scripts/load.sh -duration 10s
#   scripts/load.sh -duration 10s -concurrency 1,8,32
#   scripts/load.sh -concurrency 8 -seed 100000
#   scripts/load.sh -soak 10m -soak-interval 1m
set -euo pipefail
cd "$(dirname "$0")/.."
# Measure the binary as it ships: built with go.mod's toolchain release.
case "${GOTOOLCHAIN:-}" in
  "" | local) export GOTOOLCHAIN=auto ;;
esac
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/socialbridge" ./cmd/socialbridge
go build -o "$out/sbload" ./cmd/sbload
"$out/sbload" -bin "$out/socialbridge" "$@"

#!/usr/bin/env bash
# Load test: builds socialbridge and cmd/sbload and runs sbload against the
# server on loopback, in dev mode on its embedded SQLite store. Prints the
# refresh grant and complete sign-ins next to the bare store calls they are
# built on (measured in the same run on the same database file), with
# server CPU per operation, RSS and WAL size.
# Extra arguments go to sbload, e.g.:
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

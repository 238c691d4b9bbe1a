#!/usr/bin/env bash
# Load test: builds socialbridge and runs cmd/sbload against it on loopback.
# Prints the refresh-grant rate against the bare conditional
# findOneAndUpdate rate measured in the same run, and sign-ins per second.
# Extra arguments go to sbload (e.g. -duration 10s -concurrency 1,8,32).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/socialbridge" ./cmd/socialbridge
go build -o "$out/sbload" ./cmd/sbload
"$out/sbload" -bin "$out/socialbridge" "$@"

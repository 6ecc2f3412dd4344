#!/usr/bin/env bash
# Sets up a fresh machine and runs every test with the race detector.
# Long soak, fuzz and scale runs are off unless HILLS_LONG=1 (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export GOTOOLCHAIN=local
echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -timeout 30m ./...

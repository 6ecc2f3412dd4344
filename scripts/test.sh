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
# The output is kept so that a failure is summed up at the end, where a
# truncated log still shows it: the failing tests, and the tests that were
# running when a package hung.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
go test -race -timeout 15m ./... 2>&1 | tee "$log" || status=$?
if [ "$status" -ne 0 ]; then
	echo "== failures"
	grep -E -A3 '^(--- FAIL|FAIL|panic:|fatal error:|WARNING: DATA RACE)|running tests:' "$log" | grep -v '^--$' | head -80 || true
	exit "$status"
fi

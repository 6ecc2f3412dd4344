#!/usr/bin/env bash
# Sets up a fresh machine and runs the hills demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export GOTOOLCHAIN=local
go run ./examples/quickstart "$@"

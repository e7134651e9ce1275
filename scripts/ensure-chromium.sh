#!/usr/bin/env bash
# Makes sure Debian's Chromium and ChromeDriver are on this machine, for the dashboard's browser test.
# As root with apt-get, installs the packages chromium and chromium-driver when they are missing.
set -euo pipefail
if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then exit 0; fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "Chromium not found; installing Debian's chromium and chromium-driver for the dashboard test ..." >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-dejavu-core >&2
else
    echo "The dashboard test needs /usr/bin/chromium and /usr/bin/chromedriver: sudo apt-get install chromium chromium-driver" >&2
    exit 1
fi

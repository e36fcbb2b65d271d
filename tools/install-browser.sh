#!/usr/bin/env bash
# The browser tests' Chromium (tests/browser): Debian's package, driven by Playwright through
# its executable_path (`playwright install` downloads nothing here and is never called).
# Idempotent: does nothing when /usr/bin/chromium is there, refreshes the package lists only
# when apt does not know the package.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-browser: need root (or sudo) to install chromium" >&2
    exit 1
fi

candidate=$(apt-cache policy chromium 2>/dev/null | awk '/Candidate:/ {print $2}')
if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
    "${as_root[@]}" apt-get update -qq
fi

echo "install-browser: installing chromium"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends chromium

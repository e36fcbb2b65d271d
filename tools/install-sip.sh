#!/usr/bin/env bash
# The SIP test harness's tools (tests/sip): Kamailio with its http_client module, and SIPp.
# Idempotent: installs only the Debian packages that are missing, refreshes the package lists
# only when apt does not know a package, and does nothing when all are present.
set -euo pipefail

PACKAGES=(kamailio kamailio-utils-modules sip-tester)

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for package in "${PACKAGES[@]}"; do
    installed "$package" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-sip: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
fi

known() {
    local candidate
    candidate=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
    [ -n "$candidate" ] && [ "$candidate" != "(none)" ]
}

for package in "${missing[@]}"; do
    if ! known "$package"; then
        "${as_root[@]}" apt-get update -qq
        break
    fi
done

echo "install-sip: installing ${missing[*]}"
# Where an init system runs, the kamailio package also starts a system-wide daemon (port 5060,
# /etc/kamailio): the harness does not use it, it starts its own on free ports.
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"

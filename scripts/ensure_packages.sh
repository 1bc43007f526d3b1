#!/usr/bin/env bash
# Install the given Debian packages, only those not installed yet.
#
#   bash scripts/ensure_packages.sh PKG...
#
# Quiet and fast (one dpkg-query) when everything is present. As root: one `apt-get update`,
# then a no-recommends install of what is missing. Not root: prints the sudo command, exits 1.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: bash scripts/ensure_packages.sh PKG..." >&2
    exit 2
fi

wanted=("$@")
for pkg in "$@"; do
    # chromium-common only Recommends fonts-liberation; headless Chromium renders with the
    # DejaVu fonts fontconfig pulls in, but Arial/Helvetica in CSS font stacks then fall back
    # to other metrics than on a desktop install, so ask for the metric-compatible fonts.
    if [ "$pkg" = chromium ]; then
        wanted+=(fonts-liberation)
    fi
done

# One dpkg-query for all packages; unknown packages print nothing, so compare by name.
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${wanted[@]}" 2>/dev/null \
    | awk '$NF == "installed" && $(NF-1) == "ok" {print $1}' || true)
missing=()
for pkg in "${wanted[@]}"; do
    if ! grep -qxF -- "$pkg" <<<"$installed" && [[ ! " ${missing[*]-} " == *" $pkg "* ]]; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages; run: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

echo "installing Debian packages: ${missing[*]}" >&2
# On a machine with systemd, Debian's post-install scripts start prometheus, redis, nginx …
# on their default ports, which the demo stack then finds taken. A policy-rc.d answering
# 101 ("action forbidden") keeps them from starting; only ours is removed afterwards.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"

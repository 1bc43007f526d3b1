#!/usr/bin/env bash
# Install the given Debian packages, only those not installed yet.
#
#   bash scripts/ensure_packages.sh --set test|demo   # a set of stack/packages.txt
#   bash scripts/ensure_packages.sh PKG...
#
# Quiet and fast (one dpkg-query) when everything is present. As root: one `apt-get update`,
# then a no-recommends install of what is missing. Not root: prints the sudo command, exits 1.
set -euo pipefail

usage="usage: bash scripts/ensure_packages.sh --set NAME | PKG..."
if [ "$#" -eq 0 ]; then
    echo "$usage" >&2
    exit 2
fi

if [ "$1" = --set ]; then
    [ "$#" -eq 2 ] || { echo "$usage" >&2; exit 2; }
    list="$(dirname "$0")/../stack/packages.txt"
    # Columns: package, comma-separated sets, commands; '#' starts a comment line.
    mapfile -t wanted < <(awk -v set="$2" '!/^[[:space:]]*(#|$)/ {
        n = split($2, sets, ","); for (i = 1; i <= n; i++) if (sets[i] == set) print $1 }' "$list")
    if [ "${#wanted[@]}" -eq 0 ]; then
        echo "no package in the set '$2' of $list" >&2
        exit 2
    fi
else
    wanted=("$@")
fi

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

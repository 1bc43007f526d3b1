#!/usr/bin/env bash
# Create the venv; on a bare Debian, python3 has no venv module until python3-venv is installed.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
# A venv made before python3-venv was installed has no pip: make it again.
"$venv/bin/python" -m pip --version >/dev/null 2>&1 && exit 0
rm -rf "$venv"
if ! "$python" -m venv "$venv" 2>/dev/null; then
  rm -rf "$venv"
  if [ "$(id -u)" = 0 ]; then
    ver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${ver}-venv" >/dev/null \
      || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    "$python" -m venv "$venv"
  else
    echo "stackscope: python has no venv module; run: sudo apt-get install python3-venv" >&2
    exit 1
  fi
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip

#!/usr/bin/env bash
# Makes Debian's Chromium available for the real-browser BDD scenario (features/demo_page.feature),
# which drives /usr/bin/chromium (or $NUTS_CHROMIUM) with playwright-core.
#
# Silent and instant when Chromium is already there. Otherwise it installs the `chromium`
# package with apt-get, as root or through sudo; without apt it says what to install instead.
set -euo pipefail

chromium="${NUTS_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: $chromium is missing and this machine has no apt-get;" \
    "install Chromium and set NUTS_CHROMIUM to its path" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-chromium: $chromium is missing; run as root: apt-get install -y chromium" >&2
    exit 1
  fi
  sudo=(sudo)
fi

echo "install-chromium: installing Debian's chromium package (for the browser scenario)" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null

if [ ! -x "$chromium" ]; then
  echo "install-chromium: apt-get installed chromium but $chromium is still missing;" \
    "set NUTS_CHROMIUM to the browser's path" >&2
  exit 1
fi

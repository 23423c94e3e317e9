#!/usr/bin/env bash
# Makes nats-server (>= 2.10) and caddy (>= 2.7) available to NUTS.
#
# A tool already on PATH at a good enough version is used as it is. Otherwise the current
# build is taken from Debian's unstable suite: `apt-get download` against a private sources
# list (the machine's own apt configuration is not touched), then `dpkg -x` into .tools/,
# which git ignores. The binaries end up as .tools/bin/nats-server and .tools/bin/caddy.
# Running it again when everything is in place takes a few milliseconds.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
bin="$tools/bin"
mkdir -p "$bin"

# version_ok ACTUAL MINIMUM -> true when ACTUAL >= MINIMUM (dotted numbers).
version_ok() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]
}

tool_version() {
  case "$1" in
    nats-server) "$2" --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9.]*\).*/\1/p' | head -n 1 ;;
    caddy) "$2" version 2>/dev/null | sed -n 's/^v\{0,1\}\([0-9][0-9.]*\).*/\1/p' | head -n 1 ;;
  esac
}

# usable NAME MINIMUM -> prints the path of a good enough binary, or nothing.
usable() {
  local name=$1 minimum=$2 candidate version
  for candidate in "$bin/$name" "$(command -v "$name" 2>/dev/null || true)"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    version="$(tool_version "$name" "$candidate")"
    if [ -n "$version" ] && version_ok "$version" "$minimum"; then
      echo "$candidate"
      return 0
    fi
  done
}

declare -A minimum=([nats-server]=2.10.0 [caddy]=2.7.0)
missing=()
for name in nats-server caddy; do
  found="$(usable "$name" "${minimum[$name]}")"
  if [ -z "$found" ]; then
    missing+=("$name")
  elif [ "$found" != "$bin/$name" ]; then
    ln -sf "$found" "$bin/$name"
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
  echo "install-tools: ${missing[*]} not found (need nats-server >= 2.10 and caddy >= 2.7)." >&2
  echo "  This script installs them from Debian packages; on this machine install them yourself," >&2
  echo "  e.g. 'brew install nats-server caddy', or download them from their release pages," >&2
  echo "  and put them on PATH (or in $bin)." >&2
  exit 1
fi

echo "install-tools: fetching ${missing[*]} from Debian unstable into .tools/" >&2
apt_dir="$tools/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$tools/debs" "$tools/root"

# Reuse the mirror this machine's apt already uses, with the unstable suite.
mirror=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  mirror="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)"
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)"
fi
if [ -z "$mirror" ]; then
  echo "install-tools: could not find a Debian mirror in /etc/apt; install nats-server and caddy yourself." >&2
  exit 1
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb [signed-by=$keyring] $mirror sid main" >"$apt_dir/sources.list"

apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
  -o "APT::Sandbox::User=root"
  -q
)
apt-get "${apt_opts[@]}" update >/dev/null
(cd "$tools/debs" && rm -f ./*.deb && apt-get "${apt_opts[@]}" download "${missing[@]}" >/dev/null)
for deb in "$tools/debs"/*.deb; do
  dpkg -x "$deb" "$tools/root"
done

for name in "${missing[@]}"; do
  for path in "$tools/root/usr/bin/$name" "$tools/root/usr/sbin/$name"; do
    if [ -x "$path" ]; then
      ln -sf "$path" "$bin/$name"
    fi
  done
  if [ -z "$(usable "$name" "${minimum[$name]}")" ]; then
    echo "install-tools: $name from Debian unstable did not work here; install it yourself." >&2
    exit 1
  fi
  echo "install-tools: $name $(tool_version "$name" "$bin/$name") -> .tools/bin/$name" >&2
done

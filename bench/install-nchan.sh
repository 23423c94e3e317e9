#!/usr/bin/env bash
# Makes nginx with the nchan module available for the benchmark (bench/systems/nchan.ts).
# Debian's libnginx-mod-nchan is built against the `nginx` package's ABI (nginx-abi-1.22.1-7 on
# bookworm), so both come from apt. The package's own service is kept from starting: the bench
# runs nginx in the foreground with a config, pid file and logs in a temp dir of its own.
# Idempotent: does nothing when the module is already there.
set -euo pipefail

MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so

if command -v nginx >/dev/null 2>&1 && [[ -f "$MODULE" ]]; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "bench: nginx with nchan is missing and there is no apt-get; install nginx and the nchan module (https://nchan.io), or run with --skip nchan" >&2
	exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
	SUDO=sudo
else
	SUDO=
fi

# Keep the postinst scripts from starting the system nginx on port 80 (the Docker convention);
# an existing policy is left as it is.
POLICY=/usr/sbin/policy-rc.d
CREATED_POLICY=
if [[ ! -e "$POLICY" ]]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
	$SUDO chmod 755 "$POLICY"
	CREATED_POLICY=1
fi
cleanup() {
	if [[ -n "$CREATED_POLICY" ]]; then $SUDO rm -f "$POLICY"; fi
}
trap cleanup EXIT

echo "bench: installing nginx and libnginx-mod-nchan with apt-get" >&2
if ! apt-cache show libnginx-mod-nchan >/dev/null 2>&1; then
	$SUDO apt-get update -qq
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
	nginx libnginx-mod-nchan >&2
if [[ ! -f "$MODULE" ]]; then
	echo "bench: $MODULE is still missing after the install" >&2
	exit 1
fi

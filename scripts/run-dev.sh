#!/usr/bin/env bash
# `make run`: the demo on http://localhost:8080 with everything local.
#
#   1. scripts/setup-dev.sh (npm ci if needed, nats-server and caddy, build)
#   2. nats-server with JetStream on 127.0.0.1:4222 (or a free port if that one is taken),
#      data in .data/nats, log in .data/nats-server.log
#   3. the EVENTS stream (events.>) via `nuts stream add`
#   4. `nuts run --config caddy/examples/demo.Caddyfile`, in the foreground
#
# Ctrl-C (or SIGTERM) stops nuts run (which stops Caddy and the sidecar), then nats-server.
# Environment: NUTS_HTTP_PORT (default 8080), NATS_PORT (default 4222), NUTS_SKIP_SETUP=1.
set -euo pipefail
# Job control: each background job gets a process group of its own, so the terminal's Ctrl-C
# reaches only this script, and each child is asked to stop once, by cleanup below.
set -m

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ "${NUTS_SKIP_SETUP:-}" != 1 ]; then
  bash scripts/setup-dev.sh
fi
export PATH="$root/.tools/bin:$PATH"

nats_pid=""
nuts_pid=""
cleanup() {
  trap - EXIT INT TERM HUP
  for pid in $nuts_pid $nats_pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT
# Ctrl-C is the way to stop the demo, not a failure.
trap 'exit 0' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() {
  node -e '
    const server = require("node:net").createServer();
    server.once("error", () => process.exit(1));
    server.listen(Number(process.argv[1]), "127.0.0.1", () => server.close());
  ' "$1"
}
free_port() {
  node -e '
    const server = require("node:net").createServer();
    server.listen(0, "127.0.0.1", () => { console.log(server.address().port); server.close(); });
  '
}

nats_port="${NATS_PORT:-4222}"
if ! port_free "$nats_port"; then
  taken="$nats_port"
  nats_port="$(free_port)"
  echo "run-dev: 127.0.0.1:$taken is taken; nats-server uses port $nats_port" >&2
fi
mkdir -p .data/nats
nats-server --addr 127.0.0.1 --port "$nats_port" --jetstream --store_dir "$root/.data/nats" \
  >>.data/nats-server.log 2>&1 &
nats_pid=$!

deadline=$((SECONDS + 10))
until (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null; do
  if ! kill -0 "$nats_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
    echo "run-dev: nats-server did not start; see .data/nats-server.log:" >&2
    tail -n 5 .data/nats-server.log >&2
    exit 1
  fi
  sleep 0.1
done
export NATS_URL="nats://127.0.0.1:$nats_port"
echo "run-dev: nats-server on $NATS_URL (pid $nats_pid, log .data/nats-server.log)" >&2

node bin/nuts.js stream add EVENTS --subjects 'events.>'

export NUTS_DEMO_ROOT="$root/caddy/examples/demo"
echo "run-dev: demo on http://localhost:${NUTS_HTTP_PORT:-8080}/ (Ctrl-C stops everything)" >&2
node bin/nuts.js run --config caddy/examples/demo.Caddyfile &
nuts_pid=$!
status=0
wait "$nuts_pid" || status=$?
nuts_pid=""
exit "$status"

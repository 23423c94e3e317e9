#!/usr/bin/env bash
# `make test-docker`: the compose stack built and started for real (docker compose up --build
# --wait), the @docker scenarios against it (cucumber -p docker), then the stack removed with
# its volume, whatever happened (failure, Ctrl-C). Prints its wall time.
#
# It runs as its own compose project (nuts-test-<checkout>) with its own image tag (removed
# afterwards; the build cache stays) on a host
# port Docker picks, so a `make docker-up` demo beside it is neither stopped nor overwritten.
# Needs a Docker engine with the compose v2 plugin and the base images the Dockerfile names.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

# Named after this checkout, so two checkouts (two CI runs at once) never share a stack or an image.
checkout=$(pwd | sha256sum | cut -c1-8)
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-nuts-test-$checkout}
export NUTS_IMAGE=${NUTS_IMAGE:-nuts:test-$checkout}
export NUTS_HTTP_PORT=${NUTS_HTTP_PORT:-0}

# The development and CI machines of this project reach no image registry: a script beside the
# repository starts dockerd and builds local stand-ins for the base images (idempotent, seconds
# when they exist). Elsewhere the official images are pulled as usual and this is skipped.
standins=${NUTS_DOCKER_STANDINS:-../shared/docker/standins.sh}
if [ -f "$standins" ]; then
  bash "$standins" || { echo "test-docker: $standins failed" >&2; exit 1; }
fi
if ! docker compose version >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  message="needs a running Docker engine and the compose v2 plugin (docker compose version); start dockerd, or install Docker Engine with docker-compose-plugin"
  if [ "${CI:-}" = true ]; then
    echo "test-docker: $message" >&2
    exit 2
  fi
  echo "test-docker: SKIPPED, the @docker scenarios did not run: $message" >&2
  exit 0
fi

finish() {
  local status=$?
  trap - EXIT INT TERM
  docker compose down --volumes --remove-orphans --timeout 20 >/dev/null 2>&1 \
    || echo "test-docker: docker compose down failed; remove the stack with: COMPOSE_PROJECT_NAME=$COMPOSE_PROJECT_NAME docker compose down --volumes" >&2
  docker image rm "$NUTS_IMAGE" >/dev/null 2>&1 || true
  echo "test-docker: $([ "$status" = 0 ] && echo passed || echo "failed ($status)") in $(($(date +%s) - start)) s (build, up, scenarios, down)"
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! docker compose up --build --wait --quiet-pull; then
  echo "test-docker: the stack did not become healthy; its logs:" >&2
  docker compose logs --no-color --tail 50 >&2
  exit 1
fi
# The host port Docker picked: "0.0.0.0:32768" -> http://localhost:32768
address=$(docker compose port nuts 8080) || exit 1
export NUTS_DOCKER_URL=${NUTS_DOCKER_URL:-http://localhost:${address##*:}}
echo "test-docker: stack healthy after $(($(date +%s) - start)) s; scenarios against $NUTS_DOCKER_URL"

mkdir -p reports
npx cucumber-js -p docker --format json:reports/cucumber-docker.json || {
  status=$?
  docker compose logs --no-color --tail 50 >&2
  exit "$status"
}

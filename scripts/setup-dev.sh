#!/usr/bin/env bash
# Installs what `make run` needs on a fresh clone that has only Node and the package registries:
# the npm packages (when node_modules is missing), nats-server and caddy (scripts/install-tools.sh,
# into the git-ignored .tools/), and the compiled CLI in dist/. Safe to run again.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ ! -f node_modules/.package-lock.json ]; then
  echo "setup-dev: npm ci" >&2
  npm ci --no-audit --no-fund
fi
bash scripts/install-tools.sh
echo "setup-dev: npm run build" >&2
npm run --silent build

# NUTS: NATS to SSE for Caddy. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NODE_MODULES := node_modules/.package-lock.json
TOOLS := .tools/bin/nats-server .tools/bin/caddy

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: deps
deps: $(NODE_MODULES) ## Install npm packages and the nats-server and caddy binaries
	@bash scripts/install-tools.sh

.PHONY: build
build: deps ## Compile the TypeScript sources into dist/
	npm run build

.PHONY: lint
lint: deps ## Check formatting and lint rules (Biome) and types
	npx biome check .
	npx tsc -p tsconfig.json

.PHONY: test-unit
test-unit: build ## Unit and integration tests (vitest, real nats-server and caddy)
	@mkdir -p reports
	PATH="$(CURDIR)/.tools/bin:$$PATH" npx vitest run --reporter=default --reporter=json --outputFile.json=reports/vitest.json

.PHONY: test-storm
test-storm: build ## 5,000 clients through Caddy, 20 reconnect storms in a row while messages flow (the h2c hop)
	@mkdir -p reports
	ulimit -n "$$(ulimit -Hn)" && PATH="$(CURDIR)/.tools/bin:$$PATH" npx vitest run --config vitest.storm.config.ts \
	  --reporter=default --reporter=json --outputFile.json=reports/vitest-storm.json

.PHONY: test-functional
test-functional: build ## BDD scenarios over the whole stack (cucumber, real Caddy, NATS, Chromium)
	@bash scripts/install-chromium.sh
	@mkdir -p reports
	PATH="$(CURDIR)/.tools/bin:$$PATH" npx cucumber-js --format json:reports/cucumber.json

.PHONY: test
test: lint test-unit test-storm test-functional test-docker ## Everything: lint, types, unit, integration, the storm under load, BDD, the Docker stack

.PHONY: run
run: ## Demo on http://localhost:8080: local nats-server, EVENTS stream, Caddy + sidecar (Ctrl-C stops)
	@bash scripts/run-dev.sh

.PHONY: docker-up
docker-up: ## The same demo in Docker (nats, stream init, nuts) on http://localhost:8080, once it serves
	docker compose up --build --wait
	@echo "demo on http://localhost:$${NUTS_HTTP_PORT:-8080}/ ; logs: docker compose logs -f nuts ; stop: make docker-down"

.PHONY: docker-down
docker-down: ## Stop and remove the Docker demo; the stream's data stays (docker compose down --volumes drops it)
	docker compose down

.PHONY: test-docker
test-docker: $(NODE_MODULES) ## Build and start the compose stack, run the @docker scenarios against it, remove it
	@bash scripts/test-docker.sh

# The supported Node.js LTS lines (package.json engines); the npm registry's `node` package
# brings each one, so this runs on a machine whose own Node is another version.
NODE_LINES := 22 24

.PHONY: test-node-versions
test-node-versions: build ## vitest and the storm under load on each supported Node line (22, 24), fetched with npx -p node@N
	@mkdir -p reports
	@for line in $(NODE_LINES); do \
	  echo "== vitest on Node $$line"; \
	  PATH="$(CURDIR)/.tools/bin:$$PATH" npx --yes -p node@$$line -- node node_modules/vitest/vitest.mjs run \
	    --reporter=default --reporter=json --outputFile.json=reports/vitest-node$$line.json || exit 1; \
	  echo "== the storm under load on Node $$line (the sidecar runs on it)"; \
	  ulimit -n "$$(ulimit -Hn)" && PATH="$(CURDIR)/.tools/bin:$$PATH" npx --yes -p node@$$line -- node node_modules/vitest/vitest.mjs run \
	    --config vitest.storm.config.ts --reporter=default --reporter=json \
	    --outputFile.json=reports/vitest-storm-node$$line.json || exit 1; \
	done

.PHONY: bench
bench: build ## Benchmarks: NUTS (via Caddy and direct), nginx + nchan, a minimal server, scale-out; writes docs/benchmarks*
	ulimit -n "$$(ulimit -Hn)" && PATH="$(CURDIR)/.tools/bin:$$PATH" npx tsx bench/run.ts
	ulimit -n "$$(ulimit -Hn)" && PATH="$(CURDIR)/.tools/bin:$$PATH" npx tsx bench/scale-out.ts

.PHONY: bench-quick
bench-quick: build ## A small benchmark run (smoke check); results only in bench/results/
	ulimit -n "$$(ulimit -Hn)" && PATH="$(CURDIR)/.tools/bin:$$PATH" npx tsx bench/run.ts --quick
	ulimit -n "$$(ulimit -Hn)" && PATH="$(CURDIR)/.tools/bin:$$PATH" npx tsx bench/scale-out.ts --quick

.PHONY: clean
clean: ## Remove build output, downloaded tools and local NATS data
	rm -rf dist .tools .nuts .data

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-16s %s\n", $$1, $$2 }'

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

.PHONY: test-functional
test-functional: build ## BDD scenarios over the whole stack (cucumber, real Caddy, NATS, Chromium)
	@bash scripts/install-chromium.sh
	@mkdir -p reports
	PATH="$(CURDIR)/.tools/bin:$$PATH" npx cucumber-js --format json:reports/cucumber.json

.PHONY: test
test: lint test-unit test-functional ## Everything CI runs: lint, types, unit, integration, BDD

.PHONY: run
run: ## Demo on http://localhost:8080: local nats-server, EVENTS stream, Caddy + sidecar (Ctrl-C stops)
	@bash scripts/run-dev.sh

.PHONY: docker-up
docker-up: ## The same demo in Docker (nats, stream init, nuts) on http://localhost:8080
	docker compose up --build --detach
	@echo "demo on http://localhost:8080/ ; logs: docker compose logs -f nuts ; stop: make docker-down"

.PHONY: docker-down
docker-down: ## Stop and remove the Docker demo (its NATS volume too)
	docker compose down --volumes

.PHONY: bench
bench: build ## Benchmarks: NUTS (via Caddy and direct), nginx + nchan and a minimal server; writes docs/benchmarks.*
	ulimit -n "$$(ulimit -Hn)" && PATH="$(CURDIR)/.tools/bin:$$PATH" npx tsx bench/run.ts

.PHONY: bench-quick
bench-quick: build ## A small benchmark run (smoke check); results only in bench/results/
	ulimit -n "$$(ulimit -Hn)" && PATH="$(CURDIR)/.tools/bin:$$PATH" npx tsx bench/run.ts --quick

.PHONY: clean
clean: ## Remove build output, downloaded tools and local NATS data
	rm -rf dist .tools .nuts .data

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-16s %s\n", $$1, $$2 }'

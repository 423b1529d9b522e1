# The team's contextual memory: every routine task is a target. `make` (or `make help`) lists them.
# Targets of each concern live in mk/*.mk; this file holds the foundation.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Every target runs on the Node.js version in .nvmrc: scripts/ensure-node installs it into .tools/ once
# when the machine's node differs (the npm registry ships the official binaries), and it goes first on PATH.
NODE_BIN := $(shell scripts/ensure-node)
ifeq ($(NODE_BIN),)
$(error no Node.js $(shell cat .nvmrc) to run on: see the ensure-node message above)
endif
export PATH := $(NODE_BIN):$(PATH)

NPX := npx --no-install
JEST := $(NPX) jest
STAMP := node_modules/.install-stamp
WORKSPACE_MANIFESTS := package.json package-lock.json app/package.json dashboards/package.json infra/package.json
# Checks that mk/*.mk add to `make ci` (CI_CHECKS += target).
CI_CHECKS :=
# Generated, git-ignored files that mk/*.mk add (GENERATED += file): `make install` makes them, so every target has them.
GENERATED :=

-include mk/*.mk

.PHONY: help
help: ## List every target with a one-line description
	@echo "Usage: make <target> [VAR=value]"
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort -u \
	  | awk 'BEGIN {FS = ":.*## "} {printf "  %-24s %s\n", $$1, $$2}'

$(STAMP): $(WORKSPACE_MANIFESTS)
	@echo "install: npm ci (all workspaces, exact versions from package-lock.json)"
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: install
install: $(STAMP) $(GENERATED) ## Install npm dependencies from the lockfile and make the generated, git-ignored files (skipped when up to date)

.PHONY: bootstrap
bootstrap: ## Install missing system programs (Postgres, Redis, Prometheus, Pushgateway, Alertmanager, exporters, Docker, barman-cloud) via apt-get; Grafana from its APT repository when it answers
	@scripts/bootstrap
	@scripts/bootstrap-grafana

.PHONY: build
build: install ## Compile the service (app/dist)
	@echo "build: tsc app → app/dist"
	@cd app && npx --no-install tsc -p tsconfig.build.json

.PHONY: typecheck
typecheck: install ## Type-check every TypeScript file (tsc --noEmit, strict)
	@echo "typecheck: tsc --noEmit"
	@$(NPX) tsc -p tsconfig.json --noEmit

.PHONY: lint
lint: install ## Lint (eslint) and check formatting (prettier)
	@echo "lint: eslint + prettier --check"
	@$(NPX) eslint .
	@$(NPX) prettier --check . --log-level warn

.PHONY: format
format: install ## Rewrite files in the project's format (prettier)
	@$(NPX) prettier --write . --log-level warn

.PHONY: test
test: install bootstrap ## Run every test (jest) against real Postgres, Redis, Prometheus… started on free ports
	@echo "test: jest, projects unit and integration (the integration project's global setup starts ephemeral PostgreSQL and Redis)"
	@mkdir -p out
	@$(JEST) --json --outputFile=out/jest-results.json $(JEST_ARGS) || { node scripts/test-summary.js out/jest-results.json; exit 1; }
	@node scripts/test-summary.js out/jest-results.json

.PHONY: test-unit
test-unit: install ## Run only the tests that need no harness PostgreSQL/Redis (jest project `unit`; starts neither)
	@$(JEST) --selectProjects unit $(JEST_ARGS)

.PHONY: local
local: install bootstrap build ## Run the whole stack on this machine (data in .local/, Ctrl-C stops it)
	@$(NPX) tsx tools/local.ts

.PHONY: logs
logs: install ## Follow the `make local` service log (.local/app.log) as readable text (pino-pretty)
	@test -f .local/app.log || { echo "logs: no .local/app.log yet: start the stack with make local" >&2; exit 2; }
	@tail -n 50 -F .local/app.log | $(NPX) pino-pretty

.PHONY: migrate
migrate: build ## Apply migrations to DATABASE_URL (as its owner; waits up to MIGRATE_WAIT_S for it); SERVICE_DATABASE_URL: the service role to set up
	@test -n "$${DATABASE_URL:-}" || { echo "migrate: DATABASE_URL is not set (e.g. postgres://user@host:5432/events)" >&2; exit 2; }
	@node app/dist/db/migrate.js

# The `make local` stack's URLs (its ports: tools/stack/local-stack.ts, with the LOCAL_<NAME>_PORT overrides).
LOCAL_URL := $(NPX) tsx tools/stack/local-stack.ts url

.PHONY: maintenance
maintenance: build ## Run the maintenance job once (partitions, retention, rollups; pushes to PUSHGATEWAY_URL). Defaults to the `make local` stack
	@DATABASE_URL="$${DATABASE_URL:-$$($(LOCAL_URL) postgres)}" \
	 PUSHGATEWAY_URL="$${PUSHGATEWAY_URL-$$($(LOCAL_URL) pushgateway)}" \
	 node app/dist/jobs/maintenance.js

.PHONY: start
start: build ## Run the built service, configured only by environment variables (see docs/operations.md), with the image's NODE_OPTIONS unless set
	@NODE_OPTIONS="$${NODE_OPTIONS-$$($(NPX) tsx tools/stack/service-runtime.ts)}" node app/dist/server.js

.PHONY: config-docs
config-docs: install ## Rewrite the configuration table of docs/operations.md from app/src/config.ts (a test checks it is current)
	@$(NPX) tsx scripts/config-table.ts --write

.PHONY: error-docs
error-docs: install ## Rewrite the error table of docs/api.md from app/src/http/error-catalogue.ts (a test checks it is current)
	@$(NPX) tsx scripts/error-table.ts --write

.PHONY: ci
ci: lint typecheck $(CI_CHECKS) test ## What CI runs: lint, type check, every test, and each concern's checks (mk/*.mk)

.PHONY: clean
clean: ## Remove build output and test results (keeps .local/ data; `make clean-local` removes it)
	rm -rf app/dist out

.PHONY: clean-local
clean-local: ## Remove the data of `make local` (.local/)
	rm -rf .local


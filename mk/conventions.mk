# Conventions a platform team expects: GitHub workflows (.github/workflows), Renovate (renovate.json),
# both validated offline by tools/conventions/test (part of make test).
RENOVATE ?= latest

.PHONY: renovate-schema
renovate-schema: ## Refresh tools/conventions/renovate-schema.json (the schema the tests validate renovate.json against) from the npm package renovate (RENOVATE=x.y.z; default latest)
	@dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	  (cd "$$dir" && npm pack --silent "renovate@$(RENOVATE)" >/dev/null && tar xzf renovate-*.tgz package/renovate-schema.json) && \
	  cp "$$dir/package/renovate-schema.json" tools/conventions/renovate-schema.json && \
	  node -p "'renovate-schema: ' + require('./tools/conventions/renovate-schema.json')['x-renovate-version']"

.PHONY: runbook-urls
runbook-urls: install ## Rewrite the runbook_urls the promtool tests (alerts/test/promtool) expect from RUNBOOK_URL_PATTERN (the rules get theirs from make alerts)
	@$(NPX) tsx scripts/runbook-urls.ts --write

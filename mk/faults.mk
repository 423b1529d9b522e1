# Reliability: fault tests (the service as a child process under load), the bad-input corpus,
# property tests and security checks. All of them are part of `make test`; these run subsets.

.PHONY: test-faults
test-faults: install bootstrap ## Fault tests only: kill -9, PostgreSQL and Redis outages, SIGTERM under load, two instances (figures in out/faults/)
	@echo "test-faults: the service as a child process under steady load; each test stops itself (about a minute)"
	@mkdir -p out
	@$(JEST) app/test/faults --json --outputFile=out/jest-faults.json $(JEST_ARGS) || { node scripts/test-summary.js out/jest-faults.json; exit 1; }
	@node scripts/test-summary.js out/jest-faults.json

.PHONY: test-inputs
test-inputs: install bootstrap ## Bad-input corpus, property tests (fast-check) and security checks only
	@mkdir -p out
	@$(JEST) app/test/corpus app/test/security --json --outputFile=out/jest-inputs.json $(JEST_ARGS) || { node scripts/test-summary.js out/jest-inputs.json; exit 1; }
	@node scripts/test-summary.js out/jest-inputs.json

.PHONY: reliability-table
reliability-table: install ## Rewrite the figures table of docs/reliability.md from out/faults/ (after make test or make test-faults + test-inputs)
	@$(NPX) tsx scripts/reliability-table.ts --write

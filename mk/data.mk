# Data that survives: the point-in-time recovery drill with the tools CloudNativePG's Barman Cloud plugin runs.
# `make test` runs it too (tools/restore-drill/test), together with its damaged-archive cases.

.PHONY: restore-drill
restore-drill: install bootstrap ## PITR drill: WAL archive + base backup (barman-cloud-*) to a local S3, events through the service, restore to T: 0 lost, 0 extra, recovery time
	@$(NPX) tsx tools/restore-drill/cli.ts

# Expand, then contract (CONTRIBUTING.md). The previous release is the newest v* tag before HEAD; COMPAT_BASE=<rev>
# names another. Its tree and dependencies are kept in out/compat/<commit>/ (npm ci once per revision).
.PHONY: compat-test
compat-test: install bootstrap ## Previous release's app (its ingest + reads tests) on our schema, and ours on its schema; prints the revision
	@$(NPX) tsx tools/compat/cli.ts
CI_CHECKS += compat-test

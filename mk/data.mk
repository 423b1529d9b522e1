# Data that survives: the point-in-time recovery drill with the tools CloudNativePG's Barman Cloud plugin runs.
# `make test` runs it too (tools/restore-drill/test), together with its damaged-archive cases.

.PHONY: restore-drill
restore-drill: install bootstrap ## PITR drill: WAL archive + base backup (barman-cloud-*) to a local S3, events through the service, restore to T: 0 lost, 0 extra, recovery time
	@$(NPX) tsx tools/restore-drill/cli.ts

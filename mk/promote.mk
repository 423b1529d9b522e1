# Promotion: the digest that ran in one stage moves, unchanged, to the next (docs/deploy.md, "Promotion").
# The targets wrap bin/event-stack, which keeps the exit codes 2/3/4 that make would turn into 2.
# VERSION=x.y.z  TO=<stage> (default: the next one)  DEPLOY=0 (only change the stack file)  FORCE=1 (override refusals, logged)
PROMOTE := bin/event-stack
# Where the stack files and deploy/ledger.jsonl live; tests point it at a copy.
PROMOTE_ROOT ?= .
BUMP ?= patch

.PHONY: promote status release
promote: install ## Promote VERSION's digest to the next stage (TO=stage DEPLOY=0 FORCE=1): gate, pin, ledger, pulumi up
	@$(PROMOTE) promote --root '$(PROMOTE_ROOT)' --version '$(VERSION)' --to '$(TO)' --deploy '$(DEPLOY)' --force '$(FORCE)'

status: install ## Show which version and digest each stage runs (stack files, dev outputs, ledger)
	@$(PROMOTE) status --root '$(PROMOTE_ROOT)'

release: install ## Release: bump the version (BUMP=patch|minor|major), extend CHANGELOG.md from the commits since the last tag, commit, tag v<version>
	@$(PROMOTE) release --root '$(PROMOTE_ROOT)' --bump '$(BUMP)'
	@# A version bump changes no dependency: keep the install stamp from forcing a needless npm ci.
	@if [ -f $(STAMP) ]; then touch $(STAMP); fi

.PHONY: pin-images
pin-images: install ## Pin each third-party image tag of Pulumi.<ENV>.yaml (every stack without ENV) to tag@sha256:… from its registry
	@$(NPX) tsx tools/pin-images/cli.ts --root '$(PROMOTE_ROOT)' --env '$(ENV)'

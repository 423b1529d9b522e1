# Promotion: the digest that ran in one stage moves, unchanged, to the next (docs/deploy.md, "Promotion").
# The targets wrap bin/event-stack. make itself always exits 2 when a recipe fails, so each target prints the tool's
# own exit code first ("exit 3: refused"): 2 bad input, 3 refused (FORCE=1 overrides a rule or gate; not a bad
# version or a held lock), 4 deploy failed or unwatched, 5 rolled back by the watch. Scripts and CI that act on the
# code call bin/event-stack directly (same arguments).
# VERSION=x.y.z  TO=<stage> (default: the next one)  DEPLOY=0 (only change and commit the stack file)  FORCE=1 (override
# refusals, logged)  WATCH=0 (skip the watch after the deploy, logged)  POLL_SECONDS=30 (the watch's query interval)
PROMOTE := bin/event-stack
# Where the stack files and deploy/ledger.jsonl live; tests point it at a copy.
PROMOTE_ROOT ?= .
BUMP ?= patch
# The code's meaning on stderr, then make's failure.
PROMOTE_EXIT = { code=$$?; echo "event-stack: exit $$code ($$(case $$code in 2) echo bad input;; 3) echo refused;; 4) echo deploy failed;; 5) echo rolled back by the watch;; *) echo failed;; esac))" >&2; exit $$code; }

.PHONY: promote rollback unmark-bad unlock status release port-forward
promote: install ## Promote VERSION's digest to the next stage (TO= DEPLOY=0 FORCE=1 WATCH=0): gate, lock, pin, deploy, watch, commit
	@$(PROMOTE) promote --root '$(PROMOTE_ROOT)' --version '$(VERSION)' --to '$(TO)' --deploy '$(DEPLOY)' --force '$(FORCE)' --watch '$(WATCH)' --poll-seconds '$(POLL_SECONDS)' || $(PROMOTE_EXIT)

rollback: install ## Put back ENV's previous digest (or TO_VERSION's) with REASON=…, no gate; marks the replaced version bad
	@$(PROMOTE) rollback --root '$(PROMOTE_ROOT)' --stack '$(ENV)' --reason '$(REASON)' --to-version '$(TO_VERSION)' --deploy '$(DEPLOY)' --watch '$(WATCH)' --poll-seconds '$(POLL_SECONDS)' || $(PROMOTE_EXIT)

unmark-bad: install ## Let make promote take VERSION again after a rollback marked it bad (REASON=… required)
	@$(PROMOTE) unmark-bad --root '$(PROMOTE_ROOT)' --version '$(VERSION)' --reason '$(REASON)' || $(PROMOTE_EXIT)

unlock: install ## Break ENV's promotion lock left by a killed promotion (check no promotion of ENV is running first)
	@$(PROMOTE) unlock --root '$(PROMOTE_ROOT)' --stack '$(ENV)' || $(PROMOTE_EXIT)

status: install ## For each stage: the version its stack file pins, the ledger's last deploy, what runs (its Prometheus); V=1 digests
	@$(PROMOTE) status --root '$(PROMOTE_ROOT)' $(if $(filter 1,$(V)),-v) || $(PROMOTE_EXIT)

# Each stage's Prometheus on the local port its stack file's prometheusUrl names, through the stage's own kube context.
port-forward: install ## Reach ENV's Prometheus where the gate and the watch ask it (prometheusUrl of Pulumi.<ENV>.yaml); Ctrl-C ends it
	@$(NPX) tsx tools/promote/port-forward-cli.ts --root '$(PROMOTE_ROOT)' --stack '$(ENV)'

release: install ## Release: bump the version (BUMP=patch|minor|major), extend CHANGELOG.md from the commits since the last tag, commit, tag v<version>
	@$(PROMOTE) release --root '$(PROMOTE_ROOT)' --bump '$(BUMP)'
	@# A version bump changes no dependency: keep the install stamp from forcing a needless npm ci.
	@if [ -f $(STAMP) ]; then touch $(STAMP); fi

.PHONY: pin-images
pin-images: install ## Pin each third-party image tag of Pulumi.<ENV>.yaml (every stack without ENV) to tag@sha256:… from its registry
	@$(NPX) tsx tools/pin-images/cli.ts --root '$(PROMOTE_ROOT)' --env '$(ENV)'

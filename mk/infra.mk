# Pulumi: one stack per stage (Pulumi.<stage>.yaml), chosen with ENV=<stage>. State lives where PULUMI_BACKEND_URL
# says (environment or make variable); the default, a local folder under .pulumi/, is accepted for dev only (ALLOW_LOCAL_BACKEND=1
# overrides). `make up`, `make preview` and `make promote` deploy through one door (tools/promote/deploy.ts):
# backend check, never-promoted refusal, stack created when missing, policy pack always applied.
# The stages in promotion order: infra/stages.ts is the one list (read once, on first use, after `install`).
STAGES = $(eval STAGES := $$(shell $(NPX) tsx infra/scripts/stages.ts))$(STAGES)
ENV ?=
PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi
PULUMI_FLAGS := --stack $(ENV) --non-interactive
export PULUMI_BACKEND_URL

# Usage: $(call require-env,target)
define require-env
	@case " $(STAGES) " in *" $(ENV) "*) ;; *) echo "$(1): ENV must be one of: $(STAGES) (got \"$(ENV)\"), e.g. make $(1) ENV=dev" >&2; exit 2;; esac
endef

define require-pulumi
	@command -v pulumi >/dev/null || { echo "$(1): the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/); offline checks need none: make infra-test, make manifests" >&2; exit 127; }
	@test -n "$${PULUMI_CONFIG_PASSPHRASE+set}$${PULUMI_CONFIG_PASSPHRASE_FILE:+set}" || { echo "$(1): set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): it encrypts this stack's secrets" >&2; exit 2; }
	@$(PROMOTE) backend --stack '$(ENV)'
	@pulumi stack select $(ENV) $(2) >/dev/null
endef

.PHONY: stages
stages: install ## Print the stages in promotion order (infra/stages.ts), e.g. for s in $$(make -s stages); do …; done
	@echo $(STAGES)

.PHONY: preview
preview: install ## Show what `make up` would change in ENV=<stage> (same checks, policy pack applied)
	$(call require-env,preview)
	@$(PROMOTE) preview --root '$(PROMOTE_ROOT)' --stack '$(ENV)'

.PHONY: up
up: install ## Deploy ENV=<stage>: shared backend (file:// dev only), promoted image, policy pack
	$(call require-env,up)
	@$(PROMOTE) up --root '$(PROMOTE_ROOT)' --stack '$(ENV)' --watch '$(WATCH)' --poll-seconds '$(POLL_SECONDS)' || $(PROMOTE_EXIT)

.PHONY: destroy
destroy: install ## Delete every resource of ENV=<stage> (asks first unless YES=1; a stack retaining its database needs ALLOW_DATA_LOSS=1)
	$(call require-env,destroy)
	@$(NPX) tsx infra/scripts/destroy-guard.ts $(ENV)
	$(call require-pulumi,destroy)
	@if [ "$(YES)" != 1 ]; then read -r -p "destroy: delete everything of stack $(ENV)? type the stack name: " a; [ "$$a" = "$(ENV)" ] || { echo "destroy: cancelled" >&2; exit 1; }; fi
	pulumi destroy $(PULUMI_FLAGS) --yes

.PHONY: outputs
outputs: install ## Print the stack outputs of ENV (app URL, Grafana URL, image reference, version)
	$(call require-env,outputs)
	$(call require-pulumi,outputs)
	@pulumi stack output --stack $(ENV)

.PHONY: admin-token
admin-token: install ## Print the app's ADMIN_TOKEN of a deployed ENV (a secret stack output; creates sensors, docs/deploy.md)
	$(call require-env,admin-token)
	$(call require-pulumi,admin-token)
	@pulumi stack output adminToken --show-secrets --stack $(ENV)

.PHONY: manifests
manifests: install ## Write the Kubernetes objects of ENV to out/manifests/ENV/ (offline) and check their cluster semantics and policy rules
	$(call require-env,manifests)
	@$(NPX) tsx infra/scripts/manifests.ts $(ENV)

.PHONY: infra-test
infra-test: install ## Prove the Pulumi program offline: every stack's objects, policies, dashboards and rules
	@$(JEST) infra/test

.PHONY: manifests-check
manifests-check: install ## Render and check the manifests of every stack offline (fails on a program error or a cluster-semantics problem)
	@for s in $(STAGES); do $(NPX) tsx infra/scripts/manifests.ts $$s; done

CI_CHECKS += manifests-check

.PHONY: kube-env
kube-env: ## Print CTX and NS of ENV's stack for the runbook's kubectl commands: eval "$$(make -s kube-env ENV=prod)"
	$(call require-env,kube-env)
	@$(NPX) tsx infra/scripts/kube-env.ts $(ENV)

.PHONY: preflight
preflight: install ## Before a first deploy of ENV: placeholders left in its stack file; with a reachable cluster, its prerequisites (kubectl)
	$(call require-env,preflight)
	@$(NPX) tsx infra/scripts/preflight.ts $(ENV)
# CloudNativePG's Cluster and ScheduledBackup (operator 1.29.1) and the Barman Cloud plugin's ObjectStore (v0.14.0):
# the CRDs are vendored in infra/crds (their source in each file's first line). Their TypeScript models are generated,
# not committed, into infra/crds/models (git-ignored) by infra/scripts/crd-models.ts: `make install` makes them
# (GENERATED), so every target has them, and makes them again when a CRD or the lockfile (the generator) changes.
CRD_FILES := $(wildcard infra/crds/*.yaml)
CRD_MODELS_SOURCE := infra/crds/models/.source
GENERATED += $(CRD_MODELS_SOURCE)

$(CRD_MODELS_SOURCE): $(CRD_FILES) $(STAMP)
	@$(NPX) tsx infra/scripts/crd-models.ts

.PHONY: crd-models
crd-models: $(STAMP) ## Regenerate the TypeScript models of the vendored CRDs into infra/crds/models (git-ignored; make install makes them when stale)
	@$(NPX) tsx infra/scripts/crd-models.ts --force

.PHONY: restore
restore: install ## Render and check offline the point-in-time recovery of ENV's database to TARGET_TIME (RFC 3339): a new CloudNativePG Cluster from the WAL archive
	$(call require-env,restore)
	@test -n "$(TARGET_TIME)" || { echo "restore: give TARGET_TIME, e.g. make restore ENV=$(ENV) TARGET_TIME=2026-12-01T10:30:00Z" >&2; exit 2; }
	@$(NPX) tsx infra/scripts/restore.ts '$(ENV)' '$(TARGET_TIME)'

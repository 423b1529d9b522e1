# Pulumi: one stack per environment (Pulumi.<env>.yaml). State defaults to a local backend under .pulumi/.
STACKS := dev qa staging prod
ENV ?=
PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi
PULUMI_FLAGS := --stack $(ENV) --non-interactive
POLICY_PACK := infra/policies
export PULUMI_BACKEND_URL

# Usage: $(call require-env,target)
define require-env
	@case " $(STACKS) " in *" $(ENV) "*) ;; *) echo "$(1): ENV must be one of: $(STACKS) (got \"$(ENV)\"), e.g. make $(1) ENV=dev" >&2; exit 2;; esac
endef

define require-pulumi
	@command -v pulumi >/dev/null || { echo "$(1): the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/); offline checks need none: make infra-test, make manifests" >&2; exit 127; }
	@test -n "$${PULUMI_CONFIG_PASSPHRASE+set}$${PULUMI_CONFIG_PASSPHRASE_FILE:+set}" || { echo "$(1): set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): it encrypts this stack's secrets" >&2; exit 2; }
	@mkdir -p .pulumi
	@pulumi stack select $(ENV) $(2) >/dev/null
endef

.PHONY: preview
preview: install ## Show what `make up` would change in ENV=dev|qa|staging|prod (policy pack applied)
	$(call require-env,preview)
	$(call require-pulumi,preview,--create)
	@echo "preview: stack $(ENV), backend $(PULUMI_BACKEND_URL)"
	pulumi preview $(PULUMI_FLAGS) --diff --policy-pack $(POLICY_PACK)

.PHONY: up
up: install ## Deploy ENV=dev|qa|staging|prod (dev builds and pushes the image; policy pack applied)
	$(call require-env,up)
	$(call require-pulumi,up,--create)
	@echo "up: stack $(ENV), backend $(PULUMI_BACKEND_URL)"
	pulumi up $(PULUMI_FLAGS) --yes --policy-pack $(POLICY_PACK)

.PHONY: destroy
destroy: install ## Delete every resource of ENV=dev|qa|staging|prod (asks first unless YES=1)
	$(call require-env,destroy)
	$(call require-pulumi,destroy)
	@if [ "$(YES)" != 1 ]; then read -r -p "destroy: delete everything of stack $(ENV)? type the stack name: " a; [ "$$a" = "$(ENV)" ] || { echo "destroy: cancelled" >&2; exit 1; }; fi
	pulumi destroy $(PULUMI_FLAGS) --yes

.PHONY: outputs
outputs: ## Print the stack outputs of ENV (app URL, Grafana URL, image reference, version)
	$(call require-env,outputs)
	$(call require-pulumi,outputs)
	@pulumi stack output --stack $(ENV)

.PHONY: manifests
manifests: install ## Write the Kubernetes objects of ENV (offline, no CLI or cluster) to out/manifests/ENV/
	$(call require-env,manifests)
	@$(NPX) tsx infra/scripts/manifests.ts $(ENV)

.PHONY: infra-test
infra-test: install ## Prove the Pulumi program offline: every stack's objects, policies, dashboards and rules
	@$(JEST) infra/test

.PHONY: manifests-check
manifests-check: install ## Render the manifests of every stack offline (fails on any program error)
	@for s in $(STACKS); do $(NPX) tsx infra/scripts/manifests.ts $$s; done

CI_CHECKS += manifests-check

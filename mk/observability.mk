# Observability as code: dashboards (dashboards/), alert rules and routing (alerts/), the rendered
# Prometheus/Alertmanager/Grafana configuration (monitoring/src: the monitoring contract and its renderers).
PROMTOOL ?= promtool
AMTOOL ?= amtool
OBS_OUT := out/monitoring

.PHONY: dashboards
dashboards: install ## Regenerate dashboards/json/*.json from the TypeScript in dashboards/src
	@echo "dashboards: rendering dashboards/src → dashboards/json"
	@$(NPX) tsx dashboards/src/render.ts dashboards/json

.PHONY: dashboards-check
dashboards-check: install ## Fail when the committed dashboards/json differs from what dashboards/src renders
	@rm -rf $(OBS_OUT)/dashboards && mkdir -p $(OBS_OUT)/dashboards
	@$(NPX) tsx dashboards/src/render.ts $(OBS_OUT)/dashboards >/dev/null
	@diff -ru dashboards/json $(OBS_OUT)/dashboards || { echo "dashboards-check: dashboards/json is stale: run \`make dashboards\` and commit" >&2; exit 1; }
	@echo "dashboards-check: dashboards/json matches dashboards/src"

.PHONY: alerts
alerts: install ## Regenerate alerts/rules/*.yml from the TypeScript in monitoring/src/rules.ts
	@$(NPX) tsx monitoring/src/generate.ts rules alerts/rules

.PHONY: alerts-rules-check
alerts-rules-check: install ## Fail when the committed alerts/rules differ from what monitoring/src/rules.ts renders
	@rm -rf $(OBS_OUT)/rules && mkdir -p $(OBS_OUT)/rules
	@$(NPX) tsx monitoring/src/generate.ts rules $(OBS_OUT)/rules >/dev/null
	@diff -ru alerts/rules $(OBS_OUT)/rules || { echo "alerts-rules-check: alerts/rules is stale: run \`make alerts\` and commit" >&2; exit 1; }
	@echo "alerts-rules-check: alerts/rules matches monitoring/src/rules.ts"

.PHONY: monitoring-config
monitoring-config: install ## Render prometheus.yml, alertmanager.yml and Grafana provisioning (example addresses) into out/monitoring
	@$(NPX) tsx tools/observability-check.ts render $(OBS_OUT)

.PHONY: alerts-check
alerts-check: alerts-rules-check monitoring-config ## Rules up to date, promtool check/lint + unit tests of alerts/rules, amtool check-config and routing of every alert
	@echo "alerts-check: promtool check rules --lint-fatal"
	@$(PROMTOOL) check rules --lint=duplicate-rules --lint-fatal alerts/rules/*.yml
	@echo "alerts-check: promtool test rules"
	@$(PROMTOOL) test rules alerts/test/promtool/*.test.yml
	@echo "alerts-check: amtool check-config (rendered alerts/alertmanager.yml)"
	@$(AMTOOL) check-config $(OBS_OUT)/alertmanager.yml
	@echo "alerts-check: amtool config routes test (critical → pager, warning → ticket)"
	@$(NPX) tsx tools/observability-check.ts routes $(OBS_OUT)/alertmanager.yml

.PHONY: prometheus-config-check
prometheus-config-check: monitoring-config ## promtool check config on the generated Prometheus configuration
	@$(PROMTOOL) check config $(OBS_OUT)/prometheus.yml

CI_CHECKS += dashboards-check alerts-check prometheus-config-check

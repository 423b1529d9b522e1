# Benchmark (issue 5): the service against bare Express, a naive Express + pg and PostgreSQL COPY, in one run.
# BENCH_BEFORE: a git revision of the service measured beside the checkout as case (c0) (empty: skip);
# c7a00dc is main before the ingest work of issue 15.
BENCH_BEFORE ?= c7a00dc

.PHONY: bench
bench: install bootstrap build ## Full benchmark (~8 min, by hand; BENCH_BEFORE=rev adds the service of that revision as (c0)): writes bench/results/latest.{md,json}; commit them
	@$(NPX) tsx bench/run.ts $(if $(BENCH_BEFORE),--before $(BENCH_BEFORE)) $(BENCH_ARGS)

.PHONY: bench-smoke
bench-smoke: install bootstrap build ## Benchmark in a few seconds per case (CI): fails on errors or missing acknowledged events, never on speed
	@$(NPX) tsx bench/run.ts --smoke $(BENCH_ARGS)

CI_CHECKS += bench-smoke

.PHONY: bench-postgres
bench-postgres: install bootstrap build ## PostgreSQL settings side by side (~5 min, by hand): infra/postgres/postgresql.conf vs PostgreSQL's defaults (BENCH_POSTGRES_ARGS="--variant NAME:k=v" adds more) → bench/results/postgres-settings.{md,json}
	@$(NPX) tsx bench/postgres-settings.ts $(BENCH_POSTGRES_ARGS)

.PHONY: bench-postgres-smoke
bench-postgres-smoke: install bootstrap build ## bench-postgres in a few seconds per session (CI): fails on errors or missing acknowledged events, never on speed
	@$(NPX) tsx bench/postgres-settings.ts --smoke

CI_CHECKS += bench-postgres-smoke

.PHONY: bench-scale
bench-scale: install bootstrap build ## How cost grows (~10 min, by hand): ingest, reads, maintenance at 0/1M/10M rows; 100k sensors; two instances → bench/results/scale.{md,json}
	@$(NPX) tsx bench/scale.ts $(BENCH_SCALE_ARGS)

.PHONY: bench-memory
bench-memory: install bootstrap build ## The worst case in a memory cgroup at the stacks' app limit (root, cgroup v1, 5–12 min, by hand): 100k sensors, full queue, every body slot; fails on an OOM kill or a lost event → bench/results/memory.{md,json} (BENCH_MEMORY_ARGS="--limit 256Mi --out DIR": another limit)
	@$(NPX) tsx bench/memory.ts $(BENCH_MEMORY_ARGS)

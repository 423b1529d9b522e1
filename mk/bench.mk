# Benchmark (issue 5): the service against bare Express, a naive Express + pg and PostgreSQL COPY, in one run.

.PHONY: bench
bench: install bootstrap build ## Full benchmark (~6 min, by hand): writes bench/results/latest.{md,json}; commit them
	@$(NPX) tsx bench/run.ts $(BENCH_ARGS)

.PHONY: bench-smoke
bench-smoke: install bootstrap build ## Benchmark in a few seconds per case (CI): fails on errors or missing acknowledged events, never on speed
	@$(NPX) tsx bench/run.ts --smoke $(BENCH_ARGS)

CI_CHECKS += bench-smoke

# The commands people type. `make test` and `make demo` do all their own set-up on a fresh
# machine; .ci/run calls `make test` and nothing else.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
LOCAL := .local

.PHONY: test demo lint fmt build bench plan backtest clean

## test: formatting, lints and every test tier
test: lint
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## demo: the plan for the article's portfolio (the full local pipeline comes with issue 7)
demo:
	$(CARGO) run --quiet -p driftline-cli -- plan --portfolio examples/article/portfolio.toml

## plan: the plan for a portfolio file, e.g. `make plan PORTFOLIO=examples/twenty/portfolio.toml`
PORTFOLIO ?= examples/article/portfolio.toml
plan:
	$(CARGO) run --quiet -p driftline-cli -- plan --portfolio $(PORTFOLIO)

## backtest: the seeded scenario of docs/BACKTEST.md (tables, sweep, chart in out/)
backtest:
	$(CARGO) run --quiet --release -p driftline-cli -- backtest --seed 7 --assets 10 --days 365 --sweep

## bench: criterion benchmarks (not part of `make test`)
bench:
	$(CARGO) bench -p driftline-core --bench planning
	$(CARGO) bench -p driftline-cli --bench backtest

clean:
	$(CARGO) clean
	rm -rf $(LOCAL) out

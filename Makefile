# The commands people type. `make test` and `make demo` do all their own set-up on a fresh
# machine; .ci/run calls `make test` and nothing else.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
LOCAL := .local

.PHONY: test demo lint fmt build bench plan clean aws-up aws-down test-paper-fidelity

## test: formatting, lints and every test tier
test: lint test-paper-fidelity
	scripts/with-moto.sh $(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## test-paper-fidelity: widely used third-party Binance clients (PyPI, pinned) against the paper
## exchange binary on a free loopback port, with nothing changed but the base URL
test-paper-fidelity:
	venv="$$(scripts/ensure-venv.sh)"; \
	$(CARGO) build --quiet -p paper-exchange; \
	scripts/paper-fidelity.sh "$${CARGO_TARGET_DIR:-target}/debug/paper-exchange" "$$venv/bin/python"

fmt:
	$(CARGO) fmt --all

## demo: the plan for the article's portfolio (the full local pipeline comes with issue 7)
demo:
	$(CARGO) run --quiet -p driftline-cli -- plan --portfolio examples/article/portfolio.toml

## plan: the plan for a portfolio file, e.g. `make plan PORTFOLIO=examples/twenty/portfolio.toml`
PORTFOLIO ?= examples/article/portfolio.toml
plan:
	$(CARGO) run --quiet -p driftline-cli -- plan --portfolio $(PORTFOLIO)

## bench: criterion benchmarks (not part of `make test`)
bench:
	$(CARGO) bench -p driftline-core --bench planning

## aws-up / aws-down: the local AWS emulator (moto) on a free loopback port, for manual runs;
## prints the endpoint to export as AWS_ENDPOINT_URL. `make test` runs its own.
aws-up:
	scripts/moto.sh start $(LOCAL)/moto

aws-down:
	scripts/moto.sh stop $(LOCAL)/moto

clean:
	$(CARGO) clean
	rm -rf $(LOCAL) out

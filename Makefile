# The commands people type. `make test` and `make demo` do all their own set-up on a fresh
# machine; .ci/run calls `make test` and nothing else.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
LOCAL := .local

.PHONY: test demo lint fmt build bench plan clean test-paper-fidelity

## test: formatting, lints and every test tier
test: lint test-paper-fidelity
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## test-paper-fidelity: the official Binance connector (PyPI, pinned) against the paper exchange
## binary on a free loopback port, with nothing changed but the base URL
test-paper-fidelity:
	venv="$$(scripts/ensure-venv.sh)"; \
	$(CARGO) build --quiet -p paper-exchange; \
	mkdir -p $(LOCAL); out="$(LOCAL)/paper-fidelity.out"; \
	"$${CARGO_TARGET_DIR:-target}/debug/paper-exchange" --config tools/paper-exchange/fidelity/venue.toml > "$$out" 2>&1 & pid=$$!; \
	trap 'kill $$pid 2>/dev/null || true' EXIT; \
	for _ in $$(seq 100); do grep -q '^listening on ' "$$out" && break; sleep 0.1; done; \
	url="$$(sed -n 's/^listening on //p' "$$out")"; \
	test -n "$$url" || { cat "$$out"; exit 1; }; \
	"$$venv/bin/python" tools/paper-exchange/fidelity/binance_connector_check.py "$$url"

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

clean:
	$(CARGO) clean
	rm -rf $(LOCAL) out

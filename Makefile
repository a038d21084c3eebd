# The commands people type. `make test` and `make demo` do all their own set-up on a fresh
# machine; .ci/run calls `make test` and nothing else.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
LOCAL := .local

.PHONY: test demo lint fmt build bench plan backtest clean aws-up aws-down test-paper-fidelity infra-deps infra-test deploy reliability install

## test: formatting, lints and every test tier (the smoke test runs the release bootstraps).
## Property tests run on one fixed seed, plus the committed proptest-regressions files, so a
## run is reproducible; `make reliability` searches long on random seeds.
## The end-to-end scenarios over the paper venues (tests/Cargo.toml: `test = false`) run apart,
## with more threads than cores: they wait on SQS delays and long polls, not on the CPU.
PROPTEST_SEED ?= 20261202
SCENARIOS := --test pipeline
SCENARIO_THREADS ?= 6
test: lint build test-paper-fidelity infra-test
	PROPTEST_RNG_SEED=$(PROPTEST_SEED) DRIFTLINE_REQUIRE_LAMBDA_BINARIES=1 \
	  scripts/with-moto.sh $(CARGO) test --workspace --all-targets
	scripts/with-moto.sh $(CARGO) test --workspace $(SCENARIOS) -- --test-threads=$(SCENARIO_THREADS)
	$(CARGO) test --workspace --doc

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets $(SCENARIOS) -- -D warnings

## test-paper-fidelity: widely used third-party Binance clients (PyPI, pinned) against the paper
## exchange binary on a free loopback port, with nothing changed but the base URL
test-paper-fidelity:
	venv="$$(scripts/ensure-venv.sh)"; \
	$(CARGO) build --quiet -p paper-exchange; \
	scripts/paper-fidelity.sh "$${CARGO_TARGET_DIR:-target}/debug/paper-exchange" "$$venv/bin/python"

fmt:
	$(CARGO) fmt --all

## build: the functions' release bundles, target/lambda/{scheduler,executor}/bootstrap, with
## cargo-lambda (pinned in scripts/requirements.txt) for this machine's architecture
build:
	venv="$$(scripts/ensure-venv.sh)"; export PATH="$$venv/bin:$$PATH"; \
	$(CARGO) lambda build --release --bin scheduler --bin executor

## demo: the whole pipeline on this machine: the local AWS emulator (table, queues, secrets),
## the paper exchanges, the real scheduler and executor handlers, five portfolios (two over several venues) over
## DEMO_CYCLES scripted market cycles; report and chart in out/demo/. The emulator is stopped by
## PID at the end and on Ctrl-C (scripts/with-moto.sh); the demo stops its paper exchange.
## KEEP=1: everything stays up after the cycles until Ctrl-C, and the demo prints the line to
## export so the `driftline` console can be tried on its portfolios.
DEMO_CYCLES ?= 5
KEEP ?=
demo:
	$(CARGO) build --quiet -p driftline-demo
	scripts/with-moto.sh "$${CARGO_TARGET_DIR:-target}/debug/driftline-demo" --cycles $(DEMO_CYCLES) --out out/demo $(if $(filter-out 0 no false,$(KEEP)),--keep)

## install: the `driftline` command into ~/.cargo/bin, built from the committed Cargo.lock;
## shell completions with `driftline completions bash|zsh|fish` (README.md)
install:
	$(CARGO) install --locked --path tools/cli

## plan: the plan for a portfolio file, e.g. `make plan PORTFOLIO=examples/twenty/portfolio.toml`
PORTFOLIO ?= examples/article/portfolio.toml
plan:
	$(CARGO) run --quiet -p driftline-cli -- plan --portfolio $(PORTFOLIO)

## backtest: the seeded scenario of docs/BACKTEST.md (tables, sweep, chart in out/)
backtest:
	$(CARGO) run --quiet --release -p driftline-cli -- backtest --seed 7 --assets 10 --days 365 --sweep

## reliability: the reliability suite at its published sizes (duplicate storm, concurrent
## schedulers, crashes, fault storm, bad input, secret scan), the fan-out over 2,000
## portfolios (docs/BENCHMARKS.md, "Fan-out"), the long fuzz run, and every
## property test PROPERTY_SCALE times longer on random seeds, with figures
## (docs/RELIABILITY.md). `make test` runs them at reduced sizes on a fixed seed. A property
## failure is written to the test's proptest-regressions file: fix the bug, commit the file.
FUZZ_EXECUTIONS ?= 3400000
PROPERTY_SCALE ?= 25
reliability:
	DRIFTLINE_RELIABILITY=full scripts/with-moto.sh $(CARGO) test -p driftline-e2e --test reliability -- --nocapture --test-threads=1
	DRIFTLINE_FAN_OUT_PORTFOLIOS=2000 scripts/with-moto.sh $(CARGO) test -p driftline-e2e --test fan_out -- --nocapture
	FUZZ_EXECUTIONS=$(FUZZ_EXECUTIONS) $(CARGO) test --profile fuzz -p driftline-exchange --test fuzz -- --nocapture
	DRIFTLINE_PROPERTY_SCALE=$(PROPERTY_SCALE) $(CARGO) test --profile fuzz -p driftline-core -p paper-exchange

## bench: criterion benchmarks (not part of `make test`)
## (planning, backtest, per-order AWS and exchange accounting, release cold start and peak RSS,
## the monthly bill; docs/BENCHMARKS.md)
## executor overhead: batches of up to ten as the event source delivers them, then one a batch
bench:
	$(CARGO) bench -p driftline-core --bench planning
	$(CARGO) bench -p driftline-cli --bench backtest
	scripts/with-moto.sh $(CARGO) test -p driftline-e2e --test accounting -- --nocapture
	scripts/with-moto.sh $(CARGO) bench -p driftline-sandbox --bench executor_overhead
	scripts/with-moto.sh $(CARGO) bench -p driftline-sandbox --bench executor_overhead -- --batch 1
	$(CARGO) build --release -p driftline-scheduler -p driftline-executor
	venv="$$(scripts/ensure-venv.sh)"; target="$${CARGO_TARGET_DIR:-target}/release"; \
	scripts/with-moto.sh "$$venv/bin/python" scripts/cold-start.py \
	  --scheduler "$$target/scheduler" --executor "$$target/executor" --runs 10
	$(CARGO) run --quiet -p driftline-cli -- cost

## aws-up / aws-down: the local AWS emulator (moto) on a free loopback port, for manual runs;
## prints the endpoint to export as AWS_ENDPOINT_URL. `make test` runs its own.
aws-up:
	scripts/moto.sh start $(LOCAL)/moto

aws-down:
	scripts/moto.sh stop $(LOCAL)/moto

clean:
	$(CARGO) clean
	rm -rf $(LOCAL) out

## infra-test: the CDK app offline: npm ci (when the lockfile changed), typecheck, node:test,
## synth (placeholder bundles, no Rust build), cfn-lint on the synthesized template. The synth
## reads the committed settings (infra/deploy-settings.json, so a bad one fails here, before a
## deploy) with every optional part switched on, so that cfn-lint and the stack test that
## creates this template in the emulator (tools/cli/tests/stack.rs) see all of it.
INFRA := infra
INFRA_TEST_CONTEXT := -c notifications=true -c notificationsEmail=owner@example.com -c alarmEmail=ops@example.com
# Offline and quiet: no version check, no telemetry (notices are off with --no-notices).
CDK_ENV := CDK_DISABLE_VERSION_CHECK=true CDK_DISABLE_CLI_TELEMETRY=true
infra-deps:
	@want="$$(sha256sum $(INFRA)/package-lock.json | cut -d' ' -f1)"; \
	stamp=$(INFRA)/node_modules/.driftline-lock.sha256; \
	if [[ ! -f "$$stamp" || "$$(cat "$$stamp")" != "$$want" ]]; then \
	  (cd $(INFRA) && npm ci --no-audit --no-fund --loglevel=error) && echo "$$want" > "$$stamp"; \
	fi

infra-test: infra-deps
	cd $(INFRA) && ./node_modules/.bin/tsc --noEmit
	cd $(INFRA) && $(CDK_ENV) node --import tsx --test --test-reporter=spec test/*.test.ts
	cd $(INFRA) && $(CDK_ENV) ./node_modules/.bin/cdk synth --quiet --no-notices -c codeDir=test/fixtures/lambda $(INFRA_TEST_CONTEXT)
	venv="$$(scripts/ensure-venv.sh)"; "$$venv/bin/cfn-lint" $(INFRA)/cdk.out/*.template.json

## deploy: build the Lambda bundles with cargo-lambda and `cdk deploy` them (needs AWS
## credentials and a bootstrapped account; never run by tests). docs/DEPLOY.md has the details.
## The deployment's settings are the committed infra/deploy-settings.json (SETTINGS=FILE for
## another, e.g. a staging stack's); `-c` in CDK_ARGS overrides one for this run only:
## `make deploy ARCH=x86_64 CDK_ARGS="-c scheduleEnabled=false"`
ARCH ?= arm64
CDK_ARGS ?=
SETTINGS ?= $(INFRA)/deploy-settings.json
deploy: infra-deps
	venv="$$(scripts/ensure-venv.sh)"; export PATH="$$venv/bin:$$PATH"; \
	command -v cargo-lambda >/dev/null || { echo "deploy: cargo-lambda not found: pip install cargo-lambda==1.9.2 (docs/DEPLOY.md)" >&2; exit 1; }; \
	cargo lambda build --release $(if $(filter x86_64,$(ARCH)),--x86-64,--arm64) --bin scheduler --bin executor
	cd $(INFRA) && $(CDK_ENV) ./node_modules/.bin/cdk deploy --no-notices --require-approval broadening \
	  -c architecture=$(ARCH) -c codeDir=../target/lambda -c settingsFile=$(abspath $(SETTINGS)) $(CDK_ARGS)

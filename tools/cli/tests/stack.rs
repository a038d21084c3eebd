//! Stack discovery against a real stack: the CDK app's synthesized template (infra/cdk.out,
//! written by `make infra-test`, which `make test` runs before the Rust tests) created in the
//! local emulator's CloudFormation by scripts/local-stack.py, with its Lambda bundles uploaded
//! to the emulator's S3 as `cdk deploy` would. This also shows the template deploys on an
//! engine, not only that it lints; what moto cannot create and what the harness does about it
//! is in the harness's doc and docs/DEPLOY.md.
//!
//! Needs the emulator (`scripts/with-moto.sh cargo test -p driftline-cli --test stack`);
//! skipped, loudly, without one unless `DRIFTLINE_REQUIRE_AWS_EMULATOR` is set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use driftline_aws::stack::StackError;
use driftline_cli::console::{outputs, Console, ConsoleError, Target};
use driftline_core::config::PortfolioSpec;
use driftline_core::ports::PortfolioConfigs;
use serde_json::{json, Value};

/// Every output the console reads, each with its flag.
const CONSOLE_OUTPUTS: [(&str, &str); 10] = [
    outputs::TABLE,
    outputs::INTENTS_QUEUE,
    outputs::DEAD_LETTER_QUEUE,
    outputs::SHARDS_DEAD_LETTER_QUEUE,
    outputs::EXCHANGE_SECRET,
    outputs::SCHEDULER_FUNCTION,
    outputs::EXCHANGE_BASE_URL,
    outputs::NOTIFICATIONS_TOPIC,
    outputs::ALARM_TOPIC,
    outputs::METRICS_NAMESPACE,
];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether the emulator is there; without it the test is skipped, unless it must run.
fn emulator() -> bool {
    if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        return true;
    }
    assert!(
        std::env::var_os("DRIFTLINE_REQUIRE_AWS_EMULATOR").is_none(),
        "AWS_ENDPOINT_URL is not set: start the emulator (scripts/with-moto.sh)"
    );
    eprintln!("SKIPPED: no AWS emulator (run through `make test` or scripts/with-moto.sh)");
    false
}

/// The template `make infra-test` synthesized: the one stack of infra/cdk.out/manifest.json.
fn synthesized_template() -> PathBuf {
    let out = repository().join("infra/cdk.out");
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap_or_else(|e| {
        panic!(
            "no synthesized CDK app at {} ({e}): run `make infra-test` first (it synthesizes \
             infra/cdk.out; `make test` runs it before the Rust tests)",
            out.display()
        )
    });
    let manifest: Value = serde_json::from_str(&manifest).expect("cdk.out/manifest.json is JSON");
    let stacks: Vec<&str> = manifest["artifacts"]
        .as_object()
        .into_iter()
        .flat_map(|a| a.values())
        .filter(|a| a["type"] == "aws:cloudformation:stack")
        .filter_map(|a| a["properties"]["templateFile"].as_str())
        .collect();
    assert_eq!(stacks.len(), 1, "one stack in {}", out.display());
    out.join(stacks[0])
}

/// A stack created from the synthesized template, and the outputs the harness printed.
struct LocalStack {
    name: String,
    outputs: BTreeMap<String, String>,
}

impl LocalStack {
    fn create(name: &str) -> Self {
        let python = repository().join(".local/venv/bin/python");
        assert!(
            python.exists(),
            "no Python venv at {}: run scripts/ensure-venv.sh",
            python.display()
        );
        let out = Command::new(python)
            .arg(repository().join("scripts/local-stack.py"))
            .args(["create", "--name", name, "--template"])
            .arg(synthesized_template())
            .output()
            .expect("scripts/local-stack.py runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "the template did not deploy on the emulator:\n{stderr}"
        );
        let outputs = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "the harness printed no outputs ({e}): {}\n{stderr}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        Self {
            name: name.to_owned(),
            outputs,
        }
    }
}

/// One stack for every test of this file (creating it takes a few seconds); the emulator of the
/// run goes away with it.
fn local_stack() -> &'static LocalStack {
    static STACK: OnceLock<LocalStack> = OnceLock::new();
    STACK.get_or_init(|| LocalStack::create(&format!("DriftlineStackTest-{}", std::process::id())))
}

fn article(id: &str) -> PortfolioSpec {
    serde_json::from_value(json!({
        "id": id,
        "quote": "USDT",
        "targets": {"BTC": "0.40", "ETH": "0.35", "USDT": "0.25"},
        "policy": {"band": {"absolute": "0.05"}}
    }))
    .expect("a valid portfolio spec")
}

#[tokio::test]
async fn the_console_finds_every_resource_it_needs_in_the_stack_the_cdk_app_creates() {
    if !emulator() {
        return;
    }
    let stack = local_stack();
    let target = Target {
        stack: stack.name.clone(),
        ..Target::default()
    };
    let console = Console::connect(&target, &CONSOLE_OUTPUTS)
        .await
        .expect("the stack is found by its name alone");
    let found = &console.deployment;
    for (output, flag) in CONSOLE_OUTPUTS {
        let value = found
            .require((output, flag))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Some(value),
            stack.outputs.get(output).map(String::as_str),
            "{output}"
        );
    }
    // What each names is the kind of thing the console will use it as.
    let get = |o| found.require(o).expect("resolved above");
    for queue in [outputs::INTENTS_QUEUE, outputs::DEAD_LETTER_QUEUE] {
        assert!(get(queue).contains("/123456789012/"), "{}", get(queue));
    }
    assert!(get(outputs::EXCHANGE_SECRET).starts_with("arn:aws:secretsmanager:"));
    assert!(get(outputs::ALARM_TOPIC).starts_with("arn:aws:sns:"));
    assert!(get(outputs::NOTIFICATIONS_TOPIC).starts_with("arn:aws:sns:"));
    assert_ne!(get(outputs::ALARM_TOPIC), get(outputs::NOTIFICATIONS_TOPIC));
    assert_eq!(get(outputs::EXCHANGE_BASE_URL), "https://api.binance.com");
    assert_eq!(get(outputs::METRICS_NAMESPACE), "Driftline");

    // The table it found is the stack's, and it is a driftline table: a portfolio written
    // through the console's store is listed back.
    let store = console.store().expect("the table is known");
    store
        .put_portfolio(&article("found-by-stack"))
        .await
        .expect("the stack's table takes a portfolio");
    let ids = store.portfolio_ids().await.expect("portfolios listed");
    assert!(
        ids.iter().any(|id| id.as_str() == "found-by-stack"),
        "{ids:?}"
    );
}

#[tokio::test]
async fn a_flag_overrides_one_output_and_the_rest_still_come_from_the_stack() {
    if !emulator() {
        return;
    }
    let stack = local_stack();
    let target = Target {
        stack: stack.name.clone(),
        exchange_url: Some("http://127.0.0.1:9".into()),
        ..Target::default()
    };
    let sdk = driftline_aws::sdk_config().await;
    let found = target
        .resolve(&sdk, &[outputs::TABLE, outputs::EXCHANGE_BASE_URL])
        .await
        .expect("the stack is read");
    assert_eq!(
        found.require(outputs::EXCHANGE_BASE_URL).unwrap(),
        "http://127.0.0.1:9"
    );
    assert_eq!(
        Some(found.require(outputs::TABLE).unwrap()),
        stack.outputs.get(outputs::TABLE.0).map(String::as_str)
    );
}

#[tokio::test]
async fn a_stack_that_does_not_exist_is_a_clear_error() {
    if !emulator() {
        return;
    }
    let name = format!("NoSuchDriftline-{}", std::process::id());
    let target = Target {
        stack: name.clone(),
        ..Target::default()
    };
    let sdk = driftline_aws::sdk_config().await;
    let e = target
        .resolve(&sdk, &[outputs::TABLE])
        .await
        .expect_err("there is no such stack");
    assert!(
        matches!(&e, ConsoleError::Stack(StackError::NotFound { stack, .. }) if *stack == name),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with(&format!("no stack {name:?} in this account and region")),
        "{e}"
    );
}

/// The real binary, given only the stack's name and the emulator's endpoint.
#[test]
fn the_driftline_binary_finds_the_stack_by_name_alone() {
    if !emulator() {
        return;
    }
    let stack = local_stack();
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async {
            let target = Target {
                stack: stack.name.clone(),
                ..Target::default()
            };
            let console = Console::connect(&target, &[outputs::TABLE])
                .await
                .expect("the stack is found");
            let store = console.store().expect("the table is known");
            store
                .put_portfolio(&article("listed-by-binary"))
                .await
                .expect("a portfolio written");
        });
    let driftline = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_driftline"));
        // Only the stack's name: no resource named by a flag or its variable.
        for (name, _) in std::env::vars() {
            if name.starts_with("DRIFTLINE_") {
                command.env_remove(name);
            }
        }
        command.args(args).output().expect("driftline runs")
    };
    let listed = driftline(&["portfolio", "list", "--stack", &stack.name]);
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(stdout.contains("listed-by-binary"), "{stdout}");

    let missing = driftline(&["portfolio", "list", "--stack", "NoSuchDriftline"]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.starts_with("error: no stack \"NoSuchDriftline\""),
        "{stderr}"
    );
}

/// `driftline cost` bills what the CDK app deploys at its defaults: the functions' memory, the
/// schedule and the alarms of the synthesized template (no emulator needed).
#[test]
fn driftline_cost_defaults_to_what_the_stack_deploys() {
    use driftline_cli::cost::STACK_DEFAULTS;
    use rust_decimal::Decimal;
    let path = synthesized_template();
    let template: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let resources: Vec<&Value> = template["Resources"]
        .as_object()
        .expect("a template has resources")
        .values()
        .collect();
    let of_type = |t: &str| -> Vec<&Value> {
        resources
            .iter()
            .copied()
            .filter(|r| r["Type"] == t)
            .collect()
    };
    assert_eq!(
        Decimal::from(of_type("AWS::CloudWatch::Alarm").len()),
        STACK_DEFAULTS.alarms
    );
    let functions = of_type("AWS::Lambda::Function");
    assert_eq!(functions.len(), 2);
    for f in functions {
        assert_eq!(
            Decimal::from(f["Properties"]["MemorySize"].as_u64().unwrap()),
            STACK_DEFAULTS.memory_mb,
            "{f:#}"
        );
    }
    let rules = of_type("AWS::Events::Rule");
    assert_eq!(
        rules[0]["Properties"]["ScheduleExpression"],
        format!("rate({} minutes)", STACK_DEFAULTS.schedule_minutes)
    );
}

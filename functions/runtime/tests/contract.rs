//! The Lambda environment contract, both sides at once: the variables infra/lib/contract.ts
//! declares (`ENV`) and infra/lib/driftline-stack.ts sets on each function, against the ones
//! each function's configuration (src/config.rs) reads. Every variable a function requires is
//! set for it, every variable infra sets is one the function reads, and contract.ts declares
//! every variable the functions read. The TypeScript is read as text: the checks expect the
//! shapes the stack uses today and fail, naming what they missed, on any other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use driftline_functions::config::{
    Env, EnvVar, ExecutorConfig, SchedulerConfig, COMMON_ENV, EXECUTOR_ENV, SCHEDULER_ENV,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Function {
    Scheduler,
    Executor,
}

const FUNCTIONS: [Function; 2] = [Function::Scheduler, Function::Executor];

impl Function {
    /// As contract.ts's `FUNCTION_NAMES` and the stack's `rustFunction` name it.
    fn name(self) -> &'static str {
        match self {
            Self::Scheduler => "scheduler",
            Self::Executor => "executor",
        }
    }

    /// What the function's configuration reads.
    fn reads(self) -> Vec<EnvVar> {
        let own = match self {
            Self::Scheduler => SCHEDULER_ENV,
            Self::Executor => EXECUTOR_ENV,
        };
        [COMMON_ENV, own].concat()
    }

    /// The function's configuration from `env`: its debug form, or the variable it refused.
    fn configure(self, env: &Env) -> Result<String, &'static str> {
        match self {
            Self::Scheduler => SchedulerConfig::from_env(env).map(|c| format!("{c:?}")),
            Self::Executor => ExecutorConfig::from_env(env).map(|c| format!("{c:?}")),
        }
        .map_err(|e| e.name)
    }
}

/// What infra sets on one function.
#[derive(Debug, Default)]
struct InfraEnv {
    /// Set on every deployment.
    always: BTreeSet<String>,
    /// Set only with some settings (`shared[ENV.x] = ...` under a condition).
    sometimes: BTreeSet<String>,
}

impl InfraEnv {
    fn all(&self) -> BTreeSet<String> {
        self.always.union(&self.sometimes).cloned().collect()
    }
}

fn infra_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../infra/lib")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text between the braces of the first `{` after `marker`, braces balanced.
fn braces_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in the infra source"));
    let open = start
        + text[start..]
            .find('{')
            .unwrap_or_else(|| panic!("no block after {marker:?}"));
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("the block after {marker:?} does not close")
}

/// The identifier at the start of `text`.
fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// contract.ts's `ENV`: each key and the variable it names.
fn declared(contract: &str) -> BTreeMap<String, String> {
    constants(contract, "export const ENV =")
}

/// The `key: 'value',` lines of the object contract.ts declares after `marker`.
fn constants(contract: &str, marker: &str) -> BTreeMap<String, String> {
    braces_after(contract, marker)
        .lines()
        .map(str::trim)
        .filter(|l| !(l.is_empty() || l.starts_with("/**") || l.starts_with("//")))
        .map(|l| {
            let (key, value) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("not a `key: 'value',` line after {marker}: {l:?}"));
            let value = value.trim().trim_end_matches(',').trim_matches('\'');
            (key.trim().to_owned(), value.to_owned())
        })
        .collect()
}

/// The `ENV` keys a block of the stack sets (`[ENV.key]: ...`), its spreads (`...name`) and
/// any variable named literally (`'NAME': ...` or `NAME: ...`).
fn entries(block: &str) -> (Vec<&str>, Vec<&str>, Vec<&str>) {
    let keys = block
        .match_indices("[ENV.")
        .map(|(i, m)| ident(&block[i + m.len()..]))
        .collect();
    let spreads = block
        .match_indices("...")
        .map(|(i, m)| ident(&block[i + m.len()..]))
        .collect();
    let literal = block
        .lines()
        .map(str::trim)
        .filter_map(|l| {
            let name = ident(l.trim_start_matches(['\'', '"']));
            let rest =
                l.trim_start_matches(['\'', '"'])[name.len()..].trim_start_matches(['\'', '"']);
            (!name.is_empty() && name == name.to_ascii_uppercase() && rest.starts_with(':'))
                .then_some(name)
        })
        .collect();
    (keys, spreads, literal)
}

/// What the stack sets on each function, by variable name.
fn infra_env() -> BTreeMap<Function, InfraEnv> {
    let names = declared(&infra_file("contract.ts"));
    let name = |key: &str| {
        names
            .get(key)
            .unwrap_or_else(|| {
                panic!("the stack sets ENV.{key}, which contract.ts does not declare")
            })
            .clone()
    };
    let stack = infra_file("driftline-stack.ts");
    let (shared, spreads, literal) = entries(braces_after(
        &stack,
        "const shared: Record<string, string> =",
    ));
    assert!(
        spreads.is_empty() && literal.is_empty(),
        "shared: {spreads:?} {literal:?}"
    );
    let shared: BTreeSet<String> = shared.into_iter().map(name).collect();
    let sometimes: BTreeSet<String> = stack
        .match_indices("shared[ENV.")
        .map(|(i, m)| name(ident(&stack[i + m.len()..])))
        .collect();
    FUNCTIONS
        .into_iter()
        .map(|f| {
            let call = format!("this.rustFunction('{}'", f.name());
            let after = &stack[stack.find(&call).unwrap_or_else(|| panic!("no {call}"))..];
            let (keys, spreads, literal) = entries(braces_after(after, "environment:"));
            let mut env = InfraEnv::default();
            env.always.extend(keys.into_iter().map(name));
            env.always.extend(literal.into_iter().map(str::to_owned));
            for spread in spreads {
                assert_eq!(
                    spread,
                    "shared",
                    "{}: an environment spread of {spread}",
                    f.name()
                );
                env.always.extend(shared.iter().cloned());
                env.sometimes.extend(sometimes.iter().cloned());
            }
            (f, env)
        })
        .collect()
}

#[test]
fn the_stack_sets_each_function_what_it_requires_and_only_what_it_reads() {
    let infra = infra_env();
    for f in FUNCTIONS {
        let set = &infra[&f];
        let reads = f.reads();
        let unset: Vec<&str> = reads
            .iter()
            .filter(|v| v.required && !set.always.contains(v.name))
            .map(|v| v.name)
            .collect();
        assert!(
            unset.is_empty(),
            "{}: required, not always set by infra: {unset:?}",
            f.name()
        );
        let unread: Vec<String> = set
            .all()
            .into_iter()
            .filter(|n| !reads.iter().any(|v| v.name == n))
            .collect();
        assert!(
            unread.is_empty(),
            "{}: set by infra, read by nobody: {unread:?}",
            f.name()
        );
    }
}

#[test]
fn contract_ts_declares_what_the_functions_read_and_nothing_else() {
    let declared: BTreeSet<String> = declared(&infra_file("contract.ts")).into_values().collect();
    let read: BTreeSet<String> = FUNCTIONS
        .into_iter()
        .flat_map(Function::reads)
        .map(|v| v.name.to_owned())
        .collect();
    let unread: Vec<&String> = declared.difference(&read).collect();
    assert!(
        unread.is_empty(),
        "declared in contract.ts, read by no function: {unread:?}"
    );
    let undeclared: Vec<&str> = read.difference(&declared).map(String::as_str).collect();
    assert!(
        undeclared.is_empty(),
        "read by a function but not declared in contract.ts: {undeclared:?}"
    );
}

#[test]
fn the_functions_are_the_ones_contract_ts_names() {
    let contract = infra_file("contract.ts");
    let line = contract
        .lines()
        .find(|l| l.contains("export const FUNCTION_NAMES"))
        .expect("FUNCTION_NAMES in contract.ts");
    let names: Vec<&str> = FUNCTIONS.iter().map(|f| f.name()).collect();
    assert_eq!(
        line,
        format!(
            "export const FUNCTION_NAMES = ['{}'] as const;",
            names.join("', '")
        )
    );
}

/// A value every required variable accepts today: a name, an id and an http(s) URL alike.
const ACCEPTED: &str = "https://contract.invalid/probe";
/// A value no validated variable accepts and a free-text one keeps (so it shows in the config).
const PROBE: &str = "contract-probe";

#[test]
fn the_published_lists_are_what_from_env_reads() {
    let candidates: BTreeSet<&str> = FUNCTIONS
        .into_iter()
        .flat_map(Function::reads)
        .map(|v| v.name)
        .collect();
    for f in FUNCTIONS {
        // Required: each refusal of an environment holding only the required ones so far names
        // one more.
        let mut env = Env::new();
        let mut found = BTreeSet::new();
        while let Err(name) = f.configure(&env) {
            assert!(
                found.insert(name),
                "{}: refuses {ACCEPTED:?} for {name}",
                f.name()
            );
            env.insert(name.to_owned(), ACCEPTED.to_owned());
        }
        let listed: BTreeSet<&str> = f
            .reads()
            .iter()
            .filter(|v| v.required)
            .map(|v| v.name)
            .collect();
        assert_eq!(found, listed, "{}: the required variables", f.name());
        // Read: a probe value is either refused by name or kept in the configuration.
        for name in &candidates {
            let mut probed = env.clone();
            probed.insert((*name).to_owned(), PROBE.to_owned());
            let read = match f.configure(&probed) {
                Err(refused) => refused == *name,
                Ok(config) => config.contains(PROBE),
            };
            let listed = f.reads().iter().any(|v| v.name == *name);
            assert_eq!(read, listed, "{}: reads {name}", f.name());
        }
    }
}

#[test]
fn the_dead_letter_reason_attribute_is_the_one_contract_ts_names() {
    let line = format!(
        "export const DEAD_LETTER_REASON_ATTRIBUTE = '{}';",
        driftline_aws::DEAD_LETTER_REASON_ATTRIBUTE
    );
    assert!(
        infra_file("contract.ts").lines().any(|l| l == line),
        "contract.ts must say: {line}"
    );
}

#[test]
fn the_metrics_the_alarms_and_dashboard_use_are_the_ones_the_functions_emit() {
    let named: BTreeSet<String> = constants(&infra_file("contract.ts"), "export const METRIC =")
        .into_values()
        .collect();
    let emitted: BTreeSet<String> = driftline_aws::metrics::METRICS
        .iter()
        .map(|m| (*m).to_owned())
        .collect();
    assert_eq!(named, emitted);
}

//! Runs the functions' release `bootstrap` binaries (from `cargo lambda build --release`) on
//! this machine the way Lambda runs them: [`LocalFunction`] starts a binary against a loopback
//! Lambda Runtime API ([`runtime_api`]) and invokes it; [`SqsEventSource`] stands in for the
//! SQS event source mapping; [`InvokeApi`] serves Lambda's `Invoke` API in front of the
//! functions, for an SDK client (`driftline run-now`). The smoke test and the local demo use
//! them.

pub mod event_source;
pub mod function;
pub mod invoke_api;
pub mod runtime_api;

use std::path::{Path, PathBuf};

pub use event_source::{BatchOutcome, DrainReport, EventSourceError, SqsEventSource};
pub use function::{InvokeError, LocalFunction};
pub use invoke_api::{InvokeApi, Invoker};

/// Where `cargo lambda build` puts the functions: `$DRIFTLINE_LAMBDA_DIR`, else
/// `$CARGO_TARGET_DIR/lambda`, else `target/lambda` under `workspace_root`.
pub fn lambda_dir(workspace_root: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("DRIFTLINE_LAMBDA_DIR") {
        return PathBuf::from(dir);
    }
    // A relative CARGO_TARGET_DIR is relative to the workspace, where cargo runs.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root.join("target"), |d| workspace_root.join(d));
    target.join("lambda")
}

/// The `bootstrap` of function `name` (`scheduler`, `executor`) under [`lambda_dir`].
pub fn bootstrap_path(workspace_root: &Path, name: &str) -> PathBuf {
    lambda_dir(workspace_root).join(name).join("bootstrap")
}

/// An environment for a function: `base` with `changes` applied (a value sets the variable,
/// `None` removes it). Tests start a function with one variable of a valid environment spoilt.
pub fn environment(
    base: &[(&str, &str)],
    changes: &[(&str, Option<&str>)],
) -> std::collections::BTreeMap<String, String> {
    let mut env: std::collections::BTreeMap<String, String> = base
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    for (name, value) in changes {
        match value {
            Some(v) => env.insert((*name).to_owned(), (*v).to_owned()),
            None => env.remove(*name),
        };
    }
    env
}

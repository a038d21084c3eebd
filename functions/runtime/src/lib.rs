//! What the scheduler and executor Lambdas share: configuration from the environment, the
//! wiring of adapters to core's services, the cold start and its init error report, and the
//! event handlers. The binaries' `main`s only
//! call into this crate, and tests call the same handlers in-process.

pub mod config;
pub mod init;
pub mod rekey;
pub mod scheduled;
pub mod sqs;
pub mod wiring;

/// JSON logs on stdout (CloudWatch Logs), level from `RUST_LOG` or Lambda's log controls.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(true)
        .without_time()
        .try_init();
}

//! The scheduler Lambda: configuration and clients built once per container, then each
//! EventBridge tick runs a cycle.

use driftline_functions::{config, init_logging, scheduled, wiring};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = config::SchedulerConfig::from_env(&config::process_env())?;
    let adapters = wiring::adapters(&config.common, Default::default()).await?;
    let scheduler = wiring::scheduler(&adapters, &config);
    let period = config.schedule_period_seconds;
    run(service_fn(|event| {
        let scheduler = &scheduler;
        async move {
            scheduled::handle(scheduler, period, event)
                .await
                .map_err(Error::from)
        }
    }))
    .await
}

//! The scheduler Lambda: configuration and clients built once per container (a failure is
//! reported to Lambda as an init error), then each EventBridge tick runs a cycle, and each
//! batch from the shard queue runs its shard.

use driftline_functions::{config, init, init_logging, scheduled, wiring};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let (config, adapters) = init::or_exit(init::scheduler(&config::process_env()).await).await;
    let scheduler = wiring::scheduler(&adapters, config.settings());
    let period = config.schedule_period_seconds;
    run(service_fn(|event| {
        let scheduler = &scheduler;
        async move {
            scheduled::handle_event(scheduler, period, event)
                .await
                .map_err(Error::from)
        }
    }))
    .await
}

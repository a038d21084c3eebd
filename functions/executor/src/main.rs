//! The executor Lambda: configuration and clients built once per container (a failure is
//! reported to Lambda as an init error), then each SQS batch is handled message by message,
//! answering with the batch item failures.

use driftline_functions::{config, init, init_logging, sqs, wiring};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let (config, adapters) = init::or_exit(init::executor(&config::process_env()).await).await;
    let executor = wiring::executor(&adapters, config.settings());
    let (queue, dead_letters) = (
        adapters.ports.queue.as_ref(),
        adapters.dead_letters.as_ref(),
    );
    run(service_fn(|event| {
        let executor = &executor;
        async move { Ok::<_, Error>(sqs::handle(executor, queue, dead_letters, event).await) }
    }))
    .await
}

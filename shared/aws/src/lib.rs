//! driftline's AWS adapters: the ports of `driftline_core::ports` on DynamoDB (one table,
//! single-table design) and SQS, exchange credentials from Secrets Manager, metrics in
//! CloudWatch embedded metric format, and notices to the owner on an SNS topic. See
//! docs/DATA.md for keys and access patterns.

mod config;
mod controls;
mod item;
pub mod metrics;
mod notify;
mod portfolios;
mod queue;
mod secrets;
#[cfg(feature = "console")]
pub mod stack;
mod store;
mod table;

pub use config::{sdk_config, AwsClients};
pub use notify::SnsNotifier;
pub use portfolios::ConfigWrite;
pub use queue::{
    create_queue_with_dlq, LocalQueues, SqsDeadLetters, SqsIntentQueue, SqsShardQueue,
    DEAD_LETTER_REASON_ATTRIBUTE,
};
pub use secrets::{AccountSecrets, SecretError};
pub use store::DynamoStore;
pub use table::{create_table, TTL_ATTRIBUTE};

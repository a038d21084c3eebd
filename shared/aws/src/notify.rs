//! Notices to the owner through an SNS topic: one Publish per notice, the notice's subject as
//! the message subject (what an email subscription shows) and its body as the message, with the
//! kind in the `driftline-notice` message attribute (and the portfolio in `driftline-portfolio`
//! for a cycle's notice), so a subscription's filter policy can route kinds apart, e.g. only
//! halts and breaker changes to a chat channel.
//!
//! As a [`Notifier`] it never fails its caller: a Publish that fails is logged (the topic and
//! the notice's kind, never its text) and the notice is dropped. The console, which reports
//! whether the owner was told, calls [`SnsNotifier::publish`] instead.

use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;
use driftline_core::notify::Notice;
use driftline_core::ports::{Notifier, StoreError};
use tracing::{info, warn};

/// Publishes notices to one SNS topic.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    /// A notifier with its own SNS client from the shared SDK configuration.
    pub fn from_sdk(sdk: &aws_config::SdkConfig, topic_arn: impl Into<String>) -> Self {
        Self::new(aws_sdk_sns::Client::new(sdk), topic_arn)
    }

    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }

    /// Publishes `notice`; SNS's message id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when SNS refuses or cannot be reached (no such topic, no
    /// permission to publish, a throttle).
    pub async fn publish(&self, notice: &Notice) -> Result<String, StoreError> {
        let attribute = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| unavailable("Publish", &e))
        };
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(notice.subject())
            .message(notice.body())
            .message_attributes("driftline-notice", attribute(notice.kind())?);
        if let Notice::CycleTraded(report) = notice {
            request = request.message_attributes(
                "driftline-portfolio",
                attribute(report.portfolio_id.as_str())?,
            );
        }
        let out = request
            .send()
            .await
            .map_err(|e| unavailable("Publish", &e))?;
        Ok(out.message_id.unwrap_or_default())
    }
}

fn unavailable(operation: &'static str, err: &dyn std::error::Error) -> StoreError {
    StoreError::Unavailable {
        service: "sns",
        operation,
        reason: aws_sdk_sns::error::DisplayErrorContext(err).to_string(),
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn notify(&self, notice: &Notice) {
        match self.publish(notice).await {
            Ok(message_id) => {
                info!(topic = %self.topic_arn, kind = notice.kind(), %message_id, "owner notified");
            }
            Err(e) => {
                warn!(topic = %self.topic_arn, kind = notice.kind(), error = %e, "could not notify the owner: the notice is dropped");
            }
        }
    }
}

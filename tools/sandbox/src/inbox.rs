//! What the owner would receive from a notifications topic, in tests.

/// An SNS topic on the emulator with an SQS queue subscribed to it (moto delivers SNS to SQS
/// as AWS does, each message in SNS's JSON envelope): what the owner would receive.
pub struct Inbox {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    pub topic_arn: String,
    pub sns: aws_sdk_sns::Client,
}

impl Inbox {
    /// # Panics
    /// When the emulator refuses to create the topic, the queue or the subscription.
    pub async fn create(sdk: &aws_config::SdkConfig) -> Self {
        let name = format!("driftline-notices-{}", std::process::id());
        let sns = aws_sdk_sns::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let topic_arn = sns
            .create_topic()
            .name(&name)
            .send()
            .await
            .expect("topic created")
            .topic_arn
            .expect("a topic ARN");
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("inbox queue created")
            .queue_url
            .expect("a queue URL");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .expect("a queue ARN");
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .expect("subscribed");
        Self {
            sqs,
            queue_url,
            topic_arn,
            sns,
        }
    }

    /// The SNS envelopes delivered so far (up to `want`, waiting a little for them).
    /// # Panics
    /// When the queue cannot be read or a message is not SNS's JSON envelope.
    pub async fn messages(&self, want: usize) -> Vec<serde_json::Value> {
        let mut got = Vec::new();
        for _ in 0..10 {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("inbox readable");
            for m in out.messages.unwrap_or_default() {
                got.push(serde_json::from_str(m.body().unwrap_or_default()).expect("SNS envelope"));
            }
            if got.len() >= want {
                break;
            }
        }
        got
    }
}

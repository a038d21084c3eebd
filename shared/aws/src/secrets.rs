//! Exchange credentials from Secrets Manager, cached for a while: a warm Lambda reads the
//! secret once per TTL, not once per order. The secret is JSON:
//! `{"api_key": "...", "api_secret": "..."}`. Values never reach an error message.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client;
use driftline_core::ApiCredentials;
use thiserror::Error;
use tokio::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SecretError {
    #[error("secret {secret_id} could not be read: {reason}")]
    Unavailable { secret_id: String, reason: String },
    /// Names what is wrong with the secret's shape, never its content.
    #[error("secret {secret_id} is malformed: {reason}")]
    Malformed {
        secret_id: String,
        reason: &'static str,
    },
}

/// Credentials per secret id, each kept for `ttl` after it was read.
#[derive(Debug)]
pub struct CredentialsCache {
    client: Client,
    ttl: Duration,
    // One lock for all: a cold cache reads each secret once, not once per caller.
    entries: Mutex<HashMap<String, (Instant, ApiCredentials)>>,
}

impl CredentialsCache {
    pub fn new(client: Client, ttl: Duration) -> Self {
        Self {
            client,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The credentials of `secret_id`, from the cache while fresh.
    ///
    /// # Errors
    /// [`SecretError::Unavailable`] when Secrets Manager cannot be read or has no such secret,
    /// [`SecretError::Malformed`] when the secret is not the expected JSON.
    pub async fn get(&self, secret_id: &str) -> Result<ApiCredentials, SecretError> {
        let mut entries = self.entries.lock().await;
        if let Some((read_at, creds)) = entries.get(secret_id) {
            if read_at.elapsed() < self.ttl {
                return Ok(creds.clone());
            }
        }
        let creds = self.fetch(secret_id).await?;
        entries.insert(secret_id.to_owned(), (Instant::now(), creds.clone()));
        Ok(creds)
    }

    /// Forgets a secret, so the next read fetches it (after the exchange rejected the keys).
    pub async fn invalidate(&self, secret_id: &str) {
        self.entries.lock().await.remove(secret_id);
    }

    async fn fetch(&self, secret_id: &str) -> Result<ApiCredentials, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| SecretError::Unavailable {
                secret_id: secret_id.to_owned(),
                reason: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
            })?;
        let malformed = |reason| SecretError::Malformed {
            secret_id: secret_id.to_owned(),
            reason,
        };
        let text = out
            .secret_string()
            .ok_or_else(|| malformed("no secret string"))?;
        parse_credentials(text).map_err(malformed)
    }
}

/// Reads `{"api_key", "api_secret"}`. Errors are static so no part of the secret can leak
/// through them (serde's messages quote the offending input).
fn parse_credentials(text: &str) -> Result<ApiCredentials, &'static str> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| "not JSON")?;
    let field = |name| value.get(name).and_then(serde_json::Value::as_str);
    let key = field("api_key").ok_or("no string field api_key")?;
    let secret = field("api_secret").ok_or("no string field api_secret")?;
    if key.is_empty() || secret.is_empty() {
        return Err("api_key and api_secret must not be empty");
    }
    Ok(ApiCredentials::new(key, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::not_json("api_key=leaky-value", "not JSON")]
    #[case::no_key(r#"{"api_secret": "leaky-value"}"#, "no string field api_key")]
    #[case::no_secret(r#"{"api_key": "leaky-value"}"#, "no string field api_secret")]
    #[case::number(
        r#"{"api_key": "leaky-value", "api_secret": 5}"#,
        "no string field api_secret"
    )]
    #[case::empty(
        r#"{"api_key": "leaky-value", "api_secret": ""}"#,
        "api_key and api_secret must not be empty"
    )]
    fn malformed_secrets_are_named_without_their_content(#[case] text: &str, #[case] want: &str) {
        let err = parse_credentials(text).unwrap_err();
        assert_eq!(err, want);
        let shown = SecretError::Malformed {
            secret_id: "prod/binance".into(),
            reason: err,
        }
        .to_string();
        assert!(!shown.contains("leaky-value"), "{shown}");
    }

    #[test]
    fn well_formed_secret_reads() {
        let c = parse_credentials(r#"{"api_key": "k1", "api_secret": "s1"}"#).unwrap();
        assert_eq!((c.api_key(), c.expose_secret()), ("k1", "s1"));
    }
}

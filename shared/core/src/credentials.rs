//! Exchange API credentials: held in a type that never shows them, and an account's secret:
//! its venue, where that venue is reached, and the credentials.

use std::fmt;

use crate::ports::Venue;

/// What an account's secret holds: the venue it trades on, the venue's base URL when it is not
/// the deployment's default for that venue (the testnet, Binance.US, a paper exchange), and the
/// credentials. `Debug` shows the venue and URL, never the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSecret {
    pub venue: Venue,
    pub base_url: Option<String>,
    pub credentials: ApiCredentials,
}

/// An API key and its secret: Binance's and Kraken's key and secret, or Coinbase's key name and
/// PEM private key. `Debug` and `Display` redact both, so neither can reach a log line, an error
/// message or test output by accident; [`ApiCredentials::expose_secret`] is the one, greppable,
/// way to read the secret (for signing).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiCredentials {
    api_key: String,
    secret: String,
}

impl ApiCredentials {
    pub fn new(api_key: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            secret: secret.into(),
        }
    }

    /// The key sent in the clear as a header: still kept out of logs.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    pub fn expose_secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for ApiCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiCredentials { api_key: <redacted>, secret: <redacted> }")
    }
}

impl fmt::Display for ApiCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted credentials>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_debug_nor_display_shows_key_or_secret() {
        let c = ApiCredentials::new("my-api-key-123", "s3cr3t-value");
        for shown in [format!("{c:?}"), format!("{c}"), format!("{:#?}", Some(&c))] {
            assert!(
                !shown.contains("my-api-key-123") && !shown.contains("s3cr3t-value"),
                "{shown}"
            );
        }
        assert_eq!(c.expose_secret(), "s3cr3t-value");
    }
}

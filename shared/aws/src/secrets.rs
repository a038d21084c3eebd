//! Exchange accounts' secrets from Secrets Manager, cached for a while: a warm Lambda reads the
//! secret once per TTL, not once per order. The secret is JSON:
//! `{"venue": "kraken", "base_url": "...", "api_key": "...", "api_secret": "..."}`; `venue` is
//! `binance` when absent (secrets written before there were other venues), `base_url` is the
//! venue's default when absent. A Coinbase key may also be stored as Coinbase hands it out,
//! `{"venue": "coinbase", "name": "organizations/…/apiKeys/…", "privateKey": "-----BEGIN EC…"}`.
//!
//! One secret may also hold several accounts, `{"accounts": {"<name>": {<an account as
//! above>}, ...}}`, each named by a portfolio as `<secret id>#<name>` (Secrets Manager allows
//! no `#` in a secret's name): one secret to pay for instead of one per account
//! (docs/DEPLOY.md, "One secret or one per account").
//!
//! Values never reach an error message.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client;
use driftline_core::ports::Venue;
use driftline_core::{AccountSecret, ApiCredentials};
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

/// Account secrets per secret id, each kept for `ttl` after it was read.
#[derive(Debug)]
pub struct AccountSecrets {
    client: Client,
    ttl: Duration,
    // One lock for all: a cold cache reads each secret once, not once per caller.
    entries: Mutex<HashMap<String, (Instant, Held)>>,
}

/// What one secret holds: one account, or several by name.
#[derive(Debug)]
enum Held {
    One(AccountSecret),
    Several(BTreeMap<String, AccountSecret>),
}

/// An account reference split into its secret's id and, for a secret holding several accounts,
/// the account's name.
fn split_reference(reference: &str) -> (&str, Option<&str>) {
    match reference.split_once('#') {
        Some((id, name)) => (id, Some(name)),
        None => (reference, None),
    }
}

impl AccountSecrets {
    pub fn new(client: Client, ttl: Duration) -> Self {
        Self {
            client,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The account `reference` names (`<secret id>`, or `<secret id>#<name>` in a secret
    /// holding several), its secret from the cache while fresh.
    ///
    /// # Errors
    /// [`SecretError::Unavailable`] when Secrets Manager cannot be read or has no such secret,
    /// [`SecretError::Malformed`] when the secret is not the expected JSON or does not hold
    /// the account as named.
    pub async fn get(&self, reference: &str) -> Result<AccountSecret, SecretError> {
        let (secret_id, name) = split_reference(reference);
        let mut entries = self.entries.lock().await;
        let held = match entries.entry(secret_id.to_owned()) {
            Entry::Occupied(e) if e.get().0.elapsed() < self.ttl => &e.into_mut().1,
            stale_or_none => {
                let read = self.fetch(secret_id).await?;
                &stale_or_none
                    .insert_entry((Instant::now(), read))
                    .into_mut()
                    .1
            }
        };
        let malformed = |reason| SecretError::Malformed {
            secret_id: reference.to_owned(),
            reason,
        };
        // Only the account asked for is copied out, not every account of a shared secret.
        match (held, name) {
            (Held::One(account), None) => Ok(account.clone()),
            (Held::One(_), Some(_)) => Err(malformed(
                "the secret holds one account: name it by the secret's id alone",
            )),
            (Held::Several(_), None) => Err(malformed(
                "the secret holds several accounts: name one as <secret id>#<account>",
            )),
            (Held::Several(accounts), Some(name)) => accounts
                .get(name)
                .cloned()
                .ok_or_else(|| malformed("no such account in the secret's accounts")),
        }
    }

    /// Forgets the secret behind `reference`, so the next read fetches it (after the exchange
    /// rejected the keys).
    pub async fn invalidate(&self, reference: &str) {
        let (secret_id, _) = split_reference(reference);
        self.entries.lock().await.remove(secret_id);
    }

    async fn fetch(&self, secret_id: &str) -> Result<Held, SecretError> {
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
        parse_secret(text).map_err(malformed)
    }
}

/// Reads a secret: one account, or several under `accounts`. Errors are static so no part of
/// the secret can leak through them (serde's messages quote the offending input).
fn parse_secret(text: &str) -> Result<Held, &'static str> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| "not JSON")?;
    match value.get("accounts") {
        None => parse_account(&value).map(Held::One),
        Some(serde_json::Value::Object(accounts)) if !accounts.is_empty() => accounts
            .iter()
            .map(|(name, account)| Ok((name.clone(), parse_account(account)?)))
            .collect::<Result<_, _>>()
            .map(Held::Several),
        Some(_) => Err("accounts must be an object of accounts by name, not empty"),
    }
}

/// Reads one account (the module's doc has the shape).
fn parse_account(value: &serde_json::Value) -> Result<AccountSecret, &'static str> {
    if !value.is_object() {
        return Err("an account must be a JSON object");
    }
    let field = |name| value.get(name).and_then(serde_json::Value::as_str);
    let venue = match value.get("venue") {
        None => Venue::Binance,
        Some(v) => v
            .as_str()
            .and_then(|v| v.parse().ok())
            .ok_or("venue must be \"binance\", \"kraken\" or \"coinbase\"")?,
    };
    let base_url = match value.get("base_url") {
        None => None,
        Some(url) => Some(url.as_str().ok_or("base_url must be a string")?.to_owned()),
    };
    // Coinbase hands a key out as {"name", "privateKey"}: it may be stored as it came.
    let downloaded = venue == Venue::Coinbase && field("api_key").is_none();
    let (key, secret) = if downloaded {
        (
            field("name").ok_or("no string field api_key (or Coinbase's name)")?,
            field("privateKey").ok_or("no string field api_secret (or Coinbase's privateKey)")?,
        )
    } else {
        (
            field("api_key").ok_or("no string field api_key")?,
            field("api_secret").ok_or("no string field api_secret")?,
        )
    };
    if key.is_empty() || secret.is_empty() {
        return Err("api_key and api_secret must not be empty");
    }
    Ok(AccountSecret {
        venue,
        base_url,
        credentials: ApiCredentials::new(key, secret),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn parse_account_secret(text: &str) -> Result<AccountSecret, &'static str> {
        match parse_secret(text)? {
            Held::One(account) => Ok(account),
            Held::Several(_) => panic!("one account expected"),
        }
    }

    #[test]
    fn one_secret_may_hold_several_accounts_by_name() {
        let text = r#"{"accounts": {
            "alice": {"api_key": "ka", "api_secret": "sa"},
            "bob": {"venue": "kraken", "api_key": "kb", "api_secret": "c2I="}
        }}"#;
        let Held::Several(accounts) = parse_secret(text).unwrap() else {
            panic!("several accounts");
        };
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts["alice"].venue, Venue::Binance);
        assert_eq!(accounts["alice"].credentials.api_key(), "ka");
        assert_eq!(accounts["bob"].venue, Venue::Kraken);
        assert_eq!(accounts["bob"].credentials.expose_secret(), "c2I=");
        assert_eq!(split_reference("prod/keys#bob"), ("prod/keys", Some("bob")));
        assert_eq!(split_reference("prod/keys"), ("prod/keys", None));
    }

    #[rstest]
    #[case::empty(
        r#"{"accounts": {}}"#,
        "accounts must be an object of accounts by name, not empty"
    )]
    #[case::list(
        r#"{"accounts": ["leaky-value"]}"#,
        "accounts must be an object of accounts by name, not empty"
    )]
    #[case::one_bad(
        r#"{"accounts": {"a": {"api_key": "k", "api_secret": "s"}, "b": {"api_key": "leaky-value"}}}"#,
        "no string field api_secret"
    )]
    #[case::not_an_object(
        r#"{"accounts": {"a": "leaky-value"}}"#,
        "an account must be a JSON object"
    )]
    fn a_malformed_shared_secret_is_named_without_its_content(
        #[case] text: &str,
        #[case] want: &str,
    ) {
        let err = parse_secret(text).unwrap_err();
        assert_eq!(err, want);
        assert!(!err.contains("leaky-value"));
    }

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
    #[case::unknown_venue(
        r#"{"venue": "leaky-value", "api_key": "k", "api_secret": "s"}"#,
        "venue must be \"binance\", \"kraken\" or \"coinbase\""
    )]
    #[case::coinbase_half_downloaded(
        r#"{"venue": "coinbase", "name": "leaky-value"}"#,
        "no string field api_secret (or Coinbase's privateKey)"
    )]
    #[case::base_url_not_text(
        r#"{"api_key": "leaky-value", "api_secret": "s", "base_url": 5}"#,
        "base_url must be a string"
    )]
    fn malformed_secrets_are_named_without_their_content(#[case] text: &str, #[case] want: &str) {
        let err = parse_account_secret(text).unwrap_err();
        assert_eq!(err, want);
        let shown = SecretError::Malformed {
            secret_id: "prod/binance".into(),
            reason: err,
        }
        .to_string();
        assert!(!shown.contains("leaky-value"), "{shown}");
    }

    #[test]
    fn a_secret_without_a_venue_is_a_binance_account_as_before() {
        let a = parse_account_secret(r#"{"api_key": "k1", "api_secret": "s1"}"#).unwrap();
        assert_eq!((a.venue, a.base_url), (Venue::Binance, None));
        let c = a.credentials;
        assert_eq!((c.api_key(), c.expose_secret()), ("k1", "s1"));
    }

    #[rstest]
    #[case::kraken(
        r#"{"venue": "kraken", "base_url": "http://127.0.0.1:9", "api_key": "k", "api_secret": "c2VjcmV0"}"#,
        Venue::Kraken, Some("http://127.0.0.1:9"), "k", "c2VjcmV0"
    )]
    #[case::coinbase(
        r#"{"venue": "coinbase", "api_key": "organizations/o/apiKeys/k", "api_secret": "PEM"}"#,
        Venue::Coinbase,
        None,
        "organizations/o/apiKeys/k",
        "PEM"
    )]
    #[case::coinbase_as_downloaded(
        r#"{"venue": "coinbase", "name": "organizations/o/apiKeys/k", "privateKey": "PEM"}"#,
        Venue::Coinbase,
        None,
        "organizations/o/apiKeys/k",
        "PEM"
    )]
    fn a_secret_names_its_venue_and_may_name_its_base_url(
        #[case] text: &str,
        #[case] venue: Venue,
        #[case] base_url: Option<&str>,
        #[case] key: &str,
        #[case] secret: &str,
    ) {
        let a = parse_account_secret(text).unwrap();
        assert_eq!((a.venue, a.base_url.as_deref()), (venue, base_url));
        assert_eq!(
            (a.credentials.api_key(), a.credentials.expose_secret()),
            (key, secret)
        );
    }
}

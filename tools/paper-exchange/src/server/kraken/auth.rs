//! Kraken's authentication of private calls: the `API-Key` header names the account, `API-Sign`
//! is base64(HMAC-SHA512(key = the base64-decoded secret, message = the URI path followed by
//! SHA-256(nonce + the POST body as sent))), and each key's nonces must strictly increase.
//! Checked in Kraken's order: the key, then the signature, then the nonce; a nonce counts as
//! used only once its signature is valid.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::KrakenError;
use crate::params::Params;
use crate::server::AppState;

pub(super) const API_KEY_HEADER: &str = "API-Key";
const API_SIGN_HEADER: &str = "API-Sign";

/// The nonces one API key has spent: the highest, and those within the nonce window below it.
#[derive(Debug, Default)]
struct Spent {
    highest: u64,
    /// Every nonce spent above `highest - window` (with a window of 0, only the highest).
    recent: BTreeSet<u64>,
}

/// The nonces accepted for each API key. Kept across `/admin/reset` as Kraken keeps them for
/// the key's life; a rotated key starts afresh.
#[derive(Debug, Default)]
pub(in crate::server) struct Nonces(Mutex<HashMap<String, Spent>>);

impl Nonces {
    /// Takes `nonce` for `key` if it is above the highest one taken, or, with a nonce `window`,
    /// above the highest less the window and not taken before.
    fn take(&self, key: &str, nonce: u64, window: u64) -> bool {
        let mut keys = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(spent) = keys.get_mut(key) else {
            keys.insert(
                key.to_owned(),
                Spent {
                    highest: nonce,
                    recent: BTreeSet::from([nonce]),
                },
            );
            return true;
        };
        let floor = spent.highest.saturating_sub(window);
        let fresh = nonce > spent.highest
            || (window > 0 && nonce > floor && !spent.recent.contains(&nonce));
        if !fresh {
            return false;
        }
        spent.highest = spent.highest.max(nonce);
        spent.recent.insert(nonce);
        // Below the window nothing passes any more: forget it.
        let keep_from = spent.highest.saturating_sub(window).saturating_add(1);
        spent.recent = spent.recent.split_off(&keep_from.min(spent.highest));
        true
    }
}

/// The signature Kraken expects for a request.
///
/// # Errors
/// `None` when the secret is not base64.
pub(super) fn expected_signature(
    secret_b64: &str,
    path: &str,
    nonce: &str,
    body: &str,
) -> Option<Vec<u8>> {
    let secret = STANDARD.decode(secret_b64).ok()?;
    let digest = Sha256::digest(format!("{nonce}{body}").as_bytes());
    let mut mac = Hmac::<Sha512>::new_from_slice(&secret).ok()?;
    mac.update(path.as_bytes());
    mac.update(&digest);
    Some(mac.finalize().into_bytes().to_vec())
}

/// The account a private call is from, once its key, signature and nonce pass.
pub(super) fn authenticate(
    state: &AppState,
    nonces: &Nonces,
    headers: &HeaderMap,
    path: &str,
    p: &Params,
    body: &str,
) -> Result<String, KrakenError> {
    let key = headers
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| KrakenError::new("EAPI:Invalid key"))?;
    let (account, secret) = {
        let v = state.venue();
        let (name, creds) = v
            .engine
            .account_for_key(key)
            .ok_or_else(|| KrakenError::new("EAPI:Invalid key"))?;
        (name.to_owned(), creds.expose_secret().to_owned())
    };
    let nonce_text = p.get("nonce").unwrap_or_default();
    let signature = headers
        .get(API_SIGN_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| STANDARD.decode(s).ok());
    let expected = expected_signature(&secret, path, nonce_text, body);
    let valid =
        matches!((signature, expected), (Some(got), Some(want)) if constant_eq(&got, &want));
    if !valid {
        return Err(KrakenError::new("EAPI:Invalid signature"));
    }
    let nonce: u64 = nonce_text
        .parse()
        .map_err(|_| KrakenError::new("EAPI:Invalid nonce"))?;
    if !nonces.take(key, nonce, state.config.kraken.nonce_window) {
        return Err(KrakenError::new("EAPI:Invalid nonce"));
    }
    Ok(account)
}

/// Compares two signatures in time that does not depend on where they differ.
fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kraken's published example (Spot REST Authentication): a limit buy of 1.25 XBTUSD at
    /// 37,500.
    #[test]
    fn krakens_published_example_signs_as_documented() {
        let sig = expected_signature(
            "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==",
            "/0/private/AddOrder",
            "1616492376594",
            "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25",
        )
        .unwrap();
        assert_eq!(
            STANDARD.encode(sig),
            "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
        );
    }

    #[test]
    fn nonces_must_strictly_increase_per_key() {
        let n = Nonces::default();
        assert!(n.take("a", 5, 0));
        assert!(!n.take("a", 5, 0), "a repeated nonce");
        assert!(!n.take("a", 4, 0), "a lower nonce");
        assert!(n.take("b", 1, 0), "another key has its own sequence");
        assert!(n.take("a", 6, 0));
    }

    #[test]
    fn a_nonce_window_lets_a_late_nonce_through_once() {
        let n = Nonces::default();
        assert!(n.take("a", 5_000, 1_000));
        assert!(n.take("a", 4_500, 1_000), "late, within the window");
        assert!(!n.take("a", 4_500, 1_000), "but only once");
        assert!(!n.take("a", 5_000, 1_000), "the highest is spent too");
        assert!(!n.take("a", 4_000, 1_000), "at the window's edge");
        assert!(n.take("a", 4_001, 1_000));
        assert!(n.take("a", 6_000, 1_000));
        // The window moved up with the highest: 4,999 is now below it.
        assert!(!n.take("a", 4_999, 1_000));
        assert!(n.take("a", 5_001, 1_000));
        assert!(!n.take("a", 5_001, 1_000));
    }
}

//! Kraken's authentication of private calls, and the nonces it needs.
//!
//! `API-Sign` is base64(HMAC-SHA512(key = the base64-decoded secret, message = the URI path
//! followed by SHA-256(nonce + the POST body exactly as sent))); the key goes in `API-Key` and
//! the nonce in the body. Kraken requires every key's nonces to increase (beyond a "nonce
//! window" the key may be given), so [`Nonces`] hands out the wall clock's milliseconds, never
//! the same or a lower one twice in a process. Why that is safe with several processes on one
//! key is in `docs/EXCHANGE.md` ("Nonces").

use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// The secret is not base64, so nothing can be signed with it. Says nothing of the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretNotBase64;

/// `API-Sign` for a call to `path` (`/0/private/AddOrder`) with `nonce` and `body`, the form
/// body as sent (which carries the same nonce).
///
/// # Errors
/// [`SecretNotBase64`] when the secret does not decode.
pub fn sign(
    secret_b64: &str,
    path: &str,
    nonce: u64,
    body: &str,
) -> Result<String, SecretNotBase64> {
    let secret = STANDARD.decode(secret_b64).map_err(|_| SecretNotBase64)?;
    let mut inner = Sha256::new();
    inner.update(nonce.to_string().as_bytes());
    inner.update(body.as_bytes());
    // HMAC takes keys of any length.
    let Ok(mut mac) = Hmac::<Sha512>::new_from_slice(&secret) else {
        unreachable!("HMAC-SHA512 takes a key of any length")
    };
    mac.update(path.as_bytes());
    mac.update(&inner.finalize());
    Ok(STANDARD.encode(mac.finalize().into_bytes()))
}

/// Nonces for one API key in one process: the wall clock in milliseconds, or one above the
/// last nonce handed out when the clock has not moved past it (several calls in one
/// millisecond, or a clock stepped back). Strictly increasing, so this process never refuses
/// itself; across processes the clocks keep the nonces close, and the key's nonce window covers
/// the rest.
#[derive(Debug, Default)]
pub struct Nonces {
    last: AtomicU64,
}

impl Nonces {
    /// The next nonce, at `now_ms` (milliseconds since the epoch).
    pub fn next(&self, now_ms: i64) -> u64 {
        let now = u64::try_from(now_ms).unwrap_or(0);
        let mut next = now;
        // fetch_update retries on contention, so concurrent callers never share a nonce.
        let _ = self
            .last
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                next = now.max(last.saturating_add(1));
                Some(next)
            });
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::sync::Arc;

    /// Kraken's published example (Spot REST Authentication): a limit buy of 1.25 XBTUSD at
    /// 37,500, the same values the paper dialect checks it accepts.
    #[test]
    fn signs_krakens_published_example() {
        let sig = sign(
            "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==",
            "/0/private/AddOrder",
            1_616_492_376_594,
            "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25",
        )
        .unwrap();
        assert_eq!(
            sig,
            "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
        );
    }

    #[test]
    fn a_secret_that_is_not_base64_signs_nothing() {
        assert_eq!(
            sign("not base64!", "/0/private/Balance", 1, "nonce=1"),
            Err(SecretNotBase64)
        );
    }

    #[test]
    fn nonces_follow_the_clock_and_never_repeat_or_fall() {
        let n = Nonces::default();
        assert_eq!(n.next(1_000), 1_000);
        assert_eq!(n.next(1_000), 1_001, "the same millisecond");
        assert_eq!(n.next(900), 1_002, "a clock stepped back");
        assert_eq!(n.next(5_000), 5_000, "the clock again once past");
        assert_eq!(n.next(-1), 5_001);
    }

    #[test]
    fn concurrent_callers_never_share_a_nonce() {
        let n = Arc::new(Nonces::default());
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let n = Arc::clone(&n);
                std::thread::spawn(move || (0..1_000).map(|_| n.next(42)).collect::<Vec<_>>())
            })
            .collect();
        let all: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let distinct: BTreeSet<u64> = all.iter().copied().collect();
        assert_eq!(distinct.len(), all.len());
        assert_eq!(distinct.last(), Some(&(42 + 7_999)));
    }
}

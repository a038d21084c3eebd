//! Coinbase's authentication for CDP API keys: every private request carries
//! `Authorization: Bearer <JWT>`, an ES256 JSON Web Token whose header names the key (`kid`)
//! and a one-time `nonce`, and whose claims say who signed it (`sub`, the key name), that CDP
//! issued it (`iss = "cdp"`), when it is valid (`nbf` to `exp`, at most two minutes) and for
//! which request (`uri = "METHOD host/path"`). The venue checks the signature with the public
//! half of the account's key (its `secret`, the PEM EC private key Coinbase hands out), the
//! times against its own clock, and the `uri` against the request it came with.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde::Deserialize;

/// The host Coinbase's SDKs sign when they talk to production (`format_jwt_uri`): accepted
/// besides the request's own `Host`.
pub(super) const PRODUCTION_HOST: &str = "api.coinbase.com";

/// The longest a token may be valid (`exp - nbf`): Coinbase's tokens last two minutes.
const MAX_LIFETIME_S: i64 = 120;

/// Why a request's token was not accepted. Coinbase answers every one of them with a bare
/// 401; the reason only goes to the venue's tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AuthError {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Not a compact JWS of JSON header and claims, or a field missing or of the wrong type.
    Malformed,
    /// `alg` is not ES256.
    Algorithm,
    /// `kid` and `sub` differ, or `iss` is not `cdp`.
    Claims,
    /// No account has this key name, or its secret is not an EC key.
    UnknownKey,
    /// The signature does not verify with the key's public key.
    Signature,
    /// Before `nbf`, at or after `exp`, or valid for longer than two minutes.
    Expired,
    /// The `uri` claim is not this request's method, host and path.
    Uri,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: String,
    // Coinbase requires a nonce in every token's header; its value is not checked further.
    #[allow(dead_code)]
    nonce: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    nbf: i64,
    exp: i64,
    uri: String,
}

/// The request a token must be for: its method, its path (without the query) and the
/// `Host` it was sent to.
pub(super) struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub host: Option<&'a str>,
}

/// The bearer token of an `Authorization` header value.
pub(super) fn bearer(header: Option<&str>) -> Result<&str, AuthError> {
    header
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::Missing)
}

/// The key name a token says it was signed with, unverified: for the request log only.
pub(super) fn claimed_key(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

/// Verifies `token` for `request` at `now_s` (Unix seconds). `secret_of` gives the PEM secret
/// of a key name. Returns the key name.
///
/// # Errors
/// [`AuthError`] saying which check failed.
pub(super) fn verify(
    token: &str,
    request: &Request<'_>,
    now_s: i64,
    secret_of: impl FnOnce(&str) -> Option<String>,
) -> Result<String, AuthError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let header: Header = decode_json(header_b64)?;
    let claims: Claims = decode_json(claims_b64)?;
    if header.alg != "ES256" {
        return Err(AuthError::Algorithm);
    }
    if header.kid != claims.sub || claims.iss != "cdp" {
        return Err(AuthError::Claims);
    }
    let secret = secret_of(&claims.sub).ok_or(AuthError::UnknownKey)?;
    let key = crate::config::ec_private_key(&secret).ok_or(AuthError::UnknownKey)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .ok()
        .and_then(|raw| Signature::from_slice(&raw).ok())
        .ok_or(AuthError::Signature)?;
    // The JWS signing input is the two encoded parts as sent, joined by a dot.
    let signed = &token[..header_b64.len() + 1 + claims_b64.len()];
    VerifyingKey::from(key.public_key())
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| AuthError::Signature)?;
    if now_s < claims.nbf || now_s >= claims.exp || claims.exp - claims.nbf > MAX_LIFETIME_S {
        return Err(AuthError::Expired);
    }
    let for_request =
        |host: &str| claims.uri == format!("{} {host}{}", request.method, request.path);
    if !(for_request(PRODUCTION_HOST) || request.host.is_some_and(for_request)) {
        return Err(AuthError::Uri);
    }
    Ok(claims.sub)
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, AuthError> {
    let raw = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::Malformed)?;
    serde_json::from_slice(&raw).map_err(|_| AuthError::Malformed)
}

//! Coinbase's authentication for CDP API keys: a fresh ES256 JSON Web Token per request, sent as
//! `Authorization: Bearer <JWT>`. Header `alg` ES256, `kid` the key name, `typ` JWT and a random
//! hex `nonce`; claims `sub` the key name, `iss` "cdp", `nbf` now, `exp` now + 120 s and
//! `uri` "METHOD host/path" (the path without its query), as Coinbase's SDKs build it
//! (`coinbase.jwt_generator.build_jwt`). The signature is ECDSA P-256 over SHA-256, written as
//! the 64 bytes `r || s` (JWS), which `p256` computes deterministically (RFC 6979).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde::Serialize;

/// How long a token is valid: Coinbase's two minutes.
pub(super) const LIFETIME_S: i64 = 120;

/// A CDP key ready to sign: its name and private key. Neither shows in `Debug`.
pub(super) struct Signer {
    key_name: String,
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer { <redacted> }")
    }
}

/// Why a secret cannot sign. Says what is wrong with it, never what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BadSecret;

impl std::fmt::Display for BadSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "the API secret is not a PEM P-256 (EC) private key (SEC1 `BEGIN EC PRIVATE KEY` or PKCS#8 `BEGIN PRIVATE KEY`)",
        )
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    kid: &'a str,
    nonce: &'a str,
    typ: &'static str,
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    iss: &'static str,
    nbf: i64,
    exp: i64,
    uri: &'a str,
}

impl Signer {
    /// The signer of a CDP key: `pem` is the private key as Coinbase hands it out. A secret
    /// stored with its newlines written as `\n` (as some secret stores and `.env` files keep
    /// it) is read the same.
    ///
    /// # Errors
    /// [`BadSecret`] when `pem` is not a P-256 private key in SEC1 or PKCS#8 PEM.
    pub(super) fn new(key_name: &str, pem: &str) -> Result<Self, BadSecret> {
        use p256::pkcs8::DecodePrivateKey as _;
        let pem = pem.trim().replace("\\n", "\n");
        let secret = p256::SecretKey::from_sec1_pem(&pem)
            .or_else(|_| p256::SecretKey::from_pkcs8_pem(&pem))
            .map_err(|_| BadSecret)?;
        Ok(Self {
            key_name: key_name.to_owned(),
            key: SigningKey::from(secret),
        })
    }

    /// A token for one request: `uri` is "METHOD host/path", `now_s` the client's Unix time
    /// in seconds, `nonce` the header's one-time value.
    pub(super) fn token(&self, uri: &str, now_s: i64, nonce: &str) -> String {
        let header = Header {
            alg: "ES256",
            kid: &self.key_name,
            nonce,
            typ: "JWT",
        };
        let claims = Claims {
            sub: &self.key_name,
            iss: "cdp",
            nbf: now_s,
            exp: now_s.saturating_add(LIFETIME_S),
            uri,
        };
        let mut signed = encode_json(&header);
        signed.push('.');
        signed.push_str(&encode_json(&claims));
        let signature: Signature = self.key.sign(signed.as_bytes());
        signed.push('.');
        signed.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        signed
    }
}

fn encode_json(value: &impl Serialize) -> String {
    // Structs of strings and integers always serialize.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

/// A fresh nonce: 16 random bytes in hex. It only has to differ between tokens (Coinbase's SDK
/// uses `secrets.token_hex()`), so a fast generator is enough.
pub(super) fn nonce() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier as _;
    use p256::ecdsa::VerifyingKey;
    use serde_json::{json, Value};

    /// The test key Coinbase publishes with its Python SDK (coinbase-advanced-py,
    /// `tests/constants.py`), whose own test checks `sub`, `iss`, `uri` and `kid` of a token.
    const SDK_KEY: &str = "organizations/test-organization/apiKeys/test-api-key";
    const SDK_SECRET: &str = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIKwf3Uox30cRWzRBOPoPOH5p0Gpb0Dt8zUKXUEM5fMkGoAoGCCqGSM49\nAwEHoUQDQgAEbAtpLlSZYVOwYICz+uEyxcS29vRIujiES/gQ1DC7FV4zK4JuYE9v\nqDyGZQYjdXHLM7I6f/QnnOITL+dXYWBHRA==\n-----END EC PRIVATE KEY-----\n";
    /// The same key as PKCS#8 (`openssl pkcs8 -topk8 -nocrypt`).
    const SDK_SECRET_PKCS8: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgrB/dSjHfRxFbNEE4\n+g84fmnQalvQO3zNQpdQQzl8yQahRANCAARsC2kuVJlhU7BggLP64TLFxLb29Ei6\nOIRL+BDUMLsVXjMrgm5gT2+oPIZlBiN1ccszsjp/9Cec4hMv51dhYEdE\n-----END PRIVATE KEY-----\n";
    const URI: &str = "GET api.coinbase.com/api/v3/brokerage/accounts";

    fn part(token: &str, i: usize) -> Value {
        let raw = URL_SAFE_NO_PAD
            .decode(token.split('.').nth(i).unwrap())
            .unwrap();
        serde_json::from_slice(&raw).unwrap()
    }

    fn verifies(token: &str, pem: &str) -> bool {
        let key = p256::SecretKey::from_sec1_pem(pem).unwrap();
        let (signed, sig) = token.rsplit_once('.').unwrap();
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
        VerifyingKey::from(key.public_key())
            .verify(signed.as_bytes(), &sig)
            .is_ok()
    }

    #[test]
    fn a_token_says_what_coinbase_checks_and_verifies_with_the_keys_public_half() {
        let signer = Signer::new(SDK_KEY, SDK_SECRET).unwrap();
        let token = signer.token(URI, 1_800_000_000, "0123456789abcdef0123456789abcdef");
        assert_eq!(
            part(&token, 0),
            json!({"alg": "ES256", "kid": SDK_KEY, "nonce": "0123456789abcdef0123456789abcdef", "typ": "JWT"})
        );
        assert_eq!(
            part(&token, 1),
            json!({"sub": SDK_KEY, "iss": "cdp", "nbf": 1_800_000_000, "exp": 1_800_000_120, "uri": URI})
        );
        assert!(verifies(&token, SDK_SECRET));
        // The signature is the JWS form: r || s, 64 bytes.
        let sig = URL_SAFE_NO_PAD
            .decode(token.rsplit('.').next().unwrap())
            .unwrap();
        assert_eq!(sig.len(), 64);
    }

    /// A token this signer made for the SDK's published key at a fixed time and nonce (ECDSA
    /// with RFC 6979 nonces is deterministic), which PyJWT 2.15.1 (the library Coinbase's SDK signs
    /// and verifies with) decodes with that key's public half: `jwt.decode(token, SDK_SECRET,
    /// algorithms=["ES256"], options={"verify_exp": False, "verify_nbf": False})` gives these
    /// claims. The signer must keep producing exactly it.
    const VECTOR: &str = "eyJhbGciOiJFUzI1NiIsImtpZCI6Im9yZ2FuaXphdGlvbnMvdGVzdC1vcmdhbml6YXRpb24vYXBpS2V5cy90ZXN0LWFwaS1rZXkiLCJub25jZSI6IjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmIiwidHlwIjoiSldUIn0.eyJzdWIiOiJvcmdhbml6YXRpb25zL3Rlc3Qtb3JnYW5pemF0aW9uL2FwaUtleXMvdGVzdC1hcGkta2V5IiwiaXNzIjoiY2RwIiwibmJmIjoxODAwMDAwMDAwLCJleHAiOjE4MDAwMDAxMjAsInVyaSI6IkdFVCBhcGkuY29pbmJhc2UuY29tL2FwaS92My9icm9rZXJhZ2UvYWNjb3VudHMifQ.4b0ddYqoZcsYyF9FoaztvU_6c-wyjUf10sGmURlMA18SdujRA62Xt0CuMjKHb5_d44dFGRmEet9vnyJkcjcs5w";

    #[test]
    fn signing_the_published_key_reproduces_the_checked_vector() {
        let signer = Signer::new(SDK_KEY, SDK_SECRET).unwrap();
        let token = signer.token(URI, 1_800_000_000, "0123456789abcdef0123456789abcdef");
        assert_eq!(token, VECTOR);
    }

    #[test]
    fn sec1_and_pkcs8_and_escaped_newlines_sign_alike() {
        let sec1 = Signer::new(SDK_KEY, SDK_SECRET).unwrap();
        let pkcs8 = Signer::new(SDK_KEY, SDK_SECRET_PKCS8).unwrap();
        let escaped = Signer::new(SDK_KEY, &SDK_SECRET.replace('\n', "\\n")).unwrap();
        let t = |s: &Signer| s.token(URI, 1_800_000_000, "ab");
        assert_eq!(t(&sec1), t(&pkcs8));
        assert_eq!(t(&sec1), t(&escaped));
    }

    #[test]
    fn secrets_that_are_not_ec_keys_are_refused_without_showing_them() {
        for secret in [
            "",
            "hunter2-not-a-key",
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----",
        ] {
            let err = Signer::new(SDK_KEY, secret).unwrap_err();
            let shown = err.to_string();
            assert!(shown.contains("PEM") && (secret.is_empty() || !shown.contains(secret)));
        }
        let signer = Signer::new(SDK_KEY, SDK_SECRET).unwrap();
        assert!(!format!("{signer:?}").contains("test-api-key"));
    }

    #[test]
    fn nonces_are_fresh_hex() {
        let (a, b) = (nonce(), nonce());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}

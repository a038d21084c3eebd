//! The Kraken tests' venue and the signature of a private call, as Kraken documents it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use paper_exchange::{paper_account, paper_market, paper_venue_head};
use sha2::{Digest, Sha256, Sha512};

/// Kraken's published example key (Spot REST Authentication): alice's secret.
pub const EXAMPLE_SECRET: &str =
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
/// Bob's secret: base64, as Kraken's are.
pub const BOB_SECRET: &str = "Ym9iLWtyYWtlbi1zZWNyZXQtZm9yLXRoZS1wYXBlci12ZW51ZQ==";

/// BTC/USD (Kraken's XXBTZUSD) around 40,000 with asks 40,040 / 40,080 / 40,120 and bids
/// 39,960 / 39,920 / 39,880 of 1 BTC each; ETH/USDT (ETHUSDT); alice signs with Kraken's
/// example key.
pub const VENUE: &str = concat!(
    "dialect = \"kraken\"\n",
    paper_venue_head!(seed = 42, maker = "0.001", taker = "0.002"),
    paper_market!("BTC" / "USD": step = "0.0001", max_qty = "100", mid = "40000",
        spread_bps = "20", depth = 3 x "1" every "10" bps),
    paper_market!("ETH" / "USDT": step = "0.001", max_qty = "100", mid = "3000",
        spread_bps = "20", depth = 3 x "5" every "10" bps),
    paper_account!("alice", key = "alice-key",
        secret = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==",
        balances = { USD = "100000", BTC = "10", USDT = "1000" }),
    paper_account!(
        "bob",
        key = "bob-key",
        secret = "Ym9iLWtyYWtlbi1zZWNyZXQtZm9yLXRoZS1wYXBlci12ZW51ZQ==",
        balances = { USD = "1000" }
    ),
);

/// Kraken's signature: base64(HMAC-SHA512(base64-decoded secret, path + SHA256(nonce + body))).
pub fn sign(secret: &str, path: &str, nonce: &str, body: &str) -> String {
    let key = STANDARD.decode(secret).unwrap();
    let mut mac = Hmac::<Sha512>::new_from_slice(&key).unwrap();
    mac.update(path.as_bytes());
    mac.update(&Sha256::digest(format!("{nonce}{body}").as_bytes()));
    STANDARD.encode(mac.finalize().into_bytes())
}

//! Orders: sides, identities, the intents the planner emits and the states an order goes through.

use std::fmt;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{DomainError, PortfolioId, Price, Symbol};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "BUY",
            Self::Sell => "SELL",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rebalancing cycle of a portfolio. The scheduler derives it from the schedule tick, so a
/// redelivered tick names the same cycle (and therefore the same client order ids). Shared,
/// not copied: every order intent of a plan carries it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CycleId(Arc<str>);

impl CycleId {
    /// # Errors
    /// [`DomainError::InvalidCycleId`] unless 1 to 64 characters of `A-Za-z0-9_-.:`.
    pub fn new(id: &str) -> Result<Self, DomainError> {
        let valid = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
        if valid {
            Ok(Self(Arc::from(id)))
        } else {
            Err(DomainError::InvalidCycleId {
                value: id.to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CycleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CycleId {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<CycleId> for String {
    fn from(c: CycleId) -> Self {
        c.0.as_ref().to_owned()
    }
}

/// The id an order carries on the exchange (`newClientOrderId`): at most 36 characters of
/// `[A-Za-z0-9_-]`, the alphabet Binance spot accepts. Derived deterministically, so a rerun of a cycle names the same orders.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientOrderId(String);

impl ClientOrderId {
    /// Version prefix of the derivation, so a future scheme can never collide with this one.
    const PREFIX: &'static str = "dl1-";

    /// `dl1-` and the first 128 bits of SHA-256 over the order's identity, in hex: 36 characters.
    /// The identity is the account (when it is not the default one: a portfolio spread over
    /// several accounts may trade one symbol on two of them in a cycle), the portfolio, the
    /// cycle, the symbol, the side and the leg.
    pub fn derive(
        account: Option<&str>,
        portfolio: &PortfolioId,
        cycle: &CycleId,
        symbol: &Symbol,
        side: Side,
        leg: u32,
    ) -> Self {
        // Fields are separated by a byte none of them may contain, so distinct identities
        // always hash distinct inputs.
        // Hashed piece by piece, as `"{portfolio}\n{cycle}\n{symbol}\n{side}\n{leg}"`: the
        // same digest without formatting the identity into a string first.
        let mut hasher = Sha256::new();
        for piece in [
            portfolio.as_str().as_bytes(),
            b"\n",
            cycle.as_str().as_bytes(),
            b"\n",
            symbol.base().as_bytes(),
            b"/",
            symbol.quote().as_bytes(),
            b"\n",
            side.as_str().as_bytes(),
            b"\n",
            decimal_digits(leg, &mut [0u8; 10]),
        ] {
            hasher.update(piece);
        }
        if let Some(account) = account {
            // After the leg, so ids of the default account's orders are what they always were.
            hasher.update(b"\n@");
            hasher.update(account.as_bytes());
        }
        let digest = hasher.finalize();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; 32];
        for (pair, b) in hex.chunks_exact_mut(2).zip(&digest[..16]) {
            pair.copy_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]]);
        }
        let mut id = String::with_capacity(36);
        id.push_str(Self::PREFIX);
        // Hex digits are ASCII, so always valid UTF-8.
        id.push_str(std::str::from_utf8(&hex).unwrap_or_default());
        Self(id)
    }

    /// An id read back from the exchange or the ledger.
    ///
    /// # Errors
    /// [`DomainError::InvalidClientOrderId`] unless 1 to 36 characters of `[A-Za-z0-9_-]`.
    pub fn parse(id: &str) -> Result<Self, DomainError> {
        let valid = (1..=36).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
        if valid {
            Ok(Self(id.to_owned()))
        } else {
            Err(DomainError::InvalidClientOrderId {
                value: id.to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ClientOrderId {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ClientOrderId> for String {
    fn from(c: ClientOrderId) -> Self {
        c.0
    }
}

/// `n` in decimal digits, written into the end of `buf` (10 digits hold any `u32`).
fn decimal_digits(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut start = buf.len();
    for slot in buf.iter_mut().rev() {
        // n % 10 < 10: the cast cannot truncate.
        *slot = b'0' + (n % 10) as u8;
        start -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.get(start..).unwrap_or_default()
}

/// Milliseconds since the Unix epoch, UTC.
pub type EpochMillis = i64;

/// A fee rate in bps as a message carries it: at least 0 and below 10,000 (the whole amount),
/// else the message is refused.
fn fee_bps<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let bps = crate::exact::option::deserialize(d)?;
    match bps {
        Some(b) if b < Decimal::ZERO || b >= crate::money::BPS => Err(serde::de::Error::custom(
            format!("{b} bps: a fee rate must be at least 0 and below 10000"),
        )),
        _ => Ok(bps),
    }
}

/// An order the planner wants placed: what to trade, the price to start at, the worst price
/// the slippage budget accepts, and until when it may be placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderIntent {
    pub client_order_id: ClientOrderId,
    pub portfolio_id: PortfolioId,
    pub cycle_id: CycleId,
    pub symbol: Symbol,
    pub side: Side,
    /// Distinguishes several orders of one (portfolio, cycle, symbol, side): 0 for the plan's
    /// own order, 1.. for later re-pricings of its remainder.
    pub leg: u32,
    #[serde(with = "crate::exact")]
    pub quantity: Decimal,
    /// The limit price the plan was made with: inside the spread, on the tick grid. The
    /// executor prices the order again by the same rule against the book it meets.
    pub limit_price: Price,
    /// Where in the spread the order is priced (the policy's `limit_offset`, see
    /// [`crate::pricing::limit_price`]). Messages from before it was carried price at the mid.
    #[serde(with = "crate::exact", default = "OrderIntent::mid_offset")]
    pub limit_offset: Decimal,
    /// The mid price the plan was made at; slippage is measured against it.
    pub reference_price: Price,
    /// The worst price the slippage budget accepts: highest for a buy, lowest for a sell.
    pub worst_price: Price,
    #[serde(with = "crate::exact")]
    pub predicted_cost_bps: Decimal,
    pub created_at_ms: EpochMillis,
    pub expires_at_ms: EpochMillis,
    /// A buy the plan paid for with the proceeds of the same cycle's sells: it waits until
    /// they are done, then takes no more than the cash free by then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub funded_by_sells: bool,
    /// A buy's fee rate, in bps, where its venue charges it in the quote on top of the cost
    /// (see [`crate::ports::Venue::buy_fee_in_quote`]): the cash a buy is sized to must cover
    /// it too. Absent for sells and where the fee comes out of the asset bought.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::exact::option::serialize",
        deserialize_with = "fee_bps"
    )]
    pub quote_fee_bps: Option<Decimal>,
    /// The exchange account to place it on (see `PortfolioSpec::account`); `None` is the
    /// deployment's default account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl OrderIntent {
    /// The offset of the mid, where intents without one are priced.
    pub fn mid_offset() -> Decimal {
        Decimal::new(5, 1)
    }

    /// Quantity times limit price, in the quote asset.
    pub fn notional(&self) -> Decimal {
        self.quantity * self.limit_price.value()
    }
}

/// Where an order is in its life. `Pending` is recorded by the scheduler; the executor claims
/// it (`Placing`), places it, and follows it to one of the final states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Pending,
    Queued,
    Placing,
    Placed,
    PartiallyFilled,
    /// Being cancelled to re-place its remainder as the next leg: in flight until that leg is
    /// recorded (or the remainder is known to be nothing), so no cycle plans it again.
    Repricing,
    Filled,
    Cancelled,
    Expired,
    Rejected,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 10] = [
        Self::Pending,
        Self::Queued,
        Self::Placing,
        Self::Placed,
        Self::PartiallyFilled,
        Self::Repricing,
        Self::Filled,
        Self::Cancelled,
        Self::Expired,
        Self::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Queued => "QUEUED",
            Self::Placing => "PLACING",
            Self::Placed => "PLACED",
            Self::PartiallyFilled => "PARTIALLY_FILLED",
            Self::Repricing => "REPRICING",
            Self::Filled => "FILLED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
            Self::Rejected => "REJECTED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// A final state is never left.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Filled | Self::Cancelled | Self::Expired | Self::Rejected
        )
    }

    /// The states this one may move to. The ledger adapter turns this table into conditions,
    /// so an illegal move fails in the store, never by read-then-write.
    pub fn successors(self) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match self {
            Pending => &[Placing, Queued, Expired, Cancelled],
            Queued => &[Placing, Expired, Cancelled],
            // From Placing: placed, or rejected by the exchange, or found filled at once; back to
            // Queued when the book turned out too thin, Expired at the deadline.
            Placing => &[
                Placed,
                PartiallyFilled,
                Filled,
                Rejected,
                Queued,
                Expired,
                Cancelled,
            ],
            Placed => &[PartiallyFilled, Filled, Cancelled, Expired, Repricing],
            PartiallyFilled => &[PartiallyFilled, Filled, Cancelled, Expired, Repricing],
            // Fills may still arrive while the cancel is on its way; it ends when the exchange
            // says the order is done.
            Repricing => &[Repricing, Filled, Cancelled, Expired],
            Filled | Cancelled | Expired | Rejected => &[],
        }
    }

    /// Resting on the exchange as far as the ledger knows: placed and not being cancelled.
    pub fn is_resting(self) -> bool {
        matches!(self, Self::Placed | Self::PartiallyFilled)
    }

    pub fn can_become(self, next: OrderStatus) -> bool {
        self.successors().contains(&next)
    }

    /// The states from which `next` may be reached.
    pub fn predecessors(next: OrderStatus) -> Vec<OrderStatus> {
        Self::ALL
            .into_iter()
            .filter(|s| s.can_become(next))
            .collect()
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (PortfolioId, CycleId, Symbol) {
        (
            PortfolioId::new("article").unwrap(),
            CycleId::new("2026-11-21T09:00Z").unwrap(),
            "BTC/USDT".parse().unwrap(),
        )
    }

    #[test]
    fn client_order_id_is_stable_short_and_on_the_exchange_alphabet() {
        let (p, c, s) = ids();
        let a = ClientOrderId::derive(None, &p, &c, &s, Side::Sell, 0);
        let b = ClientOrderId::derive(None, &p, &c, &s, Side::Sell, 0);
        assert_eq!(a, b);
        assert_eq!(a.as_str().len(), 36);
        assert!(ClientOrderId::parse(a.as_str()).is_ok());
        assert_ne!(a, ClientOrderId::derive(None, &p, &c, &s, Side::Buy, 0));
        assert_ne!(a, ClientOrderId::derive(None, &p, &c, &s, Side::Sell, 1));
        let other_cycle = CycleId::new("2026-11-21T09:05Z").unwrap();
        assert_ne!(
            a,
            ClientOrderId::derive(None, &p, &other_cycle, &s, Side::Sell, 0)
        );
    }

    #[test]
    fn client_order_id_hashes_the_formatted_identity() {
        let (p, c, s) = ids();
        for (side, leg) in [
            (Side::Buy, 0),
            (Side::Sell, 7),
            (Side::Buy, 10),
            (Side::Sell, u32::MAX),
        ] {
            let identity = format!("{p}\n{c}\n{s}\n{side}\n{leg}");
            let digest = Sha256::digest(identity.as_bytes());
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(
                ClientOrderId::derive(None, &p, &c, &s, side, leg).as_str(),
                format!("dl1-{hex}")
            );
        }
        assert_eq!(decimal_digits(0, &mut [0; 10]), b"0");
        assert_eq!(decimal_digits(4_294_967_295, &mut [0; 10]), b"4294967295");
    }

    #[test]
    fn client_order_id_parse_rejects_what_the_exchange_would() {
        assert!(ClientOrderId::parse("").is_err());
        assert!(ClientOrderId::parse("has space").is_err());
        assert!(ClientOrderId::parse(&"x".repeat(37)).is_err());
        assert!(ClientOrderId::parse("web_abc-12").is_ok());
        assert!(
            ClientOrderId::parse("web.abc").is_err(),
            "Binance spot refuses dots"
        );
    }

    #[test]
    fn final_states_have_no_successors_and_the_happy_path_is_legal() {
        for s in OrderStatus::ALL {
            assert_eq!(s.is_final(), s.successors().is_empty(), "{s}");
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
        use OrderStatus::*;
        let path = [Pending, Placing, Placed, PartiallyFilled, Filled];
        assert!(path.windows(2).all(|w| w[0].can_become(w[1])));
        assert!(!Filled.can_become(Placing));
        assert!(
            !Pending.can_become(Filled),
            "an order is never filled before it is placed"
        );
        assert_eq!(OrderStatus::predecessors(Placed), vec![Placing]);
    }
}

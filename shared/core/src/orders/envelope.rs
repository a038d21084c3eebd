//! The message an intent travels in from the scheduler to the executor, and what a follow-up
//! carries of its placed order.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::OrderRecord;
use crate::ports::{ExchangeOrderId, StoreError};
use crate::{Asset, EpochMillis, OrderIntent, OrderStatus};

/// What a follow-up message knows of its placed order: the ledger record as the executor left
/// it when it queued the follow-up. With it the follow-up neither claims nor reads the order;
/// the ledger stays the authority, since every write a follow-up makes is conditional on the
/// stored state (fills only move forward, transitions name their version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedOrder {
    pub status: OrderStatus,
    pub version: u64,
    #[serde(with = "crate::exact")]
    pub filled_qty: Decimal,
    #[serde(with = "crate::exact")]
    pub cumulative_quote_qty: Decimal,
    #[serde(with = "crate::exact")]
    pub fees: Decimal,
    pub fee_asset: Option<Asset>,
    #[serde(with = "crate::exact", default)]
    pub fees_quote: Decimal,
    pub exchange_order_id: Option<ExchangeOrderId>,
    pub attempts: u32,
    pub updated_at_ms: EpochMillis,
}

impl PlacedOrder {
    /// The snapshot of a record resting on the exchange; `None` for any other state, which a
    /// follow-up must learn from the ledger.
    pub fn of(record: &OrderRecord) -> Option<Self> {
        record.status.is_resting().then(|| Self {
            status: record.status,
            version: record.version,
            filled_qty: record.filled_qty,
            cumulative_quote_qty: record.cumulative_quote_qty,
            fees: record.fees,
            fee_asset: record.fee_asset.clone(),
            fees_quote: record.fees_quote,
            exchange_order_id: record.exchange_order_id.clone(),
            attempts: record.attempts,
            updated_at_ms: record.updated_at_ms,
        })
    }

    /// Whether this could be a snapshot of `intent` resting on the exchange: a resting state,
    /// and fills within the order's quantity. A message carrying anything else is followed up
    /// through the ledger instead, as a message without a snapshot is.
    pub fn fits(&self, intent: &OrderIntent) -> bool {
        self.status.is_resting()
            && !self.filled_qty.is_sign_negative()
            && self.filled_qty <= intent.quantity
            && !self.cumulative_quote_qty.is_sign_negative()
            && !self.fees.is_sign_negative()
            && !self.fees_quote.is_sign_negative()
    }

    /// The record this snapshot was taken from (no claim: a resting order holds none; the last
    /// error is not carried).
    pub fn into_record(self, intent: OrderIntent) -> OrderRecord {
        OrderRecord {
            intent,
            status: self.status,
            version: self.version,
            filled_qty: self.filled_qty,
            cumulative_quote_qty: self.cumulative_quote_qty,
            fees: self.fees,
            fee_asset: self.fee_asset,
            fees_quote: self.fees_quote,
            exchange_order_id: self.exchange_order_id.clone(),
            attempts: self.attempts,
            claim_owner: None,
            claim_expires_at_ms: None,
            last_error: None,
            updated_at_ms: self.updated_at_ms,
        }
    }
}

/// The message an intent travels in. Versioned so a reader can refuse what it does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentEnvelope {
    pub v: u32,
    pub intent: OrderIntent,
    /// Set on the follow-up of a placed order (an optional field, so version 1 readers and
    /// messages from before it still agree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed: Option<PlacedOrder>,
}

impl IntentEnvelope {
    pub const VERSION: u32 = 1;

    pub fn new(intent: OrderIntent) -> Self {
        Self {
            v: Self::VERSION,
            intent,
            placed: None,
        }
    }

    /// The follow-up of `record`: its intent, and the record itself while it rests on the
    /// exchange.
    pub fn follow_up(record: &OrderRecord) -> Self {
        Self {
            v: Self::VERSION,
            intent: record.intent.clone(),
            placed: PlacedOrder::of(record),
        }
    }

    /// JSON, decimals as strings.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] if the intent cannot be serialized (it always can).
    pub fn to_json(&self) -> Result<String, StoreError> {
        serde_json::to_string(self).map_err(|e| StoreError::InvalidInput {
            field: "intent",
            value: self.intent.client_order_id.to_string(),
            reason: if e.is_io() { "io" } else { "not serializable" },
        })
    }

    /// # Errors
    /// [`StoreError::Corrupt`] naming the field for malformed JSON, an unknown version or an
    /// invalid intent.
    pub fn from_json(body: &str) -> Result<Self, StoreError> {
        #[derive(Deserialize)]
        struct Versioned {
            v: u32,
        }
        let corrupt = |field, reason: String| StoreError::Corrupt {
            what: "intent message",
            field,
            reason,
        };
        let head: Versioned =
            serde_json::from_str(body).map_err(|e| corrupt("v", e.to_string()))?;
        if head.v != Self::VERSION {
            return Err(corrupt("v", format!("unknown envelope version {}", head.v)));
        }
        let de = &mut serde_json::Deserializer::from_str(body);
        serde_path_to_error::deserialize(de).map_err(|e| StoreError::Corrupt {
            what: "intent message",
            field: "intent",
            reason: format!("{}: {}", e.path(), e.inner()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::record::tests::intent;
    use rust_decimal::Decimal;

    #[test]
    fn a_fee_rate_outside_0_to_10000_bps_is_refused_naming_the_field() {
        let mut e = IntentEnvelope::new(intent(5));
        e.intent.quote_fee_bps = Some(Decimal::new(26, 0));
        let json = e.to_json().unwrap();
        assert!(json.contains("\"quote_fee_bps\":\"26\""), "{json}");
        assert_eq!(IntentEnvelope::from_json(&json).unwrap(), e);
        for bad in ["-10000", "10000", "99999.5"] {
            let body = json.replace("\"26\"", &format!("\"{bad}\""));
            let err = IntentEnvelope::from_json(&body).unwrap_err().to_string();
            assert!(err.contains("intent.quote_fee_bps"), "{bad}: {err}");
            assert!(err.contains("at least 0 and below 10000"), "{bad}: {err}");
        }
    }

    #[test]
    fn envelope_round_trips_with_decimals_as_strings_and_refuses_unknown_versions() {
        let e = IntentEnvelope::new(intent(5));
        let json = e.to_json().unwrap();
        assert!(json.contains("\"quantity\":\"0.5\""), "{json}");
        assert!(json.starts_with("{\"v\":1,"));
        assert_eq!(IntentEnvelope::from_json(&json).unwrap(), e);
        let v2 = json.replacen("\"v\":1", "\"v\":2", 1);
        assert!(IntentEnvelope::from_json(&v2)
            .unwrap_err()
            .to_string()
            .contains("version 2"));
        let bad = json.replace("\"0.5\"", "\"half\"");
        let err = IntentEnvelope::from_json(&bad).unwrap_err().to_string();
        assert!(err.contains("intent.quantity"), "{err}");
    }
}

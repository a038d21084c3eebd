//! Each order's journey, as the ledger shows it between executor rounds: planned, deferred on a
//! thin book k times, placed, partially filled, filled (or cancelled, expired, rejected).

use std::collections::BTreeMap;

use driftline_core::orders::{execution_quality, OrderRecord};
use driftline_core::{OrderStatus, Side};
use rust_decimal::Decimal;
use serde::Serialize;

/// One order's life as observed.
#[derive(Debug, Clone, Serialize)]
pub struct Journey {
    /// The demo cycle (1-based) that planned it.
    pub cycle: u32,
    pub record: OrderRecord,
    /// Times the executor put it back on the queue because the book was too thin.
    pub queued: u32,
    /// What happened, in order.
    pub events: Vec<String>,
    #[serde(skip)]
    reported: bool,
}

impl Journey {
    fn new(cycle: u32, record: OrderRecord) -> Self {
        let i = &record.intent;
        let leg = if i.leg > 0 {
            format!(" (leg {}: the remainder of an earlier order)", i.leg)
        } else {
            String::new()
        };
        let event = format!(
            "intent{leg} {} {} {} @ {} (mid {})",
            i.side,
            i.quantity,
            i.symbol.base(),
            i.limit_price,
            i.reference_price
        );
        let mut j = Self {
            cycle,
            record: record.clone(),
            queued: 0,
            events: vec![event],
            reported: false,
        };
        // Observed for the first time already past PENDING: count what happened meanwhile.
        j.record.status = OrderStatus::Pending;
        j.record.attempts = 0;
        j.record.filled_qty = Decimal::ZERO;
        j.update(record);
        j
    }

    /// Records what changed since the last look.
    fn update(&mut self, now: OrderRecord) {
        let before = &self.record;
        let new_attempts = now.attempts.saturating_sub(before.attempts);
        let deferred = if now.status == OrderStatus::Queued {
            new_attempts
        } else {
            // The attempt that placed it was not deferred; any before it were.
            new_attempts.saturating_sub(1)
        };
        let why = match now.last_error.as_deref() {
            Some(e) if e.contains("thin") => "book too thin",
            _ => "retry",
        };
        for _ in 0..deferred {
            self.queued += 1;
            self.events.push(format!("queued ({why})"));
        }
        let placed_now = matches!(
            now.status,
            OrderStatus::Placed | OrderStatus::PartiallyFilled | OrderStatus::Filled
        ) && matches!(
            before.status,
            OrderStatus::Pending | OrderStatus::Queued | OrderStatus::Placing
        ) && now.exchange_order_id.is_some();
        if placed_now {
            self.events.push("placed".into());
        }
        if now.filled_qty > before.filled_qty && now.filled_qty < now.intent.quantity {
            self.events.push(format!(
                "partially filled {}/{}",
                now.filled_qty.normalize(),
                now.intent.quantity.normalize()
            ));
        }
        if now.status != before.status && now.status.is_final() {
            let event = match now.status {
                OrderStatus::Filled => "filled".to_owned(),
                s => match &now.last_error {
                    Some(why) => format!("{} ({why})", status_word(s)),
                    None => status_word(s).to_owned(),
                },
            };
            self.events.push(event);
        }
        self.record = now;
    }

    pub fn is_final(&self) -> bool {
        self.record.status.is_final()
    }

    /// Average fill price, when something filled.
    pub fn average_price(&self) -> Option<Decimal> {
        let r = &self.record;
        (!r.filled_qty.is_zero()).then(|| r.cumulative_quote_qty / r.filled_qty)
    }

    /// Slippage of the average fill against the reference mid, in bps; positive is worse.
    pub fn slippage_bps(&self) -> Option<Decimal> {
        execution_quality(&self.record).slippage_bps
    }

    /// Commission and its asset, as the ledger recorded them from the order's fills.
    pub fn commission(&self) -> (Decimal, String) {
        let r = &self.record;
        (
            r.fees,
            r.fee_asset
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        )
    }

    /// Every commission in the quote asset, as the ledger recorded it.
    pub fn fees_quote(&self) -> Decimal {
        self.record.fees_quote
    }

    /// What slippage cost in the quote asset (negative: the fills beat the mid).
    pub fn slippage_quote(&self) -> Decimal {
        let r = &self.record;
        let reference = r.intent.reference_price.value();
        let at_mid = r.filled_qty * reference;
        match r.intent.side {
            Side::Buy => r.cumulative_quote_qty - at_mid,
            Side::Sell => at_mid - r.cumulative_quote_qty,
        }
    }
}

fn status_word(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::Pending => "pending",
        OrderStatus::Queued => "queued",
        OrderStatus::Placing => "placing",
        OrderStatus::Placed => "placed",
        OrderStatus::PartiallyFilled => "partially filled",
        OrderStatus::Repricing => "re-pricing",
        OrderStatus::Filled => "filled",
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::Expired => "expired",
        OrderStatus::Rejected => "rejected",
    }
}

/// Every order seen so far, by client order id.
#[derive(Debug, Default)]
pub struct Journal {
    pub journeys: BTreeMap<String, Journey>,
}

impl Journal {
    /// Takes in the ledger's current records; `cycle` is the demo cycle running now.
    pub fn observe(&mut self, cycle: u32, records: Vec<OrderRecord>) {
        for r in records {
            let id = r.intent.client_order_id.to_string();
            match self.journeys.get_mut(&id) {
                Some(j) => j.update(r),
                None => {
                    self.journeys.insert(id, Journey::new(cycle, r));
                }
            }
        }
    }

    pub fn open(&self) -> impl Iterator<Item = &Journey> {
        self.journeys.values().filter(|j| !j.is_final())
    }

    /// Final journeys not yet printed; marks them printed.
    pub fn newly_final(&mut self) -> Vec<Journey> {
        let mut done: Vec<Journey> = self
            .journeys
            .values_mut()
            .filter(|j| j.is_final() && !j.reported)
            .map(|j| {
                j.reported = true;
                j.clone()
            })
            .collect();
        done.sort_by_key(|j| {
            let i = &j.record.intent;
            (
                j.cycle,
                i.portfolio_id.to_string(),
                i.symbol.to_string(),
                i.leg,
            )
        });
        done
    }

    /// Whether a later leg of the same (portfolio, cycle, symbol, side) carried this order's
    /// remainder.
    pub fn replaced(&self, j: &Journey) -> bool {
        let i = &j.record.intent;
        self.journeys.values().any(|o| {
            let k = &o.record.intent;
            k.portfolio_id == i.portfolio_id
                && k.cycle_id == i.cycle_id
                && k.symbol == i.symbol
                && k.side == i.side
                && k.leg > i.leg
        })
    }
}

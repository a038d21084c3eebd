//! The demo's report: what each cycle decided, each order's journey and cost, where every
//! portfolio ended, and the totals. Written as JSON (decimals as strings) and read back by the
//! demo's test.

use driftline_core::exact;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One asset's row in a cycle's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetRow {
    pub asset: String,
    #[serde(with = "exact")]
    pub weight: Decimal,
    #[serde(with = "exact")]
    pub target: Decimal,
    #[serde(with = "exact")]
    pub drift: Decimal,
    /// Half-width of the no-trade band.
    #[serde(with = "exact")]
    pub band: Decimal,
    /// `trade`, `in band`, `quote asset`, or `skipped`.
    pub decision: String,
    /// Why, for a trade or a skip.
    pub reason: Option<String>,
}

/// A portfolio in one cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortfolioCycle {
    pub portfolio: String,
    /// The scheduler's outcome: `planned`, `lease_held`, `already_ran`, `failed: ...`.
    pub outcome: String,
    pub orders_planned: usize,
    #[serde(with = "exact::option")]
    pub equity: Option<Decimal>,
    pub assets: Vec<AssetRow>,
    /// Over several accounts: each account's weights alone, before the cycle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alone: Vec<AccountAlone>,
    /// Over several accounts: each trade of the cycle's plan, and its cost on every account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RoutedTrade>,
}

/// One account of a portfolio over several, weighed as if it were the whole portfolio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountAlone {
    pub account: String,
    pub venue: String,
    #[serde(with = "exact")]
    pub equity: Decimal,
    /// Per target asset, in asset order.
    pub weights: Vec<AssetWeight>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetWeight {
    pub asset: String,
    #[serde(with = "exact")]
    pub weight: Decimal,
}

/// A trade the plan routed: the asset, the side (none when no account could take it), and
/// the cost on each account that lists it, the chosen ones marked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutedTrade {
    pub asset: String,
    pub side: Option<String>,
    pub routes: Vec<driftline_core::RouteQuote>,
}

/// What happened to a portfolio over several accounts over the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpreadOutcome {
    pub portfolio: String,
    pub outcome: String,
}

/// The executor's work in one cycle, as Lambda's SQS event source mapping would see it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutorWork {
    pub invocations: usize,
    pub messages: usize,
    /// Messages reported as batch item failures (they come back after their delay).
    pub batch_item_failures: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleReport {
    /// 1-based.
    pub index: u32,
    pub cycle_id: String,
    /// What the scripted market did in this cycle.
    pub market: Vec<String>,
    pub portfolios: Vec<PortfolioCycle>,
    pub executor: ExecutorWork,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderReport {
    pub portfolio: String,
    pub client_order_id: String,
    /// The demo cycle that planned it.
    pub cycle: u32,
    pub symbol: String,
    pub side: String,
    #[serde(with = "exact")]
    pub quantity: Decimal,
    #[serde(with = "exact")]
    pub limit_price: Decimal,
    /// The mid when it was planned; slippage is measured against it.
    #[serde(with = "exact")]
    pub reference_mid: Decimal,
    /// The ledger's final (or last) status.
    pub status: String,
    #[serde(with = "exact")]
    pub filled_qty: Decimal,
    #[serde(with = "exact::option")]
    pub average_price: Option<Decimal>,
    /// Positive: worse than the reference mid.
    #[serde(with = "exact::option")]
    pub slippage_bps: Option<Decimal>,
    #[serde(with = "exact")]
    pub fees: Decimal,
    pub fee_asset: Option<String>,
    #[serde(with = "exact")]
    pub fees_quote: Decimal,
    /// Times deferred because the book was too thin.
    pub queued: u32,
    pub journey: Vec<String>,
}

/// A portfolio at the end: its weights at the last mids, after every fill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalPortfolio {
    pub portfolio: String,
    #[serde(with = "exact")]
    pub equity: Decimal,
    pub assets: Vec<AssetRow>,
    pub within_bands: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    pub cycle: u32,
    pub portfolio: String,
    pub asset: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub orders: usize,
    pub filled: usize,
    /// Cancelled with their remainder carried by a later leg (re-priced after the market
    /// moved away, or re-sized to a thin book).
    pub replaced: usize,
    /// Orders in any other final state, or still open.
    pub not_filled: usize,
    /// Trades on the paper exchange (one order can fill in several).
    pub fills: usize,
    /// Notional-weighted over filled quantity; positive is worse than the mid.
    #[serde(with = "exact::option")]
    pub average_slippage_bps: Option<Decimal>,
    #[serde(with = "exact")]
    pub traded_notional: Decimal,
    #[serde(with = "exact")]
    pub fees: Decimal,
    /// What the fills cost against the reference mids (negative: they beat the mid).
    #[serde(with = "exact")]
    pub slippage_cost: Decimal,
    #[serde(with = "exact")]
    pub total_cost: Decimal,
    pub skipped: Vec<Skip>,
    /// Orders on the exchange.
    pub venue_orders: usize,
    /// Client order ids the exchange saw more than once (must be empty).
    pub duplicate_client_order_ids: Vec<String>,
    /// Messages on the dead-letter queue (must be none).
    pub dead_letters: usize,
}

/// The demo's timing settings, so a reader knows what was shortened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    pub schedule_period_seconds: u32,
    pub retry_backoff_seconds: String,
    pub follow_up_delay_seconds: u32,
    pub visibility_timeout_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub quote: String,
    pub timing: Timing,
    pub cycles: Vec<CycleReport>,
    pub orders: Vec<OrderReport>,
    pub final_state: Vec<FinalPortfolio>,
    /// The portfolios over several accounts: nothing traded, or where the trades went.
    pub spread: Vec<SpreadOutcome>,
    pub summary: Summary,
}

//! `driftline orders`: the ledger as a person reads it. An order is what a cycle planned for
//! one symbol and side; when the executor re-prices its remainder, each new leg is a record of
//! its own, so the records of one (portfolio, cycle, symbol, side) are shown together, leg 0
//! first. For each order and each leg: status, filled quantity, average price, fees in the
//! quote asset and slippage against the plan's mid in bps, by the one rule the executor's
//! metrics use ([`execution_quality`]); and the last error.
//!
//! Decimals are exact: as strings in JSON and CSV, rounded only for the table.

use std::collections::BTreeMap;

use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use driftline_core::orders::{execution_quality, OrderRecord};
use driftline_core::ports::{ExchangeOrderId, OrderLedger, PortfolioConfigs};
use driftline_core::{EpochMillis, OrderStatus, PortfolioId};
use rust_decimal::Decimal;
use serde::Serialize;

use super::support::to_json;
use super::time::{parse_since, rfc3339, short};
use super::{block_on, outputs, Console, ConsoleError, Target};

#[derive(Debug, Args)]
pub struct OrdersArgs {
    /// Only this portfolio's orders (default: every portfolio's).
    #[arg(long, value_name = "ID")]
    pub portfolio: Option<String>,
    /// Only orders planned at or after this date (2027-01-15) or date-time
    /// (2027-01-15T08:00:00Z), UTC unless an offset is given.
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only orders not yet final (any leg pending, queued, placing, resting or re-pricing).
    #[arg(long)]
    pub open: bool,
    /// Print JSON (decimals as strings) instead of a table.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV, one row per leg.
    #[arg(long)]
    pub csv: bool,
}

/// What filled of a leg or of a whole order, in the same fields for both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Filled {
    #[serde(with = "driftline_core::exact")]
    pub filled_qty: Decimal,
    /// Cumulative quote over filled quantity; absent while nothing filled.
    #[serde(with = "driftline_core::exact::option")]
    pub average_price: Option<Decimal>,
    #[serde(with = "driftline_core::exact")]
    pub cumulative_quote_qty: Decimal,
}

impl Filled {
    /// From the ledger's filled quantity and cumulative quote, normalized.
    fn of(filled_qty: Decimal, cumulative_quote_qty: Decimal) -> Self {
        Self {
            filled_qty: filled_qty.normalize(),
            average_price: (!filled_qty.is_zero())
                .then(|| (cumulative_quote_qty / filled_qty).normalize()),
            cumulative_quote_qty: cumulative_quote_qty.normalize(),
        }
    }
}

/// What the ledger says of one record: a leg of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegView {
    pub leg: u32,
    pub client_order_id: String,
    pub status: &'static str,
    #[serde(with = "driftline_core::exact")]
    pub quantity: Decimal,
    #[serde(with = "driftline_core::exact")]
    pub limit_price: Decimal,
    #[serde(flatten)]
    pub filled: Filled,
    /// Commissions in `fee_asset`, as charged.
    #[serde(with = "driftline_core::exact")]
    pub fees: Decimal,
    pub fee_asset: Option<String>,
    /// Every commission in the quote asset.
    #[serde(with = "driftline_core::exact")]
    pub fees_quote: Decimal,
    /// Against the plan's mid; positive is worse for us. Absent while nothing filled.
    #[serde(with = "driftline_core::exact::option")]
    pub slippage_bps: Option<Decimal>,
    pub exchange_order_id: Option<ExchangeOrderId>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub updated_at: String,
}

/// One order: the legs of one (portfolio, cycle, symbol, side), with their totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderView {
    pub portfolio: String,
    pub cycle: String,
    pub symbol: String,
    pub side: String,
    pub quote: String,
    pub planned_at: String,
    #[serde(skip)]
    pub planned_at_ms: EpochMillis,
    /// The plan's quantity (leg 0's).
    #[serde(with = "driftline_core::exact")]
    pub quantity: Decimal,
    /// The mid the plan was made at; slippage is measured against it.
    #[serde(with = "driftline_core::exact")]
    pub reference_price: Decimal,
    /// The latest leg's status.
    pub status: &'static str,
    /// Whether any leg is not final yet.
    pub open: bool,
    #[serde(flatten)]
    pub filled: Filled,
    #[serde(with = "driftline_core::exact")]
    pub fees_quote: Decimal,
    #[serde(with = "driftline_core::exact::option")]
    pub slippage_bps: Option<Decimal>,
    /// The latest leg's last error.
    pub last_error: Option<String>,
    pub legs: Vec<LegView>,
}

fn leg_view(r: &OrderRecord) -> LegView {
    let quality = execution_quality(r);
    LegView {
        leg: r.intent.leg,
        client_order_id: r.intent.client_order_id.to_string(),
        status: r.status.as_str(),
        quantity: r.intent.quantity.normalize(),
        limit_price: r.intent.limit_price.value().normalize(),
        filled: Filled::of(r.filled_qty, r.cumulative_quote_qty),
        fees: r.fees.normalize(),
        fee_asset: r.fee_asset.as_ref().map(ToString::to_string),
        fees_quote: r.fees_quote.normalize(),
        slippage_bps: quality.slippage_bps.map(|d| d.normalize()),
        exchange_order_id: r.exchange_order_id.clone(),
        attempts: r.attempts,
        last_error: r.last_error.clone(),
        updated_at: rfc3339(r.updated_at_ms),
    }
}

/// Groups a portfolio's records into orders (leg 0 first), oldest plan first.
pub fn group(records: Vec<OrderRecord>) -> Vec<OrderView> {
    let mut groups: BTreeMap<(String, String, String, String), Vec<OrderRecord>> = BTreeMap::new();
    for r in records {
        let i = &r.intent;
        let key = (
            i.portfolio_id.to_string(),
            i.cycle_id.to_string(),
            i.symbol.to_string(),
            i.side.to_string(),
        );
        groups.entry(key).or_default().push(r);
    }
    let mut orders: Vec<OrderView> = groups
        .into_values()
        .filter_map(|mut legs| {
            legs.sort_by_key(|r| r.intent.leg);
            let first = legs.first()?.clone();
            let last = legs.last()?.clone();
            // The order as one record against the plan's intent: the same rule measures it.
            let mut whole = first.clone();
            whole.filled_qty = legs.iter().map(|r| r.filled_qty).sum();
            whole.cumulative_quote_qty = legs.iter().map(|r| r.cumulative_quote_qty).sum();
            whole.fees_quote = legs.iter().map(|r| r.fees_quote).sum();
            let quality = execution_quality(&whole);
            let i = &first.intent;
            Some(OrderView {
                portfolio: i.portfolio_id.to_string(),
                cycle: i.cycle_id.to_string(),
                symbol: i.symbol.to_string(),
                side: i.side.to_string(),
                quote: i.symbol.quote().to_string(),
                planned_at: rfc3339(i.created_at_ms),
                planned_at_ms: i.created_at_ms,
                quantity: i.quantity.normalize(),
                reference_price: i.reference_price.value().normalize(),
                status: last.status.as_str(),
                open: legs.iter().any(|r| !r.status.is_final()),
                filled: Filled::of(whole.filled_qty, whole.cumulative_quote_qty),
                fees_quote: whole.fees_quote.normalize(),
                slippage_bps: quality.slippage_bps.map(|d| d.normalize()),
                last_error: last.last_error.clone(),
                legs: legs.iter().map(leg_view).collect(),
            })
        })
        .collect();
    orders.sort_by(|a, b| {
        (a.planned_at_ms, &a.portfolio, &a.symbol, &a.side).cmp(&(
            b.planned_at_ms,
            &b.portfolio,
            &b.symbol,
            &b.side,
        ))
    });
    orders
}

/// The orders the arguments ask for.
///
/// # Errors
/// [`ConsoleError::Input`] for a bad `--since`, [`ConsoleError::Refused`] for a portfolio the
/// deployment has never heard of, or the store's error.
pub async fn read(console: &Console, args: &OrdersArgs) -> Result<Vec<OrderView>, ConsoleError> {
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since("--since", s))
        .transpose()?;
    let store = console.store()?;
    let ids = match &args.portfolio {
        Some(id) => {
            let id = PortfolioId::new(id)
                .map_err(|e| ConsoleError::Input(format!("--portfolio {id:?}: {e}")))?;
            // A removed portfolio's orders stay until their TTL: unknown only when neither
            // its configuration nor any order is there.
            if store.portfolio(&id).await?.is_none() && store.orders(&id).await?.is_empty() {
                return Err(unknown_portfolio(&id, store.table()));
            }
            vec![id]
        }
        None => store.portfolio_ids().await?,
    };
    let mut orders = Vec::new();
    for id in &ids {
        orders.extend(group(store.orders(id).await?));
    }
    orders.retain(|o| since.is_none_or(|s| o.planned_at_ms >= s) && (!args.open || o.open));
    orders.sort_by(|a, b| {
        (a.planned_at_ms, &a.portfolio, &a.symbol).cmp(&(b.planned_at_ms, &b.portfolio, &b.symbol))
    });
    Ok(orders)
}

/// The error for a portfolio id the table does not know.
pub fn unknown_portfolio(id: &PortfolioId, table: &str) -> ConsoleError {
    ConsoleError::Refused(format!(
        "no portfolio {:?} in table {table} (driftline portfolio list shows the ones there are)",
        id.as_str()
    ))
}

fn dp(d: Decimal, places: u32) -> String {
    d.round_dp_with_strategy(places, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .normalize()
        .to_string()
}

fn bps(d: Option<Decimal>) -> String {
    d.map(|d| {
        format!(
            "{:+.2} bps",
            d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        )
    })
    .unwrap_or_default()
}

/// The orders as a table: one row per order, and one per leg under it when it has several.
pub fn render(orders: &[OrderView]) -> String {
    if orders.is_empty() {
        return "no orders\n".into();
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "planned at",
        "portfolio",
        "order",
        "leg",
        "status",
        "quantity",
        "filled",
        "avg price",
        "fees (quote)",
        "slippage",
        "last error",
    ]);
    let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
    // A filled order's last wait (a thin book, say) is history, not an error: left out here,
    // kept in the JSON and CSV as the ledger has it.
    let error = |status: &str, e: &Option<String>| {
        Cell::new(if status == OrderStatus::Filled.as_str() {
            String::new()
        } else {
            e.clone().unwrap_or_default()
        })
    };
    for o in orders {
        let several = o.legs.len() > 1;
        table.add_row(vec![
            Cell::new(short(o.planned_at_ms)),
            Cell::new(&o.portfolio),
            Cell::new(format!("{} {}", o.side, o.symbol)),
            Cell::new(if several {
                format!("{} legs", o.legs.len())
            } else {
                "0".into()
            }),
            Cell::new(o.status),
            right(o.quantity.to_string()),
            right(o.filled.filled_qty.to_string()),
            right(o.filled.average_price.map(|p| dp(p, 8)).unwrap_or_default()),
            right(format!("{} {}", o.fees_quote, o.quote)),
            right(bps(o.slippage_bps)),
            error(o.status, &o.last_error),
        ]);
        if several {
            for l in &o.legs {
                table.add_row(vec![
                    Cell::new(""),
                    Cell::new(""),
                    Cell::new(format!("  {}", l.client_order_id)),
                    Cell::new(l.leg.to_string()),
                    Cell::new(l.status),
                    right(l.quantity.to_string()),
                    right(l.filled.filled_qty.to_string()),
                    right(l.filled.average_price.map(|p| dp(p, 8)).unwrap_or_default()),
                    right(format!("{} {}", l.fees_quote, o.quote)),
                    right(bps(l.slippage_bps)),
                    error(l.status, &l.last_error),
                ]);
            }
        }
    }
    let open = orders.iter().filter(|o| o.open).count();
    format!("{table}\n{} order(s) · {open} open\n", orders.len())
}

/// The orders as CSV, one row per leg.
///
/// # Errors
/// [`ConsoleError::Input`] when the CSV cannot be written.
pub fn csv(orders: &[OrderView]) -> Result<String, ConsoleError> {
    let failed = |e: csv::Error| ConsoleError::Input(format!("cannot write CSV: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "portfolio",
        "cycle",
        "symbol",
        "side",
        "planned_at",
        "reference_price",
        "leg",
        "client_order_id",
        "status",
        "quantity",
        "limit_price",
        "filled_qty",
        "average_price",
        "cumulative_quote_qty",
        "fees",
        "fee_asset",
        "fees_quote",
        "slippage_bps",
        "exchange_order_id",
        "attempts",
        "last_error",
        "updated_at",
    ])
    .map_err(failed)?;
    let opt = |d: Option<Decimal>| d.map(|d| d.to_string()).unwrap_or_default();
    for o in orders {
        for l in &o.legs {
            w.write_record([
                o.portfolio.clone(),
                o.cycle.clone(),
                o.symbol.clone(),
                o.side.clone(),
                o.planned_at.clone(),
                o.reference_price.to_string(),
                l.leg.to_string(),
                l.client_order_id.clone(),
                l.status.to_owned(),
                l.quantity.to_string(),
                l.limit_price.to_string(),
                l.filled.filled_qty.to_string(),
                opt(l.filled.average_price),
                l.filled.cumulative_quote_qty.to_string(),
                l.fees.to_string(),
                l.fee_asset.clone().unwrap_or_default(),
                l.fees_quote.to_string(),
                opt(l.slippage_bps),
                l.exchange_order_id
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                l.attempts.to_string(),
                l.last_error.clone().unwrap_or_default(),
                l.updated_at.clone(),
            ])
            .map_err(failed)?;
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ConsoleError::Input(format!("cannot write CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| ConsoleError::Input(format!("cannot write CSV: {e}")))
}

/// `driftline orders`.
///
/// # Errors
/// [`ConsoleError`] naming the bad argument or what could not be read.
pub fn run(target: &Target, args: &OrdersArgs) -> Result<(), ConsoleError> {
    // A bad date is refused before anything is looked up.
    if let Some(s) = &args.since {
        parse_since("--since", s)?;
    }
    let orders = block_on(async {
        let console = Console::connect(target, &[outputs::TABLE]).await?;
        read(&console, args).await
    })?;
    if args.json {
        println!("{}", to_json(&orders)?);
    } else if args.csv {
        print!("{}", csv(&orders)?);
    } else {
        print!("{}", render(&orders));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftline_core::orders::next_leg;
    use driftline_core::{ClientOrderId, CycleId, OrderIntent, Price, Side, Symbol};
    use rust_decimal_macros::dec;

    fn intent(side: Side, symbol: &str, created_at_ms: EpochMillis) -> OrderIntent {
        let portfolio_id = PortfolioId::new("p1").unwrap();
        let cycle_id = CycleId::new("c1").unwrap();
        let symbol: Symbol = symbol.parse().unwrap();
        OrderIntent {
            client_order_id: ClientOrderId::derive(
                None,
                &portfolio_id,
                &cycle_id,
                &symbol,
                side,
                0,
            ),
            portfolio_id,
            cycle_id,
            symbol,
            side,
            leg: 0,
            quantity: dec!(2),
            limit_price: Price::new(dec!(100)).unwrap(),
            limit_offset: OrderIntent::mid_offset(),
            reference_price: Price::new(dec!(100)).unwrap(),
            worst_price: Price::new(dec!(102)).unwrap(),
            predicted_cost_bps: dec!(3),
            created_at_ms,
            expires_at_ms: created_at_ms + 900_000,
            funded_by_sells: false,
            quote_fee_bps: None,
            account: None,
        }
    }

    fn filled(
        mut r: OrderRecord,
        status: OrderStatus,
        qty: Decimal,
        quote: Decimal,
        fees: Decimal,
    ) -> OrderRecord {
        r.status = status;
        r.filled_qty = qty;
        r.cumulative_quote_qty = quote;
        r.fees_quote = fees;
        r
    }

    #[test]
    fn the_table_shows_no_error_on_a_filled_order_and_the_data_keeps_it() {
        let waited = |status, symbol| OrderRecord {
            last_error: Some(format!("book too thin for {symbol}")),
            ..filled(
                OrderRecord::pending(intent(Side::Buy, symbol, 1_000), 1_000),
                status,
                dec!(2),
                dec!(200),
                dec!(0.2),
            )
        };
        let orders = group(vec![
            waited(OrderStatus::Filled, "BTC/USDT"),
            waited(OrderStatus::Cancelled, "ETH/USDT"),
        ]);
        let table = render(&orders);
        assert!(!table.contains("book too thin for BTC/USDT"), "{table}");
        assert!(table.contains("book too thin for ETH/USDT"), "{table}");
        assert!(csv(&orders).unwrap().contains("book too thin for BTC/USDT"));
    }

    #[test]
    fn a_repriced_order_is_one_order_with_its_legs_measured_against_the_plans_mid() {
        let buy = intent(Side::Buy, "BTC/USDT", 1_000);
        let leg1 = next_leg(&buy, dec!(1.5), Price::new(dec!(101)).unwrap(), 5_000);
        let records = vec![
            // Leg 1 first on purpose: the ledger lists records by client order id.
            filled(
                OrderRecord::pending(leg1, 5_000),
                OrderStatus::Filled,
                dec!(1.5),
                dec!(151.5),
                dec!(0.1515),
            ),
            filled(
                OrderRecord::pending(buy, 1_000),
                OrderStatus::Cancelled,
                dec!(0.5),
                dec!(50),
                dec!(0.05),
            ),
            OrderRecord::pending(intent(Side::Sell, "ETH/USDT", 500), 500),
        ];
        let orders = group(records);
        assert_eq!(orders.len(), 2);
        // Oldest plan first.
        assert_eq!(orders[0].symbol, "ETH/USDT");
        assert!(orders[0].open);
        assert_eq!(orders[0].filled.average_price, None);
        assert_eq!(orders[0].slippage_bps, None);
        let o = &orders[1];
        assert_eq!(o.legs.iter().map(|l| l.leg).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(o.status, "FILLED", "the latest leg's");
        assert!(!o.open);
        assert_eq!(o.quantity, dec!(2), "the plan's quantity");
        assert_eq!(o.filled.filled_qty, dec!(2));
        assert_eq!(o.filled.cumulative_quote_qty, dec!(201.5));
        assert_eq!(o.fees_quote, dec!(0.2015));
        assert_eq!(o.filled.average_price, Some(dec!(100.75)));
        // A buy that paid 100.75 against a mid of 100: 75 bps worse, for the order and for
        // the leg that paid 101 (every leg keeps the plan's mid).
        assert_eq!(o.slippage_bps, Some(dec!(75)));
        assert_eq!(o.legs[0].slippage_bps, Some(dec!(0)));
        assert_eq!(o.legs[1].slippage_bps, Some(dec!(100)));
        assert_eq!(o.legs[1].filled.average_price, Some(dec!(101)));

        let table = render(&orders);
        assert!(table.contains("2 legs"), "{table}");
        assert!(table.contains("+75.00 bps"), "{table}");
        assert!(table.contains("2 order(s) · 1 open"), "{table}");
        let csv = csv(&orders).unwrap();
        assert_eq!(
            csv.lines().count(),
            4,
            "a header and one row per leg: {csv}"
        );
    }
}

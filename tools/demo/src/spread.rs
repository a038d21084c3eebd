//! The demo's portfolios over several accounts: what each account holds on its venue, what it
//! would weigh alone (the view a per-exchange rebalancer has), where the plan routes each
//! trade and what it would have cost elsewhere, and, at the end, what happened.

use std::collections::BTreeMap;

use driftline_core::config::PortfolioSpec;
use driftline_core::ports::Venue;
use driftline_core::{Asset, CycleId, Portfolio, PortfolioId, RouteQuote};
use driftline_sandbox::World;
use rust_decimal::Decimal;

use crate::report::{AccountAlone, AssetWeight, OrderReport, RoutedTrade};
use crate::DemoError;

/// The paper-exchange accounts a portfolio trades on, by name (a portfolio without one trades
/// on the first venue's first account, the article's).
pub fn accounts_of(spec: &PortfolioSpec) -> Vec<String> {
    spec.account_ids()
        .into_iter()
        .map(|a| a.unwrap_or("article").to_owned())
        .collect()
}

/// Whether the portfolio is spread over several accounts.
pub fn is_spread(spec: &PortfolioSpec) -> bool {
    spec.accounts.len() > 1
}

/// The venue holding the paper account `account`.
pub fn venue_of(world: &World, account: &str) -> Result<Venue, DemoError> {
    world
        .venue_holding(account)
        .map(|v| v.dialect().into())
        .ok_or_else(|| DemoError::Venue(format!("no venue holds account {account}")))
}

/// One account's part of a portfolio: the value at the venue's mids of each target asset it
/// holds (free and locked), in the portfolio's quote.
pub struct Held {
    pub account: String,
    pub venue: Venue,
    pub values: BTreeMap<Asset, Decimal>,
}

fn mid(world: &World, venue: Venue, asset: &Asset, quote: &Asset) -> Result<Decimal, DemoError> {
    if asset == quote {
        return Ok(Decimal::ONE);
    }
    let exchange = world
        .venues()
        .find(|v| Venue::from(v.dialect()) == venue)
        .ok_or_else(|| DemoError::Venue(format!("no {venue} venue")))?;
    exchange
        .with_engine(|e| e.mid(&format!("{asset}{quote}")))
        .map_err(|e| DemoError::Venue(format!("{asset}{quote} on {venue}: {e:?}")))
}

/// Every account's holdings of `portfolio`'s targets, valued at its venue's mids.
///
/// # Errors
/// [`DemoError::Venue`] when an account or a market is not on its venue.
pub fn held(
    world: &World,
    spec: &PortfolioSpec,
    portfolio: &Portfolio,
) -> Result<Vec<Held>, DemoError> {
    let quote = portfolio.quote();
    accounts_of(spec)
        .into_iter()
        .map(|account| {
            let venue = venue_of(world, &account)?;
            let exchange = world
                .venue_holding(&account)
                .ok_or_else(|| DemoError::Venue(format!("no venue holds account {account}")))?;
            let balances = exchange.with_engine(|e| e.balances(&account).cloned());
            let balances = balances.map_err(|e| DemoError::Venue(format!("{account}: {e:?}")))?;
            let mut values = BTreeMap::new();
            for asset in portfolio.targets().assets() {
                let qty = balances
                    .get(asset)
                    .map(|b| b.free + b.locked)
                    .unwrap_or_default();
                values.insert(asset.clone(), qty * mid(world, venue, asset, quote)?);
            }
            Ok(Held {
                account,
                venue,
                values,
            })
        })
        .collect()
}

/// What the portfolio holds off every exchange, valued at the first account's venue's mids.
///
/// # Errors
/// [`DemoError::Venue`] when a market is not on that venue.
pub fn off_exchange(
    world: &World,
    portfolio: &Portfolio,
    held: &[Held],
) -> Result<BTreeMap<Asset, Decimal>, DemoError> {
    let venue = held.first().map_or(Venue::Binance, |h| h.venue);
    portfolio
        .holdings()
        .iter()
        .map(|(asset, qty)| {
            Ok((
                asset.clone(),
                qty * mid(world, venue, asset, portfolio.quote())?,
            ))
        })
        .collect()
}

/// Each account's weights as if it were the whole portfolio.
pub fn alone(held: &[Held]) -> Vec<AccountAlone> {
    held.iter()
        .map(|h| {
            let equity: Decimal = h.values.values().sum();
            let weights = h
                .values
                .iter()
                .map(|(asset, value)| {
                    let weight = if equity.is_zero() {
                        Decimal::ZERO
                    } else {
                        value / equity
                    };
                    AssetWeight {
                        asset: asset.to_string(),
                        weight,
                    }
                })
                .collect();
            AccountAlone {
                account: h.account.clone(),
                venue: h.venue.to_string(),
                equity,
                weights,
            }
        })
        .collect()
}

/// The trades the scheduler's plan for `id` routes now, with their cost on every account that
/// lists the asset: the scheduler's own preview (nothing placed, nothing recorded), made from
/// the inputs the cycle about to run reads.
///
/// # Errors
/// [`DemoError::Setup`] when the preview fails.
pub async fn routed(world: &World, id: &PortfolioId) -> Result<Vec<RoutedTrade>, DemoError> {
    let cycle = CycleId::new("demo-preview").map_err(|e| DemoError::Setup(e.to_string()))?;
    let preview = world
        .scheduler
        .preview(id, &cycle)
        .await
        .map_err(|e| DemoError::Setup(format!("preview of {id}: {e}")))?;
    Ok(preview
        .plan
        .decisions
        .into_iter()
        .filter(|d| !d.routes.is_empty())
        .map(|d| RoutedTrade {
            asset: d.asset.to_string(),
            side: d.order.as_ref().map(|o| o.side.to_string()),
            routes: d
                .routes
                .into_iter()
                .map(|r| RouteQuote {
                    account: account_named(world, &r.account),
                    ..r
                })
                .collect(),
        })
        .collect())
}

/// The paper account behind a secret id, as the demo names it (the id itself if none is).
pub fn account_named(world: &World, secret_id: &str) -> String {
    world
        .secret_ids
        .iter()
        .find(|(_, id)| id == secret_id)
        .map_or_else(|| secret_id.to_owned(), |(name, _)| name.clone())
}

fn pct(d: Decimal) -> String {
    format!("{:.2}%", (d * Decimal::ONE_HUNDRED).round_dp(2))
}

/// The account's weights alone, like `combined-binance on binance alone: BTC 100.00%`.
pub fn alone_line(a: &AccountAlone) -> String {
    let weights: Vec<String> = a
        .weights
        .iter()
        .filter(|w| !w.weight.is_zero())
        .map(|w| format!("{} {}", w.asset, pct(w.weight)))
        .collect();
    format!(
        "{} on {} alone: {}",
        a.account,
        a.venue,
        if weights.is_empty() {
            "empty".to_owned()
        } else {
            weights.join(" · ")
        }
    )
}

/// A routed trade, like `BUY BTC → binance routed-binance 10.00 bps · kraken routed-kraken
/// 26.02 bps`.
pub fn routed_line(t: &RoutedTrade) -> String {
    let quote = |r: &RouteQuote| {
        let cost = match (&r.refused, r.cost_bps) {
            (Some(why), _) => format!("refused: {why}"),
            (None, Some(bps)) => format!("{:.2} bps", bps.round_dp(2)),
            (None, None) => String::new(),
        };
        format!("{} {} {cost}", r.venue, r.account)
    };
    let chosen: Vec<String> = t.routes.iter().filter(|r| r.chosen).map(quote).collect();
    let others: Vec<String> = t.routes.iter().filter(|r| !r.chosen).map(quote).collect();
    format!(
        "{} {} routed to {} · elsewhere {}",
        t.side.as_deref().unwrap_or("no trade:"),
        t.asset,
        if chosen.is_empty() {
            "no account".to_owned()
        } else {
            chosen.join(" + ")
        },
        others.join(" · ")
    )
}

/// What happened to a portfolio over several accounts in the whole run, for the report.
pub fn outcome(
    portfolio: &str,
    cycles: &[crate::report::CycleReport],
    orders: &[OrderReport],
) -> String {
    let own: Vec<&OrderReport> = orders.iter().filter(|o| o.portfolio == portfolio).collect();
    let rows = || {
        cycles.iter().filter_map(move |c| {
            c.portfolios
                .iter()
                .find(|p| p.portfolio == portfolio)
                .map(|p| (c.index, p))
        })
    };
    if own.is_empty() {
        let alone = rows()
            .next()
            .map(|(_, p)| {
                p.alone
                    .iter()
                    .map(alone_line)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        return format!(
            "nothing traded in {} cycle(s): the combined weights stayed in their bands, though \
             every account alone was out of them ({alone})",
            cycles.len()
        );
    }
    let routed: Vec<String> = rows()
        .flat_map(|(n, p)| {
            p.routes
                .iter()
                .filter(|t| t.side.is_some())
                .map(move |t| format!("cycle {n}: {}", routed_line(t)))
        })
        .collect();
    // A re-priced remainder is a later leg of the same planned order.
    let planned = own
        .iter()
        .filter(|o| o.journey.first().is_some_and(|j| !j.contains("leg")))
        .count();
    format!(
        "{planned} planned order(s), {} on the exchanges; {}",
        own.len(),
        routed.join("; ")
    )
}

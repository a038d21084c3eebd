//! [`KrakenSpot`] as the [`Exchange`] port: each method its calls, their parameters and the
//! parsers of their answers. Exactly-once rests on `order`: it finds an order by client order
//! id among the open orders and then the closed ones (Kraken refuses a repeated `cl_ord_id`
//! only while the first order is open), and says `NotFound` only when neither has it.

use async_trait::async_trait;
use driftline_core::ports::{
    Balance, Exchange, ExchangeError, ExchangeOrderId, ExchangeOrderStatus, Fill,
    LimitOrderRequest, OrderReport, TimeInForce, Venue,
};
use driftline_core::{ClientOrderId, EpochMillis, MarketFilters, OrderBook, Side, Symbol};

use super::ids::{self, OrderRef};
use super::request::{
    ADD_ORDER, BALANCE_EX, CANCEL_ORDER, CLOSED_ORDERS, DEPTH, MAX_DEPTH, OPEN_ORDERS,
    QUERY_ORDERS, QUERY_TRADES, TIME,
};
use super::wire::{self, KrakenMarket, KrakenOrder};
use super::KrakenSpot;
use crate::classify::{unreadable, RequestKind};
use crate::decode::WireError;
use crate::signing::decimal_param;

/// Pages of `ClosedOrders` read, at most, when it ignores its `cl_ord_id` filter.
const MAX_CLOSED_PAGES: usize = 20;
/// Trades per `QueryTrades` call, as Kraken takes them.
const TRADES_PER_QUERY: usize = 20;

fn read_error(e: WireError) -> ExchangeError {
    unreadable(RequestKind::Read, &e)
}

fn rejected(message: String) -> ExchangeError {
    ExchangeError::Rejected { message }
}

/// An id no Kraken order can carry: no such order, without asking.
fn no_such_order(id: &ClientOrderId) -> ExchangeError {
    ExchangeError::NotFound {
        message: format!(
            "EOrder:Unknown order: {id} is neither a cl_ord_id Kraken takes nor a txid"
        ),
    }
}

/// Whether Kraken's `order` is the one driftline calls `id`.
fn is_ours(order: &KrakenOrder, id: &ClientOrderId) -> bool {
    ids::client_order_id(order.cl_ord_id.as_deref(), &order.txid).as_ref() == Ok(id)
}

impl KrakenSpot {
    /// Order `txid` as `QueryOrders` reports it, with its trades' ids when `trades`.
    async fn query_order(&self, txid: &str, trades: bool) -> Result<KrakenOrder, ExchangeError> {
        let mut params = vec![("txid", txid.to_owned())];
        if trades {
            params.push(("trades", "true".to_owned()));
        }
        let body = self.call(QUERY_ORDERS, &params).await?;
        wire::parse_query_orders(&body)
            .map_err(read_error)?
            .orders
            .into_iter()
            .find(|o| o.txid == txid)
            .ok_or_else(|| ExchangeError::NotFound {
                message: format!("EOrder:Unknown order: QueryOrders has no {txid}"),
            })
    }

    /// The report of order `txid` of `market`.
    async fn query(&self, market: &KrakenMarket, txid: &str) -> Result<OrderReport, ExchangeError> {
        let order = self.query_order(txid, false).await?;
        self.report_of(market, &order)
    }

    /// The report of `order`, which must be of `market`.
    fn report_of(
        &self,
        market: &KrakenMarket,
        order: &KrakenOrder,
    ) -> Result<OrderReport, ExchangeError> {
        if !market.answers_to(&order.pair) {
            return Err(ExchangeError::NotFound {
                message: format!(
                    "EOrder:Unknown order: {} is an order of {}, not {}",
                    order.txid, order.pair, market.altname
                ),
            });
        }
        order.report(&market.symbol).map_err(read_error)
    }

    /// The order driftline calls `id` with `cl_ord_id` `sent`: among the open orders, then the
    /// closed ones (newest first; the latest if an id was used twice), `NotFound` only when
    /// neither lists it.
    async fn find(
        &self,
        market: &KrakenMarket,
        id: &ClientOrderId,
        sent: &str,
    ) -> Result<OrderReport, ExchangeError> {
        // Open first: an order that closes between the two reads is then among the closed.
        let body = self
            .call(OPEN_ORDERS, &[("cl_ord_id", sent.to_owned())])
            .await?;
        let open = wire::parse_open_orders(&body).map_err(read_error)?;
        if let Some(order) = open.orders.iter().find(|o| is_ours(o, id)) {
            return self.report_of(market, order);
        }
        let bound = self.clock.now_ms().saturating_sub(
            i64::try_from(self.config.closed_orders_lookback.as_millis()).unwrap_or(i64::MAX),
        );
        let mut offset = 0usize;
        let mut settled = false;
        for _ in 0..MAX_CLOSED_PAGES {
            let mut params = vec![("cl_ord_id", sent.to_owned())];
            if offset > 0 {
                params.push(("ofs", offset.to_string()));
            }
            let body = self.call(CLOSED_ORDERS, &params).await?;
            let page = wire::parse_closed_orders(&body).map_err(read_error)?;
            let mut ours: Vec<(EpochMillis, &KrakenOrder)> = Vec::new();
            for order in page.orders.iter().filter(|o| is_ours(o, id)) {
                ours.push((order.opened_at_ms().map_err(read_error)?, order));
            }
            if let Some((_, latest)) = ours.iter().max_by_key(|(at, o)| (*at, o.txid.as_str())) {
                return self.report_of(market, latest);
            }
            // The filter worked (every order listed is the one asked for, or none is listed):
            // the closed orders do not have it.
            if page.orders.iter().all(|o| is_ours(o, id)) {
                settled = true;
                break;
            }
            // The filter was ignored: read on, newest first, back to the lookback bound.
            offset += page.orders.len();
            let mut oldest = i64::MAX;
            for o in &page.orders {
                oldest = oldest.min(o.opened_at_ms().map_err(read_error)?);
            }
            if page
                .count
                .is_some_and(|c| u64::try_from(offset).unwrap_or(u64::MAX) >= c)
                || oldest < bound
            {
                settled = true;
                break;
            }
        }
        if !settled {
            return Err(ExchangeError::Malformed {
                reason: format!(
                    "ClosedOrders ignores cl_ord_id and {MAX_CLOSED_PAGES} pages did not reach \
                     the lookback bound: cannot tell whether {id} exists"
                ),
            });
        }
        Err(ExchangeError::NotFound {
            message: format!(
                "EOrder:Unknown order: neither OpenOrders nor ClosedOrders lists {id}"
            ),
        })
    }

    async fn lookup(
        &self,
        market: &KrakenMarket,
        id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError> {
        match ids::order_ref(id) {
            OrderRef::ClOrdId(sent) => self.find(market, id, &sent).await,
            OrderRef::Txid(txid) => self.query(market, &txid).await,
            // It could not have been placed: true without asking.
            OrderRef::Nothing => Err(no_such_order(id)),
        }
    }
}

#[async_trait]
impl Exchange for KrakenSpot {
    fn venue(&self) -> Venue {
        Venue::Kraken
    }

    async fn market_filters(&self, symbol: &Symbol) -> Result<MarketFilters, ExchangeError> {
        self.market(symbol).await?.filters.map_err(read_error)
    }

    async fn order_book(&self, symbol: &Symbol, depth: u16) -> Result<OrderBook, ExchangeError> {
        let market = self.market(symbol).await?;
        let count = depth.clamp(1, MAX_DEPTH);
        let body = self
            .call(
                DEPTH,
                &[("pair", market.key.clone()), ("count", count.to_string())],
            )
            .await?;
        wire::parse_depth(&body, symbol, usize::from(count)).map_err(read_error)
    }

    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        let markets = self.markets().await?;
        let body = self.call(BALANCE_EX, &[]).await?;
        wire::parse_balance_ex(&body, &markets.assets).map_err(read_error)
    }

    async fn place_limit_order(
        &self,
        order: &LimitOrderRequest,
    ) -> Result<OrderReport, ExchangeError> {
        if order.quantity <= rust_decimal::Decimal::ZERO {
            return Err(rejected(format!(
                "quantity of {} must be greater than zero, got {}",
                order.client_order_id, order.quantity
            )));
        }
        let OrderRef::ClOrdId(cl_ord_id) = ids::order_ref(&order.client_order_id) else {
            return Err(rejected(format!(
                "client order id {} has no cl_ord_id form: Kraken takes a UUID or up to 18 \
                 characters",
                order.client_order_id
            )));
        };
        let market = self.market(&order.symbol).await?;
        let side = match order.side {
            Side::Buy => "buy",
            Side::Sell => "sell",
        };
        let (time_in_force, flags) = match order.time_in_force {
            TimeInForce::Gtc => ("GTC", "fciq"),
            TimeInForce::Ioc => ("IOC", "fciq"),
            TimeInForce::PostOnly => ("GTC", "post,fciq"),
        };
        let body = self
            .call(
                ADD_ORDER,
                &[
                    ("pair", market.key.clone()),
                    ("type", side.to_owned()),
                    ("ordertype", "limit".to_owned()),
                    ("price", decimal_param(order.price.value())),
                    ("volume", decimal_param(order.quantity)),
                    ("timeinforce", time_in_force.to_owned()),
                    // The fee in the quote currency, the one Kraken states fees in.
                    ("oflags", flags.to_owned()),
                    ("cl_ord_id", cl_ord_id),
                ],
            )
            .await?;
        let txid =
            wire::parse_add_order(&body).map_err(|e| unreadable(RequestKind::Mutation, &e))?;
        // The order stands; if its report cannot be read now, the caller's lookup will.
        let report =
            self.query(&market, &txid)
                .await
                .map_err(|e| ExchangeError::StatusUnknown {
                    reason: format!("placed as {txid}, but its report could not be read: {e}"),
                })?;
        // Kraken takes a post-only order that would take and cancels it at once.
        if order.time_in_force == TimeInForce::PostOnly
            && report.status == ExchangeOrderStatus::Canceled
            && report.executed_qty.is_zero()
        {
            return Err(rejected(format!(
                "EOrder:Post only order: {txid} would have taken liquidity and was cancelled"
            )));
        }
        Ok(report)
    }

    async fn order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError> {
        let market = self.market(symbol).await?;
        self.lookup(&market, client_order_id).await
    }

    async fn order_fills(
        &self,
        symbol: &Symbol,
        exchange_order_id: &ExchangeOrderId,
    ) -> Result<Vec<Fill>, ExchangeError> {
        let txid = exchange_order_id.as_str();
        // Another venue's id cannot be one of Kraken's orders.
        if !txid.starts_with('O') || txid.len() > 64 {
            return Err(ExchangeError::NotFound {
                message: format!("{txid} is not a Kraken order id"),
            });
        }
        let market = self.market(symbol).await?;
        let order = self.query_order(txid, true).await?;
        self.report_of(&market, &order)?;
        let mut fills = Vec::with_capacity(order.trades.len());
        for chunk in order.trades.chunks(TRADES_PER_QUERY) {
            let body = self
                .call(QUERY_TRADES, &[("txid", chunk.join(","))])
                .await?;
            fills.extend(wire::parse_trades(&body, &market, txid).map_err(read_error)?);
        }
        Ok(fills)
    }

    async fn open_orders(&self, symbol: &Symbol) -> Result<Vec<OrderReport>, ExchangeError> {
        let market = self.market(symbol).await?;
        let body = self.call(OPEN_ORDERS, &[]).await?;
        let page = wire::parse_open_orders(&body).map_err(read_error)?;
        let mut reports = Vec::new();
        for order in page.orders.iter().filter(|o| market.answers_to(&o.pair)) {
            let opened = order.opened_at_ms().map_err(read_error)?;
            reports.push((opened, order.report(&market.symbol).map_err(read_error)?));
        }
        reports.sort_by(|a, b| {
            (a.0, a.1.exchange_order_id.as_str()).cmp(&(b.0, b.1.exchange_order_id.as_str()))
        });
        Ok(reports.into_iter().map(|(_, r)| r).collect())
    }

    async fn cancel_order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderReport, ExchangeError> {
        let market = self.market(symbol).await?;
        let target = match ids::order_ref(client_order_id) {
            OrderRef::ClOrdId(c) => ("cl_ord_id", c),
            OrderRef::Txid(t) => ("txid", t),
            OrderRef::Nothing => return Err(no_such_order(client_order_id)),
        };
        match self.call(CANCEL_ORDER, &[target]).await {
            Ok(body) => {
                wire::parse_cancel(&body).map_err(|e| unreadable(RequestKind::Mutation, &e))?;
                // CancelOrder answers a count, not the order: read it.
                self.lookup(&market, client_order_id)
                    .await
                    .map_err(|e| match e {
                        ExchangeError::NotFound { message } => ExchangeError::StatusUnknown {
                            reason: format!("cancelled, but not found afterwards: {message}"),
                        },
                        other => other,
                    })
            }
            // Not open: a final order answers its report, one never placed is NotFound.
            Err(ExchangeError::NotFound { message }) => {
                match self.lookup(&market, client_order_id).await {
                    Err(ExchangeError::NotFound { .. }) => Err(ExchangeError::NotFound { message }),
                    other => other,
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn server_time(&self) -> Result<EpochMillis, ExchangeError> {
        let body = self.call(TIME, &[]).await?;
        wire::parse_time(&body).map_err(read_error)
    }
}

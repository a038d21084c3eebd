//! Builders shared by core's integration tests.
#![allow(dead_code)]

use driftline_core::ports::{MetricsSink, RandomSource};
use driftline_core::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;

/// Portfolio `p` of `targets` (quote USDT): a 5-point band, 10 USDT minimum, 100 bps cost cap,
/// 20 bps slippage budget, half-spread limits, 900 s TTL, no velocity rule, with `policy`'s
/// fields over these.
pub fn spec(
    targets: serde_json::Value,
    policy: serde_json::Value,
) -> driftline_core::config::PortfolioSpec {
    let mut p = json!({
        "band": {"absolute": "0.05"},
        "min_trade_notional": "10",
        "max_cost_bps": "100",
        "slippage_budget_bps": "20",
        "limit_offset": "0.5",
        "order_ttl_seconds": 900,
        "velocity": null
    });
    for (k, v) in policy.as_object().unwrap() {
        p[k] = v.clone();
    }
    serde_json::from_value(json!({"id": "p", "quote": "USDT", "targets": targets, "policy": p}))
        .unwrap()
}

/// Metrics nobody reads.
pub struct Quiet;
impl MetricsSink for Quiet {
    fn drift(&self, _: &PortfolioId, _: &Asset, _: Decimal) {}
    fn cycle_completed(&self, _: &PortfolioId) {}
    fn execution_attempt(&self, _: bool, _: Option<i64>) {}
    fn order_final(&self, _: OrderStatus, _: &driftline_core::orders::ExecutionQuality) {}
    fn rate_limit_hit(&self) {}
}

/// The same draw every time.
pub struct Fixed;
impl RandomSource for Fixed {
    fn next_u64(&self) -> u64 {
        7
    }
}

pub fn asset(code: &str) -> Asset {
    Asset::new(code).unwrap()
}

/// A market for `base`/USDT around `mid` with the given spread and a flat depth profile.
pub fn market(base: &str, mid: Decimal, spread_bps: Decimal, depth: Decimal) -> MarketSnapshot {
    market_with(base, mid, spread_bps, depth, |f| f)
}

pub fn market_with(
    base: &str,
    mid: Decimal,
    spread_bps: Decimal,
    depth: Decimal,
    edit: impl FnOnce(MarketFiltersFields) -> MarketFiltersFields,
) -> MarketSnapshot {
    market_in("USDT", base, mid, spread_bps, depth, edit)
}

/// A market for `base`/`quote`, as [`market_with`] builds one.
pub fn market_in(
    quote: &str,
    base: &str,
    mid: Decimal,
    spread_bps: Decimal,
    depth: Decimal,
    edit: impl FnOnce(MarketFiltersFields) -> MarketFiltersFields,
) -> MarketSnapshot {
    let symbol = Symbol::new(asset(base), asset(quote)).unwrap();
    let fields = edit(driftline_core::testing::spot_filter_fields(symbol.clone()));
    let filters = MarketFilters::new(fields).unwrap();
    let book = DepthProfile {
        levels: 10,
        quantity_per_level: depth,
        level_step_bps: dec!(5),
    }
    .book(
        &symbol,
        Price::new(mid).unwrap(),
        spread_bps,
        filters.tick_size(),
    )
    .unwrap();
    MarketSnapshot { filters, book }
}

pub struct Case {
    pub portfolio: Portfolio,
    pub markets: Markets,
    pub policy: RebalancePolicy,
    pub fees: Fees,
    /// The venue of the case's one account (Binance unless a test says otherwise).
    pub venue: driftline_core::ports::Venue,
    pub history: Vec<DriftSnapshot>,
    pub in_flight: Vec<InFlightOrder>,
}

impl Case {
    /// Holdings and targets over USDT; a market per non-USDT asset from `markets`.
    pub fn new(
        holdings: &[(&str, Decimal)],
        targets: &[(&str, Decimal)],
        markets: Vec<MarketSnapshot>,
    ) -> Self {
        let portfolio = Portfolio::new(
            PortfolioId::new("test").unwrap(),
            asset("USDT"),
            Holdings::new(holdings.iter().map(|(a, q)| (asset(a), *q))).unwrap(),
            TargetWeights::new(targets.iter().map(|(a, w)| (asset(a), *w))).unwrap(),
        )
        .unwrap();
        Self {
            portfolio,
            markets: markets
                .into_iter()
                .map(|m| (m.filters.symbol().base().clone(), m))
                .collect(),
            policy: RebalancePolicy {
                velocity: None,
                ..RebalancePolicy::default()
            },
            fees: Fees::default(),
            venue: driftline_core::ports::Venue::Binance,
            history: Vec::new(),
            in_flight: Vec::new(),
        }
    }

    pub fn policy(mut self, edit: impl FnOnce(&mut RebalancePolicy)) -> Self {
        edit(&mut self.policy);
        self
    }

    pub fn plan(&self) -> RebalancePlan {
        self.try_plan().unwrap()
    }

    pub fn try_plan(&self) -> Result<RebalancePlan, DomainError> {
        let cycle = CycleId::new("c1").unwrap();
        let model = BookWalkCostModel {
            fees: self.fees,
            liquidity: self.policy.fee_liquidity,
        };
        // The case's holdings are its one account's.
        let off_exchange = self.portfolio.with_holdings(Holdings::default())?;
        let accounts = [PlanAccount {
            venue: self.venue,
            ..PlanAccount::single(
                self.portfolio.quote(),
                self.portfolio.holdings(),
                &self.markets,
                self.fees,
                &model,
            )
        }];
        let request = PlanRequest {
            portfolio: &off_exchange,
            accounts: &accounts,
            in_flight: &self.in_flight,
            policy: &self.policy,
            history: &self.history,
            cycle: &cycle,
            now_ms: 1_700_000_000_000,
        };
        plan(&request)
    }
}

pub fn decision<'a>(plan: &'a RebalancePlan, code: &str) -> &'a AssetDecision {
    plan.decisions
        .iter()
        .find(|d| d.asset.as_str() == code)
        .unwrap()
}

pub mod venue {
    //! A venue in memory for the services' tests: one market per symbol, free balances that
    //! orders lock and fills settle, orders that rest until the test fills them, each order's
    //! trade list, a count of calls, a switch that makes every call fail with a given answer,
    //! and one that makes every call hang (a process killed mid-request, as the caller sees it).

    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;

    use async_trait::async_trait;
    use driftline_core::ports::{
        Balance, Exchange, ExchangeError, ExchangeOrderId, ExchangeOrderStatus, Fill,
        LimitOrderRequest, OrderReport, Venue,
    };
    use driftline_core::*;
    use rust_decimal::Decimal;

    struct Resting {
        report: OrderReport,
        fills: Vec<Fill>,
    }

    #[derive(Default)]
    struct State {
        markets: BTreeMap<Symbol, MarketSnapshot>,
        free: BTreeMap<Asset, Decimal>,
        orders: Vec<Resting>,
    }

    #[derive(Default)]
    pub struct SimVenue {
        state: Mutex<State>,
        calls: AtomicUsize,
        /// Every call waits for ever while set.
        pub hang: AtomicBool,
        /// Every call fails with this answer while set (the venue in trouble, a rate limit).
        pub failing: Mutex<Option<ExchangeError>>,
        /// The venue it says it is (Binance unless told).
        pub venue: Option<Venue>,
    }

    impl SimVenue {
        pub fn new(markets: Vec<MarketSnapshot>, free: &[(&str, Decimal)]) -> Self {
            let venue = Self::default();
            {
                let mut s = venue.state.lock().unwrap();
                for m in markets {
                    s.markets.insert(m.filters.symbol().clone(), m);
                }
                for (a, q) in free {
                    s.free.insert(Asset::new(a).unwrap(), *q);
                }
            }
            venue
        }

        /// Replaces a market's book (and filters).
        pub fn set_book(&self, market: MarketSnapshot) {
            let mut s = self.state.lock().unwrap();
            s.markets.insert(market.filters.symbol().clone(), market);
        }

        /// Calls that reached the venue (hanging ones included).
        pub fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }

        pub fn placed(&self) -> Vec<OrderReport> {
            let s = self.state.lock().unwrap();
            s.orders.iter().map(|o| o.report.clone()).collect()
        }

        pub fn free(&self, asset: &str) -> Decimal {
            let s = self.state.lock().unwrap();
            s.free
                .get(&Asset::new(asset).unwrap())
                .copied()
                .unwrap_or_default()
        }

        /// Fills `qty` more of the order at its price, charging `commission` in `asset`.
        pub fn fill(&self, id: &ClientOrderId, qty: Decimal, commission: Decimal, asset: &str) {
            let mut s = self.state.lock().unwrap();
            let o = s
                .orders
                .iter_mut()
                .find(|o| &o.report.client_order_id == id)
                .expect("a placed order");
            let price = o.report.price;
            let symbol = o.report.symbol.clone();
            let side = o.report.side;
            o.report.executed_qty += qty;
            o.report.cumulative_quote_qty += qty * price.value();
            o.report.status = if o.report.executed_qty == o.report.orig_qty {
                ExchangeOrderStatus::Filled
            } else {
                ExchangeOrderStatus::PartiallyFilled
            };
            let asset = Asset::new(asset).unwrap();
            o.fills.push(Fill {
                price,
                quantity: qty,
                commission,
                commission_asset: asset.clone(),
            });
            // The locked side was taken at placement; the other side arrives net of fees.
            let (gets, amount) = match side {
                Side::Buy => (symbol.base().clone(), qty),
                Side::Sell => (symbol.quote().clone(), qty * price.value()),
            };
            *s.free.entry(gets).or_default() += amount;
            *s.free.entry(asset).or_default() -= commission;
        }

        fn enter(&self) {
            self.calls.fetch_add(1, Ordering::SeqCst);
        }

        async fn gate(&self) -> Result<(), ExchangeError> {
            self.enter();
            while self.hang.load(Ordering::SeqCst) {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            match self.failing.lock().unwrap().clone() {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }

        /// Every call fails with `e` from now on (`None`: the venue answers again).
        pub fn fail_with(&self, e: Option<ExchangeError>) {
            *self.failing.lock().unwrap() = e;
        }

        fn find(&self, id: &ClientOrderId) -> Result<OrderReport, ExchangeError> {
            let s = self.state.lock().unwrap();
            s.orders
                .iter()
                .find(|o| &o.report.client_order_id == id)
                .map(|o| o.report.clone())
                .ok_or(ExchangeError::NotFound {
                    message: "Order does not exist.".into(),
                })
        }
    }

    #[async_trait]
    impl Exchange for SimVenue {
        fn venue(&self) -> Venue {
            self.venue.unwrap_or(Venue::Binance)
        }
        async fn market_filters(&self, symbol: &Symbol) -> Result<MarketFilters, ExchangeError> {
            self.gate().await?;
            let s = self.state.lock().unwrap();
            s.markets
                .get(symbol)
                .map(|m| m.filters.clone())
                .ok_or(ExchangeError::Rejected {
                    message: "Invalid symbol.".into(),
                })
        }
        async fn order_book(&self, symbol: &Symbol, _: u16) -> Result<OrderBook, ExchangeError> {
            self.gate().await?;
            let s = self.state.lock().unwrap();
            s.markets
                .get(symbol)
                .map(|m| m.book.clone())
                .ok_or(ExchangeError::Rejected {
                    message: "Invalid symbol.".into(),
                })
        }
        async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
            self.gate().await?;
            let s = self.state.lock().unwrap();
            Ok(s.free
                .iter()
                .map(|(a, q)| Balance {
                    asset: a.clone(),
                    free: *q,
                    locked: Decimal::ZERO,
                })
                .collect())
        }
        async fn place_limit_order(
            &self,
            o: &LimitOrderRequest,
        ) -> Result<OrderReport, ExchangeError> {
            self.gate().await?;
            let mut s = self.state.lock().unwrap();
            if s.orders
                .iter()
                .any(|r| r.report.client_order_id == o.client_order_id)
            {
                return Err(ExchangeError::Duplicate {
                    message: "Duplicate order sent.".into(),
                });
            }
            let (locks, amount) = match o.side {
                Side::Buy => (o.symbol.quote().clone(), o.quantity * o.price.value()),
                Side::Sell => (o.symbol.base().clone(), o.quantity),
            };
            let free = s.free.entry(locks).or_default();
            if *free < amount {
                return Err(ExchangeError::Rejected {
                    message: "Account has insufficient balance for requested action.".into(),
                });
            }
            *free -= amount;
            let report = OrderReport {
                symbol: o.symbol.clone(),
                exchange_order_id: (s.orders.len() as u64 + 1).into(),
                client_order_id: o.client_order_id.clone(),
                side: o.side,
                price: o.price,
                orig_qty: o.quantity,
                executed_qty: Decimal::ZERO,
                cumulative_quote_qty: Decimal::ZERO,
                status: ExchangeOrderStatus::New,
                fills: vec![],
                updated_at_ms: 0,
            };
            s.orders.push(Resting {
                report: report.clone(),
                fills: vec![],
            });
            Ok(report)
        }
        async fn order(
            &self,
            _: &Symbol,
            id: &ClientOrderId,
        ) -> Result<OrderReport, ExchangeError> {
            self.gate().await?;
            self.find(id)
        }
        async fn order_fills(
            &self,
            _: &Symbol,
            exchange_order_id: &ExchangeOrderId,
        ) -> Result<Vec<Fill>, ExchangeError> {
            self.gate().await?;
            let s = self.state.lock().unwrap();
            Ok(s.orders
                .iter()
                .find(|o| &o.report.exchange_order_id == exchange_order_id)
                .map(|o| o.fills.clone())
                .unwrap_or_default())
        }
        async fn open_orders(&self, _: &Symbol) -> Result<Vec<OrderReport>, ExchangeError> {
            self.gate().await?;
            Ok(vec![])
        }
        async fn cancel_order(
            &self,
            _: &Symbol,
            id: &ClientOrderId,
        ) -> Result<OrderReport, ExchangeError> {
            self.gate().await?;
            let mut s = self.state.lock().unwrap();
            let o = s
                .orders
                .iter_mut()
                .find(|o| &o.report.client_order_id == id)
                .filter(|o| !o.report.status.is_final())
                .ok_or(ExchangeError::NotFound {
                    message: "Unknown order sent.".into(),
                })?;
            o.report.status = ExchangeOrderStatus::Canceled;
            let r = o.report.clone();
            let rest = r.orig_qty - r.executed_qty;
            let (unlocks, amount) = match r.side {
                Side::Buy => (r.symbol.quote().clone(), rest * r.price.value()),
                Side::Sell => (r.symbol.base().clone(), rest),
            };
            *s.free.entry(unlocks).or_default() += amount;
            Ok(r)
        }
        async fn server_time(&self) -> Result<EpochMillis, ExchangeError> {
            self.gate().await?;
            Ok(0)
        }
    }
}

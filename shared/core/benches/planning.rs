//! Planning throughput: 1 portfolio × 10 and × 500 assets, 1,000 portfolios × 50 assets, and the
//! cost model on a 100-level book; then parts of the 1,000 × 50 case. Figures go in
//! docs/BENCHMARKS.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use driftline_core::*;
use rust_decimal::Decimal;

struct Fixture {
    portfolio: Portfolio,
    /// The same targets holding nothing off the exchange: the plan's portfolio.
    off_exchange: Portfolio,
    markets: Markets,
    policy: RebalancePolicy,
}

/// A portfolio of `n` assets with equal targets, holdings pushed off target by up to ±60% so
/// that a realistic share of assets trades, and a 20-level book per market.
fn fixture(id: usize, n: usize) -> Fixture {
    let usdt = Asset::new("USDT").unwrap();
    let weight = Decimal::new(9, 1) / Decimal::from(n);
    let mut targets: Vec<(Asset, Decimal)> = Vec::new();
    let mut holdings = vec![(usdt.clone(), Decimal::from(10_000))];
    let mut markets = Markets::new();
    for i in 0..n {
        let asset = Asset::new(&format!("A{i}")).unwrap();
        let mid = Decimal::from(1 + (i * 37 + id) % 500);
        let tilt = Decimal::from((i * 7919 + id * 104_729) % 121) - Decimal::from(60);
        let value = Decimal::from(100_000) / Decimal::from(n)
            * (Decimal::ONE + tilt / Decimal::ONE_HUNDRED);
        holdings.push((asset.clone(), (value / mid).round_dp(4)));
        targets.push((asset.clone(), weight));
        let symbol = Symbol::new(asset.clone(), usdt.clone()).unwrap();
        let filters = MarketFilters::new(MarketFiltersFields {
            symbol: symbol.clone(),
            tick_size: Decimal::new(1, 2),
            step_size: Decimal::new(1, 4),
            min_qty: Decimal::new(1, 4),
            max_qty: None,
            min_notional: Decimal::from(5),
            status: TradingStatus::Trading,
        })
        .unwrap();
        let book = DepthProfile {
            levels: 20,
            quantity_per_level: Decimal::from(1_000),
            level_step_bps: Decimal::from(2),
        }
        .book(
            &symbol,
            Price::new(mid).unwrap(),
            Decimal::from(4),
            filters.tick_size(),
        )
        .unwrap();
        markets.insert(asset, MarketSnapshot { filters, book });
    }
    let assigned: Decimal = targets.iter().map(|(_, w)| *w).sum();
    targets.push((usdt.clone(), Decimal::ONE - assigned));
    let portfolio = Portfolio::new(
        PortfolioId::new(&format!("p{id}")).unwrap(),
        usdt,
        Holdings::new(holdings).unwrap(),
        TargetWeights::new(targets).unwrap(),
    )
    .unwrap();
    let policy = RebalancePolicy {
        // 25% of each target either side, so a share of assets trades and the rest sit in band.
        band: Band {
            absolute: None,
            relative: Some(Decimal::new(25, 2)),
        },
        ..RebalancePolicy::default()
    };
    Fixture {
        off_exchange: portfolio.with_holdings(Holdings::default()).unwrap(),
        portfolio,
        markets,
        policy,
    }
}

fn plan_one(f: &Fixture, cycle: &CycleId) -> RebalancePlan {
    let fees = Fees::default();
    let model = BookWalkCostModel {
        fees,
        liquidity: Liquidity::Taker,
    };
    let accounts = [PlanAccount::single(
        f.portfolio.quote(),
        f.portfolio.holdings(),
        &f.markets,
        fees,
        &model,
    )];
    let request = PlanRequest {
        portfolio: &f.off_exchange,
        accounts: &accounts,
        in_flight: &[],
        policy: &f.policy,
        history: &[],
        cycle,
        now_ms: 1_700_000_000_000,
    };
    plan(&request).unwrap()
}

fn planning(c: &mut Criterion) {
    let cycle = CycleId::new("bench").unwrap();
    let mut group = c.benchmark_group("plan");
    for (portfolios, assets) in [(1usize, 10usize), (1, 500), (1_000, 50)] {
        let fixtures: Vec<Fixture> = (0..portfolios).map(|id| fixture(id, assets)).collect();
        let orders: usize = fixtures
            .iter()
            .map(|f| plan_one(f, &cycle).intents.len())
            .sum();
        eprintln!("plan/{portfolios}x{assets}: {orders} orders per iteration");
        group.throughput(Throughput::Elements((portfolios * assets) as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{portfolios}x{assets}")),
            &fixtures,
            |b, fixtures| {
                b.iter(|| {
                    fixtures
                        .iter()
                        .map(|f| black_box(plan_one(f, &cycle)).intents.len())
                        .sum::<usize>()
                })
            },
        );
    }
    group.finish();
}

fn cost_model(c: &mut Criterion) {
    let symbol: Symbol = "BTC/USDT".parse().unwrap();
    let book = DepthProfile {
        levels: 100,
        quantity_per_level: Decimal::new(5, 1),
        level_step_bps: Decimal::ONE,
    }
    .book(
        &symbol,
        Price::new(Decimal::from(64_230)).unwrap(),
        Decimal::from(2),
        Decimal::new(1, 2),
    )
    .unwrap();
    let model = BookWalkCostModel::default();
    // 49.9 BTC walks 100 levels: the whole visible side.
    let quantity = Decimal::new(499, 1);
    c.bench_function("cost_model/walk_100_levels", |b| {
        b.iter(|| {
            model
                .predict(Side::Buy, black_box(quantity), black_box(&book))
                .unwrap()
        })
    });
}

/// Parts of the 1,000 × 50 case on their own, to show where its time goes: the same plans
/// with every book in cache (ten portfolios planned a hundred times each), reading every
/// book's best bid and ask (the least any plan reads), deriving the plan's client order ids
/// and dividing out the weights.
fn plan_parts(c: &mut Criterion) {
    let cycle = CycleId::new("bench").unwrap();
    let fixtures: Vec<Fixture> = (0..1_000).map(|id| fixture(id, 50)).collect();
    let plans: Vec<RebalancePlan> = fixtures.iter().map(|f| plan_one(f, &cycle)).collect();
    let mut group = c.benchmark_group("plan_parts");
    group.bench_function("1000x50_in_cache", |b| {
        b.iter(|| {
            (0..100)
                .flat_map(|_| &fixtures[..10])
                .map(|f| black_box(plan_one(f, &cycle)).intents.len())
                .sum::<usize>()
        })
    });
    group.bench_function("1000x50_touch", |b| {
        b.iter(|| {
            fixtures
                .iter()
                .flat_map(|f| f.markets.values())
                .filter_map(|m| m.book.best_bid().zip(m.book.best_ask()))
                .map(|(bid, ask)| bid.value().scale() ^ ask.value().scale())
                .fold(0, |x, y| x ^ y)
        })
    });
    group.bench_function("1000x50_client_order_ids", |b| {
        b.iter(|| {
            plans
                .iter()
                .flat_map(|p| &p.intents)
                .map(|i| {
                    let id =
                        ClientOrderId::derive(None, &i.portfolio_id, &cycle, &i.symbol, i.side, 0);
                    black_box(id).as_str().len()
                })
                .sum::<usize>()
        })
    });
    group.bench_function("1000x50_weights", |b| {
        b.iter(|| {
            plans
                .iter()
                .flat_map(|p| {
                    p.snapshot
                        .assets
                        .iter()
                        .map(|a| (a.value, p.snapshot.equity))
                })
                .for_each(|(value, equity)| {
                    black_box(value / equity);
                })
        })
    });
    group.finish();
}

criterion_group!(benches, planning, cost_model, plan_parts);
criterion_main!(benches);

//! The AWS adapters against the local AWS emulator (moto, started by `make test` through
//! scripts/with-moto.sh). Every test makes its own table or queue, so tests run in parallel.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use driftline_aws::{
    create_queue_with_dlq, create_table, AccountSecrets, DynamoStore, SecretError, SqsIntentQueue,
};
use driftline_core::orders::{
    Claim, ClaimOutcome, FillOutcome, FillProgress, IntentEnvelope, OrderKey, OrderRecord,
    OrderUpdate, RecordOutcome, Transition, TransitionOutcome,
};
use driftline_core::ports::{
    BreakerSave, BreakerStore, ClearClaim, CycleLeases, DriftHistory, ExchangeOrderId, IntentQueue,
    Lease, LeaseOutcome, MarketFilterCache, OrderLedger, MARKET_FILTER_TTL_MS,
};
use driftline_core::{
    Asset, AssetDrift, BreakerConfig, BreakerState, ClientOrderId, CycleId, DriftSnapshot,
    EpochMillis, MarketFilters, MarketFiltersFields, OrderIntent, OrderStatus, PortfolioId, Price,
    Side, Symbol, TradingStatus, VenueHealth,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// The emulator's SDK config, or `None` (loudly) outside `make test`. Under `make test`
/// (`DRIFTLINE_REQUIRE_AWS_EMULATOR` set) a missing emulator fails the test, never skips it.
async fn emulator() -> Option<aws_config::SdkConfig> {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) => {
            assert!(
                url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:"),
                "refusing to run emulator tests against {url}: loopback only"
            );
            Some(driftline_aws::sdk_config().await)
        }
        Err(_) if std::env::var_os("DRIFTLINE_REQUIRE_AWS_EMULATOR").is_some() => {
            panic!("DRIFTLINE_REQUIRE_AWS_EMULATOR is set but AWS_ENDPOINT_URL is not")
        }
        Err(_) => {
            eprintln!(
                "\n*** SKIPPED: AWS_ENDPOINT_URL is not set. Run `make test`, or \
                 `scripts/with-moto.sh cargo test -p driftline-aws` ***\n"
            );
            None
        }
    }
}

fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn store() -> Option<(DynamoStore, aws_sdk_dynamodb::Client)> {
    let config = emulator().await?;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = unique("driftline");
    create_table(&client, &table).await.unwrap();
    Some((DynamoStore::new(client.clone(), table), client))
}

/// A store whose portfolio `p1` is configured: the ledger records only a configured
/// portfolio's intents.
async fn ledger() -> Option<(DynamoStore, aws_sdk_dynamodb::Client)> {
    let (store, client) = store().await?;
    store.put_portfolio(&spec_of("p1")).await.unwrap();
    Some((store, client))
}

fn spec_of(id: &str) -> driftline_core::config::PortfolioSpec {
    serde_json::from_value(serde_json::json!({
        "id": id, "quote": "USDT", "targets": {"BTC": "0.5", "USDT": "0.5"}
    }))
    .unwrap()
}

fn portfolio() -> PortfolioId {
    PortfolioId::new("p1").unwrap()
}

fn intent(leg: u32, expires_at_ms: EpochMillis) -> OrderIntent {
    let (p, c, s): (PortfolioId, CycleId, Symbol) = (
        portfolio(),
        CycleId::new("2026-11-21T09:00Z").unwrap(),
        "BTC/USDT".parse().unwrap(),
    );
    OrderIntent {
        client_order_id: ClientOrderId::derive(None, &p, &c, &s, Side::Buy, leg),
        portfolio_id: p,
        cycle_id: c,
        symbol: s,
        side: Side::Buy,
        leg,
        quantity: dec!(0.50000000),
        limit_price: Price::new(dec!(64000.10)).unwrap(),
        limit_offset: OrderIntent::mid_offset(),
        funded_by_sells: false,
        quote_fee_bps: None,
        reference_price: Price::new(dec!(64010)).unwrap(),
        worst_price: Price::new(dec!(64100)).unwrap(),
        predicted_cost_bps: dec!(4.2),
        created_at_ms: 1_000,
        expires_at_ms,
        account: None,
    }
}

fn claim(owner: &str, now_ms: EpochMillis, expiry: EpochMillis) -> Claim {
    Claim {
        owner: owner.into(),
        now_ms,
        in_progress_expiry_ms: expiry,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_racing_claims_have_exactly_one_winner_100_times() {
    let Some((store, _)) = ledger().await else {
        return;
    };
    let store = Arc::new(store);
    for leg in 0..100 {
        let i = intent(leg, i64::MAX);
        store.record(&i, 1_000).await.unwrap();
        let key = OrderKey::of(&i);
        let racers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|owner| {
                let (store, key) = (store.clone(), key.clone());
                tokio::spawn(async move { store.claim(&key, &claim(owner, 2_000, 60_000)).await })
            })
            .collect();
        let mut winners = Vec::new();
        let mut held_by = Vec::new();
        for r in racers {
            match r.await.unwrap().unwrap() {
                ClaimOutcome::Claimed(rec) => winners.push(rec.claim_owner.unwrap()),
                ClaimOutcome::HeldByOther(rec) => held_by.push(rec.claim_owner.unwrap()),
                other => panic!("leg {leg}: unexpected {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "leg {leg}: {winners:?}");
        assert_eq!(
            held_by, winners,
            "the loser sees the winner as holder (ALL_OLD)"
        );
        let stored = store.order(&key).await.unwrap().unwrap();
        assert_eq!(
            (stored.status, stored.attempts, stored.version),
            (OrderStatus::Placing, 1, 2)
        );
    }
}

#[tokio::test]
async fn a_lapsed_in_progress_claim_is_taken_over_and_a_live_one_is_not() {
    let Some((store, _)) = ledger().await else {
        return;
    };
    let i = intent(0, 100_000);
    let key = OrderKey::of(&i);
    assert_eq!(
        store.claim(&key, &claim("a", 1_000, 5_000)).await.unwrap(),
        ClaimOutcome::NotFound
    );
    store.record(&i, 1_000).await.unwrap();
    assert!(matches!(
        store.claim(&key, &claim("a", 1_000, 5_000)).await.unwrap(),
        ClaimOutcome::Claimed(_)
    ));
    match store.claim(&key, &claim("b", 5_000, 9_000)).await.unwrap() {
        ClaimOutcome::HeldByOther(r) => assert_eq!(r.claim_owner.as_deref(), Some("a")),
        other => panic!("a claim at its expiry is still held: {other:?}"),
    }
    match store.claim(&key, &claim("b", 5_001, 9_000)).await.unwrap() {
        ClaimOutcome::Claimed(r) => {
            assert_eq!(r.claim_owner.as_deref(), Some("b"));
            assert_eq!(r.claim_expires_at_ms, Some(9_000));
            assert_eq!(r.attempts, 2);
        }
        other => panic!("lapsed claim not taken over: {other:?}"),
    }
    match store
        .claim(&key, &claim("c", 100_000, 110_000))
        .await
        .unwrap()
    {
        ClaimOutcome::IntentExpired(r) => assert_eq!(r.claim_owner.as_deref(), Some("b")),
        other => panic!("an expired intent is never claimed: {other:?}"),
    }
}

#[tokio::test]
async fn a_claim_with_the_controls_takes_only_a_pending_order_of_a_clear_deployment() {
    use driftline_core::control::{DeploymentControls, Stop};
    let Some((store, _)) = ledger().await else {
        return;
    };
    let i = intent(0, 100_000);
    let key = OrderKey::of(&i);
    let c = claim("a", 1_000, 5_000);
    assert_eq!(
        store.claim_if_clear(&i, &c, "binance").await.unwrap(),
        ClearClaim::NotClear,
        "no record"
    );
    store.record(&i, 500).await.unwrap();

    // Halted: nothing claimed.
    let halt = Stop {
        reason: "incident".into(),
        by: "ops".into(),
        at_ms: 900,
    };
    store.set_halt(Some(&halt)).await.unwrap();
    assert_eq!(
        store.claim_if_clear(&i, &c, "binance").await.unwrap(),
        ClearClaim::Halted
    );
    store.set_halt(None).await.unwrap();
    // A failure counted on the venue's breaker: nothing claimed; on another venue's: claimed.
    store
        .save(
            "binance",
            BreakerState::Closed {
                consecutive_failures: 1,
            },
            0,
        )
        .await
        .unwrap();
    assert_eq!(
        store.claim_if_clear(&i, &c, "binance").await.unwrap(),
        ClearClaim::NotClear
    );
    // A message whose intent differs from the record's: nothing claimed.
    let mut other = i.clone();
    other.quantity = dec!(0.6);
    assert_eq!(
        store.claim_if_clear(&other, &c, "kraken").await.unwrap(),
        ClearClaim::NotClear
    );
    assert_eq!(
        store.order(&key).await.unwrap().unwrap().status,
        OrderStatus::Pending,
        "every refused claim left the record as it was"
    );

    let ClearClaim::Claimed(claimed) = store.claim_if_clear(&i, &c, "kraken").await.unwrap() else {
        panic!("clear: claimed")
    };
    assert_eq!(
        Some(&*claimed),
        store.order(&key).await.unwrap().as_ref(),
        "the record the claim returns is the stored one"
    );
    assert_eq!(claimed.status, OrderStatus::Placing);
    assert_eq!((claimed.version, claimed.attempts), (2, 1));
    // Claimed once: a second claim of either kind does not take it.
    assert_eq!(
        store.claim_if_clear(&i, &c, "kraken").await.unwrap(),
        ClearClaim::NotClear
    );
    assert!(matches!(
        store.claim(&key, &claim("b", 1_000, 5_000)).await.unwrap(),
        ClaimOutcome::HeldByOther(_)
    ));
    // Past its deadline: never claimed.
    let late = intent(1, 1_000);
    store.record(&late, 500).await.unwrap();
    assert_eq!(
        store.claim_if_clear(&late, &c, "kraken").await.unwrap(),
        ClearClaim::NotClear
    );
}

#[tokio::test]
async fn recording_twice_keeps_the_first_record() {
    let Some((store, _)) = ledger().await else {
        return;
    };
    let i = intent(0, 100_000);
    let RecordOutcome::Recorded(first) = store.record(&i, 1_000).await.unwrap() else {
        panic!()
    };
    let mut changed = i.clone();
    changed.quantity = dec!(9);
    assert_eq!(
        store.record(&changed, 2_000).await.unwrap(),
        RecordOutcome::AlreadyRecorded(first.clone())
    );
    assert_eq!(store.order(&OrderKey::of(&i)).await.unwrap(), Some(first));
}

/// Records written before exchange order ids were text hold a number: they read back as its
/// digits, and the next write stores a string.
#[tokio::test]
async fn an_exchange_order_id_stored_as_a_number_reads_back_as_text() {
    let Some((store, client)) = ledger().await else {
        return;
    };
    let i = intent(0, 1_000_000);
    store.record(&i, 1_000).await.unwrap();
    let key = OrderKey::of(&i);
    client
        .update_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S("PORTFOLIO#p1".into()))
        .key(
            "sk",
            AttributeValue::S(format!("ORDER#{}", i.client_order_id)),
        )
        .update_expression("SET exchange_order_id = :id")
        .expression_attribute_values(":id", AttributeValue::N("28".into()))
        .send()
        .await
        .unwrap();
    let old = store.order(&key).await.unwrap().unwrap();
    assert_eq!(old.exchange_order_id, Some(ExchangeOrderId::new("28")));

    let ClaimOutcome::Claimed(claimed) =
        store.claim(&key, &claim("a", 2_000, 9_000)).await.unwrap()
    else {
        panic!()
    };
    let placed = Transition {
        update: OrderUpdate {
            exchange_order_id: Some(ExchangeOrderId::new("OQCLML-BW3P3-BUCMWZ")),
            last_error: None,
        },
        ..transition(claimed.version, OrderStatus::Placed, 3_000)
    };
    let TransitionOutcome::Applied(rec) = store.transition(&key, &placed).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        rec.exchange_order_id,
        Some(ExchangeOrderId::new("OQCLML-BW3P3-BUCMWZ"))
    );
}

#[tokio::test]
async fn a_cycle_records_in_transactions_of_a_hundred_and_never_overwrites() {
    let Some((store, _)) = ledger().await else {
        return;
    };
    // 150 new intents: two transactions, every record written as PENDING.
    let intents: Vec<_> = (0..150).map(|leg| intent(leg, 100_000)).collect();
    let outcomes = store.record_all(&intents, 1_000).await.unwrap();
    assert_eq!(outcomes.len(), 150);
    for (o, i) in outcomes.iter().zip(&intents) {
        assert_eq!(
            o,
            &RecordOutcome::Recorded(OrderRecord::pending(i.clone(), 1_000))
        );
    }
    assert_eq!(store.open_orders(&portfolio()).await.unwrap().len(), 150);

    // The cycle again, after one of its orders was claimed, plus one new intent: the
    // transaction is refused as a whole, the records there come back with the refusal as they
    // are, and the new one is written.
    let key = OrderKey::of(&intents[1]);
    let ClaimOutcome::Claimed(claimed) = store
        .claim(&key, &claim("req-1", 2_000, 60_000))
        .await
        .unwrap()
    else {
        panic!("claim")
    };
    let again = [intents[0].clone(), intents[1].clone(), intent(150, 100_000)];
    let outcomes = store.record_all(&again, 3_000).await.unwrap();
    assert_eq!(
        outcomes,
        vec![
            RecordOutcome::AlreadyRecorded(OrderRecord::pending(intents[0].clone(), 1_000)),
            RecordOutcome::AlreadyRecorded(claimed.clone()),
            RecordOutcome::Recorded(OrderRecord::pending(intent(150, 100_000), 3_000)),
        ]
    );
    assert_eq!(
        store.order(&key).await.unwrap(),
        Some(claimed),
        "the claim stands"
    );
}

fn transition(expected_version: u64, to: OrderStatus, now_ms: EpochMillis) -> Transition {
    Transition {
        expected_version,
        to,
        update: OrderUpdate::default(),
        now_ms,
    }
}

#[tokio::test]
async fn transitions_follow_the_state_machine_and_the_version_in_the_store() {
    let Some((store, client)) = ledger().await else {
        return;
    };
    let i = intent(0, 100_000);
    let key = OrderKey::of(&i);
    store.record(&i, 1_000).await.unwrap();
    // Illegal: an order is never filled before it is placed.
    let TransitionOutcome::Conflict(cur) = store
        .transition(&key, &transition(1, OrderStatus::Filled, 2_000))
        .await
        .unwrap()
    else {
        panic!("illegal transition applied")
    };
    assert_eq!((cur.status, cur.version), (OrderStatus::Pending, 1));
    assert!(matches!(
        store
            .transition(&key, &transition(1, OrderStatus::Pending, 2_000))
            .await
            .unwrap(),
        TransitionOutcome::Conflict(_)
    ));
    let ClaimOutcome::Claimed(claimed) =
        store.claim(&key, &claim("a", 2_000, 9_000)).await.unwrap()
    else {
        panic!()
    };
    // Stale version: someone moved it on since version 1.
    assert!(matches!(
        store
            .transition(&key, &transition(1, OrderStatus::Placed, 3_000))
            .await
            .unwrap(),
        TransitionOutcome::Conflict(_)
    ));
    let placed = Transition {
        update: OrderUpdate {
            exchange_order_id: Some(42.into()),
            last_error: None,
        },
        ..transition(claimed.version, OrderStatus::Placed, 3_000)
    };
    let TransitionOutcome::Applied(rec) = store.transition(&key, &placed).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        (rec.status, rec.exchange_order_id, rec.claim_owner.clone()),
        (OrderStatus::Placed, Some(42.into()), None)
    );
    let TransitionOutcome::Applied(done) = store
        .transition(
            &key,
            &transition(rec.version, OrderStatus::Cancelled, 4_000),
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(done.status, OrderStatus::Cancelled);
    assert!(matches!(
        store
            .transition(&key, &transition(done.version, OrderStatus::Placing, 5_000))
            .await
            .unwrap(),
        TransitionOutcome::Conflict(_)
    ));
    let missing = OrderKey::of(&intent(99, 1));
    assert_eq!(
        store
            .transition(&missing, &transition(1, OrderStatus::Placing, 1))
            .await
            .unwrap(),
        TransitionOutcome::NotFound
    );

    // Stored form: decimals as strings, a TTL on the final order.
    let raw = client
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S("PORTFOLIO#p1".into()))
        .key(
            "sk",
            AttributeValue::S(format!("ORDER#{}", i.client_order_id)),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(raw["filled_qty"], AttributeValue::S("0".into()));
    assert_eq!(raw["order_status"], AttributeValue::S("CANCELLED".into()));
    let AttributeValue::N(ttl) = &raw["ttl_epoch_s"] else {
        panic!("no TTL on a final order")
    };
    assert_eq!(ttl.parse::<i64>().unwrap(), 4 + 90 * 24 * 3600);
    let AttributeValue::S(intent_json) = &raw["intent"] else {
        panic!()
    };
    assert!(
        intent_json.contains("\"quantity\":\"0.50000000\""),
        "{intent_json}"
    );
}

fn fill(qty: Decimal, status: OrderStatus, now_ms: EpochMillis) -> FillProgress {
    FillProgress {
        exchange_order_id: 42.into(),
        executed_qty: qty,
        cumulative_quote_qty: qty * dec!(64000.1),
        fees: qty * dec!(0.001),
        fee_asset: Some(Asset::new("BTC").unwrap()),
        fees_quote: qty * dec!(0.001) * dec!(64000.1),
        status,
        now_ms,
    }
}

#[tokio::test]
async fn the_same_fill_applied_twice_changes_nothing() {
    let Some((store, _)) = ledger().await else {
        return;
    };
    let i = intent(0, 100_000);
    let key = OrderKey::of(&i);
    store.record(&i, 1_000).await.unwrap();
    let partial = |at| fill(dec!(0.2), OrderStatus::PartiallyFilled, at);
    assert!(
        matches!(
            store.apply_fill(&key, &partial(1_500)).await.unwrap(),
            FillOutcome::Conflict(_)
        ),
        "no fills before placing"
    );
    let ClaimOutcome::Claimed(c) = store.claim(&key, &claim("a", 2_000, 9_000)).await.unwrap()
    else {
        panic!()
    };
    store
        .transition(&key, &transition(c.version, OrderStatus::Placed, 2_500))
        .await
        .unwrap();
    let FillOutcome::Applied(after_first) = store.apply_fill(&key, &partial(3_000)).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (after_first.filled_qty, after_first.status),
        (dec!(0.2), OrderStatus::PartiallyFilled)
    );
    assert_eq!(after_first.cumulative_quote_qty, dec!(12800.02));
    assert_eq!(
        store.apply_fill(&key, &partial(3_100)).await.unwrap(),
        FillOutcome::AlreadyApplied(after_first.clone())
    );
    assert_eq!(
        store.order(&key).await.unwrap(),
        Some(after_first.clone()),
        "same state after the duplicate"
    );
    // An older report arriving late changes nothing either.
    let older = |at| fill(dec!(0.1), OrderStatus::PartiallyFilled, at);
    assert!(matches!(
        store.apply_fill(&key, &older(3_200)).await.unwrap(),
        FillOutcome::AlreadyApplied(_)
    ));
    // 0.2 → 0.15 would be a backwards step for strings compared naively ("0.2" > "0.15");
    // 0.2 → 0.25 and then 0.5 are forward.
    let more = |at| fill(dec!(0.25), OrderStatus::PartiallyFilled, at);
    assert!(matches!(
        store.apply_fill(&key, &more(3_300)).await.unwrap(),
        FillOutcome::Applied(_)
    ));
    let done = |at| fill(dec!(0.5), OrderStatus::Filled, at);
    let FillOutcome::Applied(filled) = store.apply_fill(&key, &done(4_000)).await.unwrap() else {
        panic!()
    };
    assert_eq!(filled.status, OrderStatus::Filled);
    assert_eq!(
        store.apply_fill(&key, &done(4_100)).await.unwrap(),
        FillOutcome::AlreadyApplied(filled.clone())
    );
    assert_eq!(store.order(&key).await.unwrap(), Some(filled));
}

#[tokio::test]
async fn open_orders_are_the_non_final_ones() {
    let Some((store, _)) = ledger().await else {
        return;
    };
    let mut keys = Vec::new();
    for leg in 0..4 {
        let i = intent(leg, 100_000);
        store.record(&i, 1_000).await.unwrap();
        keys.push(OrderKey::of(&i));
    }
    store
        .transition(&keys[1], &transition(1, OrderStatus::Expired, 2_000))
        .await
        .unwrap();
    store
        .transition(&keys[2], &transition(1, OrderStatus::Queued, 2_000))
        .await
        .unwrap();
    let open: HashSet<_> = store
        .open_orders(&portfolio())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key().client_order_id)
        .collect();
    let want: HashSet<_> = [&keys[0], &keys[2], &keys[3]]
        .into_iter()
        .map(|k| k.client_order_id.clone())
        .collect();
    assert_eq!(open, want);
    assert!(store
        .open_orders(&PortfolioId::new("other").unwrap())
        .await
        .unwrap()
        .is_empty());
    // Every order, the expired one included, from the same query.
    let all: Vec<_> = store
        .orders(&portfolio())
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.key().client_order_id, r.status))
        .collect();
    assert_eq!(all.len(), 4);
    assert!(all.contains(&(keys[1].client_order_id.clone(), OrderStatus::Expired)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_lease_acquirers_get_one_owner() {
    let Some((store, _)) = ledger().await else {
        return;
    };
    let store = Arc::new(store);
    let cycle = CycleId::new("c1").unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|n| {
            let (store, cycle) = (store.clone(), cycle.clone());
            tokio::spawn(async move {
                store
                    .acquire(
                        &Lease::wanted(&portfolio(), &format!("owner-{n}"), &cycle, 1_000, 30_000),
                        1_000,
                    )
                    .await
            })
        })
        .collect();
    let mut owners = Vec::new();
    let mut seen_holders = HashSet::new();
    for t in tasks {
        match t.await.unwrap().unwrap() {
            LeaseOutcome::Acquired(l) => owners.push(l),
            LeaseOutcome::HeldBy(l) => {
                seen_holders.insert(l.owner);
            }
            LeaseOutcome::Lost => panic!("acquire never reports Lost"),
        }
    }
    assert_eq!(owners.len(), 1, "{owners:?}");
    let lease = owners.remove(0);
    assert!(
        seen_holders.iter().all(|h| h == &lease.owner),
        "{seen_holders:?}"
    );
    let mut stranger = lease.clone();
    stranger.owner = "stranger".into();
    assert!(
        !store.release(&stranger, &released(&cycle)).await.unwrap(),
        "only the owner releases"
    );
    assert!(matches!(
        store.renew(&stranger, 2_000, 30_000).await.unwrap(),
        LeaseOutcome::HeldBy(_)
    ));
    let LeaseOutcome::Acquired(renewed) = store.renew(&lease, 2_000, 30_000).await.unwrap() else {
        panic!()
    };
    assert_eq!(renewed.expires_at_ms, 32_000);
    assert!(matches!(
        store
            .acquire(
                &Lease::wanted(&portfolio(), "late", &cycle, 31_999, 30_000),
                31_999
            )
            .await
            .unwrap(),
        LeaseOutcome::HeldBy(_)
    ));
    let LeaseOutcome::Acquired(taken) = store
        .acquire(
            &Lease::wanted(&portfolio(), "late", &cycle, 32_000, 30_000),
            32_000,
        )
        .await
        .unwrap()
    else {
        panic!("an expired lease is taken over")
    };
    assert_eq!(taken.owner, "late");
    assert!(
        !store.release(&renewed, &released(&cycle)).await.unwrap(),
        "the old owner lost it"
    );
    assert_eq!(
        store.renew(&renewed, 33_000, 1).await.unwrap(),
        LeaseOutcome::HeldBy(taken.clone())
    );
    assert!(store.release(&taken, &released(&cycle)).await.unwrap());
    assert_eq!(
        store.renew(&taken, 33_000, 1).await.unwrap(),
        LeaseOutcome::Lost
    );
    // The release keeps how the cycle ended, and the lease is free at once.
    assert_eq!(
        store.last_cycle(&portfolio()).await.unwrap(),
        Some(released(&cycle))
    );
    assert!(matches!(
        store
            .acquire(
                &Lease::wanted(&portfolio(), "next", &cycle, 33_000, 30_000),
                33_000
            )
            .await
            .unwrap(),
        LeaseOutcome::Acquired(_)
    ));
}

fn released(cycle: &CycleId) -> driftline_core::control::CycleRecord {
    driftline_core::control::CycleRecord {
        cycle_id: cycle.clone(),
        at_ms: 33_000,
        outcome: driftline_core::service::scheduler::PortfolioOutcome::Planned {
            orders: 2,
            queued: 2,
            reconciled: 0,
            skipped: vec![],
            notes: vec![],
        },
    }
}

fn snapshot(cycle: &str, drift: Decimal) -> DriftSnapshot {
    DriftSnapshot {
        portfolio_id: portfolio(),
        cycle_id: CycleId::new(cycle).unwrap(),
        equity: dec!(1000),
        assets: vec![AssetDrift {
            asset: Asset::new("BTC").unwrap(),
            quantity: dec!(0.01),
            price: Price::new(dec!(64000)).unwrap(),
            value: dec!(640),
            weight: dec!(0.64),
            target: dec!(0.6),
            drift,
        }],
    }
}

#[tokio::test]
async fn drift_history_reads_the_last_k_newest_first() {
    let Some((store, _)) = store().await else {
        return;
    };
    assert!(store.latest(&portfolio(), 3).await.unwrap().is_empty());
    // Times out of lexical order as plain numbers (9_000 vs 10_000).
    for (n, at) in [
        (1, 1_000),
        (2, 9_000),
        (3, 10_000),
        (4, 200_000),
        (5, 3_000_000),
    ] {
        store
            .append(&snapshot(&format!("c{n}"), Decimal::from(n)), at)
            .await
            .unwrap();
    }
    let got = store.latest(&portfolio(), 3).await.unwrap();
    let cycles: Vec<_> = got
        .iter()
        .map(|r| r.snapshot.cycle_id.to_string())
        .collect();
    assert_eq!(cycles, ["c5", "c4", "c3"]);
    assert_eq!(got[0].recorded_at_ms, 3_000_000);
    assert_eq!(got[0].snapshot, snapshot("c5", dec!(5)));
    assert!(got[0].open_orders.is_empty(), "none stored");
    assert_eq!(store.latest(&portfolio(), 10).await.unwrap().len(), 5);
    // The report's read: from a time on, oldest first, the boundary included.
    let since = |ms| {
        let store = store.clone();
        async move {
            store
                .drift_since(&portfolio(), ms)
                .await
                .unwrap()
                .iter()
                .map(|r| r.snapshot.cycle_id.to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(since(10_000).await, ["c3", "c4", "c5"]);
    assert_eq!(since(0).await, ["c1", "c2", "c3", "c4", "c5"]);
    assert!(since(3_000_001).await.is_empty());
    // A cycle's snapshot keeps the orders open when it ended, for the next cycle's notice.
    let open = vec![intent(0, 1).client_order_id, intent(1, 1).client_order_id];
    store
        .record_cycle(&snapshot("c6", dec!(6)), &open, 4_000_000)
        .await
        .unwrap();
    let newest = store.latest(&portfolio(), 1).await.unwrap();
    assert_eq!(newest[0].snapshot.cycle_id.to_string(), "c6");
    assert_eq!(newest[0].open_orders, open);
}

#[tokio::test]
async fn market_filters_expire_after_a_day_even_before_ttl_deletes_them() {
    let Some((store, _)) = store().await else {
        return;
    };
    let symbol: Symbol = "ETH/USDT".parse().unwrap();
    let filters = MarketFilters::new(MarketFiltersFields {
        symbol: symbol.clone(),
        tick_size: dec!(0.01),
        step_size: dec!(0.0001),
        min_qty: dec!(0.0001),
        max_qty: Some(dec!(9000)),
        min_notional: dec!(5),
        status: TradingStatus::Trading,
    })
    .unwrap();
    assert_eq!(store.filters("binance", &symbol, 0).await.unwrap(), None);
    store.put_filters("binance", &filters, 1_000).await.unwrap();
    assert_eq!(
        store.filters("binance", &symbol, 1_001).await.unwrap(),
        Some(filters.clone())
    );
    assert_eq!(store.filters("other", &symbol, 1_001).await.unwrap(), None);
    assert_eq!(
        store
            .filters("binance", &symbol, 1_000 + MARKET_FILTER_TTL_MS - 1)
            .await
            .unwrap(),
        Some(filters)
    );
    assert_eq!(
        store
            .filters("binance", &symbol, 1_000 + MARKET_FILTER_TTL_MS)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn breaker_state_is_shared_with_optimistic_versions() {
    let Some((store, _)) = store().await else {
        return;
    };
    let fresh = store.load("binance").await.unwrap();
    assert_eq!((fresh.state, fresh.version), (BreakerState::default(), 0));
    let open = BreakerState::default().after(
        VenueHealth::Trouble,
        None,
        BreakerConfig {
            failure_threshold: 1,
            cooldown_ms: 100,
            probe_timeout_ms: 100,
        },
        5,
    );
    let BreakerSave::Saved(saved) = store.save("binance", open, 0).await.unwrap() else {
        panic!()
    };
    assert_eq!(saved.version, 1);
    // A second instance that read version 0 loses, and learns the state.
    assert_eq!(
        store
            .save("binance", BreakerState::default(), 0)
            .await
            .unwrap(),
        BreakerSave::Conflict(saved.clone())
    );
    assert_eq!(store.load("binance").await.unwrap(), saved);
    let probing = BreakerState::HalfOpen {
        probe: "p-1".into(),
        until_ms: 1_000,
    };
    assert!(
        matches!(store.save("binance", probing.clone(), 1).await.unwrap(), BreakerSave::Saved(v) if v.version == 2)
    );
    assert_eq!(store.load("binance").await.unwrap().state, probing);
    assert_eq!(store.load("other").await.unwrap().version, 0);
}

async fn queue(max_receive: u32, visibility_secs: u32) -> Option<(SqsIntentQueue, SqsIntentQueue)> {
    let config = emulator().await?;
    let client = aws_sdk_sqs::Client::new(&config);
    let q = create_queue_with_dlq(&client, &unique("intents"), max_receive, visibility_secs)
        .await
        .unwrap();
    Some((
        SqsIntentQueue::new(client.clone(), q.queue_url),
        SqsIntentQueue::new(client, q.dead_letter_url),
    ))
}

#[tokio::test]
async fn batches_of_more_than_ten_all_arrive_as_versioned_envelopes() {
    let Some((q, _)) = queue(5, 30).await else {
        return;
    };
    let intents: Vec<_> = (0..23).map(|leg| intent(leg, 100_000)).collect();
    // Every third one a follow-up, carrying its placed record through SQS.
    let messages: Vec<_> = intents
        .iter()
        .map(|i| {
            if i.leg % 3 == 0 {
                let record = OrderRecord {
                    status: OrderStatus::PartiallyFilled,
                    version: 4,
                    filled_qty: dec!(0.0001),
                    cumulative_quote_qty: dec!(6.5),
                    exchange_order_id: Some(77.into()),
                    ..OrderRecord::pending(i.clone(), 1_000)
                };
                IntentEnvelope::follow_up(&record)
            } else {
                IntentEnvelope::new(i.clone())
            }
        })
        .collect();
    let report = q.send(&messages, 0).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.sent.len(), 23);
    let mut got = Vec::new();
    for _ in 0..20 {
        if got.len() == 23 {
            break;
        }
        got.extend(q.receive(10, 1).await.unwrap());
    }
    let mut envelopes: Vec<_> = got.iter().map(|r| r.envelope.clone()).collect();
    envelopes.sort_by_key(|e| e.intent.leg);
    assert_eq!(envelopes, messages, "each message arrives as it was sent");
    let mut received: Vec<_> = got.iter().map(|r| r.envelope.intent.clone()).collect();
    received.sort_by_key(|i| i.leg);
    assert_eq!(received, intents);
    assert!(got.iter().all(|r| r.receive_count == 1));
    assert!(
        q.send(&messages[..1], 901).await.is_err(),
        "SQS delays are at most 900 s"
    );
}

#[tokio::test]
async fn a_delayed_message_is_invisible_until_its_delay_passes() {
    let Some((q, _)) = queue(5, 30).await else {
        return;
    };
    q.send(&[IntentEnvelope::new(intent(0, 100_000))], 2)
        .await
        .unwrap();
    assert!(
        q.receive(10, 0).await.unwrap().is_empty(),
        "visible before its delay"
    );
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let got = q.receive(10, 2).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].envelope.intent, intent(0, 100_000));
}

#[tokio::test]
async fn change_visibility_delays_a_retry_and_counts_receives() {
    let Some((q, _)) = queue(5, 30).await else {
        return;
    };
    q.send(&[IntentEnvelope::new(intent(0, 100_000))], 0)
        .await
        .unwrap();
    let first = q.receive(1, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        q.receive(1, 0).await.unwrap().is_empty(),
        "in flight for the queue's 30 s visibility"
    );
    q.retry_later(&first[0].receipt_handle, 2).await.unwrap();
    assert!(
        q.receive(1, 0).await.unwrap().is_empty(),
        "hidden for the 2 s retry delay"
    );
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let second = q.receive(1, 2).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].receive_count, 2);
    let delay = q
        .retry_with_backoff(&second[0].receipt_handle, 0)
        .await
        .unwrap();
    assert!(
        (2..=5).contains(&delay),
        "attempt 0: 5 s ceiling, half of it at least: {delay}"
    );
    // Deleted messages never come back.
    q.retry_later(&second[0].receipt_handle, 0).await.unwrap();
    let third = q.receive(1, 2).await.unwrap();
    q.delete(&third[0].receipt_handle).await.unwrap();
    q.retry_later(&third[0].receipt_handle, 0).await.ok();
    assert!(q.receive(1, 1).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_message_received_more_than_max_receive_times_lands_in_the_dead_letter_queue() {
    let Some((q, dlq)) = queue(2, 30).await else {
        return;
    };
    q.send(&[IntentEnvelope::new(intent(7, 100_000))], 0)
        .await
        .unwrap();
    for n in 1..=2 {
        let got = q.receive(1, 1).await.unwrap();
        assert_eq!(got.len(), 1, "receive {n}");
        assert_eq!(got[0].receive_count, n);
        q.retry_later(&got[0].receipt_handle, 0).await.unwrap();
    }
    assert!(
        q.receive(1, 1).await.unwrap().is_empty(),
        "a third receive moves it instead"
    );
    let dead = dlq.receive(1, 1).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].envelope.intent, intent(7, 100_000));
}

#[tokio::test]
async fn credentials_come_from_secrets_manager_cached_and_never_shown() {
    let Some(config) = emulator().await else {
        return;
    };
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let id = unique("exchange-keys");
    let body = |k: &str, s: &str| serde_json::json!({"api_key": k, "api_secret": s}).to_string();
    client
        .create_secret()
        .name(&id)
        .secret_string(body("key-one", "secret-one-9f2c"))
        .send()
        .await
        .unwrap();

    let cache = AccountSecrets::new(client.clone(), Duration::from_secs(3600));
    let account = cache.get(&id).await.unwrap();
    assert_eq!(account.venue, driftline_core::ports::Venue::Binance);
    let creds = &account.credentials;
    assert_eq!(
        (creds.api_key(), creds.expose_secret()),
        ("key-one", "secret-one-9f2c")
    );
    for shown in [
        format!("{account:?}"),
        format!("{creds}"),
        format!("{cache:?}"),
    ] {
        assert!(
            !shown.contains("secret-one-9f2c") && !shown.contains("key-one"),
            "{shown}"
        );
    }

    client
        .put_secret_value()
        .secret_id(&id)
        .secret_string(body("key-two", "secret-two"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        cache.get(&id).await.unwrap().credentials.api_key(),
        "key-one",
        "cached within its TTL"
    );
    cache.invalidate(&id).await;
    assert_eq!(
        cache.get(&id).await.unwrap().credentials.api_key(),
        "key-two"
    );
    let uncached = AccountSecrets::new(client.clone(), Duration::ZERO);
    client
        .put_secret_value()
        .secret_id(&id)
        .secret_string(body("key-three", "secret-three"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        uncached.get(&id).await.unwrap().credentials.api_key(),
        "key-three",
        "re-read after the TTL"
    );

    let missing = cache.get(&unique("missing")).await.unwrap_err();
    assert!(
        matches!(missing, SecretError::Unavailable { .. }),
        "{missing}"
    );
    let bad = unique("bad");
    client
        .create_secret()
        .name(&bad)
        .secret_string("not json: secret-leak-77")
        .send()
        .await
        .unwrap();
    let err = cache.get(&bad).await.unwrap_err().to_string();
    assert!(
        err.contains("not JSON") && !err.contains("secret-leak-77"),
        "{err}"
    );
}

#[tokio::test]
async fn one_secret_holds_several_accounts_each_named_by_secret_id_and_name() {
    let Some(config) = emulator().await else {
        return;
    };
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let id = unique("exchange-accounts");
    let accounts = serde_json::json!({"accounts": {
        "alice": {"api_key": "alice-key", "api_secret": "alice-secret-4b1d"},
        "bob": {"venue": "kraken", "api_key": "bob-key", "api_secret": "Ym9iLXNlY3JldA=="},
    }});
    client
        .create_secret()
        .name(&id)
        .secret_string(accounts.to_string())
        .send()
        .await
        .unwrap();
    let cache = AccountSecrets::new(client.clone(), Duration::from_secs(3600));
    let alice = cache.get(&format!("{id}#alice")).await.unwrap();
    let bob = cache.get(&format!("{id}#bob")).await.unwrap();
    assert_eq!(alice.credentials.api_key(), "alice-key");
    assert_eq!(
        (bob.venue, bob.credentials.api_key()),
        (driftline_core::ports::Venue::Kraken, "bob-key")
    );
    // Named wrongly: an error naming the reference and what is wrong, never a value.
    for (reference, want) in [
        (format!("{id}#carol"), "no such account"),
        (id.clone(), "holds several accounts"),
    ] {
        let err = cache.get(&reference).await.unwrap_err().to_string();
        assert!(
            err.contains(&reference) && err.contains(want) && !err.contains("secret-4b1d"),
            "{err}"
        );
    }
    let shown = format!("{cache:?}");
    assert!(!shown.contains("alice-secret-4b1d"), "{shown}");
    // Rotating one account's keys: the secret is read again once the exchange refused them.
    let mut rotated = accounts.clone();
    rotated["accounts"]["alice"]["api_key"] = "alice-key-2".into();
    client
        .put_secret_value()
        .secret_id(&id)
        .secret_string(rotated.to_string())
        .send()
        .await
        .unwrap();
    cache.invalidate(&format!("{id}#alice")).await;
    let alice = cache.get(&format!("{id}#alice")).await.unwrap();
    assert_eq!(alice.credentials.api_key(), "alice-key-2");
}

#[tokio::test]
async fn the_halt_and_the_breaker_are_read_together_and_the_halt_is_set_and_lifted() {
    use driftline_core::control::{DeploymentControls, Stop};
    let Some((store, _)) = store().await else {
        return;
    };
    let fresh = store.read("binance").await.unwrap();
    assert_eq!(fresh.halt, None);
    assert_eq!(fresh.breaker.version, 0);
    let open = BreakerState::Open { until_ms: 9_000 };
    store.save("binance", open.clone(), 0).await.unwrap();
    let halt = Stop {
        reason: "exchange incident".into(),
        by: "arn:aws:iam::123456789012:user/ops".into(),
        at_ms: 1_000,
    };
    assert_eq!(store.set_halt(Some(&halt)).await.unwrap(), None);
    let both = store.read("binance").await.unwrap();
    assert_eq!(both.halt.as_ref(), Some(&halt));
    assert_eq!((both.breaker.state, both.breaker.version), (open, 1));
    assert_eq!(store.read("other").await.unwrap().breaker.version, 0);
    assert_eq!(store.set_halt(None).await.unwrap(), Some(halt));
    assert_eq!(store.read("binance").await.unwrap().halt, None);
}

#[tokio::test]
async fn nothing_new_is_recorded_once_the_deployment_is_halted_or_the_portfolio_paused_or_removed()
{
    use driftline_aws::ConfigWrite;
    use driftline_core::control::{DeploymentControls, Stop};
    use driftline_core::orders::Refusal;
    use driftline_core::ports::PortfolioConfigs;
    let Some((store, _)) = ledger().await else {
        return;
    };
    let stop = Stop {
        reason: "test".into(),
        by: "operator".into(),
        at_ms: 1,
    };
    let first: Vec<_> = (0..3).map(|leg| intent(leg, 100_000)).collect();
    let refused = |r: Refusal, n: usize| vec![RecordOutcome::Refused(r); n];
    let version = |store: &DynamoStore| {
        let store = store.clone();
        async move {
            store
                .portfolio(&portfolio())
                .await
                .unwrap()
                .unwrap()
                .version
        }
    };

    // One intent alone and a cycle of three: refused alike.
    let assert_refused = |refusal: Refusal| {
        let (store, first) = (store.clone(), first.clone());
        async move {
            assert_eq!(
                store.record(&first[0], 1_000).await.unwrap(),
                RecordOutcome::Refused(refusal)
            );
            assert_eq!(
                store.record_all(&first, 1_000).await.unwrap(),
                refused(refusal, 3)
            );
        }
    };
    store.set_halt(Some(&stop)).await.unwrap();
    assert_refused(Refusal::Halted).await;
    store.set_halt(None).await.unwrap();

    let v = version(&store).await;
    let ConfigWrite::Written(_) = store
        .set_paused(&portfolio(), Some(&stop), v)
        .await
        .unwrap()
    else {
        panic!("paused")
    };
    assert_refused(Refusal::PortfolioStopped).await;
    let v = version(&store).await;
    let ConfigWrite::Written(_) = store.set_paused(&portfolio(), None, v).await.unwrap() else {
        panic!("resumed")
    };
    assert!(store.orders(&portfolio()).await.unwrap().is_empty());

    // A portfolio nobody configured records nothing.
    let stranger = OrderIntent {
        portfolio_id: PortfolioId::new("p2").unwrap(),
        ..intent(9, 100_000)
    };
    assert_eq!(
        store.record(&stranger, 1_000).await.unwrap(),
        RecordOutcome::Refused(Refusal::PortfolioStopped)
    );
    // One call records one portfolio's intents: its checks are that portfolio's.
    let mixed = store
        .record_all(&[first[0].clone(), stranger.clone()], 1_000)
        .await;
    assert!(
        matches!(
            &mixed,
            Err(driftline_core::ports::StoreError::InvalidInput {
                field: "intent",
                ..
            })
        ),
        "{mixed:?}"
    );

    // Running, the cycle is recorded. Run again after a halt, what is there comes back as it
    // was and nothing new is written.
    let outcomes = store.record_all(&first, 1_000).await.unwrap();
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, RecordOutcome::Recorded(_))));
    store.set_halt(Some(&stop)).await.unwrap();
    let mut again = first.clone();
    again.push(intent(3, 100_000));
    let outcomes = store.record_all(&again, 2_000).await.unwrap();
    let mut want: Vec<_> = first
        .iter()
        .map(|i| RecordOutcome::AlreadyRecorded(OrderRecord::pending(i.clone(), 1_000)))
        .collect();
    want.push(RecordOutcome::Refused(Refusal::Halted));
    assert_eq!(outcomes, want);
    store.set_halt(None).await.unwrap();
    assert_eq!(store.orders(&portfolio()).await.unwrap().len(), 3);

    // Removed, the portfolio records nothing more either.
    let v = version(&store).await;
    let ConfigWrite::Written(_) = store.remove_portfolio(&portfolio(), v).await.unwrap() else {
        panic!("removed")
    };
    assert_eq!(
        store.record(&again[3], 3_000).await.unwrap(),
        RecordOutcome::Refused(Refusal::PortfolioStopped)
    );
    assert_eq!(store.orders(&portfolio()).await.unwrap().len(), 3);
}

#[tokio::test]
async fn portfolio_changes_name_the_version_they_read_so_no_change_is_lost() {
    use driftline_aws::ConfigWrite;
    use driftline_core::config::PortfolioSpec;
    use driftline_core::control::Stop;
    use driftline_core::ports::PortfolioConfigs;
    let Some((store, raw)) = store().await else {
        return;
    };
    let spec = |band: &str| -> PortfolioSpec {
        serde_json::from_value(serde_json::json!({
            "id": "p1", "quote": "USDT",
            "targets": {"BTC": "0.5", "USDT": "0.5"},
            "policy": {"band": {"absolute": band}}
        }))
        .unwrap()
    };
    let ConfigWrite::Written(first) = store.apply_portfolio(&spec("0.05"), 0).await.unwrap() else {
        panic!("a new portfolio is written")
    };
    assert_eq!(first.version, 1);
    // A second operator who also saw none, or an older version, loses and learns what is there.
    let lost = store.apply_portfolio(&spec("0.02"), 0).await.unwrap();
    assert_eq!(lost, ConfigWrite::Conflict(Some(first.clone())));
    let ConfigWrite::Written(second) = store.apply_portfolio(&spec("0.02"), 1).await.unwrap()
    else {
        panic!("the version read is current")
    };
    assert_eq!(second.version, 2);
    assert!(matches!(
        store.apply_portfolio(&spec("0.03"), 1).await.unwrap(),
        ConfigWrite::Conflict(Some(_))
    ));
    // Pausing keeps the spec; applying keeps the pause; resuming lifts it.
    let pause = Stop {
        reason: "by hand".into(),
        by: "ops".into(),
        at_ms: 5,
    };
    let ConfigWrite::Written(paused) = store
        .set_paused(&portfolio(), Some(&pause), 2)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (paused.version, paused.paused.clone()),
        (3, Some(pause.clone()))
    );
    let ConfigWrite::Written(applied) = store.apply_portfolio(&spec("0.04"), 3).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(applied.paused, Some(pause));
    let read = store.portfolio(&portfolio()).await.unwrap().unwrap();
    assert_eq!(read, applied);
    let ConfigWrite::Written(resumed) = store.set_paused(&portfolio(), None, 4).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(resumed.paused, None);
    // An invalid spec is refused before anything is written, naming the field.
    let mut bad = spec("0.05");
    bad.targets.insert("USDT".into(), "0.4".into());
    let e = store
        .apply_portfolio(&bad, 5)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("targets"), "{e}");
    // Removal names the version too; then the portfolio is gone.
    assert!(matches!(
        store.remove_portfolio(&portfolio(), 4).await.unwrap(),
        ConfigWrite::Conflict(Some(_))
    ));
    assert!(matches!(
        store.remove_portfolio(&portfolio(), 5).await.unwrap(),
        ConfigWrite::Written(_)
    ));
    assert_eq!(store.portfolio(&portfolio()).await.unwrap(), None);
    assert_eq!(
        store.remove_portfolio(&portfolio(), 5).await.unwrap(),
        ConfigWrite::Conflict(None)
    );

    // A config put by hand without a version (the way portfolios were added before `apply`)
    // reads as version 0, and an apply on version 0 takes it over once.
    let hand = serde_json::to_string(&spec("0.05")).unwrap();
    raw.put_item()
        .table_name(store.table())
        .item("pk", AttributeValue::S("CONFIG".into()))
        .item("sk", AttributeValue::S("PORTFOLIO#p1".into()))
        .item("spec", AttributeValue::S(hand))
        .send()
        .await
        .unwrap();
    assert_eq!(
        store
            .portfolio(&portfolio())
            .await
            .unwrap()
            .unwrap()
            .version,
        0
    );
    let ConfigWrite::Written(taken) = store.apply_portfolio(&spec("0.02"), 0).await.unwrap() else {
        panic!("a hand-written config is applied over on version 0")
    };
    assert_eq!(taken.version, 1);
    assert!(matches!(
        store.apply_portfolio(&spec("0.03"), 0).await.unwrap(),
        ConfigWrite::Conflict(Some(_))
    ));
}

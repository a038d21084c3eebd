//! The scheduler and executor end to end: real handlers, real adapters, the local AWS emulator
//! and the paper exchange. Each test is named after the failure it prevents; the scenarios that
//! prove exactly-once (the happy path, a thin book, a partial fill re-priced, triple delivery, a
//! dropped answer, a 5xx storm) run on every venue: the paper exchange speaking Binance's,
//! Kraken's and Coinbase's dialect, through driftline's adapter for each.

use driftline_core::service::scheduler::PortfolioOutcome;
use driftline_core::OrderStatus;
use driftline_e2e::{first_orders_placed, first_tick_plans_two, planned, World};
use paper_exchange::config::Dialect;
use rstest::rstest;

#[rstest]
#[case::binance(Dialect::Binance)]
#[case::kraken(Dialect::Kraken)]
#[case::coinbase(Dialect::Coinbase)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn happy_path_off_target_orders_fill_and_the_next_cycle_places_nothing(
    #[case] venue: Dialect,
) {
    let Some(w) = World::article_on(venue).await else {
        return;
    };
    let first = w.tick().await;
    assert_eq!(planned(&first), 2, "{first:?}");
    // Both sells rest inside the spread; drain places them.
    let drained = w.drain(10).await;
    assert!(drained.messages >= 2, "{drained:?}");
    let venue = w.venue_orders().await;
    assert_eq!(venue.len(), 2, "{venue:#?}");
    // The market comes up through the resting sells: both fill.
    w.set_mid("BTCUSDT", "64300").await;
    w.set_mid("ETHUSDT", "3460").await;
    w.drain(10).await;
    let orders = w.orders("article").await;
    assert_eq!(orders.len(), 2);
    assert!(
        orders.iter().all(|o| o.status == OrderStatus::Filled),
        "{orders:#?}"
    );
    // Next cycle: back inside the bands, nothing to do.
    w.next_tick();
    let second = w.tick().await;
    assert_eq!(planned(&second), 0, "{second:?}");
    assert_eq!(w.venue_orders().await.len(), 2);
    w.stop().await;
}

use driftline_core::ports::DriftHistory;
use driftline_core::PortfolioId;
use rust_decimal::Decimal;
use serde_json::json;

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// Moves both markets up through the resting sells so they fill, and lets the executor's
/// follow-ups record it.
async fn fill_resting_sells(w: &World) {
    w.set_mid("BTCUSDT", "64300").await;
    w.set_mid("ETHUSDT", "3460").await;
    w.drain(20).await;
}

#[rstest]
#[case::binance(Dialect::Binance)]
#[case::kraken(Dialect::Kraken)]
#[case::coinbase(Dialect::Coinbase)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thin_book_the_order_is_queued_retried_with_delay_and_filled_when_depth_returns(
    #[case] venue: Dialect,
) {
    let Some(w) = first_tick_plans_two(World::article_on(venue).await).await else {
        return;
    };
    // The BTC book goes thin after the plan: 0.05% of its depth is far from 0.0806 BTC.
    w.set_faults(json!({"thin_books": {"BTCUSDT": "0.0005"}}))
        .await;
    let first = w.invoke_executor_once(1).await;
    assert_eq!(first.messages, 2);
    assert_eq!(
        first.failures, 1,
        "the BTC message comes back later: {first:?}"
    );
    let btc = first_btc_leg(&w).await;
    assert_eq!(btc.status, OrderStatus::Queued);
    assert!(
        btc.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("book too thin"),
        "{btc:?}"
    );
    // Still thin at the retry: queued again, nothing placed for BTC.
    w.drain(3).await;
    let btc_on_venue =
        |orders: &[serde_json::Value]| orders.iter().filter(|o| o["symbol"] == "BTCUSDT").count();
    assert_eq!(btc_on_venue(&w.venue_orders().await), 0);
    // Depth returns: the retry places it, and it fills.
    w.set_faults(json!({})).await;
    w.drain(10).await;
    assert_eq!(btc_on_venue(&w.venue_orders().await), 1);
    fill_resting_sells(&w).await;
    let btc = first_btc_leg(&w).await;
    assert_eq!(btc.status, OrderStatus::Filled);
    assert!(btc.attempts >= 2, "{btc:?}");
    w.stop().await;
}

#[rstest]
#[case::binance(Dialect::Binance)]
#[case::kraken(Dialect::Kraken)]
#[case::coinbase(Dialect::Coinbase)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partial_fill_only_the_remainder_is_repriced_and_the_next_cycle_counts_the_fills(
    #[case] venue: Dialect,
) {
    let Some(w) = first_orders_placed(World::article_on(venue).await).await else {
        return;
    };
    // A thin market rises just through the BTC sell: one thin level fills part of it.
    w.set_faults(json!({"thin_books": {"BTCUSDT": "0.01"}}))
        .await;
    w.set_mid("BTCUSDT", "64240").await;
    w.drain(10).await;
    let legs = btc_legs(w.orders("article").await);
    assert_eq!(legs.len(), 1);
    assert_eq!(
        legs[0].status,
        OrderStatus::PartiallyFilled,
        "{:?}",
        legs[0]
    );
    let filled = legs[0].filled_qty;
    assert!(filled > Decimal::ZERO && filled < legs[0].intent.quantity);
    // The market falls away from the resting remainder, with depth back: the follow-up cancels
    // it and places only the remainder as leg 1.
    w.set_faults(json!({})).await;
    w.set_mid("BTCUSDT", "64200").await;
    w.drain(10).await;
    let legs = btc_legs(w.orders("article").await);
    assert_eq!(legs.len(), 2, "{legs:#?}");
    let (leg0, leg1) = (
        &legs.iter().find(|o| o.intent.leg == 0).unwrap(),
        &legs.iter().find(|o| o.intent.leg == 1).unwrap(),
    );
    assert_eq!(leg0.status, OrderStatus::Cancelled);
    assert_eq!(leg0.filled_qty, filled);
    assert_eq!(leg1.intent.quantity, leg0.intent.quantity - filled);
    // Leg 1 fills when the market comes back up through it.
    w.set_mid("BTCUSDT", "64215").await;
    w.drain(10).await;
    let legs = btc_legs(w.orders("article").await);
    let leg1 = legs.iter().find(|o| o.intent.leg == 1).unwrap();
    assert_eq!(leg1.status, OrderStatus::Filled, "{leg1:?}");
    // The next cycle's drift is measured on the balances after both fills.
    w.next_tick();
    w.tick().await;
    let latest = w
        .store
        .latest(&PortfolioId::new("article").unwrap(), 1)
        .await
        .unwrap();
    let held = latest[0]
        .snapshot
        .get(&"BTC".parse().unwrap())
        .unwrap()
        .quantity;
    assert_eq!(held, dec("1.5") - leg0.intent.quantity);
    w.stop().await;
}

/// A paused portfolio's resting orders are left as they are: a follow-up that finds the market
/// gone away from one does not cancel and re-place it; once resumed, the next follow-up does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_portfolios_resting_order_is_not_repriced_until_it_is_resumed() {
    use driftline_core::control::Stop;
    use driftline_core::ports::PortfolioConfigs;
    let Some(w) = first_orders_placed(World::article().await).await else {
        return;
    };
    assert_eq!(w.venue_orders().await.len(), 2);
    let id = PortfolioId::new("article").unwrap();
    let version = w.store.portfolio(&id).await.unwrap().unwrap().version;
    let stop = Stop {
        reason: "rebalancing by hand".to_owned(),
        by: "test".to_owned(),
        at_ms: 0,
    };
    w.store.set_paused(&id, Some(&stop), version).await.unwrap();
    // The market falls away from the resting BTC sell: unpaused, this re-prices it (the test
    // above); paused, the follow-ups leave it resting.
    w.set_mid("BTCUSDT", "64200").await;
    w.drain(10).await;
    let venue = w.venue_orders().await;
    assert_eq!(venue.len(), 2, "no new order while paused: {venue:#?}");
    assert!(venue.iter().all(|o| o["status"] == "NEW"), "{venue:#?}");
    let legs = btc_legs(w.orders("article").await);
    assert_eq!(legs.len(), 1, "{legs:#?}");
    assert_eq!(legs[0].status, OrderStatus::Placed, "{legs:#?}");
    // Resumed: the next follow-up moves the order to the market.
    w.store.set_paused(&id, None, version + 1).await.unwrap();
    w.drain(10).await;
    let legs = btc_legs(w.orders("article").await);
    assert_eq!(legs.len(), 2, "{legs:#?}");
    assert!(
        legs.iter()
            .any(|o| o.intent.leg == 0 && o.status == OrderStatus::Cancelled),
        "{legs:#?}"
    );
    assert_eq!(w.dead_letters().await.len(), 0);
    w.stop().await;
}

/// The article's first BTC/USDT leg.
async fn first_btc_leg(w: &World) -> driftline_core::orders::OrderRecord {
    btc_legs(w.orders("article").await).remove(0)
}

/// The BTC/USDT legs among `orders`.
fn btc_legs(
    orders: Vec<driftline_core::orders::OrderRecord>,
) -> Vec<driftline_core::orders::OrderRecord> {
    orders
        .into_iter()
        .filter(|o| o.intent.symbol.to_string() == "BTC/USDT")
        .collect()
}

/// Puts a received message back on the queue at once.
async fn make_visible(w: &World, m: &aws_sdk_sqs::types::Message) {
    w.sqs
        .change_message_visibility()
        .queue_url(&w.queue_url)
        .receipt_handle(m.receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
}

/// Fills the resting sells and checks every order of the article ended filled.
async fn fill_resting_sells_and_expect_all_filled(w: &World) {
    fill_resting_sells(w).await;
    assert!(w
        .orders("article")
        .await
        .iter()
        .all(|o| o.status == OrderStatus::Filled));
}

/// Sends every body twice more, as at-least-once delivery may.
async fn redeliver(w: &World, bodies: &[String]) {
    for body in bodies.iter().chain(bodies) {
        w.sqs
            .send_message()
            .queue_url(&w.queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
}

#[rstest]
#[case::binance(Dialect::Binance)]
#[case::kraken(Dialect::Kraken)]
#[case::coinbase(Dialect::Coinbase)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_message_delivered_three_times_places_one_order_each(#[case] venue: Dialect) {
    let Some(w) = first_tick_plans_two(World::article_on(venue).await).await else {
        return;
    };
    // Duplicate every queued message twice more, as at-least-once delivery may.
    let out = w
        .sqs
        .receive_message()
        .queue_url(&w.queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<String> = out
        .messages()
        .iter()
        .filter_map(|m| m.body().map(str::to_owned))
        .collect();
    assert_eq!(bodies.len(), 2);
    redeliver(&w, &bodies).await;
    for m in out.messages() {
        make_visible(&w, m).await;
    }
    let drained = w.drain(20).await;
    assert!(drained.messages >= 6, "{drained:?}");
    assert_eq!(
        w.venue_orders().await.len(),
        2,
        "one order per intent on the exchange"
    );
    fill_resting_sells_and_expect_all_filled(&w).await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scheduler_invoked_five_times_at_once_for_one_tick_makes_one_set_of_intents() {
    let Some(w) = World::article().await else {
        return;
    };
    let runs = futures::future::join_all((0..5).map(|_| w.tick())).await;
    let planned_runs = runs
        .iter()
        .filter(|r| {
            matches!(
                r.portfolios[0].outcome,
                PortfolioOutcome::Planned { orders: 2, .. }
            )
        })
        .count();
    let others_held_or_done = runs.iter().all(|r| {
        matches!(
            r.portfolios[0].outcome,
            PortfolioOutcome::Planned { .. }
                | PortfolioOutcome::LeaseHeld { .. }
                | PortfolioOutcome::AlreadyRan
        )
    });
    assert!(others_held_or_done, "{runs:#?}");
    assert_eq!(planned_runs, 1, "{runs:#?}");
    // A redelivery of the same tick afterwards finds the cycle done.
    let again = w.tick().await;
    assert_eq!(again.portfolios[0].outcome, PortfolioOutcome::AlreadyRan);
    assert_eq!(w.orders("article").await.len(), 2);
    w.drain(10).await;
    assert_eq!(w.venue_orders().await.len(), 2);
    w.stop().await;
}

#[rstest]
#[case::binance(Dialect::Binance)]
#[case::kraken(Dialect::Kraken)]
#[case::coinbase(Dialect::Coinbase)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_exchange_accepts_an_order_and_drops_the_response_recovered_by_client_order_id(
    #[case] venue: Dialect,
) {
    let Some(w) = first_tick_plans_two(World::article_on(venue).await).await else {
        return;
    };
    w.set_faults(json!({"drop_next_order_responses": 2})).await;
    w.drain(10).await;
    let venue = w.venue_orders().await;
    assert_eq!(venue.len(), 2, "{venue:#?}");
    let orders = w.orders("article").await;
    for o in &orders {
        assert_eq!(o.status, OrderStatus::Placed, "{o:?}");
        assert_eq!(w.venue_orders_of(&o.intent.client_order_id).await.len(), 1);
    }
    w.set_faults(json!({})).await;
    fill_resting_sells_and_expect_all_filled(&w).await;
    w.stop().await;
}

#[rstest]
#[case::binance(Dialect::Binance)]
#[case::kraken(Dialect::Kraken)]
#[case::coinbase(Dialect::Coinbase)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_5xx_storm_ends_with_every_order_final_and_none_duplicated(#[case] venue: Dialect) {
    let Some(w) = first_tick_plans_two(World::article_on(venue).await).await else {
        return;
    };
    w.set_faults(json!({"server_error_rate": "0.3", "drop_order_response_rate": "0.3"}))
        .await;
    w.drain(30).await;
    w.set_faults(json!({})).await;
    w.drain(30).await;
    fill_resting_sells(&w).await;
    let orders = w.orders("article").await;
    assert!(
        orders.iter().all(|o| o.status == OrderStatus::Filled),
        "{orders:#?}"
    );
    for o in &orders {
        let n = w.venue_orders_of(&o.intent.client_order_id).await.len();
        assert_eq!(n, 1, "{}", o.intent.client_order_id);
    }
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_intent_past_its_deadline_expires_and_nothing_is_placed() {
    let Some(w) = first_tick_plans_two(World::article().await).await else {
        return;
    };
    // The executor first sees the messages after the intents' 15-minute deadline.
    w.clock.advance(901_000);
    w.drain(10).await;
    let orders = w.orders("article").await;
    assert!(
        orders.iter().all(|o| o.status == OrderStatus::Expired),
        "{orders:#?}"
    );
    assert!(w.venue_orders().await.is_empty());
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_malformed_message_goes_to_the_dead_letter_queue_with_its_reason_and_the_others_succeed()
{
    let Some(w) = first_tick_plans_two(World::article().await).await else {
        return;
    };
    w.sqs
        .send_message()
        .queue_url(&w.queue_url)
        .message_body(r#"{"v":1,"intent":{"quantity":0.5}}"#)
        .send()
        .await
        .unwrap();
    w.drain(10).await;
    let dead = w.dead_letters().await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].0, r#"{"v":1,"intent":{"quantity":0.5}}"#);
    let reason = dead[0].1.clone().unwrap_or_default();
    assert!(reason.contains("intent"), "{reason}");
    assert_eq!(w.venue_orders().await.len(), 2);
    w.stop().await;
}

/// Receives what is on the queue now (waiting up to two seconds for delayed messages), and
/// makes it visible again at once.
async fn peek_bodies(w: &World) -> Vec<String> {
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let out = w
            .sqs
            .receive_message()
            .queue_url(&w.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(2)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            bodies.extend(m.body().map(str::to_owned));
            make_visible(w, m).await;
        }
        if !bodies.is_empty() {
            break;
        }
    }
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn follow_ups_carry_their_record_one_chain_per_order_and_a_stale_one_changes_nothing() {
    use driftline_core::orders::IntentEnvelope;
    let Some(w) = first_tick_plans_two(World::article().await).await else {
        return;
    };
    let placed = w.invoke_executor_once(1).await;
    assert_eq!(placed.messages, 2, "{placed:?}");
    let follow_ups = peek_bodies(&w).await;
    assert_eq!(follow_ups.len(), 2, "one follow-up per placed order");
    for body in &follow_ups {
        let envelope = IntentEnvelope::from_json(body).unwrap();
        let placed = envelope.placed.expect("a follow-up carries its record");
        assert_eq!(placed.status, OrderStatus::Placed);
        assert_eq!(placed.version, 3, "PENDING, PLACING, PLACED");
        assert!(placed.exchange_order_id.is_some());
    }
    // At-least-once delivery: every follow-up twice more, all in one batch.
    redeliver(&w, &follow_ups).await;
    let batch = w.invoke_executor_once(2).await;
    assert_eq!(batch.messages, 6, "{batch:?}");
    assert_eq!(batch.failures, 0, "{batch:?}");
    let next = peek_bodies(&w).await;
    assert_eq!(
        next.len(),
        2,
        "duplicates in a batch continue as one follow-up per order: {next:#?}"
    );

    fill_resting_sells(&w).await;
    let filled = w.orders("article").await;
    assert!(
        filled
            .iter()
            .all(|o| o.status == OrderStatus::Filled && o.version == 4),
        "{filled:#?}"
    );
    // A late copy of a follow-up whose record is long out of date: the exchange says filled,
    // the ledger already knows, nothing is written or placed.
    let inv = driftline_core::service::executor::Invocation {
        request_id: "late".into(),
        deadline_ms: driftline_core::ports::Clock::now_ms(w.clock.as_ref()) + 60_000,
    };
    for body in &follow_ups {
        assert_eq!(
            w.executor.handle(body, &inv).await,
            driftline_core::service::executor::MessageOutcome::Done("final")
        );
    }
    assert_eq!(w.orders("article").await, filled);
    assert_eq!(w.venue_orders().await.len(), 2);
    w.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Money safety: what reaches the exchange is what the policy says, and every cost is counted.

use driftline_e2e::{article_spec, PERIOD_SECONDS};

/// The article's portfolio with `edit` applied to its stored policy.
fn article_with(
    edit: impl FnOnce(&mut serde_json::Value),
) -> driftline_core::config::PortfolioSpec {
    let mut v = serde_json::to_value(article_spec()).unwrap();
    edit(&mut v["policy"]);
    serde_json::from_value(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_limit_offset_sets_the_price_the_paper_exchange_receives() {
    let mut prices = Vec::new();
    for offset in ["0.1", "0.9"] {
        let spec = article_with(|p| p["limit_offset"] = json!(offset));
        let Some(w) =
            first_orders_placed(World::start(driftline_e2e::ARTICLE_VENUE, &[spec]).await).await
        else {
            return;
        };
        let orders = w.orders("article").await;
        let venue = w.venue_orders().await;
        assert_eq!(venue.len(), 2, "{venue:#?}");
        for o in &orders {
            let sent = venue
                .iter()
                .find(|v| v["clientOrderId"] == o.intent.client_order_id.as_str())
                .expect("on the venue");
            assert_eq!(
                dec(sent["price"].as_str().unwrap()),
                o.intent.limit_price.value(),
                "offset {offset}: the plan's price is the one sent"
            );
            assert_eq!(o.intent.limit_offset, dec(offset));
        }
        let btc = orders
            .iter()
            .find(|o| o.intent.symbol.to_string() == "BTC/USDT")
            .unwrap();
        prices.push(btc.intent.limit_price.value());
        w.stop().await;
    }
    // A sell a tenth of the way from the ask sits above the mid, nine tenths below it.
    assert!(
        prices[0] > dec("64230") && prices[1] < dec("64230"),
        "{prices:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_that_fills_while_resting_records_its_exact_fees() {
    let Some(w) = first_orders_placed(World::article().await).await else {
        return;
    };
    assert!(w
        .orders("article")
        .await
        .iter()
        .all(|o| o.status == OrderStatus::Placed && o.fees_quote.is_zero()));
    fill_resting_sells_and_expect_all_filled(&w).await;
    let venue = w.venue_orders().await;
    let fills = w.admin_get("/admin/fills").await;
    let emitted: Vec<Decimal> = w
        .metrics
        .lines()
        .iter()
        .filter_map(|l| l.get("FeesQuote").map(|v| dec(&v.to_string())))
        .collect();
    for o in w.orders("article").await {
        let id = venue
            .iter()
            .find(|v| v["clientOrderId"] == o.intent.client_order_id.as_str())
            .and_then(|v| v["orderId"].as_u64())
            .expect("on the venue");
        let mine: Vec<&serde_json::Value> = fills.iter().filter(|f| f["orderId"] == id).collect();
        assert!(
            !mine.is_empty() && mine.iter().all(|f| f["isMaker"] == true),
            "rested: {mine:#?}"
        );
        // A sell pays its commission in the quote asset.
        let charged: Decimal = mine
            .iter()
            .map(|f| {
                assert_eq!(f["commissionAsset"], "USDT");
                dec(f["commission"].as_str().unwrap())
            })
            .sum();
        assert!(charged > Decimal::ZERO);
        assert_eq!(o.fees_quote, charged, "{o:#?}");
        assert_eq!(o.fees, charged);
        assert!(
            emitted.contains(&charged.round_dp(8)),
            "{emitted:?} lacks {charged}"
        );
    }
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tick_delivered_again_after_two_later_cycles_plans_nothing() {
    let Some(w) = World::article().await else {
        return;
    };
    let first_tick = w.now();
    assert_eq!(planned(&w.tick().await), 2);
    w.drain(10).await;
    fill_resting_sells_and_expect_all_filled(&w).await;
    for _ in 0..2 {
        w.next_tick();
        w.tick().await;
    }
    let (orders, venue) = (
        w.orders("article").await.len(),
        w.venue_orders().await.len(),
    );
    // EventBridge delivers the first tick again, two periods late.
    let late = w.tick_at(first_tick).await;
    assert!(
        matches!(late.portfolios[0].outcome, PortfolioOutcome::Stale { .. }),
        "{late:?}"
    );
    w.drain(5).await;
    assert_eq!(w.orders("article").await.len(), orders, "no new intent");
    assert_eq!(w.venue_orders().await.len(), venue, "no new order");
    // The same late tick at any later time in its period is the same stale cycle.
    let late = w
        .tick_at(first_tick + i64::from(PERIOD_SECONDS) * 1000 - 1)
        .await;
    assert!(matches!(
        late.portfolios[0].outcome,
        PortfolioOutcome::Stale { .. }
    ));
    w.stop().await;
}

/// The article's policy without the velocity rule, as portfolio `id` with other targets.
fn article_aiming_at(
    id: &str,
    targets: [(&str, &str); 3],
) -> driftline_core::config::PortfolioSpec {
    let mut spec = article_spec();
    spec.id = id.to_owned();
    spec.targets = targets
        .map(|(asset, weight)| (asset.to_owned(), weight.to_owned()))
        .into();
    spec.policy.velocity = None;
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn buys_paid_by_resting_sells_wait_for_their_fills_and_every_one_fills() {
    // Almost all BTC, no ETH, little cash: the rebalance sells BTC to buy ETH.
    let venue = driftline_e2e::article_venue!(balances = { BTC = "3", ETH = "0", USDT = "1000" });
    let spec = article_aiming_at("rotate", [("BTC", "0.5"), ("ETH", "0.4"), ("USDT", "0.1")]);
    let Some(w) = first_tick_plans_two(World::start(venue, &[spec]).await).await else {
        return;
    };
    let buy = |orders: &[driftline_core::orders::OrderRecord]| {
        orders
            .iter()
            .find(|o| o.intent.side == driftline_core::Side::Buy)
            .cloned()
            .expect("a buy")
    };
    assert!(buy(&w.orders("rotate").await).intent.funded_by_sells);
    // The sell rests inside the spread; the buy waits for it, placing nothing.
    w.drain(6).await;
    let orders = w.orders("rotate").await;
    let waiting = buy(&orders);
    assert_eq!(waiting.status, OrderStatus::Queued, "{waiting:#?}");
    assert!(
        waiting
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("sell"),
        "{waiting:#?}"
    );
    assert_eq!(
        w.venue_orders().await.len(),
        1,
        "only the sell is on the venue"
    );
    // The market comes up through the sell: it fills, and the buy goes.
    w.set_mid("BTCUSDT", "64300").await;
    w.drain(20).await;
    assert_eq!(w.venue_orders().await.len(), 2);
    // The market comes down through the resting buy: it fills.
    w.set_mid("ETHUSDT", "3440").await;
    w.drain(20).await;
    let orders = w.orders("rotate").await;
    assert!(
        orders.iter().all(|o| o.status == OrderStatus::Filled),
        "{orders:#?}"
    );
    let venue = w.venue_orders().await;
    assert!(
        venue.iter().all(|o| o["status"] == "FILLED"),
        "none refused for want of cash: {venue:#?}"
    );
    assert_eq!(w.dead_letters().await.len(), 0);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_owner_is_told_of_each_cycle_that_traded_and_of_the_breaker_through_sns() {
    use driftline_core::notify::{BreakerCause, Notice};
    let Some(sdk) = driftline_e2e::emulator().await else {
        return;
    };
    let inbox = driftline_e2e::inbox::Inbox::create(&sdk).await;
    let notifier = driftline_aws::SnsNotifier::new(inbox.sns.clone(), inbox.topic_arn.clone());
    // Cycle 1 plans two sells; they are placed and fill as the market comes up.
    let Some(w) = first_orders_placed(
        World::start_notifying(
            driftline_e2e::ARTICLE_VENUE,
            &[driftline_e2e::article_spec()],
            std::sync::Arc::new(notifier),
        )
        .await,
    )
    .await
    else {
        return;
    };
    fill_resting_sells(&w).await;
    let filled = w.orders("article").await;
    assert!(filled.iter().all(|o| o.status == OrderStatus::Filled));
    // Cycle 2 plans nothing and tells the two fills with their cost.
    w.next_tick();
    assert_eq!(planned(&w.tick().await), 0);
    // The exchange goes into maintenance: five failed cycles open the breaker.
    w.set_faults(json!({"maintenance": true})).await;
    for _ in 0..5 {
        w.next_tick();
        let failed = w.tick().await;
        assert!(
            matches!(
                failed.portfolios[0].outcome,
                PortfolioOutcome::Failed { .. }
            ),
            "{failed:?}"
        );
    }
    // It comes back; the next cycle's first request probes and closes the breaker. Back in
    // band with nothing ended, that cycle tells nothing of its own.
    w.set_faults(json!({})).await;
    w.next_tick();
    assert_eq!(planned(&w.tick().await), 0);

    let notices = w.notices.all();
    let kinds: Vec<&str> = notices.iter().map(Notice::kind).collect();
    assert_eq!(
        kinds,
        [
            "cycle_traded",
            "cycle_traded",
            "breaker_opened",
            "breaker_closed"
        ]
    );
    let Notice::CycleTraded(first) = &notices[0] else {
        unreachable!()
    };
    assert_eq!(first.planned.len(), 2);
    assert!(first.ended.is_empty());
    let Notice::CycleTraded(second) = &notices[1] else {
        unreachable!()
    };
    assert!(second.planned.is_empty());
    let mut ended = second.ended.clone();
    ended.sort_by(|a, b| a.intent.client_order_id.cmp(&b.intent.client_order_id));
    assert_eq!(ended, filled, "both fills, as the ledger has them");
    assert_eq!(
        second.previous.as_ref().map(|p| &p.0),
        Some(&first.cycle_id)
    );
    let (fees, _) = second.cost();
    assert_eq!(fees, filled.iter().map(|o| o.fees_quote).sum::<Decimal>());
    assert!(fees > Decimal::ZERO);
    assert!(
        matches!(&notices[2], Notice::BreakerOpened { venue, cause: BreakerCause::Failures { count: 5, .. }, .. } if venue == "binance"),
        "{:?}",
        notices[2]
    );

    // What reached the topic is exactly what the services told, one message each.
    let messages = inbox.messages(notices.len()).await;
    assert_eq!(messages.len(), notices.len(), "{messages:#?}");
    for notice in &notices {
        let sent = messages
            .iter()
            .find(|m| m["Subject"] == notice.subject().as_str())
            .unwrap_or_else(|| panic!("{} not delivered: {messages:#?}", notice.subject()));
        assert_eq!(sent["Message"], notice.body().as_str());
        assert_eq!(
            sent["MessageAttributes"]["driftline-notice"]["Value"],
            notice.kind()
        );
    }
    // Readable as they arrive: the plan, the fills with their cost, why the breaker opened.
    let text = |kind: &str| {
        let n = notices.iter().position(|n| n.kind() == kind).expect("kind");
        let m = messages
            .iter()
            .find(|m| m["Subject"] == notices[n].subject().as_str())
            .expect("delivered");
        format!(
            "{}\n{}",
            m["Subject"].as_str().unwrap_or_default(),
            m["Message"].as_str().unwrap_or_default()
        )
    };
    let planned_text = text("cycle_traded");
    assert!(
        planned_text.starts_with("driftline article: 2 orders planned\n")
            && planned_text.contains("  SELL 0.0806 BTC/USDT at 64230\n")
            && planned_text.contains("  SELL 1.5107 ETH/USDT at 3450\n"),
        "{planned_text}"
    );
    let fills = messages
        .iter()
        .find(|m| m["Subject"] == notices[1].subject().as_str())
        .expect("delivered");
    let fills_text = fills["Message"].as_str().unwrap_or_default();
    assert!(
        fills["Subject"]
            .as_str()
            .unwrap_or_default()
            .starts_with("driftline article: 2 filled; cost "),
        "{fills}"
    );
    assert!(
        fills_text.contains("FILLED SELL 0.0806 of 0.0806 BTC/USDT at avg ")
            && fills_text.contains("FILLED SELL 1.5107 of 1.5107 ETH/USDT at avg ")
            && fills_text.contains("Cost of these orders: fees "),
        "{fills_text}"
    );
    let opened = text("breaker_opened");
    assert!(
        opened.starts_with("driftline: binance circuit breaker open until ")
            && opened.contains("5 requests in a row failed"),
        "{opened}"
    );
    assert!(text("breaker_closed").starts_with("driftline: binance circuit breaker closed"));
    w.stop().await;
}

/// A buy the plan sized to all the account's cash, left behind by a rising market: its
/// re-priced remainder takes no more cash than the plan budgeted (fewer units at the higher
/// price), so the exchange accepts it instead of refusing it for want of balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_buy_repriced_up_fits_the_cash_the_plan_sized_it_to() {
    let venue = driftline_e2e::article_venue!(balances = { BTC = "0", ETH = "0", USDT = "20000" });
    let mut spec = article_aiming_at("all-in", [("BTC", "1"), ("ETH", "0"), ("USDT", "0")]);
    spec.policy.destination = driftline_core::Destination::Target;
    let Some(w) = World::start(venue, &[spec]).await else {
        return;
    };
    let first = w.tick().await;
    assert_eq!(planned(&first), 1, "{first:?}");
    w.drain(5).await;
    let leg0 = btc_legs(w.orders("all-in").await).remove(0);
    assert_eq!(leg0.status, OrderStatus::Placed, "{leg0:#?}");
    let cash = dec("20000");
    assert!(
        leg0.intent.notional() > cash * dec("0.999"),
        "sized to nearly all the cash: {leg0:#?}"
    );
    // The market rises away from the resting buy: the follow-up re-prices it higher.
    w.set_mid("BTCUSDT", "64300").await;
    w.drain(10).await;
    let legs = btc_legs(w.orders("all-in").await);
    let leg1 = legs
        .iter()
        .find(|o| o.intent.leg == 1)
        .unwrap_or_else(|| panic!("re-priced: {legs:#?}"));
    assert!(
        leg1.intent.limit_price > leg0.intent.limit_price,
        "{leg1:#?}"
    );
    assert!(leg1.intent.quantity < leg0.intent.quantity, "{leg1:#?}");
    assert!(
        leg1.intent.notional() <= leg0.intent.notional(),
        "{leg1:#?}"
    );
    assert_eq!(leg1.status, OrderStatus::Placed, "{leg1:#?}");
    // The market comes down through it: it fills, and nothing was refused.
    w.set_mid("BTCUSDT", "64250").await;
    w.drain(10).await;
    let legs = btc_legs(w.orders("all-in").await);
    let leg1 = legs.iter().find(|o| o.intent.leg == 1).unwrap();
    assert_eq!(leg1.status, OrderStatus::Filled, "{leg1:#?}");
    assert!(
        legs.iter().all(|o| o.status != OrderStatus::Rejected),
        "{legs:#?}"
    );
    w.stop().await;
}

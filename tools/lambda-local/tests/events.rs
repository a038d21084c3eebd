//! The sample events in events/ are what the functions accept: `cargo lambda invoke
//! --data-file` and the smoke test send them as they are.

use std::path::Path;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEvent;
use driftline_core::orders::IntentEnvelope;
use driftline_core::ClientOrderId;
use serde_json::Value;

fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn bodies(name: &str) -> Vec<String> {
    let event: SqsEvent = serde_json::from_str(&read(name)).unwrap();
    event
        .records
        .into_iter()
        .map(|r| r.body.expect("a body"))
        .collect()
}

#[test]
fn scheduled_events_are_eventbridge_events_and_the_targeted_one_names_the_article() {
    let all: EventBridgeEvent<Value> = serde_json::from_str(&read("scheduled.json")).unwrap();
    assert_eq!(all.detail, serde_json::json!({}));
    assert!(all.time.is_some());
    let targeted: EventBridgeEvent<Value> =
        serde_json::from_str(&read("scheduled-targeted.json")).unwrap();
    assert_eq!(
        targeted.detail,
        serde_json::json!({"portfolios": ["article"]})
    );
}

#[test]
fn the_intent_batch_carries_valid_envelopes_for_the_article_portfolio() {
    let bodies = bodies("sqs-intents.json");
    assert_eq!(bodies.len(), 2);
    for body in &bodies {
        let envelope = IntentEnvelope::from_json(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        let i = envelope.intent;
        assert_eq!(i.portfolio_id.as_str(), "article");
        // The id the scheduler would derive, so the executor treats it as one of its own.
        let derived =
            ClientOrderId::derive(None, &i.portfolio_id, &i.cycle_id, &i.symbol, i.side, i.leg);
        assert_eq!(i.client_order_id, derived);
        assert!(i.expires_at_ms > i.created_at_ms);
    }
}

#[test]
fn the_malformed_batch_has_one_readable_and_one_unreadable_message() {
    let bodies = bodies("sqs-malformed.json");
    let readable: Vec<bool> = bodies
        .iter()
        .map(|b| IntentEnvelope::from_json(b).is_ok())
        .collect();
    assert_eq!(readable, [true, false]);
}

#[test]
fn the_shards_batch_has_one_shard_of_the_article_and_one_unreadable_shard() {
    let bodies = bodies("sqs-shards.json");
    let shards: Vec<Option<driftline_core::ports::Shard>> = bodies
        .iter()
        .map(|b| serde_json::from_str(b).ok())
        .collect();
    let [Some(shard), None] = shards.as_slice() else {
        panic!("{bodies:?}");
    };
    assert_eq!(
        shard.portfolios,
        [driftline_core::PortfolioId::new("article").unwrap()]
    );
    assert_eq!(shard.cycle_id.as_str(), "20261121T090500Z");
}

#[test]
fn the_follow_up_batch_carries_the_placed_record_of_an_article_intent() {
    let follow_ups = bodies("sqs-follow-up.json");
    assert_eq!(follow_ups.len(), 1);
    let envelope = IntentEnvelope::from_json(&follow_ups[0]).unwrap();
    let placed = envelope.placed.expect("a follow-up carries its record");
    assert_eq!(placed.status, driftline_core::OrderStatus::Placed);
    let first = IntentEnvelope::from_json(&bodies("sqs-intents.json")[0]).unwrap();
    assert_eq!(envelope.intent, first.intent);
}

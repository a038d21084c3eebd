//! Exchange keys rotated under warm containers: the operator gives the account new keys at the
//! venue and in Secrets Manager, the venue refuses the old key once, the handlers re-read the
//! secret and carry on with the new keys, in the same `World` (the same container). Real
//! handlers and adapters over the local AWS emulator and the paper exchange; every log line is
//! captured and scanned for the keys and secrets.

use driftline_core::OrderStatus;
use driftline_e2e::{first_orders_placed, planned, World, KEY, SECRET};
use serde_json::Value;

const ACCOUNT: &str = "demo";
/// The keys of the two rotations. Every key starts with [`KEY`] ("demo-key"), so one scan for
/// it finds any of them.
const ROTATIONS: [(&str, &str); 2] = [
    ("demo-key-rotated-1", "demo-secret-rotated-1-never-logged"),
    ("demo-key-rotated-2", "demo-secret-rotated-2-never-logged"),
];

fn logs() -> &'static driftline_e2e::Captured {
    driftline_e2e::captured_logs()
}

fn log_text() -> String {
    logs().text()
}

/// The signed requests the venue saw from `from` on (index in its request log), each as
/// (endpoint, whose key it carried: `None` for a key the venue did not know).
async fn signed_since(w: &World, from: usize) -> Vec<(String, Option<String>)> {
    w.admin_get("/admin/requests")
        .await
        .into_iter()
        .skip(from)
        .filter_map(|r| {
            let account = r.get("account")?;
            Some((
                r["endpoint"].as_str().unwrap_or_default().to_owned(),
                account.as_str().map(str::to_owned),
            ))
        })
        .collect()
}

async fn requests_so_far(w: &World) -> usize {
    w.admin_get("/admin/requests").await.len()
}

/// Rotates the account's keys at the venue, then stores them in its secret, as an operator
/// does; the index in the venue's request log where the old key stopped working.
async fn rotate(w: &World, (api_key, secret): (&str, &str)) -> usize {
    let from = requests_so_far(w).await;
    w.rotate_venue_keys(ACCOUNT, api_key, secret)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    w.put_account_secret(ACCOUNT, api_key, secret)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    from
}

/// The venue refused exactly one request after the rotation, `refused`, and every signed
/// request after it carried the account's new key (the only key the venue knows for it now).
fn assert_one_refusal_then_the_new_key(signed: &[(String, Option<String>)], refused: &str) {
    let unknown: Vec<&(String, Option<String>)> =
        signed.iter().filter(|(_, a)| a.is_none()).collect();
    assert_eq!(
        unknown,
        [&(refused.to_owned(), None)],
        "one refusal of the old key: {signed:?}"
    );
    assert_eq!(
        signed.first(),
        Some(&(refused.to_owned(), None)),
        "the refusal came first: {signed:?}"
    );
    assert_eq!(
        signed.get(1),
        Some(&(refused.to_owned(), Some(ACCOUNT.to_owned()))),
        "the refused request was made once more, with the new key: {signed:?}"
    );
    assert!(
        signed.len() > 2,
        "more requests with the new key: {signed:?}"
    );
}

/// Moves both markets to these mids and lets the executor's follow-ups record the fills.
async fn move_market_and_drain(w: &World, btc: &str, eth: &str) {
    w.set_mid("BTCUSDT", btc).await;
    w.set_mid("ETHUSDT", eth).await;
    w.drain(20).await;
}

async fn assert_all_filled(w: &World, expected: usize) {
    let orders = w.orders("article").await;
    assert_eq!(orders.len(), expected, "{orders:#?}");
    assert!(
        orders.iter().all(|o| o.status == OrderStatus::Filled),
        "{orders:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotated_keys_are_read_again_after_one_refusal_and_the_next_orders_are_placed() {
    logs();
    // Cycle 1 on the original keys: both coins are overweight; the sells rest, then fill.
    let Some(w) = first_orders_placed(World::article().await).await else {
        return;
    };
    move_market_and_drain(&w, "64300", "3460").await;
    assert_all_filled(&w, 2).await;
    assert!(signed_since(&w, 0)
        .await
        .iter()
        .all(|(_, a)| a.as_deref() == Some(ACCOUNT)));

    // Cycle 2: the market rallies out of the bands; the scheduler plans on the old keys.
    w.next_tick();
    w.set_mid("BTCUSDT", "80000").await;
    w.set_mid("ETHUSDT", "4300").await;
    let second = planned(&w.tick().await);
    assert!(
        second >= 1,
        "the rally takes the portfolio out of its bands"
    );
    // The keys are rotated before the executor runs: its first placement is refused, the
    // executor's client re-reads the secret and places it once more with the new keys.
    let from = rotate(&w, ROTATIONS[0]).await;
    w.drain(10).await;
    assert_eq!(
        w.venue_orders().await.len(),
        2 + second,
        "every order of cycle 2 is on the venue"
    );
    assert_one_refusal_then_the_new_key(&signed_since(&w, from).await, "NewOrder");
    move_market_and_drain(&w, "80200", "4310").await;
    assert_all_filled(&w, 2 + second).await;

    // Cycle 3: rotated again; this time the scheduler's balance read meets the old key first.
    let from = rotate(&w, ROTATIONS[1]).await;
    w.next_tick();
    w.set_mid("BTCUSDT", "96000").await;
    w.set_mid("ETHUSDT", "5200").await;
    let third = planned(&w.tick().await);
    assert!(third >= 1, "the rally takes the portfolio out of its bands");
    w.drain(10).await;
    assert_eq!(w.venue_orders().await.len(), 2 + second + third);
    assert_one_refusal_then_the_new_key(&signed_since(&w, from).await, "Account");
    move_market_and_drain(&w, "96200", "5210").await;
    assert_all_filled(&w, 2 + second + third).await;

    // The renewals were logged, naming the account's secret and never a key or secret.
    let logs = log_text();
    let renewals = logs
        .lines()
        .filter(|l| l.contains("new keys read, retrying once"))
        .collect::<Vec<_>>();
    assert_eq!(renewals.len(), 2, "one renewal per rotation:\n{logs}");
    let secret_id = w.secret_id(ACCOUNT).unwrap_or_default().to_owned();
    assert!(
        renewals.iter().all(|l| l.contains(&secret_id)),
        "{renewals:?}"
    );
    // No key or secret, old or new, in a log line, a metric line or the ledger.
    let metrics: Vec<String> = w.metrics.lines().iter().map(Value::to_string).collect();
    let ledger = format!("{:?}", w.orders("article").await);
    let mut needles = vec![KEY, SECRET];
    for (key, secret) in ROTATIONS {
        needles.extend([key, secret]);
    }
    for needle in needles {
        assert!(!logs.contains(needle), "a log line carries {needle:?}");
        assert!(
            metrics.iter().all(|m| !m.contains(needle)),
            "a metric line carries {needle:?}"
        );
        assert!(!ledger.contains(needle), "the ledger carries {needle:?}");
    }
    assert!(logs.lines().count() > 2, "the scan covered the run's logs");
    w.stop().await;
}

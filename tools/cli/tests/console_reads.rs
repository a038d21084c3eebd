//! The console's reads as an operator runs them: the real `driftline` binary against a whole
//! deployment on this machine (the sandbox: moto's table, queues and secrets, the paper
//! exchange, the real scheduler and executor handlers), found by flags as a stack's outputs
//! would name it.
//!
//! One deployment with history is shared by the tests that only read it: three cycles (two
//! sells filled, a cycle in band, then BTC jumps 12 % and the third cycle's sell waits on the
//! queue), a malformed message the executor dead-lettered, a paused portfolio that never ran,
//! and alarms of the stack's topic and of another. The dead-letter test moves messages, so it
//! has a deployment of its own. Without the emulator every test says it skipped (under
//! `make test` a missing emulator fails instead).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use aws_sdk_dynamodb::types::AttributeValue;
use driftline_core::control::{DeploymentControls, Stop};
use driftline_core::orders::{execution_quality, OrderRecord};
use driftline_core::ports::{DriftHistory, Shard};
use driftline_core::{CycleId, OrderStatus, PortfolioId};
use driftline_sandbox::World;
use rust_decimal::Decimal;
use serde_json::{json, Value};

const MALFORMED: &str = r#"{"v":1,"intent":{"quantity":0.5}}"#;

/// A deployment, the runtime its venue and handlers run on, and what the set-up made.
struct Deployment {
    rt: tokio::runtime::Runtime,
    w: World,
    alarm_topic: String,
    /// The stack's alarm in ALARM (another of its alarms is OK; another topic's is in ALARM).
    alarm_in_alarm: String,
    /// The cycles the scheduler ran, oldest first.
    cycles: Vec<String>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

impl Deployment {
    /// The flags that name every resource, as a stack's outputs would; the alarm topic only
    /// when `topic`.
    fn flags(&self, topic: bool) -> Vec<String> {
        let w = &self.w;
        let mut flags = vec![
            "--table".into(),
            w.store.table().to_owned(),
            "--queue-url".into(),
            w.queue_url.clone(),
            "--dead-letter-queue-url".into(),
            w.dead_letter_url.clone(),
            "--shards-dead-letter-queue-url".into(),
            w.shards_dead_letter_url.clone(),
            "--secret-id".into(),
            w.secret_id("demo").expect("the demo account").to_owned(),
            "--exchange-url".into(),
            w.venue.base_url(),
        ];
        if topic {
            flags.extend(["--alarm-topic-arn".into(), self.alarm_topic.clone()]);
        }
        flags
    }

    /// Runs `driftline ARGS` on this deployment.
    fn driftline(&self, args: &[&str]) -> Output {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(self.flags(true));
        driftline(&all)
    }

    /// Runs `driftline ARGS` on this deployment without naming its alarm topic.
    fn driftline_without_topic(&self, args: &[&str]) -> Output {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(self.flags(false));
        driftline(&all)
    }

    fn orders(&self, portfolio: &str) -> Vec<OrderRecord> {
        self.rt.block_on(self.w.orders(portfolio))
    }
}

/// Runs the binary with `args`, the emulator's environment, and none of the console's own
/// variables (so that only the flags name the deployment).
fn driftline(args: &[String]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftline"));
    for (name, _) in std::env::vars() {
        if name.starts_with("DRIFTLINE_") && name != "DRIFTLINE_REQUIRE_AWS_EMULATOR" {
            cmd.env_remove(name);
        }
    }
    cmd.args(args).output().expect("the driftline binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok_json(o: &Output) -> Value {
    assert!(o.status.success(), "exit {:?}: {}", o.status, stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

fn ok_text(o: &Output) -> String {
    assert!(o.status.success(), "exit {:?}: {}", o.status, stderr(o));
    stdout(o)
}

/// The error a failed command printed.
fn failure(o: &Output) -> String {
    assert!(!o.status.success(), "expected a failure: {}", stdout(o));
    stderr(o)
}

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not a decimal string"))
        .parse()
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn unique(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

/// The stack the alarms belong to, as CloudFormation names them (`<stack>-<logical id>-…`).
fn stack() -> String {
    format!("ConsoleReads{}", std::process::id())
}

/// Two alarms on the deployment's topic (one in ALARM, one OK) and one in ALARM on another
/// topic whose ARN starts with the deployment's.
async fn alarms(topic: &str) -> String {
    let sdk = driftline_aws::sdk_config().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    let other_topic = format!("{topic}-other");
    let ours = format!("{}-DeadLetterQueueNotEmpty-1A2B3C", stack());
    for (name, action, state) in [
        (ours.clone(), topic, StateValue::Alarm),
        (
            format!("{}-Slippage-4D5E6F", stack()),
            topic,
            StateValue::Ok,
        ),
        (
            unique("SomeoneElse-DeadLetterQueueNotEmpty"),
            other_topic.as_str(),
            StateValue::Alarm,
        ),
    ] {
        cloudwatch
            .put_metric_alarm()
            .alarm_name(&name)
            .alarm_actions(action)
            .namespace("AWS/SQS")
            .metric_name("ApproximateNumberOfMessagesVisible")
            .statistic(Statistic::Maximum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .send()
            .await
            .expect("PutMetricAlarm");
        cloudwatch
            .set_alarm_state()
            .alarm_name(&name)
            .state_value(state)
            .state_reason("Threshold Crossed: 1 datapoint [1.0] was >= the threshold (1.0).")
            .send()
            .await
            .expect("SetAlarmState");
    }
    ours
}

/// Sends `body` to the queue at `queue_url`, as the scheduler or SQS's redrive would.
async fn send(w: &World, queue_url: &str, body: &str) {
    w.sqs
        .send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await
        .expect("SendMessage");
}

/// A queue's depths, as `driftline status` reads them.
fn queue_depth(
    rt: &tokio::runtime::Runtime,
    url: &str,
) -> driftline_cli::console::status::QueueDepth {
    rt.block_on(async {
        let sdk = driftline_aws::sdk_config().await;
        driftline_cli::console::status::queue_depth(&aws_sdk_sqs::Client::new(&sdk), url)
            .await
            .unwrap()
    })
}

/// The shared deployment with history, built once.
fn deployment() -> Option<&'static Deployment> {
    static SHARED: OnceLock<Option<Deployment>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let rt = runtime();
            let (w, alarm_topic, alarm_in_alarm, cycles) = rt.block_on(async {
                let w = World::article().await?;
                let mut cycles = Vec::new();
                // Cycle 1: both coins are over their bands; the sells rest, then the market
                // comes up through them and they fill.
                cycles.push(w.tick().await.cycle_id);
                w.drain(10).await;
                w.set_mid("BTCUSDT", "64300").await;
                w.set_mid("ETHUSDT", "3460").await;
                w.drain(20).await;
                // An unreadable message: the executor sends it to the dead-letter queue.
                send(&w, &w.queue_url, MALFORMED).await;
                w.drain(10).await;
                // Cycle 2: back in the bands. Cycle 3: BTC jumps 12 %; its sell waits on the
                // queue, recorded PENDING.
                w.next_tick();
                cycles.push(w.tick().await.cycle_id);
                w.set_mid("BTCUSDT", "72000").await;
                w.next_tick();
                cycles.push(w.tick().await.cycle_id);
                // A portfolio paused before it ever ran.
                let mut quiet = driftline_sandbox::article_spec();
                quiet.id = "quiet".into();
                w.store.put_portfolio(&quiet).await.expect("put quiet");
                let id = PortfolioId::new("quiet").expect("an id");
                let pause = Stop {
                    reason: "new keys pending".into(),
                    by: "arn:aws:iam::123456789012:user/ops".into(),
                    at_ms: w.now(),
                };
                w.store
                    .set_paused(&id, Some(&pause), 1)
                    .await
                    .expect("pause quiet");
                let topic = format!(
                    "arn:aws:sns:us-east-1:123456789012:{}",
                    unique("console-reads-alarms")
                );
                let in_alarm = alarms(&topic).await;
                Some((w, topic, in_alarm, cycles))
            })?;
            Some(Deployment {
                rt,
                w,
                alarm_topic,
                alarm_in_alarm,
                cycles,
            })
        })
        .as_ref()
}

/// Every item of the deployment's table, in key order: what "nothing written" compares.
/// Every item of the deployment's table but the kill switch's: the tests share the deployment
/// and run at once, and the status test sets and lifts a halt (which leaves the item behind).
fn table_items(d: &Deployment) -> Vec<Vec<(String, AttributeValue)>> {
    d.rt.block_on(async {
        let sdk = driftline_aws::sdk_config().await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = client
                .scan()
                .table_name(d.w.store.table())
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .expect("Scan");
            for item in out.items.unwrap_or_default() {
                if item.get("pk") == Some(&AttributeValue::S("CONTROL".into())) {
                    continue;
                }
                let mut fields: Vec<(String, AttributeValue)> = item.into_iter().collect();
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                items.push(fields);
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        items.sort_by_key(|fields| format!("{fields:?}"));
        items
    })
}

#[test]
fn status_shows_halt_breakers_last_cycles_open_orders_queue_depths_and_the_stacks_alarms() {
    let Some(d) = deployment() else { return };
    let pending: Vec<OrderRecord> = d
        .orders("article")
        .into_iter()
        .filter(|o| o.status == OrderStatus::Pending)
        .collect();
    assert!(!pending.is_empty(), "cycle 3 left an order on the queue");

    let s = ok_json(&d.driftline(&["status", "--json"]));
    assert_eq!(s["halt"], Value::Null, "{s:#}");
    // One breaker per venue.
    assert_eq!(
        s["breakers"],
        json!([
            {"venue": "binance", "state": "closed", "consecutive_failures": 0},
            {"venue": "kraken", "state": "closed", "consecutive_failures": 0},
            {"venue": "coinbase", "state": "closed", "consecutive_failures": 0}
        ])
    );
    let ids: Vec<&str> = s["portfolios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["article", "quiet"]);
    let article = &s["portfolios"][0];
    assert_eq!(article["paused"], Value::Null);
    assert_eq!(article["last_cycle"]["cycle_id"], json!(d.cycles[2]));
    assert_eq!(article["last_cycle"]["outcome"], "planned");
    assert_eq!(article["last_cycle"]["orders"], json!(pending.len()));
    assert_eq!(article["last_cycle"]["at"], "2027-01-15T08:10:00Z");
    assert_eq!(article["open_orders"], json!({"PENDING": pending.len()}));
    let quiet = &s["portfolios"][1];
    assert_eq!(quiet["paused"]["reason"], "new keys pending");
    assert_eq!(quiet["paused"]["by"], "arn:aws:iam::123456789012:user/ops");
    assert_eq!(quiet["last_cycle"], Value::Null);
    assert_eq!(quiet["open_orders"], json!({}));
    // Nothing receives from the queues here: the third cycle's intents wait visible, the
    // malformed message sits in the dead-letter queue.
    assert_eq!(
        s["queues"],
        json!({
            "intents": {"visible": pending.len(), "in_flight": 0, "delayed": 0},
            "dead_letter": {"visible": 1, "in_flight": 0, "delayed": 0},
            "shards_dead_letter": {"visible": 0, "in_flight": 0, "delayed": 0},
        })
    );
    // Only the stack's alarm in ALARM: not its OK one, not another topic's.
    let alarms = s["alarms"]["in_alarm"].as_array().unwrap();
    assert_eq!(alarms.len(), 1, "{alarms:#?}");
    assert_eq!(alarms[0]["name"], json!(d.alarm_in_alarm));
    assert!(alarms[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("Threshold Crossed"));

    // Without the topic, the stack's alarms are those named after it.
    let s = ok_json(&d.driftline_without_topic(&["status", "--stack", &stack(), "--json"]));
    assert_eq!(
        s["alarms"]["scope"],
        json!(format!("alarms named {}-*", stack()))
    );
    let names: Vec<&str> = s["alarms"]["in_alarm"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [d.alarm_in_alarm.as_str()]);

    let text = ok_text(&d.driftline(&["status"]));
    assert!(
        text.contains("deployment: running (no halt in force)"),
        "{text}"
    );
    assert!(text.contains("breaker binance: closed"), "{text}");
    assert!(
        text.contains(&format!(
            "queues: intents {} visible · 0 in flight · 0 delayed · dead-letter 1 visible",
            pending.len()
        )),
        "{text}"
    );
    assert!(
        text.contains("shards' dead-letter 0 visible · 0 in flight · 0 delayed"),
        "{text}"
    );
    assert!(text.contains(&d.alarm_in_alarm), "{text}");
    let row = text.lines().find(|l| l.contains(" article ")).unwrap();
    assert!(
        row.contains(&d.cycles[2]) && row.contains("planned") && row.contains("PENDING"),
        "{row}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains(" quiet ") && l.contains("paused") && l.contains("none yet")),
        "{text}"
    );

    // A halt in force shows with its reason, by whom and since when.
    let halt = Stop {
        reason: "exchange maintenance".into(),
        by: "arn:aws:iam::123456789012:user/ops".into(),
        at_ms: 1_800_000_900_000,
    };
    d.rt.block_on(d.w.store.set_halt(Some(&halt))).unwrap();
    let halted = d.driftline(&["status"]);
    d.rt.block_on(d.w.store.set_halt(None)).unwrap();
    let text = ok_text(&halted);
    assert!(
        text.contains(
            "deployment: HALTED since 2027-01-15T08:15:00Z by arn:aws:iam::123456789012:user/ops: exchange maintenance"
        ),
        "{text}"
    );
}

#[test]
fn orders_show_each_order_with_its_legs_exact_fills_fees_and_slippage() {
    let Some(d) = deployment() else { return };
    let ledger = d.orders("article");
    let all = ok_json(&d.driftline(&["orders", "--json"]));
    let orders = all.as_array().unwrap();
    assert_eq!(
        orders.len(),
        ledger.len(),
        "one leg per order here: {all:#}"
    );
    let venue_orders = d.rt.block_on(d.w.venue_orders());
    let fills = d.rt.block_on(d.w.admin_get("/admin/fills"));
    let mut filled = 0;
    for record in ledger.iter().filter(|r| r.status == OrderStatus::Filled) {
        filled += 1;
        let id = record.intent.client_order_id.to_string();
        let o = orders
            .iter()
            .find(|o| o["legs"][0]["client_order_id"] == json!(id))
            .unwrap_or_else(|| panic!("{id} is listed: {all:#}"));
        assert_eq!(o["status"], "FILLED");
        assert_eq!(o["open"], false);
        assert_eq!(o["cycle"], json!(d.cycles[0]));
        assert_eq!(dec(&o["quantity"]), record.intent.quantity);
        // The fills as the exchange made them, and the fees as it charged them.
        let on_venue = venue_orders
            .iter()
            .find(|v| v["clientOrderId"] == json!(id))
            .expect("the order is on the venue");
        assert_eq!(dec(&o["filled_qty"]), dec(&on_venue["executedQty"]));
        assert_eq!(
            dec(&o["cumulative_quote_qty"]),
            dec(&on_venue["cummulativeQuoteQty"])
        );
        let charged: Decimal = fills
            .iter()
            .filter(|f| f["orderId"] == on_venue["orderId"])
            .map(|f| dec(&f["commission"]))
            .sum();
        assert!(!charged.is_zero());
        assert_eq!(
            dec(&o["fees_quote"]),
            charged,
            "a sell pays its fee in USDT"
        );
        assert_eq!(dec(&o["fees_quote"]), record.fees_quote);
        assert_eq!(
            dec(&o["average_price"]),
            record.cumulative_quote_qty / record.filled_qty
        );
        assert_eq!(
            Some(dec(&o["slippage_bps"])),
            execution_quality(record)
                .slippage_bps
                .map(|s| s.normalize())
        );
        assert_eq!(o["legs"].as_array().unwrap().len(), 1);
        assert_eq!(o["legs"][0]["leg"], 0);
        assert_eq!(o["legs"][0]["fee_asset"], "USDT");
    }
    assert_eq!(filled, 2, "cycle 1's two sells filled");

    // --open: only the third cycle's order, still on the queue.
    let open = ok_json(&d.driftline(&["orders", "--open", "--json"]));
    let open = open.as_array().unwrap();
    assert!(!open.is_empty());
    assert!(open
        .iter()
        .all(|o| o["cycle"] == json!(d.cycles[2]) && o["status"] == "PENDING"));
    assert_eq!(open[0]["filled_qty"], "0");
    assert_eq!(open[0]["average_price"], Value::Null);
    assert_eq!(open[0]["slippage_bps"], Value::Null);
    // --since: the third cycle was planned at 08:10.
    let since = ok_json(&d.driftline(&[
        "orders",
        "--portfolio",
        "article",
        "--since",
        "2027-01-15T08:09:00Z",
        "--json",
    ]));
    assert_eq!(since.as_array().unwrap().len(), open.len());
    let none = ok_json(&d.driftline(&["orders", "--since", "2027-01-16", "--json"]));
    assert_eq!(none, json!([]));

    // CSV: one row per leg, decimals exact.
    let csv_text = ok_text(&d.driftline(&["orders", "--csv"]));
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), ledger.len());
    for r in &ledger {
        let row = rows
            .iter()
            .find(|row| row[col("client_order_id")] == *r.intent.client_order_id.as_str())
            .unwrap();
        assert_eq!(row[col("status")], *r.status.as_str());
        assert_eq!(
            row[col("fees_quote")].parse::<Decimal>().unwrap(),
            r.fees_quote
        );
        assert_eq!(
            row[col("filled_qty")].parse::<Decimal>().unwrap(),
            r.filled_qty
        );
    }

    let text = ok_text(&d.driftline(&["orders"]));
    assert!(
        text.lines()
            .any(|l| l.contains("SELL BTC/USDT") && l.contains("FILLED") && l.contains("USDT")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} order(s) · {} open", ledger.len(), open.len())),
        "{text}"
    );

    let unknown = failure(&d.driftline(&["orders", "--portfolio", "nope"]));
    assert!(
        unknown.contains("no portfolio \"nope\" in table"),
        "{unknown}"
    );
    let bad = failure(&d.driftline(&["orders", "--since", "garbage"]));
    assert_eq!(
        bad.trim(),
        "error: --since \"garbage\": not an RFC 3339 date (2027-01-15) or date-time (2027-01-15T08:00:00Z)"
    );
}

#[test]
fn history_shows_each_cycles_drift_against_its_band_and_draws_the_chart() {
    let Some(d) = deployment() else { return };
    let id = PortfolioId::new("article").unwrap();
    let stored = d.rt.block_on(d.w.store.latest(&id, 10)).unwrap();
    let h = ok_json(&d.driftline(&["history", "article", "--json"]));
    assert_eq!(h["portfolio"], "article");
    assert_eq!(h["quote"], "USDT");
    let cycles = h["cycles"].as_array().unwrap();
    let ids: Vec<&str> = cycles
        .iter()
        .map(|c| c["cycle_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, d.cycles.iter().map(String::as_str).collect::<Vec<_>>());
    let numbers: Vec<u64> = cycles.iter().map(|c| c["n"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 3]);
    for c in cycles {
        let snapshot = &stored
            .iter()
            .find(|s| s.snapshot.cycle_id.as_str() == c["cycle_id"])
            .unwrap()
            .snapshot;
        assert_eq!(dec(&c["equity"]), snapshot.equity);
        for a in snapshot.assets.iter() {
            let shown = c["assets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["asset"] == a.asset.as_str())
                .unwrap();
            assert_eq!(dec(&shown["drift"]), a.drift, "exact drift");
            assert_eq!(dec(&shown["weight"]), a.weight);
            if a.asset.as_str() == "USDT" {
                assert_eq!(shown["band"], Value::Null, "the quote asset has no band");
            } else {
                assert_eq!(dec(&shown["band"]), Decimal::new(5, 2));
            }
        }
    }
    let btc_outside: Vec<bool> = cycles
        .iter()
        .map(|c| {
            c["assets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["asset"] == "BTC")
                .unwrap()["outside_band"]
                .as_bool()
                .unwrap()
        })
        .collect();
    assert_eq!(
        btc_outside,
        [true, false, true],
        "over its band before the sells, inside after, over again after the jump"
    );

    let since = ok_json(&d.driftline(&[
        "history",
        "article",
        "--since",
        "2027-01-15T08:05:00Z",
        "--json",
    ]));
    let later: Vec<&str> = since["cycles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cycle_id"].as_str().unwrap())
        .collect();
    assert_eq!(later, [d.cycles[1].as_str(), d.cycles[2].as_str()]);

    let png: PathBuf =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.png", unique("history")));
    let _ = std::fs::remove_file(&png);
    let text = ok_text(&d.driftline(&["history", "article", "--png", png.to_str().unwrap()]));
    assert!(text.contains("BTC (band ±5.00 pp)"), "{text}");
    assert!(text.contains("USDT (quote)"), "{text}");
    assert!(text.contains("3 cycle(s)"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains(&d.cycles[2]) && l.contains(" *")),
        "the jump's cycle is marked outside the band: {text}"
    );
    let bytes = std::fs::read(&png).expect("the chart is written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        bytes.len() > 10_000,
        "a chart, not a blank: {} bytes",
        bytes.len()
    );

    let unknown = failure(&d.driftline(&["history", "nope"]));
    assert!(
        unknown.contains("no portfolio \"nope\" in table"),
        "{unknown}"
    );
    let bad = failure(&d.driftline(&["history", "article", "--since", "15/01/2027"]));
    assert!(bad.contains("--since \"15/01/2027\""), "{bad}");
    let bad = failure(&d.driftline(&["history", "article", "--png", "chart.jpg"]));
    assert!(
        bad.contains("--png \"chart.jpg\": the chart's file name must end in .png"),
        "{bad}"
    );
}

#[test]
fn plan_live_shows_what_the_next_cycle_would_do_and_writes_and_places_nothing() {
    let Some(d) = deployment() else { return };
    let before = table_items(d);
    let venue_before = d.rt.block_on(d.w.venue_orders()).len();
    let pending: Vec<OrderRecord> = d
        .orders("article")
        .into_iter()
        .filter(|o| o.status == OrderStatus::Pending)
        .collect();

    let p = ok_json(&d.driftline(&["plan", "--live", "article", "--json"]));
    assert_eq!(p["plan"]["snapshot"]["portfolio_id"], "article");
    // The account's real balances (the venue's, the fills of cycle 1 included), with the
    // orders in flight projected as the planner projects them: a sell's proceeds at its limit
    // in the quote asset, a buy's remainder in its base; and, as these are still on the queue
    // (nothing locked on the exchange), what each will spend taken off its free balance.
    let balances = d.rt.block_on(d.w.try_admin_get("/admin/balances")).unwrap();
    let account = &balances["accounts"]["demo"];
    for a in p["plan"]["snapshot"]["assets"].as_array().unwrap() {
        let asset = a["asset"].as_str().unwrap();
        let in_flight: Decimal = pending
            .iter()
            .map(|o| {
                let i = &o.intent;
                let (base, quote) = (i.symbol.base().as_str(), i.symbol.quote().as_str());
                let notional = i.quantity * i.limit_price.value();
                match i.side {
                    driftline_core::Side::Sell if quote == asset => notional,
                    driftline_core::Side::Sell if base == asset => -i.quantity,
                    driftline_core::Side::Buy if base == asset => i.quantity,
                    driftline_core::Side::Buy if quote == asset => -notional,
                    _ => Decimal::ZERO,
                }
            })
            .sum();
        assert_eq!(
            dec(&a["quantity"]),
            dec(&account[asset]["free"]) + in_flight,
            "{asset} as the exchange holds it"
        );
    }
    // The order on the queue is in flight, and the plan does not sell BTC again.
    let in_flight = p["in_flight"].as_array().unwrap();
    assert_eq!(in_flight.len(), pending.len(), "{p:#}");
    assert_eq!(dec(&in_flight[0]["remaining"]), pending[0].intent.quantity);
    assert!(
        p["plan"]["intents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["symbol"] != json!(pending[0].intent.symbol.to_string())),
        "{p:#}"
    );

    let text = ok_text(&d.driftline(&["plan", "--live", "article"]));
    assert!(text.contains("portfolio article · cycle dry-run"), "{text}");
    assert!(text.contains("in flight: SELL"), "{text}");
    assert!(text.contains("nothing written, nothing placed"), "{text}");
    // "quiet" holds the article's spec on the same account with nothing in flight: the
    // scheduler's planning step, previewed, plans exactly the order cycle 3 planned for it.
    let quiet = ok_json(&d.driftline(&["plan", "--live", "quiet", "--json"]));
    assert_eq!(quiet["paused"]["reason"], "new keys pending");
    let planned = &pending[0].intent;
    assert_eq!(
        (
            &quiet["plan"]["intents"][0]["symbol"],
            &quiet["plan"]["intents"][0]["side"],
            dec(&quiet["plan"]["intents"][0]["quantity"]),
            dec(&quiet["plan"]["intents"][0]["limit_price"]),
        ),
        (
            &json!(planned.symbol.to_string()),
            &json!(planned.side.to_string()),
            planned.quantity,
            planned.limit_price.value(),
        ),
        "{quiet:#}"
    );
    let paused = ok_text(&d.driftline(&["plan", "--live", "quiet"]));
    assert!(
        paused.contains("portfolio quiet is PAUSED (new keys pending"),
        "{paused}"
    );

    // Nothing written, nothing placed.
    assert_eq!(table_items(d), before, "the table is as it was");
    assert_eq!(d.rt.block_on(d.w.venue_orders()).len(), venue_before);

    let unknown = failure(&d.driftline(&["plan", "--live", "nope"]));
    assert!(
        unknown.contains("no portfolio \"nope\" in table"),
        "{unknown}"
    );
}

#[test]
fn without_a_stack_or_flags_the_console_says_which_stack_it_looked_for() {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        assert!(
            std::env::var_os("DRIFTLINE_REQUIRE_AWS_EMULATOR").is_none(),
            "no AWS emulator under make test"
        );
        eprintln!("SKIPPED: no AWS emulator (run through `make test` or scripts/with-moto.sh)");
        return;
    }
    let stack = unique("NoSuchStack");
    let e = failure(&driftline(&[
        "status".into(),
        "--stack".into(),
        stack.clone(),
    ]));
    assert!(
        e.contains(&format!("no stack \"{stack}\" in this account and region")),
        "{e}"
    );
    // One flag is not enough: the others are still looked for in the stack.
    let e = failure(&driftline(&[
        "orders".into(),
        "--stack".into(),
        stack.clone(),
        "--queue-url".into(),
        "http://127.0.0.1:1/q".into(),
    ]));
    assert!(e.contains(&format!("no stack \"{stack}\"")), "{e}");
}

#[test]
fn dlq_lists_each_dead_letter_and_why_and_redrive_moves_them_back_to_run() {
    let rt = runtime();
    let Some(w) = rt.block_on(World::article()) else {
        return;
    };
    // One message the executor could not read, and one intent moved by the redrive policy
    // (as after too many receives: no reason attribute).
    let (intent_body, client_order_id) = rt.block_on(async {
        send(&w, &w.queue_url, MALFORMED).await;
        w.drain(10).await;
        w.tick().await;
        let queued = w.receive(10, 1).await.unwrap();
        assert_eq!(queued.len(), 2);
        for m in &queued {
            w.sqs
                .delete_message()
                .queue_url(&w.queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        let body = queued[0].body().unwrap().to_owned();
        send(&w, &w.dead_letter_url, &body).await;
        let envelope = driftline_core::orders::IntentEnvelope::from_json(&body).unwrap();
        (body, envelope.intent.client_order_id.to_string())
    });
    let flags = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend([
            "--queue-url".into(),
            w.queue_url.clone(),
            "--dead-letter-queue-url".into(),
            w.dead_letter_url.clone(),
        ]);
        driftline(&all)
    };
    let depth = |url: &str| queue_depth(&rt, url);

    let listed = ok_json(&flags(&["dlq", "list", "--json"]));
    let letters = listed.as_array().unwrap();
    assert_eq!(letters.len(), 2, "{listed:#}");
    let unreadable = letters.iter().find(|l| l["intent"].is_null()).unwrap();
    assert_eq!(unreadable["body"], MALFORMED);
    assert!(
        unreadable["error"].as_str().unwrap().contains("intent"),
        "{unreadable}"
    );
    let intent = letters.iter().find(|l| !l["intent"].is_null()).unwrap();
    assert_eq!(intent["error"], Value::Null);
    assert_eq!(intent["body"], Value::Null);
    let record = rt
        .block_on(w.orders("article"))
        .into_iter()
        .find(|o| o.intent.client_order_id.as_str() == client_order_id)
        .unwrap();
    assert_eq!(
        intent["intent"],
        json!({
            "portfolio": "article",
            "cycle": record.intent.cycle_id.to_string(),
            "client_order_id": client_order_id,
            "symbol": record.intent.symbol.to_string(),
            "side": record.intent.side.to_string(),
            "leg": 0,
            "quantity": record.intent.quantity.normalize().to_string(),
            "expires_at": driftline_cli::console::time::rfc3339(record.intent.expires_at_ms),
            "follow_up": false,
        })
    );
    // Listing leaves them there, visible.
    let text = ok_text(&flags(&["dlq", "list"]));
    assert!(text.contains("2 message(s)"), "{text}");
    assert!(text.contains(&format!("unreadable: {MALFORMED}")), "{text}");
    assert!(text.contains("too many receives"), "{text}");
    assert_eq!(depth(&w.dead_letter_url).visible, 2);

    // An id that is not there: nothing moves.
    let e = failure(&flags(&["dlq", "redrive", "--id", "no-such-message"]));
    assert!(e.contains("no message \"no-such-message\""), "{e}");
    assert_eq!(depth(&w.dead_letter_url).visible, 2);

    // One by id, then the rest.
    let one = intent["message_id"].as_str().unwrap();
    let moved = ok_text(&flags(&["dlq", "redrive", "--id", one]));
    assert_eq!(
        moved.trim(),
        format!("moved 1 message(s) to the intents queue: {one}")
    );
    assert_eq!(depth(&w.dead_letter_url).visible, 1);
    let rest = ok_text(&flags(&["dlq", "redrive"]));
    assert!(rest.starts_with("moved 1 message(s)"), "{rest}");
    let dlq = depth(&w.dead_letter_url);
    assert_eq!(
        (dlq.visible, dlq.in_flight),
        (0, 0),
        "the dead-letter queue is empty"
    );
    let bodies: BTreeSet<String> = rt
        .block_on(async {
            let m = w.receive(10, 1).await.unwrap();
            for x in &m {
                w.sqs
                    .change_message_visibility()
                    .queue_url(&w.queue_url)
                    .receipt_handle(x.receipt_handle().unwrap())
                    .visibility_timeout(0)
                    .send()
                    .await
                    .unwrap();
            }
            m
        })
        .iter()
        .map(|m| m.body().unwrap().to_owned())
        .collect();
    assert_eq!(
        bodies,
        BTreeSet::from([MALFORMED.to_owned(), intent_body.clone()])
    );

    // Back on the queue the intent runs: its order reaches the exchange; the unreadable one
    // goes back to the dead-letter queue.
    rt.block_on(w.drain(10));
    let venue = rt.block_on(w.venue_orders());
    assert!(
        venue
            .iter()
            .any(|o| o["clientOrderId"] == json!(client_order_id)),
        "{venue:#?}"
    );
    assert_eq!(depth(&w.dead_letter_url).visible, 1);

    // An unreadable message stays unreadable: deleted for good, by its id.
    let listed = ok_json(&flags(&["dlq", "list", "--json"]));
    let unreadable = listed[0]["message_id"].as_str().unwrap().to_owned();
    assert_eq!(listed[0]["body"], MALFORMED);
    let deleted = ok_text(&flags(&["dlq", "delete", "--id", &unreadable]));
    assert_eq!(
        deleted.trim(),
        format!("deleted 1 message(s) from the dead-letter queue: {unreadable}")
    );
    let dlq = depth(&w.dead_letter_url);
    assert_eq!((dlq.visible, dlq.in_flight), (0, 0));
    rt.block_on(w.stop());
}

#[test]
fn dead_shards_are_listed_never_redriven_and_deleted_to_clear_their_alarm() {
    let rt = runtime();
    let Some(w) = rt.block_on(World::article()) else {
        return;
    };
    // Two shards of a fanned-out tick that failed three times, as the queue's redrive policy
    // leaves them.
    let shard = |cycle: &str, portfolios: &[&str]| {
        serde_json::to_string(&Shard {
            cycle_id: CycleId::new(cycle).unwrap(),
            expires_at_ms: 1_800_000_300_000,
            portfolios: portfolios
                .iter()
                .map(|p| PortfolioId::new(p).unwrap())
                .collect(),
        })
        .unwrap()
    };
    rt.block_on(async {
        send(
            &w,
            &w.shards_dead_letter_url,
            &shard("c-1", &["p1", "p2", "p3", "p4"]),
        )
        .await;
        send(&w, &w.shards_dead_letter_url, &shard("c-1", &["p5"])).await;
    });
    let run = |args: &[&str], dead_letters: &str| {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend([
            "--queue-url".into(),
            w.queue_url.clone(),
            "--dead-letter-queue-url".into(),
            dead_letters.to_owned(),
            "--shards-dead-letter-queue-url".into(),
            w.shards_dead_letter_url.clone(),
        ]);
        driftline(&all)
    };
    let flags = |args: &[&str]| run(args, &w.dead_letter_url);
    let depth = |url: &str| queue_depth(&rt, url);

    let listed = ok_json(&flags(&["dlq", "--shards", "list", "--json"]));
    let letters = listed.as_array().unwrap();
    assert_eq!(letters.len(), 2, "{listed:#}");
    let big = letters
        .iter()
        .find(|l| l["shard"]["portfolios"].as_array().unwrap().len() == 4)
        .unwrap();
    assert_eq!(
        big["shard"],
        json!({
            "cycle": "c-1",
            "expires_at": driftline_cli::console::time::rfc3339(1_800_000_300_000),
            "portfolios": ["p1", "p2", "p3", "p4"],
        })
    );
    assert_eq!(big["intent"], Value::Null);
    assert_eq!(big["body"], Value::Null);
    let text = ok_text(&flags(&["dlq", "list", "--shards"]));
    assert!(text.contains("p1, p2, p3 … (4 portfolios)"), "{text}");
    assert!(text.contains("shard of cycle c-1"), "{text}");
    assert!(text.contains("2 message(s)"), "{text}");
    // The executor's dead-letter queue is another queue.
    let text = ok_text(&flags(&["dlq", "list"]));
    assert_eq!(text.trim(), "the dead-letter queue is empty");

    // Never redriven: not with --shards, and not when the shards' queue is named as the
    // executor's by mistake. Nothing moves either way.
    let e = failure(&flags(&["dlq", "--shards", "redrive"]));
    assert!(e.contains("a shard is never redriven"), "{e}");
    let e = failure(&run(&["dlq", "redrive"], &w.shards_dead_letter_url));
    assert!(
        e.contains("is the shards' dead-letter queue; nothing moved"),
        "{e}"
    );
    // Not told which queue holds the shards, the console still knows a shard by its body.
    let e = failure(&driftline(&[
        "dlq".into(),
        "redrive".into(),
        "--queue-url".into(),
        w.queue_url.clone(),
        "--dead-letter-queue-url".into(),
        w.shards_dead_letter_url.clone(),
    ]));
    assert!(
        e.contains("is a shard, not an intent; nothing moved"),
        "{e}"
    );
    assert_eq!(depth(&w.shards_dead_letter_url).visible, 2);
    assert_eq!(depth(&w.queue_url).visible, 0);

    // Delete wants ids or --all; an id that is not there deletes nothing.
    let e = failure(&flags(&["dlq", "--shards", "delete"]));
    assert!(e.contains("--id"), "{e}");
    let e = failure(&flags(&[
        "dlq",
        "--shards",
        "delete",
        "--id",
        "no-such-message",
    ]));
    assert!(e.contains("no message \"no-such-message\""), "{e}");
    assert_eq!(depth(&w.shards_dead_letter_url).visible, 2);

    let one = big["message_id"].as_str().unwrap();
    let deleted = ok_text(&flags(&["dlq", "--shards", "delete", "--id", one]));
    assert_eq!(
        deleted.trim(),
        format!("deleted 1 message(s) from the shards' dead-letter queue: {one}")
    );
    assert_eq!(depth(&w.shards_dead_letter_url).visible, 1);
    let rest = ok_text(&flags(&["dlq", "--shards", "delete", "--all"]));
    assert!(rest.starts_with("deleted 1 message(s)"), "{rest}");
    let left = depth(&w.shards_dead_letter_url);
    assert_eq!((left.visible, left.in_flight), (0, 0), "the queue is empty");
    let text = ok_text(&flags(&["dlq", "--shards", "list"]));
    assert_eq!(text.trim(), "the shards' dead-letter queue is empty");
}

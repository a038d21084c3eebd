//! The console's changes to a deployment, driven through the real `driftline` binary against a
//! whole deployment on this machine (`driftline_sandbox::World`: moto's table, queues and
//! secrets, the paper exchange, the real scheduler and executor handlers), its resources named
//! by flag as an operator names a stack's: portfolio apply/list/show/pause/resume/remove, halt
//! and resume, run-now against the release scheduler behind lambda-local's Invoke front, and
//! the errors (a bad file naming the field, a stale version, an unknown portfolio, no stack, a
//! missing output naming its flag). Run under `make test` (scripts/with-moto.sh); without the
//! emulator each test says it skipped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use driftline_core::control::DeploymentControls;
use driftline_core::orders::OrderRecord;
use driftline_core::ports::{PortfolioConfigs, StoredPortfolio};
use driftline_core::service::scheduler::PortfolioOutcome;
use driftline_core::{OrderStatus, PortfolioId};
use driftline_lambda_local::{bootstrap_path, InvokeApi, LocalFunction};
use driftline_sandbox::{first_tick_plans_two, planned, World};
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// The identity moto's STS gives the dummy credentials: what `by` records.
const MOTO_CALLER: &str = "arn:aws:sts::123456789012:user/moto";

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// The one-line error of a failed command, without its `error: ` prefix.
    fn error(&self) -> &str {
        assert_eq!(self.code, Some(1), "stdout:\n{}", self.stdout);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {}", self.stderr);
        lines[0]
            .strip_prefix("error: ")
            .unwrap_or_else(|| panic!("{}", self.stderr))
    }

    /// The output of a successful command, which passes `check` (it is printed when not).
    fn ok_where(&self, check: impl FnOnce(&str) -> bool) -> &str {
        let text = self.ok();
        assert!(check(text), "{text}");
        text
    }

    /// The output of a successful command that starts with `prefix` and records the stop the
    /// caller made with `reason`.
    fn ok_stopped_by_the_caller(&self, prefix: &str, reason: &str) -> &str {
        self.ok_where(|t| {
            t.starts_with(prefix) && t.contains(&format!("by {MOTO_CALLER}: {reason}"))
        })
    }

    /// The one-line error of a failed command, which starts with `prefix`.
    fn error_starting(&self, prefix: &str) -> &str {
        let e = self.error();
        assert!(e.starts_with(prefix), "{}", self.stderr);
        e
    }
}

/// Runs the binary with `args` and `env` (and the test's own AWS settings), none of the
/// console's `DRIFTLINE_*` resource variables inherited.
async fn driftline(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_driftline"));
    cmd.args(args);
    for var in [
        "DRIFTLINE_STACK",
        "DRIFTLINE_TABLE",
        "DRIFTLINE_QUEUE_URL",
        "DRIFTLINE_DEAD_LETTER_QUEUE_URL",
        "DRIFTLINE_SECRET_ID",
        "DRIFTLINE_SCHEDULER_FUNCTION",
        "DRIFTLINE_EXCHANGE_URL",
        "DRIFTLINE_NOTIFICATIONS_TOPIC_ARN",
        "DRIFTLINE_ALARM_TOPIC_ARN",
        "DRIFTLINE_METRICS_NAMESPACE",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().await.expect("the driftline binary runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The world's resources as flags, after the command's own arguments; `--stack` names no
/// stack, so a resource without its flag is an error, never a guess.
async fn console(w: &World, args: &[&str]) -> Run {
    let secret = w.secret_ids[0].1.clone();
    let venue = w.venue.base_url();
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--stack",
        "no-such-stack",
        "--table",
        w.store.table(),
        "--queue-url",
        &w.queue_url,
        "--dead-letter-queue-url",
        &w.dead_letter_url,
        "--secret-id",
        &secret,
        "--exchange-url",
        &venue,
    ]);
    driftline(&all, &[]).await
}

/// A fresh directory for the files a test writes.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("console-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, file: &str, text: &str) -> String {
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn steady(btc: &str, usdt: &str) -> String {
    format!(
        "id = \"steady\"\nquote = \"USDT\"\n\n[targets]\nBTC = \"{btc}\"\nUSDT = \"{usdt}\"\n\n\
         [policy]\nband = {{ absolute = \"0.02\" }}\n"
    )
}

fn pid(id: &str) -> PortfolioId {
    PortfolioId::new(id).unwrap()
}

/// The portfolio `id` as the table holds it now, if it does.
async fn stored(w: &World, id: &str) -> Option<StoredPortfolio> {
    w.store.portfolio(&pid(id)).await.unwrap()
}

fn statuses(orders: &[OrderRecord]) -> Vec<OrderStatus> {
    orders.iter().map(|o| o.status).collect()
}

fn field<'a>(order: &'a Value, name: &str) -> &'a str {
    order.get(name).and_then(Value::as_str).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_shows_the_change_writes_on_the_version_read_and_refuses_a_stale_one() {
    let Some(w) = World::article().await else {
        return;
    };
    let dir = scratch("apply");
    let file = write(&dir, "steady.toml", &steady("0.50", "0.50"));

    // A dry run of a new portfolio lists its fields and writes nothing.
    let out = console(&w, &["portfolio", "apply", &file, "--dry-run"]).await;
    let text = out.ok_where(|t| t.starts_with("new portfolio steady\n"));
    assert!(text.contains("  targets.BTC: \"0.50\"\n"), "{text}");
    assert!(
        text.contains("  policy.band.absolute: \"0.02\"\n"),
        "{text}"
    );
    assert!(
        text.ends_with("dry run: nothing written (apply would create it at version 1)\n"),
        "{text}"
    );
    assert_eq!(stored(&w, "steady").await, None);

    let out = console(&w, &["portfolio", "apply", &file]).await;
    out.ok_where(|t| t.ends_with("applied: steady is at version 1\n"));
    let in_table = stored(&w, "steady").await.unwrap();
    assert_eq!(in_table.version, 1);
    assert_eq!(in_table.spec.targets["BTC"], "0.50");
    assert_eq!(in_table.paused, None);

    // A change: the diff field by field; the dry run writes nothing, the apply writes it.
    let file = write(&dir, "steady.toml", &steady("0.55", "0.45"));
    let out = console(&w, &["portfolio", "apply", &file, "--dry-run"]).await;
    assert_eq!(
        out.ok(),
        "portfolio steady: version 1 stored\n  targets.BTC: \"0.50\" → \"0.55\"\n  \
         targets.USDT: \"0.50\" → \"0.45\"\ndry run: nothing written (apply would write version \
         2 over version 1)\n"
    );
    assert_eq!(stored(&w, "steady").await.unwrap().version, 1);
    let out = console(&w, &["portfolio", "apply", &file]).await;
    out.ok_where(|t| t.contains("targets.BTC: \"0.50\" → \"0.55\""));
    assert!(out.stdout.ends_with("applied: steady is at version 2\n"));
    let out = console(&w, &["portfolio", "apply", &file]).await;
    out.ok_where(|t| t.ends_with("no change: nothing to write\n"));

    // Written on top of a version someone else has since replaced: refused, nothing written.
    let file = write(&dir, "steady.toml", &steady("0.60", "0.40"));
    let out = console(
        &w,
        &["portfolio", "apply", &file, "--expected-version", "1"],
    )
    .await;
    assert_eq!(
        out.error(),
        "portfolio steady changed by someone else since you read it (version 1 read, version 2 \
         is stored now): run the command again to see the change and apply on top of it"
    );
    let in_table = stored(&w, "steady").await.unwrap();
    assert_eq!(
        (in_table.version, in_table.spec.targets["BTC"].as_str()),
        (2, "0.55")
    );

    // A bad file: the file, the field and the value; nothing written.
    let cases = [
        ("sum.toml", steady("0.50", "0.45"), "targets: ", "0.95"),
        (
            "bare.toml",
            steady("0.50", "0.50").replace("BTC = \"0.50\"", "BTC = 0.5"),
            "targets.BTC: ",
            "float",
        ),
        (
            "holdings.toml",
            format!("{}\n[holdings]\nBTC = \"1\"\n", steady("0.5", "0.5")),
            "holdings: ",
            "BTC given",
        ),
        (
            "account-holdings.toml",
            format!(
                "{}\n[[accounts]]\naccount = \"a\"\n\n[[accounts]]\naccount = \"b\"\n\
                 holdings = {{ BTC = \"1\" }}\n",
                steady("0.5", "0.5")
            ),
            "accounts[1].holdings: ",
            "BTC given",
        ),
        (
            "offset.json",
            r#"{"id":"steady","quote":"USDT","targets":{"BTC":"0.5","USDT":"0.5"},
                "policy":{"limit_offset":"2"}}"#
                .to_owned(),
            "policy.limit_offset: ",
            "2",
        ),
    ];
    for (name, text, field, value) in cases {
        let path = write(&dir, name, &text);
        let out = console(&w, &["portfolio", "apply", &path]).await;
        let e = out.error();
        assert!(e.starts_with(&format!("{path}: {field}")), "{e}");
        assert!(e.contains(value), "{e}");
    }
    assert_eq!(stored(&w, "steady").await.unwrap().version, 2);

    // list and show.
    let out = console(&w, &["portfolio", "list"]).await;
    let text = out.ok();
    let article = text.lines().find(|l| l.contains("article")).unwrap();
    assert!(
        article.contains("active") && article.contains("BTC 0.40 · ETH 0.35 · USDT 0.25"),
        "{text}"
    );
    let listed: Value =
        serde_json::from_str(console(&w, &["portfolio", "list", "--json"]).await.ok()).unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| field(p, "id"))
        .collect();
    assert_eq!(ids, ["article", "steady"]);
    assert_eq!(listed[1]["version"], 2);
    let out = console(&w, &["portfolio", "show", "steady"]).await;
    let text = out.ok_where(|t| t.starts_with("portfolio steady · version 2 · active\n"));
    assert!(
        text.contains("last cycle: none recorded yet\nopen orders: 0\n"),
        "{text}"
    );
    // What `show` prints is a file `apply` takes back unchanged.
    let spec = &text[text.find("{\n").unwrap()..];
    let again = write(&dir, "steady.json", spec);
    let out = console(&w, &["portfolio", "apply", &again]).await;
    out.ok_where(|t| t.ends_with("no change: nothing to write\n"));

    let out = console(&w, &["portfolio", "show", "nope"]).await;
    out.error_starting(&format!(
        "no portfolio \"nope\" in table {}",
        w.store.table()
    ));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_portfolio_is_planned_by_no_cycle_and_resume_plans_it_again() {
    let Some(w) = first_tick_plans_two(World::article().await).await else {
        return;
    };

    // Its two intents are queued, not yet on the exchange: pausing cancels them.
    let out = console(
        &w,
        &[
            "portfolio",
            "pause",
            "article",
            "--reason",
            "rebalancing by hand",
        ],
    )
    .await;
    let text = out.ok_stopped_by_the_caller("paused article at ", "rebalancing by hand");
    assert_eq!(
        text.matches("PENDING → CANCELLED (never reached the exchange)")
            .count(),
        2,
        "{text}"
    );
    let orders = w.orders("article").await;
    assert_eq!(statuses(&orders), [OrderStatus::Cancelled; 2]);
    assert!(orders
        .iter()
        .all(|o| o.last_error.as_deref() == Some("portfolio paused")));
    // Their messages find nothing to place.
    w.drain(5).await;
    assert!(w.venue_orders().await.is_empty());

    w.next_tick();
    let cycle = w.tick().await;
    assert_eq!(
        cycle.portfolios[0].outcome,
        PortfolioOutcome::Paused {
            reason: "rebalancing by hand".into()
        }
    );
    assert_eq!(w.orders("article").await.len(), 2, "nothing new planned");
    let out = console(&w, &["portfolio", "list"]).await;
    out.ok_where(|t| t.contains("paused: rebalancing by hand"));
    let out = console(&w, &["portfolio", "show", "article"]).await;
    out.ok_stopped_by_the_caller(
        "portfolio article · version 2 · paused since ",
        "rebalancing by hand",
    );
    let out = console(&w, &["portfolio", "pause", "article"]).await;
    out.ok_where(|t| t.starts_with("article is already paused since "));

    let out = console(&w, &["portfolio", "resume", "article"]).await;
    out.ok_where(|t| t.starts_with("resumed article (version 3)"));
    assert_eq!(stored(&w, "article").await.unwrap().paused, None);
    w.next_tick();
    assert_eq!(planned(&w.tick().await), 2);
    let out = console(&w, &["portfolio", "show", "article"]).await;
    assert!(
        out.ok().contains(": planned 2 order(s), 2 queued"),
        "the last cycle: {}",
        out.stdout
    );
    let out = console(&w, &["portfolio", "resume", "nope"]).await;
    out.error_starting("no portfolio \"nope\"");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn remove_is_refused_with_open_orders_and_cancel_open_cancels_them_with_their_fills() {
    let Some(w) = first_tick_plans_two(World::article().await).await else {
        return;
    };
    w.drain(10).await;
    let placed = w.venue_orders().await;
    assert_eq!(placed.len(), 2, "{placed:?}");
    // A thin market rises through part of the BTC sell: the venue fills some of it, which the
    // ledger has not heard of yet.
    w.set_faults(json!({"thin_books": {"BTCUSDT": "0.01"}}))
        .await;
    w.set_mid("BTCUSDT", "64240").await;
    let venue_btc = |orders: &[Value]| {
        orders
            .iter()
            .find(|o| field(o, "symbol") == "BTCUSDT")
            .cloned()
            .unwrap()
    };
    let btc = venue_btc(&w.venue_orders().await);
    let executed: Decimal = field(&btc, "executedQty").parse().unwrap();
    assert!(executed > Decimal::ZERO, "{btc}");

    let out = console(&w, &["portfolio", "remove", "article"]).await;
    assert_eq!(
        out.error(),
        "portfolio article has 2 open order(s) (above): remove it with --cancel-open to cancel \
         them first, or wait until they finish"
    );
    assert_eq!(out.stdout.matches(": PLACED").count(), 2, "{}", out.stdout);
    assert!(out
        .stdout
        .starts_with("paused article while it is removed\n"));
    assert!(out.stdout.ends_with("resumed article: not removed\n"));
    let kept = stored(&w, "article").await.expect("not removed");
    assert_eq!(kept.paused, None, "left as it was found");

    let out = console(&w, &["portfolio", "remove", "article", "--cancel-open"]).await;
    let text = out.ok_where(|t| t.starts_with("paused article while it is removed\n"));
    assert_eq!(
        text.matches("PLACED → CANCELLED on the exchange").count(),
        2,
        "{text}"
    );
    assert!(
        text.ends_with(
            "removed article (version 4); its orders and drift history stay until their TTL\n"
        ),
        "{text}"
    );
    assert_eq!(stored(&w, "article").await, None);

    // The venue has both cancelled; the ledger has them final, with the BTC fills and fees.
    let venue = w.venue_orders().await;
    assert!(
        venue.iter().all(|o| field(o, "status") == "CANCELED"),
        "{venue:?}"
    );
    assert_eq!(
        field(&venue_btc(&venue), "executedQty")
            .parse::<Decimal>()
            .unwrap(),
        executed
    );
    let orders = w.orders("article").await;
    assert_eq!(statuses(&orders), [OrderStatus::Cancelled; 2]);
    let btc = orders
        .iter()
        .find(|o| o.intent.symbol.to_string() == "BTC/USDT")
        .unwrap();
    assert_eq!(btc.filled_qty, executed);
    assert!(btc.fees_quote > Decimal::ZERO, "{btc:?}");
    assert!(
        text.contains(&format!(
            "filled {} of {} · fees {} USDT",
            executed.normalize(),
            btc.intent.quantity,
            btc.fees_quote.normalize()
        )),
        "{text}"
    );
    let out = console(&w, &["portfolio", "remove", "article"]).await;
    out.error_starting("no portfolio \"article\"");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn halt_holds_the_queued_intents_resume_lets_them_run_and_cancel_open_takes_them_off() {
    let Some(w) = first_tick_plans_two(World::article().await).await else {
        return;
    };

    let out = console(&w, &["halt", "--reason", "exchange maintenance"]).await;
    out.ok_stopped_by_the_caller("halted at ", "exchange maintenance\n");
    let controls = w.store.read("binance").await.unwrap();
    let halt = controls.halt.expect("the halt is in force");
    assert_eq!(
        (halt.reason.as_str(), halt.by.as_str()),
        ("exchange maintenance", MOTO_CALLER)
    );

    // The executor holds every intent back: nothing placed, nothing dead-lettered.
    let held = w.drain(4).await;
    assert!(held.messages >= 2, "{held:?}");
    assert!(w.venue_orders().await.is_empty());
    assert!(w.dead_letters().await.is_empty());
    assert_eq!(
        statuses(&w.orders("article").await),
        [OrderStatus::Pending; 2]
    );
    let out = console(&w, &["halt", "--reason", ""]).await;
    out.error_starting("--reason: ");

    let out = console(&w, &["resume"]).await;
    let text =
        out.ok_stopped_by_the_caller("resumed: lifted the halt since ", "exchange maintenance\n");
    assert!(
        text.contains("\n2 message(s) in the intents queue ("),
        "{text}"
    );
    assert_eq!(w.store.read("binance").await.unwrap().halt, None);

    // Held intents run: each placed once.
    w.drain(10).await;
    let venue = w.venue_orders().await;
    let mut ids: Vec<&str> = venue.iter().map(|o| field(o, "clientOrderId")).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2, "{venue:?}");
    assert!(
        venue.iter().all(|o| field(o, "status") == "NEW"),
        "{venue:?}"
    );

    // Halting with --cancel-open takes the resting orders off the exchange and records it.
    let out = console(
        &w,
        &["halt", "--reason", "stop everything", "--cancel-open"],
    )
    .await;
    let text = out.ok();
    assert_eq!(
        text.matches("PLACED → CANCELLED on the exchange · filled 0 of ")
            .count(),
        2,
        "{text}"
    );
    assert!(!text.contains("(replaces the halt in force"), "{text}");
    assert!(
        text.ends_with("2 open order(s): 2 taken off, 0 still open\n"),
        "{text}"
    );
    let venue = w.venue_orders().await;
    assert!(
        venue.iter().all(|o| field(o, "status") == "CANCELED"),
        "{venue:?}"
    );
    assert_eq!(
        statuses(&w.orders("article").await),
        [OrderStatus::Cancelled; 2]
    );

    // With a notifications topic, the owner is told of the halt and of the resume.
    let sdk = driftline_aws::sdk_config().await;
    let inbox = driftline_sandbox::inbox::Inbox::create(&sdk).await;
    let topic = ["--notifications-topic-arn", inbox.topic_arn.as_str()];
    let out = console(&w, &[&["resume"][..], &topic[..]].concat()).await;
    out.ok_where(|t| t.starts_with("resumed: "));
    assert!(
        out.stdout
            .contains(&format!("\nnotified {}\n", inbox.topic_arn)),
        "{}",
        out.stdout
    );
    let out = console(
        &w,
        &[&["halt", "--reason", "owner on holiday"][..], &topic[..]].concat(),
    )
    .await;
    out.ok_where(|t| t.starts_with("halted at "));
    let out = console(&w, &[&["resume"][..], &topic[..]].concat()).await;
    out.ok_where(|t| t.starts_with("resumed: "));
    let told: Vec<(String, String)> = inbox
        .messages(3)
        .await
        .iter()
        .map(|m| {
            (
                m["Subject"].as_str().unwrap_or_default().to_owned(),
                m["Message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(told.len(), 3, "{told:#?}");
    let expected = [
        driftline_core::notify::Notice::Resumed {
            by: MOTO_CALLER.to_owned(),
            at_ms: 0,
        },
        driftline_core::notify::Notice::Halted {
            reason: "owner on holiday".to_owned(),
            by: MOTO_CALLER.to_owned(),
            at_ms: 0,
        },
    ];
    // SQS does not promise the order: each notice once (the resume twice).
    let mut subjects: Vec<&str> = told.iter().map(|(s, _)| s.as_str()).collect();
    subjects.sort_unstable();
    let mut want = vec![
        expected[0].subject(),
        expected[0].subject(),
        expected[1].subject(),
    ];
    want.sort_unstable();
    assert_eq!(subjects, want, "{told:#?}");
    let (_, halted) = told
        .iter()
        .find(|(s, _)| *s == expected[1].subject())
        .expect("the halt told");
    assert!(
        halted.contains("owner on holiday") && halted.contains(MOTO_CALLER),
        "{halted}"
    );

    let out = console(&w, &["resume"]).await;
    out.ok_where(|t| t.starts_with("not halted: nothing to resume\n"));
    w.stop().await;
}

/// The stack a console finds by name; and the errors of a deployment it cannot find.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stack_names_the_resources_and_what_is_missing_is_named_with_its_flag() {
    let Some(w) = World::article().await else {
        return;
    };
    let out = driftline(&["portfolio", "list", "--stack", "NoSuchStack"], &[]).await;
    assert_eq!(
        out.error(),
        "no stack \"NoSuchStack\" in this account and region (pass --stack, or name every \
         resource with its flag): stack NoSuchStack does not exist"
    );

    // A stack with the table as its only output (a handle: a resource the emulator creates).
    let sdk = driftline_aws::sdk_config().await;
    let stack = format!("DriftlineConsole{}", std::process::id());
    let template = json!({
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {"TableName": {"Value": w.store.table()}},
    });
    aws_sdk_cloudformation::Client::new(&sdk)
        .create_stack()
        .stack_name(&stack)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    let out = driftline(&["portfolio", "list", "--stack", &stack], &[]).await;
    out.ok_where(|t| t.contains("article"));
    let out = driftline(&["run-now", "--stack", &stack], &[]).await;
    assert_eq!(
        out.error(),
        format!("stack \"{stack}\" has no output SchedulerFunctionName: pass --scheduler-function")
    );
    // The environment names resources as the flags do.
    let out = driftline(
        &["portfolio", "show", "article"],
        &[
            ("DRIFTLINE_STACK", "NoSuchStack"),
            ("DRIFTLINE_TABLE", w.store.table()),
        ],
    )
    .await;
    out.ok_where(|t| t.starts_with("portfolio article · version 1 · active"));

    // The kill switch and a pause need the table alone: in force even when the exchange's
    // resources cannot be found for --cancel-open.
    let table_only = |args: &'static [&'static str]| {
        let all = [
            args,
            &["--stack", "NoSuchStack", "--table", w.store.table()],
        ]
        .concat();
        async move { driftline(&all, &[]).await }
    };
    let out = table_only(&["halt", "--reason", "no exchange", "--cancel-open"]).await;
    out.error_starting("no stack \"NoSuchStack\"");
    assert!(out.stdout.starts_with("halted at "), "{}", out.stdout);
    let halt = w.store.read("binance").await.unwrap().halt.unwrap();
    assert_eq!(halt.reason, "no exchange");
    let out = table_only(&["portfolio", "pause", "article", "--cancel-open"]).await;
    out.error_starting("no stack \"NoSuchStack\"");
    let article = stored(&w, "article").await.unwrap();
    assert_eq!(article.paused.map(|p| p.by), Some(MOTO_CALLER.to_owned()));
    w.stop().await;
}

/// The release scheduler behind lambda-local's Invoke front, or `None` (loudly) when it is not
/// built; under `make test` (`DRIFTLINE_REQUIRE_LAMBDA_BINARIES`) a missing binary fails.
fn scheduler_bootstrap() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = bootstrap_path(&root, "scheduler");
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("DRIFTLINE_REQUIRE_LAMBDA_BINARIES").is_none(),
        "no release scheduler at {path:?}: `make test` builds it with `make build` first"
    );
    eprintln!("\n*** SKIPPED: no scheduler bootstrap at {path:?}; run `make build` ***\n");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_now_invokes_the_deployed_scheduler_once_for_the_portfolios_named() {
    let Some(bootstrap) = scheduler_bootstrap() else {
        return;
    };
    let Some(w) = World::article().await else {
        return;
    };
    let aws = |k: &str| std::env::var(k).unwrap_or_default();
    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", aws("AWS_ENDPOINT_URL")),
        ("AWS_REGION", aws("AWS_REGION")),
        ("AWS_ACCESS_KEY_ID", aws("AWS_ACCESS_KEY_ID")),
        ("AWS_SECRET_ACCESS_KEY", aws("AWS_SECRET_ACCESS_KEY")),
        ("RUST_LOG", "info".to_owned()),
        ("DRIFTLINE_TABLE_NAME", w.store.table().to_owned()),
        ("DRIFTLINE_INTENTS_QUEUE_URL", w.queue_url.clone()),
        ("DRIFTLINE_EXCHANGE_BASE_URL", w.venue.base_url()),
        ("DRIFTLINE_EXCHANGE_SECRET_ID", w.secret_ids[0].1.clone()),
        ("DRIFTLINE_SCHEDULE_PERIOD_SECONDS", "300".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let scheduler = LocalFunction::start("scheduler", &bootstrap, &env, Duration::from_secs(30))
        .await
        .unwrap();
    let front = InvokeApi::start([("driftline-scheduler".to_owned(), scheduler.invoker())])
        .await
        .unwrap();
    let endpoint = front.endpoint();
    // The SDK's service-specific variable sends Lambda here while the rest goes to moto.
    let lambda_env = [("AWS_ENDPOINT_URL_LAMBDA", endpoint.as_str())];
    let run = |function: &'static str, extra: &'static [&'static str]| {
        let mut args = vec![
            "run-now",
            "--stack",
            "no-such-stack",
            "--table",
            w.store.table(),
            "--scheduler-function",
            function,
        ];
        args.extend_from_slice(extra);
        args
    };

    let out = driftline(
        &run("driftline-scheduler", &["--portfolio", "article"]),
        &lambda_env,
    )
    .await;
    let text = out.ok();
    assert!(
        text.starts_with("cycle ") && text.contains(" · scheduler driftline-scheduler\n"),
        "{text}\n{}",
        scheduler.logs().join("\n")
    );
    let row = text.lines().find(|l| l.contains("article")).unwrap();
    assert!(
        row.contains("planned") && row.contains("planned 2 order(s), 2 queued"),
        "{text}"
    );
    // The real scheduler recorded them.
    assert_eq!(
        statuses(&w.orders("article").await),
        [OrderStatus::Pending; 2]
    );

    // Again in the same period: the same cycle, nothing planned twice.
    let out = driftline(&run("driftline-scheduler", &["--json"]), &lambda_env).await;
    let response: Value = serde_json::from_str(out.ok()).unwrap();
    assert_eq!(
        response["portfolios"][0]["outcome"], "already_ran",
        "{response}"
    );
    assert_eq!(w.orders("article").await.len(), 2);

    let out = driftline(
        &run("driftline-scheduler", &["--portfolio", "nope"]),
        &lambda_env,
    )
    .await;
    out.error_starting("no portfolio \"nope\"");
    let out = driftline(&run("elsewhere", &[]), &lambda_env).await;
    let e = out.error();
    assert!(
        e.starts_with("lambda Invoke: ") && e.contains("Function not found: elsewhere"),
        "{e}"
    );
    scheduler.stop().await;
    w.stop().await;
}

#[tokio::test]
async fn completions_are_printed_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_driftline()"),
        ("zsh", "#compdef driftline"),
        ("fish", "complete -c driftline"),
    ] {
        let out = driftline(&["completions", shell], &[]).await;
        let text = out.ok();
        assert!(text.contains(marker), "{shell}: {text}");
        assert!(
            text.contains("halt") && text.contains("portfolio"),
            "{shell}"
        );
    }
}

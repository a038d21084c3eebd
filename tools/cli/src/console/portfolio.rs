//! `driftline portfolio …`: a deployment's portfolio configurations.
//!
//! - `apply FILE` reads a portfolio file (TOML, or JSON by extension), validates it with the
//!   scheduler's own code ([`PortfolioSpec::into_domain`]), shows the change field by field
//!   against the stored configuration, and writes it conditional on the version it read
//!   ([`DynamoStore::apply_portfolio`]): two operators cannot silently overwrite each other.
//! - `list`, `show ID`: what is configured, its version, its pause, its last cycle.
//! - `pause ID`: no cycle plans it any more; its intents not yet on the exchange are closed, so
//!   nothing new is placed for it; its resting orders stay unless `--cancel-open`.
//! - `resume ID`: the next cycle plans it again.
//! - `remove ID`: refused while it has open orders, unless `--cancel-open` (which pauses it
//!   first, so no cycle plans anything while the orders are cancelled).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use driftline_aws::{ConfigWrite, DynamoStore};
use driftline_core::config::PortfolioSpec;
use driftline_core::control::{CycleRecord, Stop};
use driftline_core::orders::OrderRecord;
use driftline_core::ports::{CycleLeases, OrderLedger, PortfolioConfigs, StoredPortfolio};
use driftline_core::PortfolioId;
use serde::Serialize;
use serde_json::Value;

use super::cancel::{Canceller, OrderAction, Scope};
use super::run_now::describe_outcome;
use super::{operator, outputs, Console, ConsoleError, Target};
use crate::files::read_portfolio_spec;

#[derive(Debug, Args)]
pub struct PortfolioArgs {
    #[command(subcommand)]
    pub command: PortfolioCommand,
}

#[derive(Debug, Subcommand)]
pub enum PortfolioCommand {
    /// Validate a portfolio file as the scheduler will, show the change against the stored
    /// configuration, and write it if nobody changed it meanwhile.
    Apply {
        /// Portfolio file (TOML, or JSON by extension): id, quote, account, targets, policy.
        /// No holdings: they come from the exchange account.
        file: PathBuf,
        /// Show the change and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Write only if the stored version is this one (as `portfolio show` printed it);
        /// default: the version read just before writing.
        #[arg(long, value_name = "VERSION")]
        expected_version: Option<u64>,
    },
    /// Every configured portfolio: paused or active, version, account, targets.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One portfolio: its stored spec, version, pause, last cycle and open orders.
    Show {
        /// The portfolio's id (`driftline portfolio list` shows them).
        id: String,
        /// Print JSON only.
        #[arg(long)]
        json: bool,
    },
    /// Stop planning a portfolio: no cycle plans it, and its intents not yet on the exchange
    /// are cancelled. Its resting orders stay unless --cancel-open.
    Pause {
        /// The portfolio's id (`driftline portfolio list` shows them).
        id: String,
        /// Why: kept with the pause and shown by `portfolio show` and `status`.
        #[arg(long, default_value = "paused from the console")]
        reason: String,
        /// Also cancel its orders resting on the exchange (fills and fees recorded).
        #[arg(long)]
        cancel_open: bool,
    },
    /// Plan a paused portfolio again from the next cycle.
    Resume {
        /// The portfolio's id (`driftline portfolio list` shows them).
        id: String,
    },
    /// Remove a portfolio's configuration (its orders and drift history stay until their
    /// TTL). Refused while it has open orders, unless --cancel-open.
    Remove {
        /// The portfolio's id (`driftline portfolio list` shows them).
        id: String,
        /// Pause it, cancel its open orders on the exchange and in the queue, then remove it.
        #[arg(long)]
        cancel_open: bool,
    },
}

/// # Errors
/// [`ConsoleError`] naming what was wrong: the file's field, an unknown portfolio, a version
/// that moved on, open orders, or a deployment that cannot be found.
pub async fn run(target: &Target, args: &PortfolioArgs) -> Result<(), ConsoleError> {
    match &args.command {
        PortfolioCommand::Apply {
            file,
            dry_run,
            expected_version,
        } => apply(target, file, *dry_run, *expected_version).await,
        PortfolioCommand::List { json } => list(target, *json).await,
        PortfolioCommand::Show { id, json } => show(target, id, *json).await,
        PortfolioCommand::Pause {
            id,
            reason,
            cancel_open,
        } => pause(target, id, reason, *cancel_open).await,
        PortfolioCommand::Resume { id } => resume(target, id).await,
        PortfolioCommand::Remove { id, cancel_open } => remove(target, id, *cancel_open).await,
    }
}

fn portfolio_id(id: &str) -> Result<PortfolioId, ConsoleError> {
    PortfolioId::new(id).map_err(|e| ConsoleError::Input(format!("portfolio id {id:?}: {e}")))
}

/// The stored configuration of `id`, or an error naming it.
async fn stored(console: &Console, id: &PortfolioId) -> Result<StoredPortfolio, ConsoleError> {
    let store = console.store()?;
    store.portfolio(id).await?.ok_or_else(|| {
        ConsoleError::Refused(format!(
            "no portfolio {:?} in table {}: `driftline portfolio list` shows the configured ones",
            id.as_str(),
            console.deployment.require(outputs::TABLE).unwrap_or("?")
        ))
    })
}

/// One field that differs between two specs, by its path (`targets.BTC`,
/// `policy.band.absolute`), each side as JSON text (`"0.40"`), `None` where it is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl std::fmt::Display for FieldChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = |s: &Option<String>| s.clone().unwrap_or_else(|| "(none)".to_owned());
        write!(
            f,
            "{}: {} → {}",
            self.field,
            side(&self.before),
            side(&self.after)
        )
    }
}

/// Every leaf of a spec by its dotted path; absent options and empty maps have none.
fn leaves(spec: &PortfolioSpec) -> BTreeMap<String, String> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
        match v {
            Value::Null => {}
            Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&path, v, out);
                }
            }
            leaf => {
                out.insert(prefix.to_owned(), leaf.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    // A spec is plain data: serializing it cannot fail.
    if let Ok(v) = serde_json::to_value(spec) {
        walk("", &v, &mut out);
    }
    out
}

/// The fields that differ from `before` (none: a new portfolio, every field added) to `after`.
pub fn diff(before: Option<&PortfolioSpec>, after: &PortfolioSpec) -> Vec<FieldChange> {
    let old = before.map(leaves).unwrap_or_default();
    let new = leaves(after);
    let mut fields: Vec<&String> = old.keys().chain(new.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter(|f| old.get(*f) != new.get(*f))
        .map(|f| FieldChange {
            field: f.clone(),
            before: old.get(f).cloned(),
            after: new.get(f).cloned(),
        })
        .collect()
}

async fn apply(
    target: &Target,
    file: &std::path::Path,
    dry_run: bool,
    expected_version: Option<u64>,
) -> Result<(), ConsoleError> {
    let spec = read_portfolio_spec(file).map_err(|e| ConsoleError::Input(e.to_string()))?;
    let id = portfolio_id(&spec.id)?;
    let console = Console::connect(target, &[outputs::TABLE]).await?;
    let store = console.store()?;
    let current = store.portfolio(&id).await?;
    let changes = diff(current.as_ref().map(|c| &c.spec), &spec);
    let read = current.as_ref().map_or(0, |c| c.version);
    match &current {
        None => println!("new portfolio {id}"),
        Some(c) => println!("portfolio {id}: version {} stored", c.version),
    }
    for change in &changes {
        match (&current, &change.after) {
            (None, Some(v)) => println!("  {}: {v}", change.field),
            _ => println!("  {change}"),
        }
    }
    if current.is_some() && changes.is_empty() {
        println!("no change: nothing to write");
        return Ok(());
    }
    let expected = expected_version.unwrap_or(read);
    if dry_run {
        if expected == 0 {
            println!("dry run: nothing written (apply would create it at version 1)");
        } else {
            println!(
                "dry run: nothing written (apply would write version {} over version {expected})",
                expected + 1
            );
        }
        return Ok(());
    }
    match store.apply_portfolio(&spec, expected).await? {
        ConfigWrite::Written(now) => {
            println!("applied: {id} is at version {}", now.version);
            if let Some(p) = &now.paused {
                println!(
                    "it stays paused {} (`driftline portfolio resume {id}`)",
                    operator::describe(p)
                );
            }
            Ok(())
        }
        ConfigWrite::Conflict(now) => Err(stale(&id, expected, now.as_ref())),
    }
}

/// The error of a write whose version moved on.
fn stale(id: &PortfolioId, read: u64, now: Option<&StoredPortfolio>) -> ConsoleError {
    let now = match now {
        Some(s) => format!("version {} is stored now", s.version),
        None if read == 0 => "it exists now".to_owned(),
        None => "it has been removed".to_owned(),
    };
    let read = if read == 0 {
        "no configuration".to_owned()
    } else {
        format!("version {read}")
    };
    ConsoleError::Refused(format!(
        "portfolio {id} changed by someone else since you read it ({read} read, {now}): run \
         the command again to see the change and apply on top of it"
    ))
}

#[derive(Serialize)]
struct Listed {
    id: String,
    paused: Option<Stop>,
    version: u64,
    account: Option<String>,
    /// A portfolio spread over several accounts: their names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    accounts: Vec<String>,
    targets: BTreeMap<String, String>,
}

/// The accounts a spec trades on, as people read them: secret ids, `default` for the
/// deployment's.
fn accounts_of(spec: &PortfolioSpec) -> String {
    spec.account_ids()
        .iter()
        .map(|a| a.unwrap_or("default"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn list(target: &Target, json: bool) -> Result<(), ConsoleError> {
    let console = Console::connect(target, &[outputs::TABLE]).await?;
    let store = console.store()?;
    let mut rows = Vec::new();
    for id in store.portfolio_ids().await? {
        if let Some(p) = store.portfolio(&id).await? {
            rows.push(Listed {
                id: p.spec.id.clone(),
                paused: p.paused,
                version: p.version,
                accounts: p
                    .spec
                    .account_ids()
                    .iter()
                    .filter(|_| !p.spec.accounts.is_empty())
                    .map(|a| a.unwrap_or("default").to_owned())
                    .collect(),
                account: p.spec.account.clone(),
                targets: p.spec.targets,
            });
        }
    }
    if json {
        println!("{}", to_json(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no portfolios: add one with `driftline portfolio apply FILE`");
        return Ok(());
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "portfolio",
        "state",
        "version",
        "account",
        "targets",
    ]);
    for r in &rows {
        table.add_row(vec![
            r.id.clone(),
            r.paused
                .as_ref()
                .map_or("active".to_owned(), |p| format!("paused: {}", p.reason)),
            r.version.to_string(),
            if r.accounts.is_empty() {
                r.account.clone().unwrap_or_else(|| "default".to_owned())
            } else {
                r.accounts.join(", ")
            },
            r.targets
                .iter()
                .map(|(a, w)| format!("{a} {w}"))
                .collect::<Vec<_>>()
                .join(" · "),
        ]);
    }
    println!("{table}");
    Ok(())
}

fn to_json(v: &impl Serialize) -> Result<String, ConsoleError> {
    serde_json::to_string_pretty(v).map_err(|e| ConsoleError::Input(format!("JSON output: {e}")))
}

#[derive(Serialize)]
struct Shown<'a> {
    spec: &'a PortfolioSpec,
    version: u64,
    paused: Option<&'a Stop>,
    last_cycle: Option<&'a CycleRecord>,
    open_orders: Vec<OpenOrder>,
}

#[derive(Serialize)]
struct OpenOrder {
    client_order_id: String,
    symbol: String,
    side: String,
    quantity: String,
    status: String,
    filled_qty: String,
}

fn open_order(r: &OrderRecord) -> OpenOrder {
    OpenOrder {
        client_order_id: r.intent.client_order_id.to_string(),
        symbol: r.intent.symbol.to_string(),
        side: r.intent.side.to_string(),
        quantity: r.intent.quantity.to_string(),
        status: r.status.to_string(),
        filled_qty: r.filled_qty.to_string(),
    }
}

async fn show(target: &Target, id: &str, json: bool) -> Result<(), ConsoleError> {
    let id = portfolio_id(id)?;
    let console = Console::connect(target, &[outputs::TABLE]).await?;
    let p = stored(&console, &id).await?;
    let store = console.store()?;
    let last = store.last_cycle(&id).await?;
    let open = store.open_orders(&id).await?;
    let shown = Shown {
        spec: &p.spec,
        version: p.version,
        paused: p.paused.as_ref(),
        last_cycle: last.as_ref(),
        open_orders: open.iter().map(open_order).collect(),
    };
    if json {
        println!("{}", to_json(&shown)?);
        return Ok(());
    }
    let state = p.paused.as_ref().map_or("active".to_owned(), |s| {
        format!("paused {}", operator::describe(s))
    });
    println!("portfolio {id} · version {} · {state}", p.version);
    if p.spec.accounts.is_empty() {
        println!(
            "account: {}",
            p.spec
                .account
                .as_deref()
                .unwrap_or("default (the deployment's exchange secret)")
        );
    } else {
        println!("accounts: {}", accounts_of(&p.spec));
    }
    if !p.spec.off_exchange.is_empty() {
        let off: Vec<String> = p
            .spec
            .off_exchange
            .iter()
            .map(|(a, q)| format!("{q} {a}"))
            .collect();
        println!(
            "off every exchange (counted, never traded): {}",
            off.join(", ")
        );
    }
    match &last {
        Some(c) => println!(
            "last cycle: {} at {}: {}",
            c.cycle_id,
            operator::time(c.at_ms),
            describe_outcome(&c.outcome)
        ),
        None => println!("last cycle: none recorded yet"),
    }
    println!("open orders: {}", open.len());
    for r in &open {
        println!(
            "  {} {} {} @ {} ({}): {}, filled {}",
            r.intent.side,
            r.intent.quantity,
            r.intent.symbol,
            r.intent.limit_price,
            r.intent.client_order_id,
            r.status,
            r.filled_qty.normalize()
        );
    }
    println!("spec (save as {id}.json, edit, then `driftline portfolio apply {id}.json`):");
    println!("{}", to_json(&p.spec)?);
    Ok(())
}

/// Writes a pause (`Some`) or its lifting (`None`) on the version just read, reading again
/// once if someone changed the configuration in between: a pause or resume is meant whatever
/// else changed.
async fn set_paused(
    console: &Console,
    store: &DynamoStore,
    id: &PortfolioId,
    pause: Option<&Stop>,
    mut read: StoredPortfolio,
) -> Result<StoredPortfolio, ConsoleError> {
    for _ in 0..2 {
        match store.set_paused(id, pause, read.version).await? {
            ConfigWrite::Written(now) => return Ok(now),
            ConfigWrite::Conflict(Some(now)) => read = now,
            ConfigWrite::Conflict(None) => return stored(console, id).await,
        }
    }
    Err(stale(id, read.version, None))
}

fn print_actions(actions: &[OrderAction]) -> usize {
    for a in actions {
        println!("  {a}");
    }
    actions.iter().filter(|a| a.left_open()).count()
}

async fn pause(
    target: &Target,
    id: &str,
    reason: &str,
    cancel_open: bool,
) -> Result<(), ConsoleError> {
    let id = portfolio_id(id)?;
    let scope = if cancel_open {
        Scope::Everything
    } else {
        Scope::Unplaced
    };
    // The pause needs the table alone: it is written before anything else can fail.
    let console = Console::connect(target, &[outputs::TABLE]).await?;
    let store = console.store()?;
    let read = stored(&console, &id).await?;
    let now = match &read.paused {
        Some(p) => {
            println!("{id} is already paused {}", operator::describe(p));
            read
        }
        None => {
            let stop = operator::stop(&console.sdk, reason).await;
            let now = set_paused(&console, &store, &id, Some(&stop), read).await?;
            println!(
                "paused {id} at {} by {}: {} (version {}); no cycle plans it until \
                 `driftline portfolio resume {id}`",
                operator::time(stop.at_ms),
                stop.by,
                stop.reason,
                now.version
            );
            now
        }
    };
    let console = Console::connect(target, &Canceller::needs(scope)).await?;
    let canceller = Canceller::new(&console, scope)?;
    let actions = canceller
        .cancel_open(&now, scope, "portfolio paused")
        .await?;
    let left = print_actions(&actions);
    if cancel_open && left > 0 {
        return Err(ConsoleError::Refused(format!(
            "{left} order(s) of {id} are still open (see above); it is paused: run the command \
             again to retry them"
        )));
    }
    if left > 0 {
        println!("{left} order(s) stay on the exchange: `--cancel-open` cancels them");
    }
    Ok(())
}

async fn resume(target: &Target, id: &str) -> Result<(), ConsoleError> {
    let id = portfolio_id(id)?;
    let console = Console::connect(target, &[outputs::TABLE]).await?;
    let store = console.store()?;
    let read = stored(&console, &id).await?;
    let Some(was) = read.paused.clone() else {
        println!("{id} is not paused: nothing to resume");
        return Ok(());
    };
    let now = set_paused(&console, &store, &id, None, read).await?;
    println!(
        "resumed {id} (version {}): lifted the pause {}; the next cycle plans it",
        now.version,
        operator::describe(&was)
    );
    Ok(())
}

async fn remove(target: &Target, id: &str, cancel_open: bool) -> Result<(), ConsoleError> {
    let id = portfolio_id(id)?;
    let scope = if cancel_open {
        Scope::Everything
    } else {
        Scope::Unplaced
    };
    let console = Console::connect(target, &Canceller::needs(scope)).await?;
    let store = console.store()?;
    let mut read = stored(&console, &id).await?;
    // Paused first: from then on no cycle records an order for it (the ledger checks the pause
    // in every record), so the look at its open orders below sees every order it will have.
    let paused_here = read.paused.is_none();
    if paused_here {
        let stop = operator::stop(&console.sdk, "being removed").await;
        read = set_paused(&console, &store, &id, Some(&stop), read).await?;
        println!("paused {id} while it is removed");
    }
    let open = store.open_orders(&id).await?;
    if !open.is_empty() && !cancel_open {
        for r in &open {
            println!(
                "  {} {} {} ({}): {}",
                r.intent.side,
                r.intent.quantity,
                r.intent.symbol,
                r.intent.client_order_id,
                r.status
            );
        }
        let why = format!(
            "portfolio {id} has {} open order(s) (above): remove it with --cancel-open to cancel \
             them first, or wait until they finish",
            open.len()
        );
        if !paused_here {
            return Err(ConsoleError::Refused(why));
        }
        // Refused, the portfolio is left as it was found: resumed on the version this command
        // wrote, only if nobody changed it since (never over someone else's pause).
        return Err(ConsoleError::Refused(
            match store.set_paused(&id, None, read.version).await {
                Ok(ConfigWrite::Written(_)) => {
                    println!("resumed {id}: not removed");
                    why
                }
                Ok(ConfigWrite::Conflict(_)) => format!(
                    "{why}; it was changed by someone else while paused for the removal, so it \
                     is left as they wrote it: see `driftline portfolio show {id}`"
                ),
                Err(e) => format!(
                    "{why}; it is still paused by this command ({e}): `driftline portfolio \
                     resume {id}` lifts the pause"
                ),
            },
        ));
    }
    if !open.is_empty() {
        let canceller = Canceller::new(&console, Scope::Everything)?;
        let actions = canceller
            .cancel_open(&read, Scope::Everything, "portfolio removed")
            .await?;
        print_actions(&actions);
        let still = store.open_orders(&id).await?;
        if !still.is_empty() {
            return Err(ConsoleError::Refused(format!(
                "portfolio {id} still has {} open order(s) (above); it is paused and not \
                 removed: run the command again",
                still.len()
            )));
        }
    }
    let removed = store.remove_portfolio(&id, read.version).await;
    let not_removed = |e: ConsoleError| {
        ConsoleError::Refused(format!(
            "{e}; {id} is not removed and may still be paused by this command: see `driftline \
             portfolio show {id}`, then run the command again or `driftline portfolio resume {id}`"
        ))
    };
    match removed.map_err(|e| not_removed(e.into()))? {
        ConfigWrite::Written(gone) => {
            println!(
                "removed {id} (version {}); its orders and drift history stay until their TTL",
                gone.version
            );
            Ok(())
        }
        ConfigWrite::Conflict(now) => Err(not_removed(stale(&id, read.version, now.as_ref()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> PortfolioSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_diff_names_each_changed_field_with_both_values() {
        let before = spec(
            r#"{"id":"a","quote":"USDT","targets":{"BTC":"0.40","USDT":"0.60"},
                "policy":{"band":{"absolute":"0.05"}}}"#,
        );
        let after = spec(
            r#"{"id":"a","quote":"USDT","targets":{"BTC":"0.45","USDT":"0.55"},
                "policy":{"band":{"absolute":"0.05","relative":"0.2"},"velocity":null}}"#,
        );
        let lines: Vec<String> = diff(Some(&before), &after)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                r#"policy.band.relative: (none) → "0.2""#,
                "policy.velocity.horizon_cycles: \"1\" → (none)",
                "policy.velocity.window: 3 → (none)",
                r#"targets.BTC: "0.40" → "0.45""#,
                r#"targets.USDT: "0.60" → "0.55""#,
            ]
        );
        assert!(diff(Some(&after), &after).is_empty());
    }

    #[test]
    fn a_new_portfolio_lists_every_field_as_added() {
        let s = spec(r#"{"id":"a","quote":"USDT","targets":{"USDT":"1"}}"#);
        let changes = diff(None, &s);
        assert!(changes
            .iter()
            .all(|c| c.before.is_none() && c.after.is_some()));
        assert!(changes
            .iter()
            .any(|c| c.field == "targets.USDT" && c.after.as_deref() == Some("\"1\"")));
        assert!(changes
            .iter()
            .any(|c| c.field == "policy.order_ttl_seconds"));
    }
}

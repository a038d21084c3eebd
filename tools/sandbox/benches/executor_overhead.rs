//! Executor overhead: the time inside the executor handler that is not spent waiting on AWS
//! or the exchange, per message, over real placements against the paper exchange with no
//! injected faults or latency (docs/BENCHMARKS.md, "Executor overhead").
//!
//! `scripts/with-moto.sh cargo bench -p driftline-sandbox --bench executor_overhead
//! [-- --orders 1000 --portfolios 25 --batch 10]`
//!
//! A distribution, not a mean: every executor invocation is measured
//! (`driftline_sandbox::accounting::measure`), its overhead is its wall time less the union of
//! its AWS transmits and exchange calls, and each of its messages gets an equal share. The
//! percentiles are exact, from the sorted samples.

use std::time::Duration;

use driftline_sandbox::accounting::Activity;
use driftline_sandbox::overhead::{self, InvocationSample, MessageKind, OverheadRun};

struct Args {
    run: OverheadRun,
    /// Run by `cargo bench` (which passes `--bench`), not by `cargo test --all-targets`.
    bench: bool,
}

/// `--orders`, `--portfolios`, `--batch`; anything else is ignored. Under `cargo test` (no
/// `--bench`) the default is a smoke run of a few orders, as criterion's test mode is.
fn args() -> Result<Args, String> {
    let bench = std::env::args().any(|a| a == "--bench");
    let mut run = if bench {
        OverheadRun {
            portfolios: 25,
            placements: 1_000,
            batch: 10,
        }
    } else {
        OverheadRun {
            portfolios: 2,
            placements: 4,
            batch: 10,
        }
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> Result<usize, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.parse()
                .map_err(|_| format!("{name}: {v:?} is not a count"))
        };
        match flag.as_str() {
            "--orders" => run.placements = value("--orders")?,
            "--portfolios" => run.portfolios = value("--portfolios")?.max(1),
            "--batch" => {
                let b = value("--batch")?;
                if !(1..=10).contains(&b) {
                    return Err(format!("--batch: {b} is not 1-10"));
                }
                run.batch = i32::try_from(b).map_err(|e| e.to_string())?;
            }
            _ => {}
        }
    }
    Ok(Args { run, bench })
}

/// The value at quantile `q` (nearest rank) of sorted samples.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// One sample per message: each message of an invocation gets `value / messages`.
fn per_message(
    samples: &[&InvocationSample],
    value: impl Fn(&InvocationSample) -> Duration,
) -> Vec<Duration> {
    let mut out = Vec::new();
    for s in samples {
        let share = value(s) / u32::try_from(s.messages).unwrap_or(u32::MAX);
        out.extend(std::iter::repeat_n(share, s.messages));
    }
    out.sort();
    out
}

fn row(name: &str, mut values: Vec<Duration>) {
    values.sort();
    println!(
        "| {name} | {} | {} | {} | {} | {} |",
        ms(quantile(&values, 0.50)),
        ms(quantile(&values, 0.95)),
        ms(quantile(&values, 0.99)),
        ms(values.last().copied().unwrap_or_default()),
        ms(values.iter().sum::<Duration>() / u32::try_from(values.len().max(1)).unwrap_or(1)),
    );
}

fn report(kind: MessageKind, samples: &[InvocationSample]) {
    let of_kind: Vec<&InvocationSample> = samples.iter().filter(|s| s.kind == kind).collect();
    let messages: usize = of_kind.iter().map(|s| s.messages).sum();
    if messages == 0 {
        return;
    }
    let attempts: usize = of_kind.iter().map(|s| s.measured.aws_attempts()).sum();
    let calls: usize = of_kind.iter().map(|s| s.measured.exchange_calls()).sum();
    println!(
        "\n{kind:?}: {messages} messages in {} invocations ({:.2} a batch); {:.2} AWS attempts and {:.2} exchange calls a message",
        of_kind.len(),
        messages as f64 / of_kind.len() as f64,
        attempts as f64 / messages as f64,
        calls as f64 / messages as f64,
    );
    println!("\nper message, ms:\n");
    println!("| | p50 | p95 | p99 | max | mean |");
    println!("|---|---|---|---|---|---|");
    row("overhead", per_message(&of_kind, |s| s.measured.overhead()));
    row(
        "CPU time polling the handler",
        per_message(&of_kind, |s| s.measured.cpu),
    );
    row("wall time", per_message(&of_kind, |s| s.measured.wall));
    row("AWS wait", per_message(&of_kind, |s| s.measured.aws_wait()));
    row(
        "exchange wait",
        per_message(&of_kind, |s| s.measured.exchange_wait()),
    );
    row(
        "of the overhead: deserializing AWS responses",
        per_message(&of_kind, |s| s.measured.aws_deserialize()),
    );
    row(
        "overhead per invocation (not divided)",
        of_kind.iter().map(|s| s.measured.overhead()).collect(),
    );
    let each = |activity: Activity| -> Vec<Duration> {
        of_kind
            .iter()
            .flat_map(|s| &s.measured.intervals)
            .filter(|i| i.activity == activity)
            .map(|i| i.end - i.start)
            .collect()
    };
    row("one AWS attempt's wait", each(Activity::AwsTransmit));
    row("one exchange call's wait", each(Activity::Exchange));
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The checks the figures rest on; a failure means the attribution is wrong, not slow.
fn check(samples: &[InvocationSample]) -> Result<(), String> {
    for s in samples {
        let m = &s.measured;
        let fail = |what: &str| Err(format!("{what}: {s:#?}"));
        if m.outside > 0 {
            return fail("an interval outside its invocation");
        }
        if m.aws_wait() + m.exchange_wait() > m.wall {
            return fail("the waits add up to more than the wall time");
        }
        if m.aws_attempts() as u64 != s.counted_aws_attempts
            || m.exchange_calls() as u64 != s.counted_exchange_calls
        {
            return fail("the timed calls are not the counted calls");
        }
        if s.failures() > 0 {
            return fail("a message failed in a run with no faults");
        }
    }
    Ok(())
}

fn main() {
    let Args { run, bench } = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("executor_overhead: {e}");
            std::process::exit(2);
        }
    };
    // The executor Lambda's logging (driftline_functions::init_logging), written nowhere: the
    // formatting is in the overhead, the write to stdout is not.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_current_span(true)
        .with_span_list(true)
        .without_time()
        .with_writer(std::io::sink)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("executor_overhead: tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    let load_before = load_average();
    let started = std::time::Instant::now();
    let samples = runtime.block_on(async {
        let sdk = if bench {
            driftline_sandbox::emulator_config()
                .await
                .map_err(|e| e.to_string())?
        } else {
            // `cargo test` outside scripts/with-moto.sh skips, as the end-to-end tests do.
            let Some(sdk) = driftline_sandbox::emulator().await else {
                return Ok(None);
            };
            sdk
        };
        overhead::run(&sdk, run)
            .await
            .map(Some)
            .map_err(|e| e.to_string())
    });
    let samples = match samples {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(e) => {
            eprintln!("executor_overhead: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = check(&samples) {
        eprintln!("executor_overhead: attribution check failed: {e}");
        std::process::exit(1);
    }
    let overlapping = samples
        .iter()
        .filter(|s| s.measured.overlap() > Duration::ZERO)
        .count();
    println!(
        "executor overhead: {} portfolios, batches of up to {}, {} invocations in {:.1} s; load average {load_before} before, {} after; {overlapping} invocations with overlapping waits",
        run.portfolios,
        run.batch,
        samples.len(),
        started.elapsed().as_secs_f64(),
        load_average(),
    );
    report(MessageKind::Placement, &samples);
    report(MessageKind::FollowUp, &samples);
}

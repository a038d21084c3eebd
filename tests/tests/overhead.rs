//! The attribution behind the executor overhead figures (docs/BENCHMARKS.md; the figures come
//! from `cargo bench -p driftline-sandbox --bench executor_overhead`): on a handful of real
//! placements, every message is in exactly one measured invocation, every AWS attempt and
//! exchange call the tallies count is timed into the invocation that made it, and the waits
//! fit inside the wall time. No timing thresholds: only how the time is attributed.

use std::collections::HashSet;
use std::time::Duration;

use driftline_e2e::accounting::measure;
use driftline_e2e::overhead::{self, MessageKind, OverheadRun};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_wait_is_attributed_to_the_invocation_that_made_it() {
    let Some(sdk) = driftline_e2e::emulator().await else {
        return;
    };
    let run = OverheadRun {
        portfolios: 2,
        placements: 4,
        batch: 10,
    };
    let samples = match overhead::run(&sdk, run).await {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let placed: usize = samples
        .iter()
        .filter(|s| s.kind == MessageKind::Placement)
        .map(|s| s.messages)
        .sum();
    // One round: two sells per portfolio, each placed once.
    assert_eq!(placed, 4, "{samples:#?}");
    assert!(
        samples.iter().any(|s| s.kind == MessageKind::FollowUp),
        "the fills are seen by follow-ups: {samples:#?}"
    );
    for s in &samples {
        let m = &s.measured;
        assert!(s.messages > 0);
        assert_eq!(s.failures(), 0, "no faults, no retries: {s:#?}");
        assert_eq!(m.outside, 0, "an interval outside its invocation: {s:#?}");
        // What the tallies counted while the invocation ran is exactly what was timed into it.
        assert_eq!(m.aws_attempts() as u64, s.counted_aws_attempts, "{s:#?}");
        assert_eq!(
            m.exchange_calls() as u64,
            s.counted_exchange_calls,
            "{s:#?}"
        );
        assert!(
            m.aws_attempts() > 0 && m.aws_wait() > Duration::ZERO,
            "{s:#?}"
        );
        assert!(
            m.exchange_calls() > 0 && m.exchange_wait() > Duration::ZERO,
            "{s:#?}"
        );
        assert!(m.aws_wait() + m.exchange_wait() <= m.wall, "{s:#?}");
        assert!(m.waited() <= m.wall, "{s:#?}");
        assert!(m.cpu > Duration::ZERO && m.cpu <= m.wall, "{s:#?}");
        // The executor makes one call at a time.
        assert_eq!(m.overlap(), Duration::ZERO, "{s:#?}");
        if s.kind == MessageKind::Placement {
            let placements = m
                .intervals
                .iter()
                .filter(|i| i.what == "place_limit_order")
                .count();
            assert_eq!(placements, s.messages, "one placement per message: {s:#?}");
        }
    }
}

#[tokio::test]
async fn calls_outside_a_measured_future_are_not_recorded() {
    let Some(w) = driftline_e2e::World::article().await else {
        return;
    };
    // The scheduler's tick, unmeasured, makes AWS and exchange calls ...
    w.tick().await;
    assert!(w.aws_calls.attempts.total() > 0);
    // ... which a later measured invocation does not inherit.
    let empty = measure(async {}).await;
    assert!(empty.intervals.is_empty(), "{empty:#?}");
    // The event source stand-in's receive, on the uncounted client, records nothing; a
    // measured placement records the executor's own calls.
    let received = measure(w.receive(10, 1)).await;
    assert!(received.intervals.is_empty(), "{:#?}", received.intervals);
    let messages = match received.output {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(messages.len(), 2);
    let measured = measure(w.invoke_executor(&messages)).await;
    let operations: HashSet<&str> = measured.intervals.iter().map(|i| i.what.as_str()).collect();
    assert!(operations.contains("DynamoDB.UpdateItem"), "{operations:?}");
    assert!(operations.contains("place_limit_order"), "{operations:?}");
    assert!(
        !operations.contains("balances"),
        "the tick's call leaked in: {operations:?}"
    );
    w.stop().await;
}

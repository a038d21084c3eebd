//! `driftline cost` as a user runs it: at its defaults (the article's workload on the stack's
//! default settings, with the counting run's calls) the bill is at most 5 USD a month.

use std::process::Command;

use rust_decimal::Decimal;

/// The total `driftline cost <args>` prints, in USD a month.
fn total(args: &[&str]) -> Decimal {
    let out = Command::new(env!("CARGO_BIN_EXE_driftline"))
        .arg("cost")
        .args(args)
        .output()
        .expect("driftline runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find(|l| l.contains("USD a month next to"))
        .unwrap_or_else(|| panic!("no total in {text}"));
    line.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no total in {line:?}"))
}

#[test]
fn the_article_workload_costs_at_most_five_dollars_a_month_at_the_defaults() {
    let defaults = total(&[]);
    assert!(defaults <= Decimal::from(5), "{defaults}");
    // A secret per account: eleven more secrets at 0.40 USD each.
    let per_account = total(&["--secrets", "per-account"]);
    assert_eq!(per_account - defaults, Decimal::new(440, 2));
    // More assets cost nothing more: no metric per asset, and no flag for it.
    let refused = Command::new(env!("CARGO_BIN_EXE_driftline"))
        .args(["cost", "--assets", "50"])
        .output()
        .expect("driftline runs");
    assert!(!refused.status.success());
}

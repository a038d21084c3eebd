//! Many accounts behind one address, their clients built the way the functions' wiring builds
//! them (one [`VenueShares`] for the process): exchangeInfo is read once for all of them, and
//! their requests draw on one request-weight budget, so a burst across the accounts is paced
//! where clients that each budget alone overrun the address's limit and fail "rate limited".

mod support;

use std::sync::Arc;

use driftline_core::ports::{Clock, Exchange, ExchangeError};
use driftline_core::ApiCredentials;
use driftline_exchange::{BinanceConfig, BinanceSpot, VenueShares};
use paper_exchange::small_venue;
use support::{btc_usdt, Venue};

/// The address's weight a minute: its budget's burst is a quarter (250).
const WEIGHT_PER_MINUTE: u32 = 1_000;
/// Accounts behind the address; each reads the market's filters and its order book (weight
/// 5). Together 300 with one exchangeInfo (20): over the budget's burst, so paced, and well
/// under the limit. With an exchangeInfo per account (25 each) it is 1,500: over the limit.
const ACCOUNTS: usize = 56;

/// Account `i`'s client on `venue`, as the wiring builds it: the venue's default settings with
/// the account's credentials, sharing `shares` (or, with `None`, alone as before).
fn account_client(venue: &Venue, i: usize, shares: Option<&VenueShares>) -> BinanceSpot {
    let config = BinanceConfig::new(
        venue.exchange.base_url(),
        Some(ApiCredentials::new(
            format!("key-{i}"),
            format!("secret-{i}"),
        )),
    );
    let clock: Arc<dyn Clock> = venue.clock.clone();
    match shares {
        Some(shares) => BinanceSpot::sharing(config, clock, shares),
        None => BinanceSpot::with_clock(config, clock),
    }
    .expect("the client config is valid")
}

/// Every account reads the market's filters and its order book at once; the outcomes.
async fn burst(clients: &[BinanceSpot]) -> Vec<Result<(), ExchangeError>> {
    let calls = clients.iter().map(|client| async move {
        client.market_filters(&btc_usdt()).await?;
        client.order_book(&btc_usdt(), 10).await.map(|_| ())
    });
    futures::future::join_all(calls).await
}

/// How many requests the venue refused with a 429 or a 418.
async fn refused(venue: &Venue) -> usize {
    venue
        .requests()
        .await
        .iter()
        .filter(|r| r["limiter"] != 200)
        .count()
}

#[tokio::test]
async fn accounts_behind_one_address_read_exchange_info_once_and_are_paced_not_refused() {
    let venue = Venue::start(support::with_minute_weight(
        small_venue!(),
        WEIGHT_PER_MINUTE,
    ))
    .await;
    let shares = VenueShares::new();
    let clients: Vec<_> = (0..ACCOUNTS)
        .map(|i| account_client(&venue, i, Some(&shares)))
        .collect();

    let outcomes = burst(&clients).await;

    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(venue.sent("ExchangeInfo").await, 1);
    assert_eq!(venue.sent("Depth").await, ACCOUNTS);
    assert_eq!(refused(&venue).await, 0);
    // Every account's client has the venue's limits, read by another's.
    for client in &clients {
        assert_eq!(client.rate_limits().windows()[0].limit(), WEIGHT_PER_MINUTE);
    }
    venue.exchange.stop().await;
}

/// The control: the same burst from clients that each budget alone (each reads exchangeInfo,
/// each has the whole limit's burst to itself) overruns the address and fails.
#[tokio::test]
async fn clients_that_budget_alone_overrun_the_address_and_fail_rate_limited() {
    let venue = Venue::start(support::with_minute_weight(
        small_venue!(),
        WEIGHT_PER_MINUTE,
    ))
    .await;
    let clients: Vec<_> = (0..ACCOUNTS)
        .map(|i| account_client(&venue, i, None))
        .collect();

    let outcomes = burst(&clients).await;

    assert_eq!(venue.sent("ExchangeInfo").await, ACCOUNTS);
    assert!(
        outcomes.iter().any(|o| matches!(
            o,
            Err(ExchangeError::RateLimited { .. } | ExchangeError::Banned { .. })
        )),
        "{outcomes:?}"
    );
    assert!(refused(&venue).await > 0);
    venue.exchange.stop().await;
}

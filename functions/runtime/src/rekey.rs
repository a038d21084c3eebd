//! An account's exchange client that survives a key rotation: when the exchange refuses the
//! keys ([`ExchangeError::Auth`]), the account's secret is read again (past any cache), and if
//! it changed the client is rebuilt from it and the call is made once more.
//!
//! Why once, and why even for a placement: an authentication refusal means the exchange did
//! nothing with the request, so sending it again cannot place an order twice; and if the new
//! keys are refused too, an operator must act, which no further retry can replace. When the
//! keys read back are the ones that were refused (revoked, not yet replaced), the call is not
//! repeated.
//!
//! [`RekeyingExchange`] is an [`ExchangeLayer`]: every call of the [`Exchange`] port goes
//! through [`RekeyingExchange::call`] (as `Layered<RekeyingExchange>`).

use std::future::Future;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use driftline_core::ports::{
    Exchange, ExchangeAnswer, ExchangeCall, ExchangeError, ExchangeLayer, Venue,
};
use driftline_core::AccountSecret;

/// Where an account's secret is kept and how a client is made from them.
#[async_trait]
pub trait AccountKeys: Send + Sync {
    /// The account's secret as stored now, never a cached copy.
    ///
    /// # Errors
    /// [`ExchangeError::Auth`] naming the account (never a key) when they cannot be read.
    async fn reread(&self, account: &str) -> Result<AccountSecret, ExchangeError>;

    /// A client of the account that signs with the credentials of `secret`.
    ///
    /// # Errors
    /// [`ExchangeError::Auth`] naming the account when no client can be built.
    fn client(
        &self,
        account: &str,
        secret: AccountSecret,
    ) -> Result<Arc<dyn Exchange>, ExchangeError>;
}

/// One client and the keys it signs with.
struct Keyed {
    /// Counts rebuilds, so a call refused on an older client knows the keys have since changed.
    generation: u64,
    secret: AccountSecret,
    client: Arc<dyn Exchange>,
}

/// The [`Exchange`] of one account, rebuilt with fresh keys after the exchange refuses the old.
pub struct RekeyingExchange {
    account: String,
    keys: Arc<dyn AccountKeys>,
    // A std lock: held only to clone or swap an Arc, never across an await.
    current: RwLock<Arc<Keyed>>,
    // Calls refused together re-read the keys once, not once each.
    renewal: tokio::sync::Mutex<()>,
}

impl RekeyingExchange {
    /// `client` signs with `secret`'s credentials, the account's keys as read when it was built.
    pub fn new(
        account: impl Into<String>,
        secret: AccountSecret,
        client: Arc<dyn Exchange>,
        keys: Arc<dyn AccountKeys>,
    ) -> Self {
        Self {
            account: account.into(),
            keys,
            current: RwLock::new(Arc::new(Keyed {
                generation: 0,
                secret,
                client,
            })),
            renewal: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> Arc<Keyed> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Makes `op` on the current client; after an authentication refusal, once more on a
    /// client with the account's new keys, if it has new keys.
    async fn call<T, F, Fut>(&self, op: F) -> Result<T, ExchangeError>
    where
        F: Fn(Arc<dyn Exchange>) -> Fut + Send,
        Fut: Future<Output = Result<T, ExchangeError>> + Send,
    {
        let used = self.current();
        match op(used.client.clone()).await {
            Err(refused @ ExchangeError::Auth { .. }) => match self.renewed(&used).await {
                Some(fresh) => op(fresh.client.clone()).await,
                None => Err(refused),
            },
            other => other,
        }
    }

    /// A client with keys other than those `refused` signed with, or `None` when the account's
    /// keys are the refused ones (or cannot be read, or no client can be built).
    async fn renewed(&self, refused: &Keyed) -> Option<Arc<Keyed>> {
        let _one = self.renewal.lock().await;
        let current = self.current();
        if current.generation != refused.generation {
            // Another call renewed the keys while this one was refused: use them.
            return Some(current);
        }
        let account = self.account.as_str();
        let secret = match self.keys.reread(account).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(account, error = %e, "exchange refused the account's keys and they could not be read again");
                return None;
            }
        };
        if secret == current.secret {
            tracing::warn!(account, "exchange refused the account's keys and the stored keys are the same: not retrying");
            return None;
        }
        let client = match self.keys.client(account, secret.clone()) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(account, error = %e, "exchange refused the account's keys and no client could be built with the new ones");
                return None;
            }
        };
        tracing::info!(
            account,
            "exchange refused the account's keys: new keys read, retrying once with them"
        );
        let fresh = Arc::new(Keyed {
            generation: current.generation + 1,
            secret,
            client,
        });
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh.clone();
        Some(fresh)
    }
}

#[async_trait]
impl ExchangeLayer for RekeyingExchange {
    fn venue(&self) -> Venue {
        self.current().client.venue()
    }
    async fn around(&self, call: ExchangeCall<'_>) -> Result<ExchangeAnswer, ExchangeError> {
        self.call(|c| async move { call.send(c.as_ref()).await })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;

    use driftline_core::ports::{
        Balance, ExchangeOrderId, ExchangeOrderStatus, Fill, Layered, LimitOrderRequest,
        OrderReport, TimeInForce,
    };
    use driftline_core::{ClientOrderId, EpochMillis, MarketFilters, OrderBook, Symbol};
    use driftline_core::{Price, Side};
    use rstest::rstest;
    use rust_decimal_macros::dec;

    use super::*;

    fn creds(key: &str, secret: &str) -> AccountSecret {
        AccountSecret {
            venue: driftline_core::ports::Venue::Binance,
            base_url: None,
            credentials: driftline_core::ApiCredentials::new(key, secret),
        }
    }

    /// A venue that accepts some keys, and records every call with the key it carried.
    #[derive(Default)]
    struct Venue {
        accepted: Mutex<Vec<AccountSecret>>,
        /// Answered to every call instead, when set (a failure other than authentication).
        failure: Mutex<Option<ExchangeError>>,
        calls: Mutex<Vec<(&'static str, String)>>,
    }

    impl Venue {
        fn accept(&self, keys: &[&AccountSecret]) {
            *self.accepted.lock().unwrap() = keys.iter().map(|c| (*c).clone()).collect();
        }
        fn calls(&self) -> Vec<(&'static str, String)> {
            self.calls.lock().unwrap().clone()
        }
        fn keys_used(&self) -> Vec<String> {
            self.calls().into_iter().map(|(_, key)| key).collect()
        }
    }

    struct Client {
        venue: Arc<Venue>,
        secret: AccountSecret,
    }

    impl Client {
        fn answer<T>(&self, method: &'static str, ok: T) -> Result<T, ExchangeError> {
            let key = self.secret.credentials.api_key().to_owned();
            self.venue.calls.lock().unwrap().push((method, key));
            if let Some(e) = self.venue.failure.lock().unwrap().clone() {
                return Err(e);
            }
            if self.venue.accepted.lock().unwrap().contains(&self.secret) {
                Ok(ok)
            } else {
                Err(ExchangeError::Auth {
                    message: "Invalid API-key, IP, or permissions for action.".into(),
                })
            }
        }
    }

    fn symbol() -> Symbol {
        "BTC/USDT".parse().unwrap()
    }

    fn order_id() -> ClientOrderId {
        ClientOrderId::parse("dl1-test").unwrap()
    }

    fn report() -> OrderReport {
        OrderReport {
            symbol: symbol(),
            exchange_order_id: 1.into(),
            client_order_id: order_id(),
            side: Side::Sell,
            price: Price::new(dec!(64000)).unwrap(),
            orig_qty: dec!(0.1),
            executed_qty: dec!(0),
            cumulative_quote_qty: dec!(0),
            status: ExchangeOrderStatus::New,
            fills: Vec::new(),
            updated_at_ms: 0,
        }
    }

    fn request() -> LimitOrderRequest {
        LimitOrderRequest {
            client_order_id: order_id(),
            symbol: symbol(),
            side: Side::Sell,
            quantity: dec!(0.1),
            price: Price::new(dec!(64000)).unwrap(),
            time_in_force: TimeInForce::Gtc,
        }
    }

    #[async_trait]
    impl Exchange for Client {
        fn venue(&self) -> driftline_core::ports::Venue {
            driftline_core::ports::Venue::Binance
        }
        async fn market_filters(&self, symbol: &Symbol) -> Result<MarketFilters, ExchangeError> {
            let filters =
                MarketFilters::new(driftline_core::testing::spot_filter_fields(symbol.clone()))
                    .unwrap();
            self.answer("market_filters", filters)
        }
        async fn order_book(&self, symbol: &Symbol, _: u16) -> Result<OrderBook, ExchangeError> {
            let book = OrderBook::new(symbol.clone(), Vec::new(), Vec::new()).unwrap();
            self.answer("order_book", book)
        }
        async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
            self.answer("balances", Vec::new())
        }
        async fn place_limit_order(
            &self,
            _: &LimitOrderRequest,
        ) -> Result<OrderReport, ExchangeError> {
            self.answer("place_limit_order", report())
        }
        async fn order(&self, _: &Symbol, _: &ClientOrderId) -> Result<OrderReport, ExchangeError> {
            self.answer("order", report())
        }
        async fn order_fills(
            &self,
            _: &Symbol,
            _: &ExchangeOrderId,
        ) -> Result<Vec<Fill>, ExchangeError> {
            self.answer("order_fills", Vec::new())
        }
        async fn open_orders(&self, _: &Symbol) -> Result<Vec<OrderReport>, ExchangeError> {
            self.answer("open_orders", Vec::new())
        }
        async fn cancel_order(
            &self,
            _: &Symbol,
            _: &ClientOrderId,
        ) -> Result<OrderReport, ExchangeError> {
            self.answer("cancel_order", report())
        }
        async fn server_time(&self) -> Result<EpochMillis, ExchangeError> {
            self.answer("server_time", 0)
        }
    }

    /// The secret store: what it holds now, and how often it was read.
    struct Store {
        venue: Arc<Venue>,
        stored: Mutex<AccountSecret>,
        unreadable: AtomicBool,
        rereads: AtomicUsize,
    }

    #[async_trait]
    impl AccountKeys for Store {
        async fn reread(&self, account: &str) -> Result<AccountSecret, ExchangeError> {
            self.rereads.fetch_add(1, Ordering::SeqCst);
            // Lets calls refused at the same time meet at the renewal.
            tokio::task::yield_now().await;
            if self.unreadable.load(Ordering::SeqCst) {
                return Err(ExchangeError::Auth {
                    message: format!("credentials of account {account}: unreadable"),
                });
            }
            Ok(self.stored.lock().unwrap().clone())
        }
        fn client(
            &self,
            _: &str,
            secret: AccountSecret,
        ) -> Result<Arc<dyn Exchange>, ExchangeError> {
            Ok(Arc::new(Client {
                venue: self.venue.clone(),
                secret,
            }))
        }
    }

    struct Account {
        venue: Arc<Venue>,
        store: Arc<Store>,
        exchange: Layered<RekeyingExchange>,
    }

    impl Account {
        fn rereads(&self) -> usize {
            self.store.rereads.load(Ordering::SeqCst)
        }
    }

    /// An account whose client was built with `old`, which the venue accepts until told
    /// otherwise.
    fn account(old: &AccountSecret) -> Account {
        let venue = Arc::new(Venue::default());
        venue.accept(&[old]);
        let store = Arc::new(Store {
            venue: venue.clone(),
            stored: Mutex::new(old.clone()),
            unreadable: AtomicBool::new(false),
            rereads: AtomicUsize::new(0),
        });
        let client = store.client("acct", old.clone()).unwrap();
        let exchange = Layered(RekeyingExchange::new(
            "acct",
            old.clone(),
            client,
            store.clone(),
        ));
        Account {
            venue,
            store,
            exchange,
        }
    }

    /// What the venue accepts and the store holds when the call is made.
    #[derive(Debug, Clone, Copy)]
    enum Keys {
        Old,
        New,
        /// The same API key with a new secret.
        NewSecret,
        None,
        Unreadable,
    }

    #[rstest]
    #[case::unchanged_keys_are_used_without_reading(Keys::Old, Keys::Old, true, &["k1"], 0)]
    #[case::rotated_keys_are_read_and_the_call_made_once_more(Keys::New, Keys::New, true, &["k1", "k2"], 1)]
    #[case::a_rotated_secret_alone_counts_as_new_keys(Keys::NewSecret, Keys::NewSecret, true, &["k1", "k1"], 1)]
    #[case::revoked_keys_not_yet_replaced_are_not_retried(Keys::None, Keys::Old, false, &["k1"], 1)]
    #[case::new_keys_refused_too_are_tried_once_not_twice(Keys::None, Keys::New, false, &["k1", "k2"], 1)]
    #[case::unreadable_keys_are_not_retried(Keys::New, Keys::Unreadable, false, &["k1"], 1)]
    #[tokio::test]
    async fn an_auth_refusal_rereads_the_keys_and_retries_once_only_with_new_ones(
        #[case] venue_accepts: Keys,
        #[case] store_holds: Keys,
        #[case] succeeds: bool,
        #[case] keys_sent: &[&str],
        #[case] rereads: usize,
    ) {
        let (old, new, new_secret) = (creds("k1", "s1"), creds("k2", "s2"), creds("k1", "s9"));
        let a = account(&old);
        let pick = |k: Keys| match k {
            Keys::Old | Keys::Unreadable => Some(old.clone()),
            Keys::New => Some(new.clone()),
            Keys::NewSecret => Some(new_secret.clone()),
            Keys::None => None,
        };
        a.venue
            .accept(&pick(venue_accepts).iter().collect::<Vec<_>>());
        if let Some(held) = pick(store_holds) {
            *a.store.stored.lock().unwrap() = held;
        }
        a.store
            .unreadable
            .store(matches!(store_holds, Keys::Unreadable), Ordering::SeqCst);

        let answer = a.exchange.balances().await;

        assert_eq!(answer.is_ok(), succeeds, "{answer:?}");
        if !succeeds {
            assert!(
                matches!(&answer, Err(ExchangeError::Auth { message }) if message.starts_with("Invalid API-key")),
                "the venue's refusal is what the caller sees: {answer:?}"
            );
        }
        assert_eq!(a.venue.keys_used(), keys_sent);
        assert_eq!(a.rereads(), rereads);
    }

    #[tokio::test]
    async fn after_a_rotation_later_calls_use_the_new_keys_without_reading_again() {
        let (old, new) = (creds("k1", "s1"), creds("k2", "s2"));
        let a = account(&old);
        a.venue.accept(&[&new]);
        *a.store.stored.lock().unwrap() = new.clone();
        a.exchange.balances().await.unwrap();
        a.exchange.balances().await.unwrap();
        a.exchange.server_time().await.unwrap();
        assert_eq!(a.venue.keys_used(), ["k1", "k2", "k2", "k2"]);
        assert_eq!(a.rereads(), 1);
    }

    #[tokio::test]
    async fn a_refused_placement_is_placed_once_with_the_new_keys() {
        let (old, new) = (creds("k1", "s1"), creds("k2", "s2"));
        let a = account(&old);
        a.venue.accept(&[&new]);
        *a.store.stored.lock().unwrap() = new;
        let placed = a.exchange.place_limit_order(&request()).await.unwrap();
        assert_eq!(placed.client_order_id, order_id());
        assert_eq!(
            a.venue.calls(),
            [
                ("place_limit_order", "k1".to_owned()),
                ("place_limit_order", "k2".to_owned())
            ]
        );
    }

    #[rstest]
    #[case::status_unknown(ExchangeError::StatusUnknown { reason: "timed out".into() })]
    #[case::rejected(ExchangeError::Rejected { message: "insufficient balance".into() })]
    #[case::retryable(ExchangeError::Retryable { reason: "could not connect".into() })]
    #[case::rate_limited(ExchangeError::RateLimited { retry_after_ms: 1000 })]
    #[tokio::test]
    async fn other_failures_are_answered_as_they_are_without_reading_the_keys(
        #[case] failure: ExchangeError,
    ) {
        let (old, new) = (creds("k1", "s1"), creds("k2", "s2"));
        let a = account(&old);
        *a.store.stored.lock().unwrap() = new;
        *a.venue.failure.lock().unwrap() = Some(failure.clone());
        let answer = a.exchange.place_limit_order(&request()).await;
        assert_eq!(answer.unwrap_err(), failure);
        assert_eq!(a.venue.keys_used(), ["k1"], "a placement is never resent");
        assert_eq!(a.rereads(), 0);
    }

    #[tokio::test]
    async fn calls_refused_together_read_the_keys_once_and_each_retries_once() {
        let (old, new) = (creds("k1", "s1"), creds("k2", "s2"));
        let a = account(&old);
        a.venue.accept(&[&new]);
        *a.store.stored.lock().unwrap() = new;
        let e = &a.exchange;
        let answers = tokio::join!(e.balances(), e.balances(), e.balances(), e.balances());
        assert!(answers.0.is_ok() && answers.1.is_ok() && answers.2.is_ok() && answers.3.is_ok());
        let keys = a.venue.keys_used();
        assert_eq!(keys.iter().filter(|k| *k == "k1").count(), 4, "{keys:?}");
        assert_eq!(keys.iter().filter(|k| *k == "k2").count(), 4, "{keys:?}");
        assert_eq!(a.rereads(), 1);
    }

    #[tokio::test]
    async fn every_port_method_reaches_the_client() {
        let old = creds("k1", "s1");
        let a = account(&old);
        let (e, s, id) = (&a.exchange, symbol(), order_id());
        e.market_filters(&s).await.unwrap();
        e.order_book(&s, 5).await.unwrap();
        e.balances().await.unwrap();
        e.place_limit_order(&request()).await.unwrap();
        e.order(&s, &id).await.unwrap();
        e.order_fills(&s, &1.into()).await.unwrap();
        e.open_orders(&s).await.unwrap();
        e.cancel_order(&s, &id).await.unwrap();
        e.server_time().await.unwrap();
        let methods: Vec<&str> = a.venue.calls().into_iter().map(|(m, _)| m).collect();
        assert_eq!(
            methods,
            [
                "market_filters",
                "order_book",
                "balances",
                "place_limit_order",
                "order",
                "order_fills",
                "open_orders",
                "cancel_order",
                "server_time"
            ]
        );
    }
}

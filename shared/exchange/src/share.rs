//! What the clients of one process share per venue address. A venue counts some limits per
//! IP (Binance's request weight, Kraken's and Coinbase's public calls) and others per account
//! (Binance's order counts, Kraken's call counter, Coinbase's private calls); and its markets
//! are the same whichever account reads them. So the clients of every account of one venue
//! at one base URL draw the per-IP limits from one budget, fed by every answer's counts, and
//! read the markets once per TTL between them; each client keeps its account's own limits.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use driftline_core::ports::Venue;

/// The per-address budgets and market caches of a process, one per venue and base URL. Hand
/// the same `VenueShares` to every client built for the process's accounts
/// ([`BinanceSpot::sharing`](crate::BinanceSpot::sharing) and its Kraken and Coinbase
/// counterparts); a client built without one has its own, as if alone on its address.
///
/// A venue's address budget and market cache take their settings (limits before the venue's
/// own are read, the longest wait, the markets' TTL) from the first client built for it.
#[derive(Default)]
pub struct VenueShares {
    by_address: Mutex<HashMap<(Venue, String), Arc<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for VenueShares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addresses: Vec<_> = self
            .by_address
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        f.debug_struct("VenueShares")
            .field("addresses", &addresses)
            .finish()
    }
}

impl VenueShares {
    pub fn new() -> Self {
        Self::default()
    }

    /// What the clients of `venue` at `base_url` share, made by `make` for the first of them.
    pub(crate) fn of<T: Any + Send + Sync>(
        &self,
        venue: Venue,
        base_url: &str,
        make: impl FnOnce() -> T,
    ) -> Arc<T> {
        let mut map = self
            .by_address
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (venue, base_url.to_owned());
        // Each venue's adapter stores one type under its own venue, so the cast holds; were it
        // ever to fail, a fresh share replaces the stray one rather than failing the client.
        if let Some(shared) = map
            .get(&key)
            .and_then(|s| Arc::clone(s).downcast::<T>().ok())
        {
            return shared;
        }
        let shared = Arc::new(make());
        map.insert(key, shared.clone());
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_share_per_venue_and_address() {
        let shares = VenueShares::new();
        let a = shares.of(Venue::Binance, "http://a", || 1_u32);
        let again = shares.of(Venue::Binance, "http://a", || 2_u32);
        let other_url = shares.of(Venue::Binance, "http://b", || 3_u32);
        let other_venue = shares.of(Venue::Kraken, "http://a", || 4_u32);
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!((*again, *other_url, *other_venue), (1, 3, 4));
    }
}

//! What an `AddOrder` says, checked as Kraken checks it: the pair, `type`, `ordertype`,
//! `volume`, `price`, `oflags`, `timeinforce`, `cl_ord_id`, `userref` and `validate`; and how a
//! Kraken order's client references ride in the engine's one client order id.
//!
//! `cl_ord_id` is kept as the engine's client order id, so the engine's rule (no two open
//! orders of an account with one client id) is Kraken's rule for `cl_ord_id`. `userref` is not
//! unique at Kraken, so it is kept in a client id no client can send (longer than any
//! `cl_ord_id` Kraken accepts) made unique by the order's sequence number.

use driftline_core::Side;
use rust_decimal::Decimal;

use super::names::PairNames;
use super::KrakenError;
use crate::engine::{Engine, NewOrder, Order, OrderType, TimeInForce};
use crate::params::Params;

/// A checked `AddOrder`: the engine's order, whether it only validates, and its references.
pub(super) struct AddOrder {
    pub new: NewOrder,
    pub pair: PairNames,
    pub validate: bool,
}

/// A Kraken boolean parameter (`true`/`false`, as clients spell them, any case, or 1/0).
pub(super) fn flag(p: &Params, name: &str) -> Result<bool, KrakenError> {
    match p.get(name).map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(_) => Err(KrakenError::invalid(name)),
    }
}

/// A decimal amount (`volume`, `price`): digits and an optional fraction.
pub(super) fn amount(p: &Params, name: &str) -> Result<Option<Decimal>, KrakenError> {
    p.decimal(name).map_err(|_| KrakenError::invalid(name))
}

/// Whether `id` is a `cl_ord_id` Kraken accepts: a UUID with or without its dashes, or free
/// text of up to 18 printable ASCII characters.
pub(super) fn is_cl_ord_id(id: &str) -> bool {
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    let long_uuid = id.len() == 36
        && id.split('-').map(str::len).eq([8, 4, 4, 4, 12])
        && hex(&id.replace('-', ""));
    let short_uuid = id.len() == 32 && hex(id);
    let free_text = (1..=18).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic());
    long_uuid || short_uuid || free_text
}

const USERREF_TAG: &str = "~userref~";

/// The engine client id that carries a `userref`: unique per order, never a valid `cl_ord_id`.
fn userref_client_id(userref: i32, sequence: usize) -> String {
    format!("{USERREF_TAG}{userref:+011}~{sequence:020}")
}

/// An order's `cl_ord_id`, if it was placed with one.
pub(super) fn cl_ord_id(o: &Order) -> Option<&str> {
    let id = o.client_order_id.as_str();
    is_cl_ord_id(id).then_some(id)
}

/// An order's `userref`, if it was placed with one.
pub(super) fn userref(o: &Order) -> Option<i32> {
    let rest = o.client_order_id.strip_prefix(USERREF_TAG)?;
    rest.split('~').next()?.parse().ok()
}

/// Reads an `AddOrder`.
pub(super) fn parse_add_order(engine: &Engine, p: &Params) -> Result<AddOrder, KrakenError> {
    let requested = p.get("pair").ok_or_else(|| KrakenError::invalid("pair"))?;
    let pair = super::names::find_pair(engine, requested)
        .ok_or_else(|| KrakenError::new("EQuery:Unknown asset pair"))?;
    let side = match p.get("type") {
        Some("buy") => Side::Buy,
        Some("sell") => Side::Sell,
        _ => return Err(KrakenError::invalid("type")),
    };
    let volume = amount(p, "volume")?.ok_or_else(|| KrakenError::invalid("volume"))?;
    let price = amount(p, "price")?;
    let flags: Vec<&str> = p
        .get("oflags")
        .map_or_else(Vec::new, |f| f.split(',').collect());
    if let Some(f) = flags
        .iter()
        .find(|f| !matches!(**f, "post" | "fcib" | "fciq" | "nompp"))
    {
        return Err(KrakenError::invalid(&format!("oflags {f}")));
    }
    let post_only = flags.contains(&"post");
    let time_in_force = match p.get("timeinforce") {
        None | Some("GTC") => TimeInForce::Gtc,
        Some("IOC") => TimeInForce::Ioc,
        // GTD needs expiretm, which this venue does not keep.
        Some(_) => return Err(KrakenError::invalid("timeinforce")),
    };
    let order_type = match p.get("ordertype") {
        Some("limit") if post_only => OrderType::LimitMaker,
        Some("limit") => OrderType::Limit,
        Some("market") if !post_only => OrderType::Market,
        Some("market") => return Err(KrakenError::invalid("oflags post")),
        _ => return Err(KrakenError::invalid("ordertype")),
    };
    match order_type {
        OrderType::Limit | OrderType::LimitMaker if price.is_none() => {
            return Err(KrakenError::invalid("price"))
        }
        OrderType::Market if price.is_some() => return Err(KrakenError::invalid("price")),
        OrderType::LimitMaker if time_in_force != TimeInForce::Gtc => {
            return Err(KrakenError::invalid("timeinforce"))
        }
        _ => {}
    }
    if p.get("leverage").is_some_and(|l| l != "none") {
        return Err(KrakenError::invalid("leverage"));
    }
    if flag(p, "reduce_only")? {
        return Err(KrakenError::invalid("reduce_only"));
    }
    if p.get("starttm").is_some_and(|t| t != "0") || p.get("expiretm").is_some() {
        return Err(KrakenError::invalid("starttm"));
    }
    let userref = p
        .get("userref")
        .map(|u| {
            u.parse::<i32>()
                .map_err(|_| KrakenError::invalid("userref"))
        })
        .transpose()?;
    let client_order_id = match (p.get("cl_ord_id"), userref) {
        (Some(_), Some(_)) => return Err(KrakenError::invalid("cl_ord_id and userref")),
        (Some(c), None) if is_cl_ord_id(c) => Some(c.to_owned()),
        (Some(_), None) => return Err(KrakenError::invalid("cl_ord_id")),
        (None, Some(u)) => Some(userref_client_id(u, engine.orders().count() + 1)),
        (None, None) => None,
    };
    let filters = engine.filters(&pair.symbol)?;
    if volume > Decimal::ZERO && volume < filters.min_qty() {
        return Err(KrakenError::new("EOrder:Order minimum not met"));
    }
    Ok(AddOrder {
        new: NewOrder {
            symbol: pair.symbol.clone(),
            side,
            order_type,
            time_in_force: (order_type == OrderType::Limit).then_some(time_in_force),
            quantity: Some(volume),
            quote_order_qty: None,
            price: price.filter(|_| order_type != OrderType::Market),
            client_order_id,
        },
        pair,
        validate: flag(p, "validate")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("6d1b345e-2821-40e2-ad83-4ecb18a06876", true)]
    #[case("da8e4ad59b78481c93e589746b0cf91f", true)]
    #[case("arb-20240509-00010", true)]
    #[case("a", true)]
    #[case("arb-20240509-000100", false)]
    #[case("has space", false)]
    #[case("", false)]
    #[case("6d1b345e-2821-40e2-ad83-4ecb18a0687z", false)]
    fn client_order_ids_in_krakens_three_forms(#[case] id: &str, #[case] ok: bool) {
        assert_eq!(is_cl_ord_id(id), ok, "{id}");
    }

    #[test]
    fn a_userref_id_is_never_a_cl_ord_id_and_reads_back() {
        for u in [0, -5, i32::MAX, i32::MIN] {
            let id = userref_client_id(u, 7);
            assert!(!is_cl_ord_id(&id), "{id}");
            assert_eq!(
                id.strip_prefix(USERREF_TAG)
                    .and_then(|r| r.split('~').next())
                    .and_then(|n| n.parse::<i32>().ok()),
                Some(u)
            );
        }
    }
}

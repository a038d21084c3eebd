//! driftline's client order ids in Kraken's `cl_ord_id`, and back.
//!
//! Kraken takes a UUID (long `8-4-4-4-12` or short 32-hex form) or free text of up to 18
//! characters. driftline's ids are `dl1-` and 32 lowercase hex digits: those 32 digits are the
//! UUID, sent in its long lowercase form, so the id and the UUID are the same 128 bits and each
//! gives the other. An id of up to 18 characters (tests, hand-made ids) goes as free text.
//! Reading back: a UUID in either form and any case is `dl1-` and its digits in lowercase;
//! free text that is a valid `ClientOrderId` is itself; an order without a `cl_ord_id`, or with
//! one driftline cannot represent, takes its txid (`OQCLML-BW3P3-BUCMWZ`, 19 characters: never
//! free text, never a `dl1-` id), and a lookup by such an id goes by txid. Any other id names no
//! Kraken order.

use driftline_core::ClientOrderId;

const PREFIX: &str = "dl1-";

/// How the venue finds an order driftline names by its client order id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRef {
    /// By `cl_ord_id` (a UUID or free text): the only form a new order can carry.
    ClOrdId(String),
    /// By txid: an order that carried no `cl_ord_id` driftline could read.
    Txid(String),
    /// No Kraken order can have this id (19 to 36 characters that are neither a `dl1-` id of
    /// lowercase hex nor a txid): it can be neither placed nor found.
    Nothing,
}

/// What Kraken knows `id` by.
pub fn order_ref(id: &ClientOrderId) -> OrderRef {
    let text = id.as_str();
    if let Some(hex) = text.strip_prefix(PREFIX) {
        if hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return OrderRef::ClOrdId(long_uuid(hex));
        }
    }
    if text.len() <= 18 {
        return OrderRef::ClOrdId(text.to_owned());
    }
    if is_txid(text) {
        return OrderRef::Txid(text.to_owned());
    }
    OrderRef::Nothing
}

/// The client order id of an order Kraken reports with `cl_ord_id` (if any) and `txid`.
///
/// # Errors
/// A message when neither gives a valid `ClientOrderId` (a txid of an unexpected shape).
pub fn client_order_id(cl_ord_id: Option<&str>, txid: &str) -> Result<ClientOrderId, String> {
    if let Some(id) = cl_ord_id.filter(|c| !c.is_empty()) {
        if let Some(hex) = uuid_hex(id) {
            return ClientOrderId::parse(&format!("{PREFIX}{hex}")).map_err(|e| e.to_string());
        }
        if id.len() <= 18 {
            if let Ok(parsed) = ClientOrderId::parse(id) {
                return Ok(parsed);
            }
        }
    }
    ClientOrderId::parse(txid).map_err(|e| format!("txid {txid:?}: {e}"))
}

/// `8-4-4-4-12` from 32 hex digits.
fn long_uuid(hex: &str) -> String {
    let mut out = String::with_capacity(36);
    for (i, c) in hex.chars().enumerate() {
        if matches!(i, 8 | 12 | 16 | 20) {
            out.push('-');
        }
        out.push(c);
    }
    out
}

/// The 32 lowercase hex digits of a UUID in long or short form, any case.
fn uuid_hex(id: &str) -> Option<String> {
    let digits: String = match id.len() {
        36 if id.split('-').map(str::len).eq([8, 4, 4, 4, 12]) => id.replace('-', ""),
        32 => id.to_owned(),
        _ => return None,
    };
    digits
        .bytes()
        .all(|b| b.is_ascii_hexdigit())
        .then(|| digits.to_ascii_lowercase())
}

/// Kraken's order id shape: `O`, then groups of 5, 5 and 6 letters or digits.
fn is_txid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([6, 5, 6])
        && text
            .bytes()
            .all(|b| b == b'-' || b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn id(s: &str) -> ClientOrderId {
        ClientOrderId::parse(s).unwrap()
    }

    #[test]
    fn a_driftline_id_is_the_uuid_of_its_digits_and_comes_back() {
        let ours = id("dl1-0123456789abcdef0123456789abcdef");
        let sent = order_ref(&ours);
        assert_eq!(
            sent,
            OrderRef::ClOrdId("01234567-89ab-cdef-0123-456789abcdef".into())
        );
        let OrderRef::ClOrdId(uuid) = sent else {
            unreachable!()
        };
        assert_eq!(
            client_order_id(Some(&uuid), "OQCLML-BW3P3-BUCMWZ"),
            Ok(ours.clone())
        );
        // Kraken may echo it in the short form or upper case: the same id.
        assert_eq!(
            client_order_id(
                Some("0123456789ABCDEF0123456789ABCDEF"),
                "OQCLML-BW3P3-BUCMWZ"
            ),
            Ok(ours)
        );
    }

    #[test]
    fn every_derived_id_round_trips() {
        use driftline_core::{Asset, CycleId, PortfolioId, Side, Symbol};
        let symbol = Symbol::new(Asset::new("BTC").unwrap(), Asset::new("USDT").unwrap()).unwrap();
        let portfolio = PortfolioId::new("article").unwrap();
        let cycle = CycleId::new("20261121T090500Z").unwrap();
        for leg in 0..200 {
            let ours = ClientOrderId::derive(None, &portfolio, &cycle, &symbol, Side::Buy, leg);
            let OrderRef::ClOrdId(uuid) = order_ref(&ours) else {
                panic!("{ours} goes by cl_ord_id")
            };
            assert_eq!(uuid.len(), 36);
            assert_eq!(client_order_id(Some(&uuid), "O-unused"), Ok(ours));
        }
    }

    #[rstest]
    #[case("dl1-rest", "dl1-rest")]
    #[case("a", "a")]
    #[case("exactly-18-chars-x", "exactly-18-chars-x")]
    fn short_ids_go_as_free_text(#[case] ours: &str, #[case] sent: &str) {
        assert_eq!(order_ref(&id(ours)), OrderRef::ClOrdId(sent.into()));
        assert_eq!(
            client_order_id(Some(sent), "OQCLML-BW3P3-BUCMWZ"),
            Ok(id(ours))
        );
    }

    #[rstest]
    #[case::upper_case_hex("dl1-0123456789ABCDEF0123456789ABCDEF")]
    #[case::nineteen_chars("nineteen-characters")]
    #[case::not_hex("dl1-0123456789abcdef0123456789abcdeg")]
    #[case::txid_of_another_shape("OQCLML-BW3P63-BUCMWZ")]
    fn ids_without_a_kraken_form_name_no_order(#[case] ours: &str) {
        assert_eq!(order_ref(&id(ours)), OrderRef::Nothing);
    }

    #[rstest]
    #[case::none(None)]
    #[case::empty(Some(""))]
    #[case::not_an_id(Some("has space"))]
    #[case::odd_characters(Some("a.b"))]
    fn an_order_without_a_readable_cl_ord_id_takes_its_txid(#[case] cl: Option<&str>) {
        let got = client_order_id(cl, "OQCLML-BW3P3-BUCMWZ").unwrap();
        assert_eq!(got, id("OQCLML-BW3P3-BUCMWZ"));
        assert_eq!(
            order_ref(&got),
            OrderRef::Txid("OQCLML-BW3P3-BUCMWZ".into())
        );
    }

    #[test]
    fn a_txid_driftline_cannot_hold_is_an_error() {
        assert!(client_order_id(None, "O with spaces").is_err());
        assert!(client_order_id(None, "").is_err());
    }
}

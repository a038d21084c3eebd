//! A query string as Coinbase reads it (a list filter repeats its name), and the pages of a
//! list: `limit` and the `cursor` a previous page gave.

use super::CbError;

/// A query string as Coinbase reads it: a list filter repeats its name
/// (`product_ids=A&product_ids=B`).
pub(super) struct Query(Vec<(String, String)>);

impl Query {
    pub(super) fn parse(raw: &str) -> Result<Self, CbError> {
        serde_urlencoded::from_str(raw)
            .map(Self)
            .map_err(|_| CbError::invalid("the query string is not form-encoded"))
    }

    pub(super) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A parameter sent at most once.
    pub(super) fn one(&self, name: &str) -> Result<Option<&str>, CbError> {
        match self.all(name).as_slice() {
            [] => Ok(None),
            [v] => Ok(Some(v)),
            _ => Err(CbError::invalid(format!(
                "{name} must be sent at most once"
            ))),
        }
    }

    /// A page size: `default` when absent, 1 to `max`.
    pub(super) fn limit(&self, default: usize, max: usize) -> Result<usize, CbError> {
        match self.one("limit")? {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| CbError::invalid(format!("limit must be 1 to {max}"))),
        }
    }

    /// Where a page starts: the `cursor` a previous page gave, or the start.
    pub(super) fn cursor(&self) -> Result<usize, CbError> {
        match self.one("cursor")? {
            None => Ok(0),
            Some(v) => v
                .parse()
                .map_err(|_| CbError::invalid("cursor is not one this venue gave")),
        }
    }
}

/// One page of `items` from the query's cursor: the page, whether more follow, and the cursor
/// of the next page (empty when none).
pub(super) fn page<T>(
    items: Vec<T>,
    q: &Query,
    default: usize,
    max: usize,
) -> Result<(Vec<T>, bool, String), CbError> {
    let limit = q.limit(default, max)?;
    let start = q.cursor()?;
    let has_next = items.len() > start.saturating_add(limit);
    let page: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let cursor = if has_next {
        (start + limit).to_string()
    } else {
        String::new()
    };
    Ok((page, has_next, cursor))
}

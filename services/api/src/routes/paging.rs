//! `?limit=&after=` on every listing: at most `limit` items (default 100, at most 1000) after
//! the one `after` names, which is the `next` of the page before. Listings page by key, not
//! offset, so a page is as fast however deep it is and rows written meanwhile are neither
//! skipped nor repeated.

use ferry_storage::paging::PageRequest;
use serde::Deserialize;

use crate::error::ApiError;

/// The items of a page when the request does not say.
pub const DEFAULT_PAGE_SIZE: i64 = 100;
/// The most items one page may ask for.
pub const MAX_PAGE_SIZE: i64 = 1000;

/// A listing's paging parameters, for listings that take no others.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<i64>,
    pub after: Option<String>,
}

impl PageQuery {
    /// Checks the limit and reads the cursor with `parse`; `listing` names what the cursor
    /// names, for the error.
    pub fn request<K>(
        &self,
        listing: &str,
        parse: impl FnOnce(&str) -> Option<K>,
    ) -> Result<PageRequest<K>, ApiError> {
        page_request(self.limit, self.after.as_deref(), listing, parse)
    }
}

/// Checks a page's `limit` and reads its `after` cursor (see [`PageQuery::request`]).
pub fn page_request<K>(
    limit: Option<i64>,
    after: Option<&str>,
    listing: &str,
    parse: impl FnOnce(&str) -> Option<K>,
) -> Result<PageRequest<K>, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {MAX_PAGE_SIZE}"),
        ));
    }
    let after = match after {
        None => None,
        Some(raw) => Some(parse(raw).ok_or_else(|| not_a_cursor(listing))?),
    };
    Ok(PageRequest { after, limit })
}

/// The answer when a cursor is not one this listing gave out, or names nothing any more.
pub fn not_a_cursor(listing: &str) -> ApiError {
    ApiError::invalid(
        "after",
        format!("names no {listing}; pass the `next` of the page before"),
    )
}

//! Keyset paging for listings: a page is the rows after the last one a client saw, by the
//! listing's own order, so a page costs the same however deep it is and rows added meanwhile
//! are neither skipped nor shown twice.

/// What one page asks for: at most `limit` rows after the row `after` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest<K> {
    pub after: Option<K>,
    pub limit: i64,
}

impl<K> PageRequest<K> {
    /// The first page.
    pub fn first(limit: i64) -> Self {
        PageRequest { after: None, limit }
    }

    /// How many rows the query fetches: one more than the page, to learn whether more follow.
    pub(crate) fn fetch(&self) -> i64 {
        self.limit.saturating_add(1)
    }
}

/// One page of a listing, and whether rows follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

impl<T> Page<T> {
    /// Cuts rows fetched with [`PageRequest::fetch`] down to the page.
    pub(crate) fn from_rows<K>(mut items: Vec<T>, request: &PageRequest<K>) -> Self {
        let limit = usize::try_from(request.limit).unwrap_or(0);
        let more = items.len() > limit;
        items.truncate(limit);
        Page { items, more }
    }

    /// The cursor of the next page (from the last row), when there is one.
    pub fn next<C>(&self, cursor: impl FnOnce(&T) -> C) -> Option<C> {
        if self.more {
            self.items.last().map(cursor)
        } else {
            None
        }
    }
}

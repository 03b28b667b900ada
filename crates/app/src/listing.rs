//! Where a list starts and how much of it to read, as a front door hands it over. The
//! front door decodes its own opaque cursors; the use case refuses what is unreadable only
//! after its permission check, like every other query value.

use workorders_domain::pagination::PageLimit;

use crate::error::{AppError, AppResult, codes};

/// Where a list continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor<T> {
    /// From the beginning.
    Start,
    /// After (or before, for lists read backwards) this position.
    At(T),
    /// The front door could not read the cursor it was given.
    Unreadable,
}

impl<T> Cursor<T> {
    /// The position, or the refusal of an unreadable cursor.
    pub fn resolve(self) -> AppResult<Option<T>> {
        match self {
            Cursor::Start => Ok(None),
            Cursor::At(position) => Ok(Some(position)),
            Cursor::Unreadable => Err(invalid_cursor()),
        }
    }
}

/// The refusal of a cursor that does not name a position.
pub fn invalid_cursor() -> AppError {
    AppError::malformed(
        codes::INVALID_CURSOR,
        "the cursor is not valid; start again without one",
    )
}

/// A page size as asked (default when absent); refused outside 1 to the maximum.
pub fn page_limit(requested: Option<i64>) -> AppResult<u32> {
    PageLimit::parse(requested)
        .map(PageLimit::get)
        .map_err(|e| AppError::malformed(codes::INVALID_QUERY, e.to_string()))
}

/// One page of rows as read: up to `limit + 1`, the extra row only telling that another
/// page follows.
#[derive(Debug)]
pub struct Fetched<R> {
    pub rows: Vec<R>,
    pub limit: u32,
}

//! Cursor pagination. Lists are ordered by id (UUID v7, creation order); the cursor is the
//! opaque encoding of the last id of a page, so paging is stable while rows are added or
//! changed: no duplicates, no gaps.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_domain::pagination::PageLimit;

use crate::error::{ApiError, codes};

/// `?limit=&cursor=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200, example = 50)]
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<Uuid>,
}

#[derive(Serialize, Deserialize)]
struct CursorBody {
    after: Uuid,
}

impl PageQuery {
    pub fn parse(&self) -> Result<PageRequest, ApiError> {
        let limit = PageLimit::parse(self.limit)
            .map_err(|e| ApiError::bad_request(codes::INVALID_QUERY, e.to_string()))?;
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok(PageRequest {
            limit: limit.get(),
            after,
        })
    }
}

fn decode_cursor(cursor: &str) -> Result<Uuid, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            codes::INVALID_CURSOR,
            "the cursor is not valid; start again without one",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let body: CursorBody = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    Ok(body.after)
}

#[derive(Serialize, Deserialize)]
struct KeyedCursorBody {
    key: String,
    after: Uuid,
}

/// A cursor for lists sorted by another key than the id: (sort key, id) of the last row.
pub fn encode_keyed_cursor(key: &str, after: Uuid) -> String {
    let body = serde_json::to_vec(&KeyedCursorBody {
        key: key.to_owned(),
        after,
    })
    .unwrap_or_default();
    URL_SAFE_NO_PAD.encode(body)
}

pub fn decode_keyed_cursor(cursor: &str) -> Result<(String, Uuid), ApiError> {
    let invalid = || {
        ApiError::bad_request(
            codes::INVALID_CURSOR,
            "the cursor is not valid; start again without one",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let body: KeyedCursorBody = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    Ok((body.key, body.after))
}

fn encode_cursor(after: Uuid) -> String {
    let body = serde_json::to_vec(&CursorBody { after }).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(body)
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `?cursor=` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row only tells that
    /// another page exists.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        request: PageRequest,
        id_of: impl Fn(&R) -> Uuid,
        view: impl Fn(R) -> T,
    ) -> Self {
        let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if has_more {
            rows.last().map(|r| encode_cursor(id_of(r)))
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

/// How many rows to fetch for a page: one more than shown.
pub fn fetch_limit(request: PageRequest) -> u32 {
    request.limit.saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)).ok(), Some(id));
        assert!(decode_cursor("not a cursor").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode(b"{}")).is_err());
    }

    #[test]
    fn pages_know_when_more_follow() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let request = PageRequest {
            limit: 2,
            after: None,
        };
        let page = Page::from_rows(ids.clone(), request, |i| *i, |i| i);
        assert_eq!(page.items, ids[..2].to_vec());
        assert!(page.next_cursor.is_some());
        let last = Page::from_rows(ids[2..].to_vec(), request, |i| *i, |i| i);
        assert!(last.next_cursor.is_none());
    }
}

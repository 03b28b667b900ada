//! Stored outcomes of requests sent with an `Idempotency-Key`.
//!
//! A key is claimed by inserting a row in state `in_flight`; the primary key makes the claim
//! atomic on both backends, so of several concurrent requests with one key exactly one runs.
//! When it finishes, its response is stored and replayed to later requests with the key.
//!
//! Stored responses are sealed (see [`crate::sealed`]): several of them show a credential
//! once (tokens, API keys, webhook secrets, private links), and a copy of the database must
//! not reveal it.

use chrono::{DateTime, Duration, Utc};

use crate::error::ResultExt;
use crate::row::RowExt;
use crate::{Db, StoreError, WriteTx, format_instant};

/// Purpose of sealed stored responses.
const RESPONSE: &str = "idempotent_response";

fn sealed_err(source: crate::KeyError) -> StoreError {
    StoreError::Sealed {
        purpose: RESPONSE,
        source,
    }
}

/// A response kept for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    /// Headers worth replaying (`Location`, `ETag`, `Content-Type`), as name/value pairs.
    pub headers: Vec<(String, String)>,
}

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This request owns the key now (claimed at `locked_at`) and must run, then complete
    /// or release it.
    Started { locked_at: String },
    /// The key was used before with the same request: replay this response.
    Replay(StoredResponse),
    /// The key was used before with a different request body.
    Mismatch,
    /// Another request with this key is still running.
    InFlight,
}

/// Timing rules for keys.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    /// How long a completed key is kept and replayed.
    pub retention: Duration,
    /// After how long an unfinished claim is considered abandoned (its request crashed) and
    /// may be taken over.
    pub abandon_after: Duration,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        Self {
            retention: Duration::hours(24),
            abandon_after: Duration::minutes(5),
        }
    }
}

pub async fn claim(
    db: &Db,
    scope: &str,
    key: &str,
    request_hash: &str,
    now: DateTime<Utc>,
    policy: KeyPolicy,
) -> Result<Claim, StoreError> {
    // A few rounds at most: each round either decides or removes an expired row.
    for _ in 0..3 {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (scope, idempotency_key, request_hash, state, created_at, locked_at) \
             VALUES ($1, $2, $3, 'in_flight', $4, $4) ON CONFLICT (scope, idempotency_key) DO NOTHING",
        )
        .bind(scope)
        .bind(key)
        .bind(request_hash)
        .bind(format_instant(now))
        .execute(db.pool())
        .await
        .store()?;
        if inserted.rows_affected() == 1 {
            return Ok(Claim::Started {
                locked_at: format_instant(now),
            });
        }
        let row = sqlx::query(
            "SELECT request_hash, state, response_status, response_body, response_headers, \
             created_at, locked_at FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(db.pool())
        .await
        .store()?;
        let Some(row) = row else { continue };
        let created_at = row.text("created_at")?;
        if created_at < format_instant(now - policy.retention) {
            sqlx::query(
                "DELETE FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2 AND created_at = $3",
            )
            .bind(scope)
            .bind(key)
            .bind(&created_at)
            .execute(db.pool())
            .await
            .store()?;
            continue;
        }
        if row.text("request_hash")? != request_hash {
            return Ok(Claim::Mismatch);
        }
        if row.text("state")? == "completed" {
            let status =
                u16::try_from(row.int("response_status")?).map_err(|e| StoreError::Corrupt {
                    column: "response_status",
                    detail: e.to_string(),
                })?;
            let keys = db.keys();
            let headers_text = keys
                .open(RESPONSE, &row.text("response_headers")?)
                .map_err(sealed_err)?;
            let headers =
                serde_json::from_str::<Vec<(String, String)>>(&headers_text).map_err(|e| {
                    StoreError::Corrupt {
                        column: "response_headers",
                        detail: e.to_string(),
                    }
                })?;
            return Ok(Claim::Replay(StoredResponse {
                status,
                body: keys
                    .open(RESPONSE, &row.text("response_body")?)
                    .map_err(sealed_err)?,
                headers,
            }));
        }
        let locked_at = row.text("locked_at")?;
        if locked_at < format_instant(now - policy.abandon_after) {
            let taken = sqlx::query(
                "UPDATE idempotency_keys SET locked_at = $1 \
                 WHERE scope = $2 AND idempotency_key = $3 AND state = 'in_flight' AND locked_at = $4",
            )
            .bind(format_instant(now))
            .bind(scope)
            .bind(key)
            .bind(&locked_at)
            .execute(db.pool())
            .await
            .store()?;
            if taken.rows_affected() == 1 {
                return Ok(Claim::Started {
                    locked_at: format_instant(now),
                });
            }
            continue;
        }
        return Ok(Claim::InFlight);
    }
    Ok(Claim::InFlight)
}

/// Stores the response of a claimed key for replay, inside the transaction that did the
/// request's work (so both commit together), if this request still holds the claim: false
/// when it was taken over meanwhile (the claim was older than the abandon time and another
/// request with the key runs now); the caller must then roll back.
pub async fn complete_in(
    tx: &mut WriteTx,
    scope: &str,
    key: &str,
    locked_at: &str,
    response: &StoredResponse,
) -> Result<bool, StoreError> {
    let headers = serde_json::to_string(&response.headers).map_err(|e| StoreError::Corrupt {
        column: "response_headers",
        detail: e.to_string(),
    })?;
    let headers = tx.keys().seal(RESPONSE, &headers).map_err(sealed_err)?;
    let body = tx
        .keys()
        .seal(RESPONSE, &response.body)
        .map_err(sealed_err)?;
    let done = sqlx::query(
        "UPDATE idempotency_keys SET state = 'completed', response_status = $1, response_body = $2, \
         response_headers = $3 WHERE scope = $4 AND idempotency_key = $5 AND state = 'in_flight' AND locked_at = $6",
    )
    .bind(i64::from(response.status))
    .bind(body)
    .bind(headers)
    .bind(scope)
    .bind(key)
    .bind(locked_at)
    .execute(tx.conn())
    .await
    .store()?;
    Ok(done.rows_affected() == 1)
}

/// Gives a claimed key up (the request failed and changed nothing), so a retry runs again;
/// only this request's claim (`locked_at`), never one that took it over.
pub async fn release(db: &Db, scope: &str, key: &str, locked_at: &str) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2 AND state = 'in_flight' \
         AND locked_at = $3",
    )
    .bind(scope)
    .bind(key)
    .bind(locked_at)
    .execute(db.pool())
    .await
    .store()?;
    Ok(())
}

/// Deletes keys older than the retention period. Returns how many were removed.
pub async fn purge_expired(
    db: &Db,
    now: DateTime<Utc>,
    policy: KeyPolicy,
) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(format_instant(now - policy.retention))
        .execute(db.pool())
        .await
        .store()?;
    Ok(done.rows_affected())
}

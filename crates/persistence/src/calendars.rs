//! Users' calendars: working hours, exceptions, travel buffer, feed tokens, absences; and
//! the availability of people over a time range (what slot finding and booking checks need).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::any::AnyRow;
use workorders_domain::calendar::{Availability, LocalInterval, Span, WeeklyHours};
use workorders_domain::{AbsenceId, TenantId, UserId};

use crate::error::ResultExt;
use crate::processes::to_json;
use crate::row::RowExt;
use crate::{Conn, Db, StoreError, Versioned, format_instant};

/// A user's calendar settings. A user without a stored calendar has no working hours.
#[derive(Debug, Clone, PartialEq)]
pub struct CalendarRecord {
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub weekly: WeeklyHours,
    pub exceptions: BTreeMap<NaiveDate, Vec<LocalInterval>>,
    pub travel_buffer_minutes: u32,
    pub has_feed: bool,
    /// 0 while nothing is stored.
    pub version: i64,
}

impl CalendarRecord {
    pub fn empty(tenant: TenantId, user: UserId) -> Self {
        Self {
            user_id: user,
            tenant_id: tenant,
            weekly: WeeklyHours::default(),
            exceptions: BTreeMap::new(),
            travel_buffer_minutes: 0,
            has_feed: false,
            version: 0,
        }
    }
}

const COLUMNS: &str =
    "user_id, tenant_id, weekly_hours, exceptions, travel_buffer_minutes, feed_token_hash, version";

fn from_row(row: &AnyRow) -> Result<CalendarRecord, StoreError> {
    Ok(CalendarRecord {
        user_id: UserId(row.uuid("user_id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        weekly: row.parsed("weekly_hours", |t| serde_json::from_str::<WeeklyHours>(t))?,
        exceptions: row.parsed("exceptions", |t| {
            serde_json::from_str::<BTreeMap<NaiveDate, Vec<LocalInterval>>>(t)
        })?,
        travel_buffer_minutes: u32::try_from(row.int("travel_buffer_minutes")?).unwrap_or(0),
        has_feed: row.opt_text("feed_token_hash")?.is_some(),
        version: row.int("version")?,
    })
}

pub async fn get(db: &Db, tenant: TenantId, user: UserId) -> Result<CalendarRecord, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM user_calendars WHERE tenant_id = $1 AND user_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(user.to_string())
        .fetch_optional(db.pool())
        .await
        .store()?;
    match row {
        Some(row) => from_row(&row),
        None => Ok(CalendarRecord::empty(tenant, user)),
    }
}

/// Stores hours, exceptions and buffer if the version matches (0: nothing stored yet).
pub async fn save(
    conn: &mut Conn,
    c: &CalendarRecord,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<Versioned<CalendarRecord>, StoreError> {
    let weekly = to_json("weekly_hours", &c.weekly)?;
    let exceptions = to_json("exceptions", &c.exceptions)?;
    let sql = if expected_version == 0 {
        format!(
            "INSERT INTO user_calendars (user_id, tenant_id, weekly_hours, exceptions, travel_buffer_minutes, version, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6) ON CONFLICT (user_id) DO NOTHING RETURNING {COLUMNS}"
        )
    } else {
        format!(
            "UPDATE user_calendars SET weekly_hours = $3, exceptions = $4, travel_buffer_minutes = $5, version = version + 1, \
             updated_at = $6 WHERE user_id = $1 AND tenant_id = $2 AND version = $7 RETURNING {COLUMNS}"
        )
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(c.user_id.to_string())
        .bind(c.tenant_id.to_string())
        .bind(weekly)
        .bind(exceptions)
        .bind(i64::from(c.travel_buffer_minutes))
        .bind(format_instant(now));
    if expected_version != 0 {
        query = query.bind(expected_version);
    }
    let row = query.fetch_optional(&mut *conn).await.store()?;
    if let Some(row) = row {
        return Ok(Versioned::Updated(from_row(&row)?));
    }
    let current: Option<i64> = sqlx::query_scalar(
        "SELECT version FROM user_calendars WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(c.tenant_id.to_string())
    .bind(c.user_id.to_string())
    .fetch_optional(conn)
    .await
    .store()?;
    Ok(Versioned::Stale {
        current_version: current.unwrap_or(0),
    })
}

/// Sets (or with `None` removes) the hash of the user's calendar-feed token, a change of the
/// calendar: its version rises. With `expected_version` the change happens only at that
/// version (0: nothing stored yet). Returns the new version, or None when it changed meanwhile.
pub async fn set_feed_token(
    conn: &mut Conn,
    tenant: TenantId,
    user: UserId,
    hash: Option<&str>,
    expected_version: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let guard = if expected_version.is_some() {
        " WHERE user_calendars.version = $6"
    } else {
        ""
    };
    let sql = format!(
        "INSERT INTO user_calendars (user_id, tenant_id, weekly_hours, exceptions, travel_buffer_minutes, feed_token_hash, version, updated_at) \
         VALUES ($1, $2, $3, '{{}}', 0, $4, 1, $5) \
         ON CONFLICT (user_id) DO UPDATE SET feed_token_hash = $4, version = user_calendars.version + 1, updated_at = $5{guard} \
         RETURNING version"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user.to_string())
        .bind(tenant.to_string())
        .bind(to_json("weekly_hours", &WeeklyHours::default())?)
        .bind(hash.map(str::to_owned))
        .bind(format_instant(now));
    if let Some(v) = expected_version {
        query = query.bind(v);
    }
    let row = query.fetch_optional(conn).await.store()?;
    let version = row.map(|r| r.int("version")).transpose()?;
    // A first row (version 1) only answers an expectation of "nothing stored yet".
    Ok(version.filter(|v| expected_version.is_none_or(|e| e + 1 == *v)))
}

/// The user a feed token belongs to.
pub async fn find_by_feed_token(
    db: &Db,
    hash: &str,
) -> Result<Option<(TenantId, UserId)>, StoreError> {
    let row =
        sqlx::query("SELECT tenant_id, user_id FROM user_calendars WHERE feed_token_hash = $1")
            .bind(hash)
            .fetch_optional(db.pool())
            .await
            .store()?;
    row.map(|r| Ok((TenantId(r.uuid("tenant_id")?), UserId(r.uuid("user_id")?))))
        .transpose()
}

#[derive(Debug, Clone)]
pub struct AbsenceRecord {
    pub id: AbsenceId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub kind: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub note: Option<String>,
    /// Absences are not changed, only deleted: 1, the version a DELETE names in If-Match.
    pub version: i64,
    pub created_at: DateTime<Utc>,
}

const ABSENCE_COLUMNS: &str =
    "id, tenant_id, user_id, kind, start_at, end_at, note, version, created_at";

fn absence_from_row(row: &AnyRow) -> Result<AbsenceRecord, StoreError> {
    Ok(AbsenceRecord {
        id: AbsenceId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        user_id: UserId(row.uuid("user_id")?),
        kind: row.text("kind")?,
        start: row.instant("start_at")?,
        end: row.instant("end_at")?,
        note: row.opt_text("note")?,
        version: row.int("version")?,
        created_at: row.instant("created_at")?,
    })
}

pub async fn insert_absence(conn: &mut Conn, a: &AbsenceRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO absences (id, tenant_id, user_id, kind, start_at, end_at, note, version, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(a.id.to_string())
    .bind(a.tenant_id.to_string())
    .bind(a.user_id.to_string())
    .bind(&a.kind)
    .bind(format_instant(a.start))
    .bind(format_instant(a.end))
    .bind(a.note.clone())
    .bind(a.version)
    .bind(format_instant(a.created_at))
    .execute(conn)
    .await
    .store()?;
    Ok(())
}

/// A user's absences ending after `from`, by start (a user has few).
pub async fn list_absences(
    db: &Db,
    tenant: TenantId,
    user: UserId,
    from: DateTime<Utc>,
) -> Result<Vec<AbsenceRecord>, StoreError> {
    let sql = format!(
        "SELECT {ABSENCE_COLUMNS} FROM absences \
         WHERE tenant_id = $1 AND user_id = $2 AND end_at > $3 ORDER BY start_at, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(format_instant(from))
        .fetch_all(db.pool())
        .await
        .store()?;
    rows.iter().map(absence_from_row).collect()
}

/// One of a user's absences.
pub async fn get_absence(
    conn: &mut Conn,
    tenant: TenantId,
    user: UserId,
    id: AbsenceId,
) -> Result<Option<AbsenceRecord>, StoreError> {
    let sql = format!(
        "SELECT {ABSENCE_COLUMNS} FROM absences WHERE tenant_id = $1 AND user_id = $2 AND id = $3"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .store()?;
    row.as_ref().map(absence_from_row).transpose()
}

/// Deletes an absence at `expected_version`; false when there is none with that id and
/// version for the user.
pub async fn delete_absence(
    conn: &mut Conn,
    tenant: TenantId,
    user: UserId,
    id: AbsenceId,
    expected_version: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "DELETE FROM absences WHERE tenant_id = $1 AND user_id = $2 AND id = $3 AND version = $4",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(id.to_string())
    .bind(expected_version)
    .execute(conn)
    .await
    .store()?;
    Ok(done.rows_affected() == 1)
}

/// The availability of `users` for appointments overlapping `[from, to)`: their calendars,
/// absences and blocking appointments (optionally ignoring one appointment being moved).
pub async fn availability(
    conn: &mut Conn,
    tenant: TenantId,
    users: &[UserId],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    ignore_appointment: Option<workorders_domain::AppointmentId>,
) -> Result<HashMap<UserId, Availability>, StoreError> {
    let mut result: HashMap<UserId, Availability> = users
        .iter()
        .map(|u| (*u, Availability::default()))
        .collect();
    if users.is_empty() {
        return Ok(result);
    }
    // Appointments and absences that reach into the range (a day of slack for long ones).
    let (from_text, to_text) = (
        format_instant(from - Duration::days(1)),
        format_instant(to + Duration::days(1)),
    );
    for chunk in users.chunks(100) {
        let ids = crate::in_list(2, chunk.len());
        let sql = format!(
            "SELECT {COLUMNS} FROM user_calendars WHERE tenant_id = $1 AND user_id IN ({ids})"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string());
        for u in chunk {
            query = query.bind(u.to_string());
        }
        for row in query.fetch_all(&mut *conn).await.store()? {
            let c = from_row(&row)?;
            if let Some(a) = result.get_mut(&c.user_id) {
                a.weekly = c.weekly;
                a.exceptions = c.exceptions;
                a.travel_buffer = Duration::minutes(i64::from(c.travel_buffer_minutes));
            }
        }
        let n = chunk.len();
        let sql = format!(
            "SELECT user_id, start_at, end_at FROM absences WHERE tenant_id = $1 AND user_id IN ({ids}) \
             AND start_at < ${} AND end_at > ${}",
            n + 2,
            n + 3
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string());
        for u in chunk {
            query = query.bind(u.to_string());
        }
        for row in query
            .bind(&to_text)
            .bind(&from_text)
            .fetch_all(&mut *conn)
            .await
            .store()?
        {
            let user = UserId(row.uuid("user_id")?);
            if let Some(a) = result.get_mut(&user) {
                a.absences
                    .push(Span::new(row.instant("start_at")?, row.instant("end_at")?));
            }
        }
        let sql = format!(
            "SELECT user_id, start_at, end_at FROM appointment_assignees WHERE tenant_id = $1 AND user_id IN ({ids}) \
             AND blocking = 1 AND start_at < ${} AND end_at > ${} AND appointment_id <> ${} ORDER BY start_at",
            n + 2,
            n + 3,
            n + 4
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string());
        for u in chunk {
            query = query.bind(u.to_string());
        }
        let ignore = ignore_appointment
            .map(|a| a.to_string())
            .unwrap_or_default();
        for row in query
            .bind(&to_text)
            .bind(&from_text)
            .bind(ignore)
            .fetch_all(&mut *conn)
            .await
            .store()?
        {
            let user = UserId(row.uuid("user_id")?);
            if let Some(a) = result.get_mut(&user) {
                a.busy
                    .push(Span::new(row.instant("start_at")?, row.instant("end_at")?));
            }
        }
    }
    for a in result.values_mut() {
        a.busy.sort();
    }
    Ok(result)
}

//! Scheduling: who can take an appointment (with the reason for everyone who cannot), free
//! slots of a service, and placing appointments without double booking.
//!
//! No double booking: a write transaction locks the people involved (PostgreSQL row locks in
//! id order; SQLite has one writer), then re-reads their appointments and checks the new
//! one against them before inserting. Two overlapping requests for one person are therefore
//! decided one after the other, and the second sees the first.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use uuid::Uuid;
use workorders_domain::assign::AssignmentRule;
use workorders_domain::calendar::{Availability, Conflict, Span, check_placement, local_clock};
use workorders_domain::slots::{Slot, SlotRules, find_slots};
use workorders_domain::{TenantId, UserId};
use workorders_persistence::services::ServiceRecord;
use workorders_persistence::users::UserRecord;
use workorders_persistence::{Conn, WriteTx, appointments, calendars, users, work_orders};

use crate::error::{AppError, AppResult, codes};

/// Where the customer is, for service-area rules.
#[derive(Debug, Clone, Default)]
pub struct CustomerLocation {
    pub postal_code: Option<String>,
    pub coordinates: Option<(f64, f64)>,
}

/// Great-circle distance in kilometres.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

/// Whether the service covers the customer's postal code (no prefixes: everywhere).
pub fn serves_postal_code(service: &ServiceRecord, postal_code: Option<&str>) -> bool {
    if service.postal_prefixes.is_empty() {
        return true;
    }
    let Some(code) = postal_code.map(str::trim) else {
        return false;
    };
    service
        .postal_prefixes
        .iter()
        .any(|p| code.starts_with(p.as_str()))
}

/// Why a person was chosen or passed over.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateReport {
    pub user_id: Uuid,
    pub name: String,
    /// Whether they can take it.
    pub eligible: bool,
    /// 1 for the best choice; absent for ineligible people.
    pub rank: Option<u32>,
    /// Minutes already booked in the surrounding two weeks.
    pub booked_minutes: i64,
    /// `inactive`, `lacks_role`, `lacks_skill`, `outside_area`, `absent_or_busy`,
    /// `outside_working_hours`, or for eligible people `least_loaded`, `more_load`, `next_in_turn`.
    pub reason: String,
    pub detail: String,
}

/// Who qualifies for a role and skills in the service area, with reasons for the others.
pub fn qualification(
    user: &UserRecord,
    role: workorders_domain::auth::Role,
    skills: &[String],
    service: Option<&ServiceRecord>,
    location: &CustomerLocation,
) -> Result<(), (String, String)> {
    if !user.active {
        return Err((
            "inactive".to_owned(),
            "the account is deactivated".to_owned(),
        ));
    }
    if user.role != role {
        return Err(("lacks_role".to_owned(), format!("needs the role {role}")));
    }
    if let Some(missing) = skills.iter().find(|s| !user.skills.contains(s)) {
        return Err((
            "lacks_skill".to_owned(),
            format!("lacks the skill `{missing}`"),
        ));
    }
    if let (Some(service), Some(customer)) = (service, location.coordinates)
        && let Some(radius) = service.radius_km
        && let Some(home) = user
            .home_base
            .as_ref()
            .and_then(|h| h.latitude.zip(h.longitude))
    {
        let km = distance_km(home, customer);
        if km > radius {
            return Err((
                "outside_area".to_owned(),
                format!("home base is {km:.0} km away; the service covers {radius:.0} km"),
            ));
        }
    }
    Ok(())
}

/// The people who could serve `service` at `location` (role, skills, active, radius).
pub async fn service_people(
    conn: &mut Conn,
    tenant: TenantId,
    service: &ServiceRecord,
    location: &CustomerLocation,
) -> AppResult<Vec<UserRecord>> {
    Ok(users::all_in(conn, tenant)
        .await?
        .into_iter()
        .filter(|u| {
            qualification(u, service.role, &service.skills, Some(service), location).is_ok()
        })
        .collect())
}

/// Free slots of a service on the local dates `from..=to`.
pub async fn service_slots(
    conn: &mut Conn,
    tz: Tz,
    service: &ServiceRecord,
    from: NaiveDate,
    to: NaiveDate,
    location: &CustomerLocation,
    now: DateTime<Utc>,
) -> AppResult<Vec<Slot>> {
    if !serves_postal_code(service, location.postal_code.as_deref()) {
        return Ok(Vec::new());
    }
    let people = service_people(conn, service.tenant_id, service, location).await?;
    let ids: Vec<UserId> = people.iter().map(|u| u.id).collect();
    let range_start = workorders_domain::calendar::local_instant(tz, from, 0).0;
    let range_end = workorders_domain::calendar::local_instant(tz, to + Duration::days(1), 0).0;
    let availability =
        calendars::availability(conn, service.tenant_id, &ids, range_start, range_end, None)
            .await?;
    let rules = SlotRules {
        duration: Duration::minutes(i64::from(service.duration_minutes)),
        granularity_minutes: u16::try_from(service.granularity_minutes).unwrap_or(30),
        earliest_start: now + Duration::minutes(i64::from(service.lead_time_minutes)),
        latest_start: now + Duration::days(i64::from(service.horizon_days)),
    };
    let pairs: Vec<(UserId, &Availability)> = ids
        .iter()
        .filter_map(|id| availability.get(id).map(|a| (*id, a)))
        .collect();
    Ok(find_slots(tz, from, to, &rules, &pairs))
}

/// Picks who takes an appointment among the free people: round robin (after whoever was
/// last for this service) or the fewest booked minutes in the surrounding two weeks.
pub async fn pick(
    conn: &mut Conn,
    tenant: TenantId,
    pool: &str,
    rule: AssignmentRule,
    free: &[UserId],
    around: DateTime<Utc>,
) -> AppResult<Option<(UserId, &'static str)>> {
    let mut free = free.to_vec();
    free.sort();
    if free.is_empty() {
        return Ok(None);
    }
    let choice = match rule {
        AssignmentRule::RoundRobin => {
            let last = work_orders::assignment_cursors(conn, tenant)
                .await?
                .get(pool)
                .copied();
            let next = free
                .iter()
                .find(|u| last.is_none_or(|l| **u > l))
                .or(free.first())
                .copied();
            next.map(|u| (u, "next_in_turn"))
        }
        AssignmentRule::LeastLoaded => {
            let minutes = appointments::booked_minutes(
                conn,
                tenant,
                around - Duration::days(7),
                around + Duration::days(7),
            )
            .await?;
            free.iter()
                .min_by_key(|u| (minutes.get(u).copied().unwrap_or(0), **u))
                .map(|u| (*u, "least_loaded"))
        }
    };
    if let Some((user, _)) = choice {
        work_orders::set_assignment_cursor(conn, tenant, pool, user).await?;
    }
    Ok(choice)
}

/// How strictly to place an appointment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Placement {
    /// Allow times outside working hours (never over appointments or absences).
    pub override_hours: bool,
    /// The appointment being moved, which does not block itself.
    pub ignore: Option<workorders_domain::AppointmentId>,
}

/// Checks placing `span` for each person inside the transaction, after locking them.
pub async fn check_people(
    tx: &mut WriteTx,
    db: &workorders_persistence::Db,
    tenant: TenantId,
    tz: Tz,
    people: &[UserId],
    span: Span,
    placement: Placement,
) -> AppResult<()> {
    let Placement {
        override_hours,
        ignore,
    } = placement;
    appointments::lock_people(tx.conn(), db, tenant, people).await?;
    let availability =
        calendars::availability(tx.conn(), tenant, people, span.start, span.end, ignore).await?;
    for person in people {
        let a = availability.get(person).cloned().unwrap_or_default();
        match check_placement(tz, &a, span, override_hours) {
            Ok(()) => {}
            Err(Conflict::SlotTaken) => {
                return Err(AppError::conflict(
                    codes::SLOT_TAKEN,
                    "a person is already booked (or absent) at that time, travel time included",
                ));
            }
            Err(Conflict::OutsideWorkingHours) => {
                return Err(AppError::conflict(
                    codes::OUTSIDE_WORKING_HOURS,
                    "the time is outside a person's working hours; dispatchers may override explicitly",
                ));
            }
        }
    }
    Ok(())
}

/// Ranks everyone for an appointment `span` needing `role`/`skills`, with reasons.
#[allow(clippy::too_many_arguments)]
pub async fn suggest(
    conn: &mut Conn,
    tenant: TenantId,
    tz: Tz,
    role: workorders_domain::auth::Role,
    skills: &[String],
    service: Option<&ServiceRecord>,
    location: &CustomerLocation,
    span: Span,
) -> AppResult<Vec<CandidateReport>> {
    let everyone = users::all_in(conn, tenant).await?;
    let ids: Vec<UserId> = everyone.iter().map(|u| u.id).collect();
    let availability =
        calendars::availability(conn, tenant, &ids, span.start, span.end, None).await?;
    let minutes = appointments::booked_minutes(
        conn,
        tenant,
        span.start - Duration::days(7),
        span.start + Duration::days(7),
    )
    .await?;
    let mut reports: Vec<CandidateReport> = everyone
        .iter()
        .map(|u| {
            let booked = minutes.get(&u.id).copied().unwrap_or(0);
            let verdict = qualification(u, role, skills, service, location).and_then(|()| {
                let a = availability.get(&u.id).cloned().unwrap_or_default();
                check_placement(tz, &a, span, false).map_err(|c| match c {
                    Conflict::SlotTaken => (
                        "absent_or_busy".to_owned(),
                        "absent or booked at that time, travel time included".to_owned(),
                    ),
                    Conflict::OutsideWorkingHours => {
                        let (date, _) = local_clock(tz, span.start);
                        (
                            "outside_working_hours".to_owned(),
                            format!("not working then on {date}"),
                        )
                    }
                })
            });
            let (eligible, reason, detail) = match verdict {
                Ok(()) => (
                    true,
                    String::new(),
                    format!("{booked} minutes booked in the surrounding two weeks"),
                ),
                Err((reason, detail)) => (false, reason, detail),
            };
            CandidateReport {
                user_id: u.id.as_uuid(),
                name: u.name.clone(),
                eligible,
                rank: None,
                booked_minutes: booked,
                reason,
                detail,
            }
        })
        .collect();
    reports.sort_by_key(|r| (!r.eligible, r.booked_minutes, r.user_id));
    let mut rank = 0;
    for r in reports.iter_mut().filter(|r| r.eligible) {
        rank += 1;
        r.rank = Some(rank);
        r.reason = if rank == 1 {
            "least_loaded".to_owned()
        } else {
            "more_load".to_owned()
        };
    }
    Ok(reports)
}

/// First names only, for customers.
pub fn first_name(name: &str) -> String {
    name.split_whitespace().next().unwrap_or("").to_owned()
}

/// Maps slots to the people free in each (for booking).
pub fn free_people(slots: &[Slot], start: DateTime<Utc>) -> Vec<UserId> {
    slots
        .iter()
        .find(|s| s.start == start)
        .map(|s| s.people.clone())
        .unwrap_or_default()
}

/// The next few free starts to offer instead of a taken one.
pub fn alternatives(slots: &[Slot], taken: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    slots
        .iter()
        .filter(|s| s.start != taken)
        .take(n)
        .map(|s| s.start)
        .collect()
}

/// Locks `candidates` (found free by a slot search outside the transaction), re-reads their
/// calendars inside it, and returns those still free for `span`.
pub async fn still_free(
    tx: &mut WriteTx,
    db: &workorders_persistence::Db,
    tenant: TenantId,
    tz: Tz,
    candidates: &[UserId],
    span: Span,
    ignore: Option<workorders_domain::AppointmentId>,
) -> AppResult<Vec<UserId>> {
    appointments::lock_people(tx.conn(), db, tenant, candidates).await?;
    let availability =
        calendars::availability(tx.conn(), tenant, candidates, span.start, span.end, ignore)
            .await?;
    Ok(candidates
        .iter()
        .copied()
        .filter(|u| {
            availability
                .get(u)
                .is_some_and(|a| check_placement(tz, a, span, false).is_ok())
        })
        .collect())
}

/// Recently computed slot lists for the booking widget. A list is reused only while the
/// tenant's change sequence is unchanged (every appointment, booking and order change moves
/// it, on any instance) and for at most ten seconds (calendar and absence edits); starts that
/// have come within the lead time are dropped on reuse. Slots are advice: the booking itself
/// re-checks the person's calendar under lock, so a stale list can cost a visitor a 409 with
/// alternatives, never a double booking.
#[derive(Default)]
pub struct SlotCache {
    entries: std::sync::Mutex<HashMap<String, CachedSlots>>,
}

/// When computed, at which change sequence, and the slots.
type CachedSlots = (std::time::Instant, i64, Arc<Vec<Slot>>);

const SLOT_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(10);
const SLOT_CACHE_ENTRIES: usize = 2000;

impl SlotCache {
    fn get(&self, key: &str, seq: i64) -> Option<Arc<Vec<Slot>>> {
        let entries = self.entries.lock().ok()?;
        let (at, cached_seq, slots) = entries.get(key)?;
        (*cached_seq == seq && at.elapsed() < SLOT_CACHE_TTL).then(|| slots.clone())
    }

    fn put(&self, key: String, seq: i64, slots: Arc<Vec<Slot>>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= SLOT_CACHE_ENTRIES {
                entries.retain(|_, (at, _, _)| at.elapsed() < SLOT_CACHE_TTL);
                if entries.len() >= SLOT_CACHE_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(key, (std::time::Instant::now(), seq, slots));
        }
    }
}

/// `service_slots` through the cache (the public widget's hot path).
#[allow(clippy::too_many_arguments)]
pub async fn cached_service_slots(
    cache: &SlotCache,
    db: &workorders_persistence::Db,
    conn: &mut Conn,
    tz: Tz,
    service: &ServiceRecord,
    from: NaiveDate,
    to: NaiveDate,
    location: &CustomerLocation,
    now: DateTime<Utc>,
) -> AppResult<Vec<Slot>> {
    let seq = workorders_persistence::sync::current_seq(db, service.tenant_id).await?;
    let key = format!(
        "{}|{}|{}|{from}|{to}|{:?}|{:?}",
        service.tenant_id, service.id, service.version, location.postal_code, location.coordinates
    );
    let earliest = now + Duration::minutes(i64::from(service.lead_time_minutes));
    if let Some(slots) = cache.get(&key, seq) {
        return Ok(slots
            .iter()
            .filter(|s| s.start >= earliest)
            .cloned()
            .collect());
    }
    let slots = service_slots(conn, tz, service, from, to, location, now).await?;
    cache.put(key, seq, Arc::new(slots.clone()));
    Ok(slots)
}

//! Demo oversight: a weekly review schedule for the reviewer and last week's review, worked
//! and signed off, whose decision is linked to version 2 of the repair process.

use chrono::{Duration, NaiveTime};
use uuid::Uuid;
use workorders_domain::review::{Cadence, Recurrence, ReviewStatus};
use workorders_domain::user::Email;
use workorders_domain::{ProcessId, TenantId};
use workorders_persistence::oversight::{
    self as store, DecisionRecord, ReviewRecord, ScheduleRecord,
};
use workorders_persistence::{tenants, users};

use workorders_app::App;

pub async fn seed(
    state: &App,
    tenant: TenantId,
    repairs: ProcessId,
    repairs_v2: i64,
) -> anyhow::Result<()> {
    let now = workorders_persistence::now();
    let record = tenants::get(&state.db, tenant)
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo tenant vanished"))?;
    let tz = record.time_zone.tz();
    let reviewer =
        users::find_for_login(&state.db, tenant, &Email::parse("reviewer@demo.example")?)
            .await?
            .ok_or_else(|| anyhow::anyhow!("demo reviewer missing"))?
            .0;
    let time = NaiveTime::from_hms_opt(8, 0, 0).ok_or_else(|| anyhow::anyhow!("time"))?;
    let starts_on = (now - Duration::days(28)).with_timezone(&tz).date_naive();
    let recurrence = Recurrence::new(Cadence::Weekly, None, time, tz, starts_on)?;
    let next = recurrence
        .next_after(now)
        .ok_or_else(|| anyhow::anyhow!("weekly rule ended"))?;
    let last = next - Duration::weeks(1);
    let window = recurrence
        .window(last)
        .ok_or_else(|| anyhow::anyhow!("no window for the last occurrence"))?;
    let schedule = ScheduleRecord {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        name: "Weekly operations review".to_owned(),
        cadence: Cadence::Weekly,
        rrule: None,
        time_of_day: time,
        starts_on,
        reviewer_id: reviewer.id,
        process_ids: Vec::new(),
        active: true,
        next_due_at: Some(next),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let snap = workorders_app::oversight::snapshot(
        &state.db,
        tenant,
        &[],
        now,
        (window.previous, last),
        tz,
    )
    .await
    .map_err(|e| anyhow::anyhow!("demo review snapshot: {e:?}"))?;
    let mut tx = state.db.begin_write().await?;
    store::insert_schedule(tx.conn(), &schedule).await?;
    let review = ReviewRecord {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        schedule_id: Some(schedule.id),
        reviewer_id: reviewer.id,
        scheduled_for: last,
        period_start: window.previous,
        due_at: window.next,
        late: false,
        status: ReviewStatus::SignedOff,
        process_ids: Vec::new(),
        headline: serde_json::to_value(&snap.headline)?,
        findings: Some(
            "Repair intake waits too long before the visit is planned; customers call twice. \
             Everything else on track."
                .to_owned(),
        ),
        signed_off_at: Some(now),
        signed_off_by: Some(reviewer.id),
        escalated_at: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    store::insert_review(tx.conn(), &review).await?;
    let items = workorders_app::oversight::item_records(
        review.id,
        tenant,
        snap.found,
        Some("Looked at in the Monday meeting"),
    );
    store::insert_items(tx.conn(), &items).await?;
    for item in &items {
        store::acknowledge_item(tx.conn(), review.id, item.id, reviewer.id, None, now).await?;
    }
    store::insert_decision(
        tx.conn(),
        &DecisionRecord {
            id: Uuid::now_v7(),
            review_id: review.id,
            tenant_id: tenant,
            text: "Repairs: intake within 30 minutes, and a photo of the repaired part".to_owned(),
            process_id: Some(repairs.as_uuid()),
            process_version: Some(repairs_v2),
            created_by: reviewer.id,
            version: 1,
            created_at: now,
            updated_at: now,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

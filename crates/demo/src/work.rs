//! Demo process maps, customers and orders for the demo tenant: a window maker's process
//! from the customer's call to the paid invoice, a repair process, five customers, and a
//! dozen orders in various states, all created through the same workflow as real ones.

use chrono::Duration;
use workorders_domain::auth::Role;
use workorders_domain::process::{ChecklistItem, Evidence, Handling, Responsible, StepDefinition};
use workorders_domain::work_order::{Channel, Command, Priority, StepStatus};
use workorders_domain::{AttachmentId, CustomerId, ProcessId, SiteId, TenantId, WorkOrderId};
use workorders_persistence::Versioned;
use workorders_persistence::attachments::{self, AttachmentRecord};
use workorders_persistence::customers::{self, Address, CustomerRecord, SiteRecord};
use workorders_persistence::processes::{self, ProcessRecord, ProcessStatus};
use workorders_persistence::work_orders::{self, ActorRef, WorkOrderRecord};

use workorders_app::App;
use workorders_app::workflow::{self, NewOrder};

/// A 1×1 transparent PNG: stands in for photos and signatures of demo steps.
const TINY_PNG: [u8; 67] = [
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

fn step(
    key: &str,
    name: &str,
    role: Role,
    skills: &[&str],
    handling: Handling,
    minutes: u32,
) -> StepDefinition {
    StepDefinition {
        key: key.to_owned(),
        name: name.to_owned(),
        description: None,
        responsible: Responsible::Role {
            role,
            skills: skills.iter().map(|s| (*s).to_owned()).collect(),
        },
        handling,
        target_duration_minutes: Some(minutes),
        checklist: Vec::new(),
        evidence: Vec::new(),
        skippable: false,
        parallel_group: None,
    }
}

fn item(key: &str, label: &str) -> ChecklistItem {
    ChecklistItem {
        key: key.to_owned(),
        label: label.to_owned(),
        required: true,
    }
}

const HOUR: u32 = 60;
const DAY: u32 = 24 * 60;

/// The window maker's process, from the call to the paid invoice.
pub fn window_replacement() -> Vec<StepDefinition> {
    let mut intake = step(
        "intake",
        "Receptionist enters the request",
        Role::Dispatcher,
        &[],
        Handling::Manual,
        HOUR,
    );
    intake.checklist = vec![
        item("contact", "Contact details and address taken"),
        item("windows", "Number and kind of windows noted"),
    ];
    let book = step(
        "book_estimate",
        "Receptionist books an estimate appointment with a sales rep",
        Role::Dispatcher,
        &[],
        Handling::ScheduleAppointment,
        DAY,
    );
    let mut visit = step(
        "estimate_visit",
        "Sales rep visits the customer and measures",
        Role::Technician,
        &["installation"],
        Handling::Manual,
        3 * DAY,
    );
    visit.checklist = vec![
        item("measure", "All openings measured"),
        item("condition", "Condition of frames and sills noted"),
    ];
    visit.evidence = vec![Evidence::Photo];
    let quote = step(
        "quote",
        "Send the quote",
        Role::Dispatcher,
        &[],
        Handling::NotifyCustomer,
        2 * DAY,
    );
    let mut material = step(
        "order_material",
        "Order windows from the manufacturer",
        Role::Dispatcher,
        &[],
        Handling::Manual,
        3 * DAY,
    );
    material.parallel_group = Some("preparation".to_owned());
    let mut schedule = step(
        "schedule_installation",
        "Schedule the installation",
        Role::Dispatcher,
        &[],
        Handling::ScheduleAppointment,
        3 * DAY,
    );
    schedule.parallel_group = Some("preparation".to_owned());
    let mut install = step(
        "installation",
        "Install the windows",
        Role::Technician,
        &["glazing"],
        Handling::Manual,
        DAY,
    );
    install.checklist = vec![
        item("old_removed", "Old windows removed and disposed of"),
        item("sealed", "New windows fitted and sealed"),
    ];
    install.evidence = vec![Evidence::Photo];
    let mut acceptance = step(
        "acceptance",
        "Customer accepts the work and signs",
        Role::Technician,
        &["glazing"],
        Handling::Manual,
        4 * HOUR,
    );
    acceptance.evidence = vec![Evidence::Signature];
    let invoice = step(
        "invoice",
        "Create and send the invoice",
        Role::Accountant,
        &[],
        Handling::CreateInvoice,
        DAY,
    );
    let payment = step(
        "payment_check",
        "Check that the invoice is paid",
        Role::Accountant,
        &[],
        Handling::Manual,
        14 * DAY,
    );
    vec![
        intake, book, visit, quote, material, schedule, install, acceptance, invoice, payment,
    ]
}

/// A short repair process.
pub fn repair() -> Vec<StepDefinition> {
    let intake = step(
        "intake",
        "Receptionist enters the repair request",
        Role::Dispatcher,
        &[],
        Handling::Manual,
        HOUR,
    );
    let mut visit = step(
        "repair_visit",
        "Technician repairs on site",
        Role::Technician,
        &["repair"],
        Handling::Manual,
        2 * DAY,
    );
    visit.checklist = vec![item("fixed", "Defect fixed and tested")];
    let mut invoice = step(
        "invoice",
        "Invoice the repair (skipped for warranty cases)",
        Role::Accountant,
        &[],
        Handling::CreateInvoice,
        DAY,
    );
    invoice.skippable = true;
    vec![intake, visit, invoice]
}

async fn create_process(
    state: &App,
    tenant: TenantId,
    name: &str,
    description: &str,
    steps: &[StepDefinition],
) -> anyhow::Result<ProcessId> {
    let now = workorders_persistence::now();
    let mut tx = state.db.begin_write().await?;
    let process = processes::insert(
        tx.conn(),
        &ProcessRecord {
            id: ProcessId::new(),
            tenant_id: tenant,
            name: name.to_owned(),
            description: Some(description.to_owned()),
            status: ProcessStatus::Active,
            published_version: None,
            version: 1,
            created_at: now,
            updated_at: now,
        },
    )
    .await?;
    let version =
        processes::insert_version(tx.conn(), tenant, process.id, steps, None, now).await?;
    match processes::publish_version(tx.conn(), &process, version.number, process.version, now)
        .await?
    {
        Versioned::Updated(_) => {}
        _ => anyhow::bail!("could not publish the demo process {name}"),
    }
    tx.commit().await?;
    Ok(process.id)
}

/// (name, e-mail, phone, street, postal code, city)
const CUSTOMERS: [(&str, &str, &str, &str, &str, &str); 5] = [
    (
        "Familie Schneider",
        "schneider@example.com",
        "+49 30 555 0101",
        "Gartenweg 12",
        "10247",
        "Berlin",
    ),
    (
        "Bäckerei Krause",
        "info@baeckerei-krause.example",
        "+49 30 555 0202",
        "Hauptstraße 5",
        "10115",
        "Berlin",
    ),
    (
        "Dr. Yilmaz",
        "praxis@yilmaz.example",
        "+49 30 555 0303",
        "Lindenallee 3",
        "14055",
        "Berlin",
    ),
    (
        "Hausverwaltung Ost GmbH",
        "technik@hv-ost.example",
        "+49 30 555 0404",
        "Frankfurter Allee 100",
        "10365",
        "Berlin",
    ),
    (
        "Petra Wagner",
        "petra.wagner@example.com",
        "+49 30 555 0505",
        "Am Park 8",
        "12163",
        "Berlin",
    ),
];

async fn create_customers(
    state: &App,
    tenant: TenantId,
) -> anyhow::Result<Vec<(CustomerId, SiteId)>> {
    let now = workorders_persistence::now();
    let mut result = Vec::new();
    let mut tx = state.db.begin_write().await?;
    for (name, email, phone, street, postal_code, city) in CUSTOMERS {
        let customer = CustomerRecord {
            id: CustomerId::new(),
            tenant_id: tenant,
            name: name.to_owned(),
            email: Some(email.to_owned()),
            phone: Some(phone.to_owned()),
            billing_address: Address {
                street: Some(street.to_owned()),
                postal_code: Some(postal_code.to_owned()),
                city: Some(city.to_owned()),
                country: Some("DE".to_owned()),
            },
            vat_id: None,
            buyer_reference: None,
            notes: None,
            source: "staff".to_owned(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        customers::insert(tx.conn(), &customer).await?;
        let site = SiteRecord {
            id: SiteId::new(),
            tenant_id: tenant,
            customer_id: customer.id,
            label: None,
            street: street.to_owned(),
            postal_code: postal_code.to_owned(),
            city: city.to_owned(),
            country: "DE".to_owned(),
            latitude: None,
            longitude: None,
            notes: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        customers::insert_site(tx.conn(), &site).await?;
        result.push((customer.id, site.id));
    }
    tx.commit().await?;
    Ok(result)
}

async fn new_order(
    state: &App,
    tenant: TenantId,
    process: ProcessId,
    party: (CustomerId, SiteId),
    channel: Channel,
    title: &str,
    priority: Priority,
) -> anyhow::Result<WorkOrderRecord> {
    let now = workorders_persistence::now();
    new_order_at(state, tenant, process, party, channel, title, priority, now).await
}

/// An order as if it had come in at `now` (earlier demo history).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn new_order_at(
    state: &App,
    tenant: TenantId,
    process: ProcessId,
    party: (CustomerId, SiteId),
    channel: Channel,
    title: &str,
    priority: Priority,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<WorkOrderRecord> {
    let process_record = processes::get(&state.db, tenant, process)
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo process vanished"))?;
    let number = process_record
        .published_version
        .ok_or_else(|| anyhow::anyhow!("demo process unpublished"))?;
    let version = processes::get_version(&state.db, tenant, process, number)
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo version vanished"))?;
    let mut tx = state.db.begin_write().await?;
    let record = workflow::create(
        &mut tx,
        NewOrder {
            tenant_id: tenant,
            process_id: process,
            process_version_id: version.id,
            steps: version.steps,
            customer_id: party.0,
            site_id: party.1,
            channel,
            title: title.to_owned(),
            description: None,
            priority,
            requested_start: None,
            requested_end: Some(now + Duration::days(30)),
        },
        &ActorRef {
            kind: "system".to_owned(),
            id: Some("demo".to_owned()),
        },
        now,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
    Ok(record)
}

/// Runs one command on a demo order.
async fn act(
    state: &App,
    tenant: TenantId,
    order: WorkOrderId,
    actor: &ActorRef,
    command: Command,
) -> anyhow::Result<WorkOrderRecord> {
    workflow::apply_as(&state.db, tenant, order, actor, command)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Works the first `n` steps of an order as their holders would: ticks the checklist,
/// records evidence, completes.
async fn work_steps(
    state: &App,
    tenant: TenantId,
    mut record: WorkOrderRecord,
    n: usize,
) -> anyhow::Result<WorkOrderRecord> {
    for _ in 0..n {
        let Some(step) = record
            .order
            .steps
            .iter()
            .find(|s| s.status == StepStatus::Active)
            .cloned()
        else {
            break;
        };
        let actor = ActorRef {
            kind: "user".to_owned(),
            id: step.responsible.map(|u| u.to_string()),
        };
        let order_id = record.order.id;
        let run = |command: Command| {
            let actor = actor.clone();
            async move { act(state, tenant, order_id, &actor, command).await }
        };
        run(Command::StartStep { step: step.id }).await?;
        for item in &step.definition.checklist {
            run(Command::SetChecklistItem {
                step: step.id,
                item: item.key.clone(),
                checked: true,
            })
            .await?;
        }
        for kind in &step.definition.evidence {
            let sha256 = workorders_app::tokens::sha256_bytes_hex(&TINY_PNG);
            let storage_key =
                workorders_app::blobs::store_bytes(state, tenant, &sha256, &TINY_PNG[..])
                    .await
                    .map_err(|e| anyhow::anyhow!("storing demo evidence: {e}"))?;
            let attachment = AttachmentRecord {
                id: AttachmentId::new(),
                tenant_id: tenant,
                work_order_id: order_id,
                step_id: Some(step.id),
                kind: kind.as_str().to_owned(),
                content_type: "image/png".to_owned(),
                size_bytes: i64::try_from(TINY_PNG.len()).unwrap_or(0),
                sha256,
                storage_key: Some(storage_key),
                created_by: actor.clone(),
                created_at: workorders_persistence::now(),
            };
            let mut tx = state.db.begin_write().await?;
            attachments::insert(tx.conn(), &attachment).await?;
            tx.commit().await?;
            run(Command::RecordEvidence {
                step: step.id,
                kind: *kind,
                attachment: attachment.id,
            })
            .await?;
        }
        record = run(Command::CompleteStep { step: step.id }).await?;
    }
    Ok(record)
}

/// Seeds processes, customers and orders once (when the tenant has no process yet).
pub async fn seed(state: &App, tenant: TenantId) -> anyhow::Result<()> {
    if !processes::list(&state.db, tenant, None, None, 1)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let windows = match create_process(
        state,
        tenant,
        "Fenstertausch",
        "Window replacement: from the customer's call to the paid invoice",
        &window_replacement(),
    )
    .await
    {
        Ok(id) => id,
        // Another instance is seeding the same database right now.
        Err(e)
            if e.downcast_ref::<workorders_persistence::StoreError>()
                .is_some_and(|e| e.is_conflict("processes_tenant_name_key")) =>
        {
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let repairs = create_process(
        state,
        tenant,
        "Reparatur",
        "Repair of windows and doors",
        &repair(),
    )
    .await?;
    let parties = create_customers(state, tenant).await?;
    crate::billing::seed_setup(state, tenant).await?;
    let system = ActorRef {
        kind: "system".to_owned(),
        id: Some("demo".to_owned()),
    };
    let p = |i: usize| parties[i % parties.len()];

    // Fresh orders, first step active.
    new_order(
        state,
        tenant,
        windows,
        p(0),
        Channel::Phone,
        "Replace three windows, ground floor",
        Priority::Normal,
    )
    .await?;
    new_order(
        state,
        tenant,
        windows,
        p(1),
        Channel::Web,
        "New shop window",
        Priority::High,
    )
    .await?;
    new_order(
        state,
        tenant,
        repairs,
        p(2),
        Channel::Email,
        "Balcony door does not close",
        Priority::Urgent,
    )
    .await?;
    // In progress at various steps.
    let o = new_order(
        state,
        tenant,
        windows,
        p(3),
        Channel::Api,
        "Stairwell windows, building B",
        Priority::Normal,
    )
    .await?;
    work_steps(state, tenant, o, 2).await?;
    let o = new_order(
        state,
        tenant,
        windows,
        p(4),
        Channel::Phone,
        "Roof window replacement",
        Priority::Normal,
    )
    .await?;
    work_steps(state, tenant, o, 4).await?;
    let o = new_order(
        state,
        tenant,
        windows,
        p(0),
        Channel::WalkIn,
        "Kitchen window",
        Priority::Low,
    )
    .await?;
    work_steps(state, tenant, o, 7).await?;
    // On hold and cancelled.
    let o = new_order(
        state,
        tenant,
        windows,
        p(1),
        Channel::Phone,
        "Back office windows",
        Priority::Normal,
    )
    .await?;
    let o = work_steps(state, tenant, o, 1).await?;
    act(
        state,
        tenant,
        o.order.id,
        &system,
        Command::Hold {
            reason: Some("customer on holiday".to_owned()),
        },
    )
    .await?;
    let o = new_order(
        state,
        tenant,
        repairs,
        p(2),
        Channel::Phone,
        "Window handle broken",
        Priority::Low,
    )
    .await?;
    act(
        state,
        tenant,
        o.order.id,
        &system,
        Command::Cancel {
            reason: "customer fixed it themselves".to_owned(),
        },
    )
    .await?;
    // Completed, invoiced, closed.
    let o = new_order(
        state,
        tenant,
        repairs,
        p(3),
        Channel::Email,
        "Leaking window seal",
        Priority::Normal,
    )
    .await?;
    // Worked; the invoice is issued (and not yet paid).
    let o = work_steps(state, tenant, o, 2).await?;
    crate::billing::invoice_order(
        state,
        tenant,
        o.order.id,
        crate::billing::repair_lines()?,
        false,
    )
    .await?;
    let o = new_order(
        state,
        tenant,
        repairs,
        p(4),
        Channel::Phone,
        "Jammed tilt-and-turn window",
        Priority::High,
    )
    .await?;
    // Invoiced and paid: closed.
    let o = work_steps(state, tenant, o, 2).await?;
    crate::billing::invoice_order(
        state,
        tenant,
        o.order.id,
        crate::billing::repair_lines()?,
        true,
    )
    .await?;
    let o = new_order(
        state,
        tenant,
        windows,
        p(0),
        Channel::Web,
        "Bedroom windows",
        Priority::Normal,
    )
    .await?;
    // The whole window process: invoiced, paid, payment checked, closed.
    let o = work_steps(state, tenant, o, 8).await?;
    crate::billing::invoice_order(
        state,
        tenant,
        o.order.id,
        crate::billing::window_lines()?,
        true,
    )
    .await?;
    let o = work_orders::get(&state.db, tenant, o.order.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo order vanished"))?;
    let o = work_steps(state, tenant, o, 1).await?;
    crate::billing::settle(state, tenant, o.order.id).await?;
    let o = new_order(
        state,
        tenant,
        repairs,
        p(1),
        Channel::Phone,
        "Warranty: window misaligned",
        Priority::Normal,
    )
    .await?;
    let o = work_steps(state, tenant, o, 2).await?;
    if let Some(invoice) = o.order.steps.iter().find(|s| s.definition.key == "invoice") {
        act(
            state,
            tenant,
            o.order.id,
            &system,
            Command::SkipStep {
                step: invoice.id,
                reason: "warranty case".to_owned(),
            },
        )
        .await?;
    }
    // Version 2 of the repair process (the decision of the demo review): intake within 30
    // minutes, and a photo of the repaired part. Two orders already follow it.
    let v2 = publish_repair_v2(state, tenant, repairs).await?;
    for (i, title) in ["Door lock sticks", "Window handle loose"]
        .iter()
        .enumerate()
    {
        let o = new_order(
            state,
            tenant,
            repairs,
            p(i + 2),
            Channel::Phone,
            title,
            Priority::Normal,
        )
        .await?;
        work_steps(state, tenant, o, 1 + i).await?;
    }
    // An order that came in last week and nobody took up: its intake is overdue, so the
    // review and the live view have something to show.
    new_order_at(
        state,
        tenant,
        repairs,
        p(4),
        Channel::Email,
        "Balcony door does not close",
        Priority::High,
        workorders_persistence::now() - Duration::days(8),
    )
    .await?;
    crate::oversight::seed(state, tenant, repairs, v2).await?;
    seed_scheduling(state, tenant, windows).await?;
    let count = work_orders::list(&state.db, tenant, &Default::default(), None, 100)
        .await?
        .len();
    tracing::info!(
        orders = count,
        "demo processes, customers and orders created"
    );
    Ok(())
}

/// Publishes version 2 of the repair process; returns its number.
async fn publish_repair_v2(
    state: &App,
    tenant: TenantId,
    process: ProcessId,
) -> anyhow::Result<i64> {
    let mut steps = repair();
    for s in &mut steps {
        if s.key == "intake" {
            s.target_duration_minutes = Some(30);
        }
        if s.key == "repair_visit" {
            s.evidence = vec![Evidence::Photo];
        }
    }
    let now = workorders_persistence::now();
    let record = processes::get(&state.db, tenant, process)
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo process vanished"))?;
    let mut tx = state.db.begin_write().await?;
    let version = processes::insert_version(tx.conn(), tenant, process, &steps, None, now).await?;
    match processes::publish_version(tx.conn(), &record, version.number, record.version, now)
        .await?
    {
        Versioned::Updated(_) => {}
        _ => anyhow::bail!("could not publish version 2 of the repair process"),
    }
    tx.commit().await?;
    Ok(version.number)
}

/// Working hours for the demo staff, the bookable on-site estimate, the widget's origin, and
/// appointments for the orders waiting for a visit.
async fn seed_scheduling(state: &App, tenant: TenantId, windows: ProcessId) -> anyhow::Result<()> {
    use workorders_domain::calendar::{LocalInterval, WeeklyHours};
    use workorders_persistence::calendars::{self, CalendarRecord};
    let now = workorders_persistence::now();
    let mut tx = state.db.begin_write().await?;
    for user in workorders_persistence::users::all_in(tx.conn(), tenant).await? {
        let field = user.role == Role::Technician;
        let hours = if field {
            LocalInterval {
                start: 7 * 60 + 30,
                end: 16 * 60 + 30,
            }
        } else {
            LocalInterval {
                start: 8 * 60,
                end: 17 * 60,
            }
        };
        let mut calendar = CalendarRecord::empty(tenant, user.id);
        calendar.weekly = WeeklyHours::weekdays(&[hours]);
        calendar.travel_buffer_minutes = if field { 30 } else { 0 };
        calendars::save(tx.conn(), &calendar, 0, now).await?;
    }
    let service = workorders_persistence::services::ServiceRecord {
        id: workorders_domain::ServiceId::new(),
        tenant_id: tenant,
        name: "Kostenvoranschlag vor Ort".to_owned(),
        description: Some(
            "A sales rep measures your windows at home and prepares a quote (about an hour)."
                .to_owned(),
        ),
        process_id: windows,
        step_key: "estimate_visit".to_owned(),
        duration_minutes: 60,
        role: Role::Technician,
        skills: vec!["installation".to_owned()],
        lead_time_minutes: 12 * 60,
        horizon_days: 28,
        granularity_minutes: 30,
        postal_prefixes: vec![
            "10".to_owned(),
            "12".to_owned(),
            "13".to_owned(),
            "14".to_owned(),
        ],
        radius_km: None,
        assignment_rule: workorders_domain::assign::AssignmentRule::LeastLoaded,
        active: true,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    workorders_persistence::services::insert(tx.conn(), &service).await?;
    let settings = workorders_persistence::tenants::get_in(tx.conn(), tenant)
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo tenant vanished"))?;
    let next = workorders_persistence::tenants::TenantRecord {
        website_origins: vec!["http://localhost:3000".to_owned()],
        ..settings.clone()
    };
    workorders_persistence::tenants::update_settings(tx.conn(), &next, settings.version, now)
        .await?;
    tx.commit().await?;
    // An appointment for every order waiting for its estimate visit, on the next weekdays at 10:00.
    let tz = settings.time_zone.tz();
    let waiting = work_orders::list(&state.db, tenant, &Default::default(), None, 100).await?;
    let mut day = now.with_timezone(&tz).date_naive();
    for order in waiting.iter().filter(|o| o.order.status.is_running()) {
        let Some(visit) = order
            .order
            .steps
            .iter()
            .find(|s| s.definition.key == "estimate_visit" && s.status.is_open())
        else {
            continue;
        };
        let Some(person) = visit.responsible else {
            continue;
        };
        day = next_weekday(day);
        let start = workorders_domain::calendar::local_instant(tz, day, 10 * 60).0;
        let appointment = workorders_persistence::appointments::AppointmentRecord {
            id: workorders_domain::AppointmentId::new(),
            tenant_id: tenant,
            work_order_id: order.order.id,
            step_id: Some(visit.id),
            start,
            end: start + Duration::minutes(60),
            status: workorders_domain::appointment::AppointmentStatus::Scheduled,
            notes: Some("Bitte vorher anrufen".to_owned()),
            assignees: vec![person],
            sequence: 0,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let mut tx = state.db.begin_write().await?;
        workorders_persistence::appointments::insert(&mut tx, &appointment).await?;
        tx.commit().await?;
    }
    Ok(())
}

fn next_weekday(day: chrono::NaiveDate) -> chrono::NaiveDate {
    use chrono::Datelike;
    let mut next = day + Duration::days(1);
    while next.weekday().number_from_monday() > 5 {
        next += Duration::days(1);
    }
    next
}

//! Online booking: what a customer does without an account, on the company website (the
//! booking widget) or the customer web pages. The company is named by its slug, a booking
//! by its private token. Rate limits and browser origins are the front door's business.
//!
//! Slots are advice: booking and rescheduling re-check the people's calendars under lock
//! inside the write transaction, so two customers racing for the last slot never both get
//! it; the loser is offered the next free starts instead.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use uuid::Uuid;
use workorders_domain::appointment::{AppointmentAction, AppointmentStatus};
use workorders_domain::calendar::Span;
use workorders_domain::slots::Slot;
use workorders_domain::tenant::parse_display_name;
use workorders_domain::user::Email;
use workorders_domain::work_order::{Channel, Command, OrderStatus, Priority, StepStatus};
use workorders_domain::{
    AppointmentId, BookingId, CustomerId, ServiceId, SiteId, TenantId, ValidationErrors,
};
use workorders_mail::templates::TemplateKind;
use workorders_persistence::appointments::{self, AppointmentRecord};
use workorders_persistence::customers::{self, Address, CustomerRecord, SiteRecord};
use workorders_persistence::services::{self, BookingRecord, ServiceRecord};
use workorders_persistence::tenants::{self, TenantRecord};
use workorders_persistence::work_orders::{self, ActorRef, NewEvent};
use workorders_persistence::{Conn, WriteTx};
use workorders_persistence::{processes, users};

use crate::App;
use crate::error::{AppError, AppResult, codes};
use crate::scheduling::{
    self, CustomerLocation, alternatives, first_name, free_people, service_slots,
};
use crate::tokens::{new_token, random_bytes, sha256_hex};
use crate::workflow::{self, DbAssigner, NewOrder};

/// Days a slot query may span.
pub const MAX_SLOT_DAYS: i64 = 31;

/// How many other starts a refused one is answered with.
const ALTERNATIVES: usize = 5;

/// The company behind a public request, by its slug.
pub async fn public_tenant(app: &App, slug: &str) -> AppResult<TenantRecord> {
    tenants::find_by_slug(&app.db, slug)
        .await?
        .ok_or(AppError::NotFound)
}

/// What the company offers for online booking (its active services).
pub async fn services(app: &App, tenant: &TenantRecord) -> AppResult<Vec<ServiceRecord>> {
    Ok(services::list(&app.db, tenant.id, true).await?)
}

/// An active service of the tenant.
async fn public_service(
    app: &App,
    tenant: &TenantRecord,
    id: ServiceId,
) -> AppResult<ServiceRecord> {
    services::get(&app.db, tenant.id, id)
        .await?
        .filter(|s| s.active)
        .ok_or(AppError::NotFound)
}

/// A slot search: local dates (default today and the following six days) and where the
/// customer is.
#[derive(Debug, Clone, Default)]
pub struct SlotSearch {
    /// First local date (default and at the earliest today).
    pub from: Option<NaiveDate>,
    /// Last local date (default six days after `from`; at most [`MAX_SLOT_DAYS`] days).
    pub to: Option<NaiveDate>,
    pub location: CustomerLocation,
}

/// Free starts of a service.
#[derive(Debug, Clone)]
pub struct SlotOffer {
    /// The company's time zone.
    pub time_zone: Tz,
    pub slots: Vec<Slot>,
    /// False when the service does not cover the customer's postal code.
    pub serves_location: bool,
}

/// Free starts of an active service between two local dates, for the customer's location.
/// Who would come is decided at booking.
pub async fn slots(
    app: &App,
    tenant: &TenantRecord,
    service_id: ServiceId,
    search: SlotSearch,
) -> AppResult<SlotOffer> {
    let service = public_service(app, tenant, service_id).await?;
    let tz = tenant.time_zone.tz();
    let now = app.db.now();
    let today = now.with_timezone(&tz).date_naive();
    let from = search.from.unwrap_or(today).max(today);
    let to = search.to.unwrap_or(from + Duration::days(6));
    if to < from || (to - from).num_days() >= MAX_SLOT_DAYS {
        return Err(AppError::malformed(
            codes::INVALID_QUERY,
            format!("`to` must be on or after `from`, at most {MAX_SLOT_DAYS} days"),
        ));
    }
    let location = search.location;
    let serves = scheduling::serves_postal_code(&service, location.postal_code.as_deref());
    let mut conn = app.db.acquire().await?;
    let slots = scheduling::cached_service_slots(
        &app.slot_cache,
        &app.db,
        &mut conn,
        tz,
        &service,
        from,
        to,
        &location,
        now,
    )
    .await?;
    Ok(SlotOffer {
        time_zone: tz,
        slots,
        serves_location: serves,
    })
}

/// Who books: a contact of their own, never matched to an existing customer. Field pointers
/// in refusals name these fields under `/customer` (`/customer/email`, ...).
#[derive(Debug, Clone)]
pub struct BookingContact {
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub street: String,
    pub postal_code: String,
    pub city: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// A booking as the customer asks for it. Refusals point at `/customer/...`, `/notes` and
/// `/consent`.
#[derive(Debug, Clone)]
pub struct NewBooking {
    pub service_id: ServiceId,
    /// A start that [`slots`] offers.
    pub start: DateTime<Utc>,
    pub customer: BookingContact,
    pub notes: Option<String>,
    /// The customer agreed to the processing of their data for this booking. Must be true.
    pub consent: bool,
    /// The private token, when the front door chose it (see [`token_for_form`]); `None`:
    /// a new random one.
    pub token: Option<String>,
}

/// The title of a booked order: the service and what the customer wrote about it (the first
/// line of the notes), so quotes and invoices name the job ("Kostenvoranschlag vor Ort –
/// drei Fenster im Erdgeschoss"); at most 200 characters.
pub fn order_title(service: &str, notes: Option<&str>) -> String {
    const MAX: usize = 200;
    let first = notes
        .and_then(|n| n.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or_default();
    let title = if first.is_empty() {
        service.to_owned()
    } else {
        format!("{service} – {first}")
    };
    if title.chars().count() <= MAX {
        return title;
    }
    let mut cut: String = title.chars().take(MAX - 1).collect();
    cut.push('…');
    cut
}

/// The customer's page of a booking (`<public base URL>/<tenant>/booking/<token>`): the link
/// in every e-mail about it.
pub fn page_link(app: &App, tenant: &TenantRecord, token: &str) -> String {
    format!(
        "{}/{}/booking/{token}",
        app.settings.mail.public_base_url.trim_end_matches('/'),
        tenant.slug
    )
}

/// The private token of the booking a web form makes: derived from the form's own secret,
/// so a second submit of the same form (double click, back button) finds the booking the
/// first one made instead of booking again. The secret carries 256 random bits, so the
/// token does too.
pub fn token_for_form(form_secret: &str) -> String {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("booking-form:{form_secret}").as_bytes());
    format!(
        "bk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// A secret for a booking form (see [`token_for_form`]).
pub fn new_form_secret() -> AppResult<String> {
    new_token("bf_").map_err(AppError::internal)
}

/// One step of the booked order, as the customer sees it.
#[derive(Debug, Clone)]
pub struct StepProgress {
    pub name: String,
    pub status: StepStatus,
}

/// What a customer may see of their booking: the appointment, the first name of who comes,
/// and the progress of the order.
#[derive(Debug, Clone)]
pub struct BookingStatus {
    /// Quote it when calling the company.
    pub reference: String,
    pub service_id: ServiceId,
    /// The postal code of the address the customer gave (for offering new starts).
    pub postal_code: Option<String>,
    pub appointment_id: AppointmentId,
    /// The appointment's SEQUENCE (bumped by every change), for calendar files.
    pub sequence: i64,
    /// `confirmed` or `cancelled`.
    pub status: String,
    /// The service's name.
    pub service: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub appointment_status: AppointmentStatus,
    /// First name of the person who comes.
    pub assigned_to: String,
    pub order_number: String,
    pub order_status: OrderStatus,
    pub progress: Vec<StepProgress>,
}

/// What came of a booking.
#[derive(Debug, Clone)]
pub enum BookingOutcome {
    /// Booked. The token is shown only here.
    Booked {
        booking: Box<BookingStatus>,
        /// Private token for the status link, rescheduling and cancelling.
        token: String,
        /// `/v1/public/<tenant>/bookings/<token>` (also the link in the confirmation).
        status_path: String,
    },
    /// The start was just taken (or is not offered): the next free starts instead.
    SlotTaken { alternatives: Vec<DateTime<Utc>> },
}

/// What came of a rescheduling.
#[derive(Debug, Clone)]
pub enum RescheduleOutcome {
    Rescheduled(Box<BookingStatus>),
    /// The start is not offered or was just taken: the next free starts instead.
    SlotTaken {
        alternatives: Vec<DateTime<Utc>>,
    },
}

fn customer_actor() -> ActorRef {
    ActorRef {
        kind: "customer".to_owned(),
        id: None,
    }
}

/// A short reference the customer can quote on the phone (`B-7K3M9Q2X`).
fn reference() -> AppResult<String> {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let bytes = random_bytes::<8>().map_err(AppError::internal)?;
    Ok(format!(
        "B-{}",
        bytes
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
            .collect::<String>()
    ))
}

/// The booking's site: the same checks as a customer's site (pointers under `/customer`),
/// with no label, no notes and the country `DE`.
fn parse_site(
    contact: &BookingContact,
    tenant: TenantId,
    customer: CustomerId,
    errors: &mut ValidationErrors,
    now: DateTime<Utc>,
) -> SiteRecord {
    let input = crate::customers::SiteInput {
        label: None,
        street: contact.street.clone(),
        postal_code: contact.postal_code.clone(),
        city: contact.city.clone(),
        country: None,
        latitude: contact.latitude,
        longitude: contact.longitude,
        notes: None,
    };
    crate::customers::parse_site(&input, tenant, customer, errors, "/customer", now)
}

/// Free slots of the week from the local day of `start` (for the check of a start and the
/// alternatives to offer).
async fn slots_around(
    app: &App,
    tenant: &TenantRecord,
    service: &ServiceRecord,
    start: DateTime<Utc>,
    location: &CustomerLocation,
) -> AppResult<Vec<Slot>> {
    let tz = tenant.time_zone.tz();
    let day = start.with_timezone(&tz).date_naive();
    let mut conn = app.db.acquire().await?;
    service_slots(
        &mut conn,
        tz,
        service,
        day,
        day + Duration::days(6),
        location,
        app.db.now(),
    )
    .await
}

/// Books a slot: creates a contact for the customer (`source: web_booking`, never matched to
/// an existing customer by e-mail), the work order (channel `web`), its appointment and the
/// assignment, queues the confirmation e-mail, all in one transaction. Two customers racing
/// for the last slot: exactly one gets it, the other gets [`BookingOutcome::SlotTaken`].
pub async fn book(
    app: &App,
    tenant: &TenantRecord,
    input: NewBooking,
) -> AppResult<BookingOutcome> {
    let now = app.db.now();
    let mut errors = ValidationErrors::new();
    let name = errors
        .check("/customer/name", parse_display_name(&input.customer.name))
        .unwrap_or_default();
    let email = errors.check("/customer/email", Email::parse(&input.customer.email));
    if !input.consent {
        errors.add(
            "/consent",
            "the customer must agree to the processing of their data",
        );
    }
    if input
        .notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > 2000)
    {
        errors.add("/notes", "at most 2000 characters");
    }
    let site = parse_site(
        &input.customer,
        tenant.id,
        CustomerId::new(),
        &mut errors,
        now,
    );
    let phone = input
        .customer
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned);
    if phone.as_ref().is_some_and(|p| {
        p.len() > 40
            || !p
                .chars()
                .all(|c| c.is_ascii_digit() || " +-()/".contains(c))
    }) {
        errors.add(
            "/customer/phone",
            "digits, spaces and + - ( ) /, at most 40 characters",
        );
    }
    errors.finish()?;
    let email =
        email.ok_or_else(|| AppError::invalid("/customer/email", "not a valid e-mail address"))?;
    let service = public_service(app, tenant, input.service_id).await?;
    let location = CustomerLocation {
        postal_code: Some(site.postal_code.clone()),
        coordinates: input.customer.latitude.zip(input.customer.longitude),
    };
    if !scheduling::serves_postal_code(&service, location.postal_code.as_deref()) {
        return Err(AppError::conflict(
            codes::OUTSIDE_SERVICE_AREA,
            "this service is not offered at this postal code",
        ));
    }
    let slots = slots_around(app, tenant, &service, input.start, &location).await?;
    let candidates = free_people(&slots, input.start);
    if candidates.is_empty() {
        return Ok(BookingOutcome::SlotTaken {
            alternatives: alternatives(&slots, input.start, ALTERNATIVES),
        });
    }
    let span = Span::new(
        input.start,
        input.start + Duration::minutes(i64::from(service.duration_minutes)),
    );
    let process = processes::get(&app.db, tenant.id, service.process_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let version_number = process.published_version.ok_or(AppError::NotFound)?;
    let version = processes::get_version(&app.db, tenant.id, process.id, version_number)
        .await?
        .ok_or(AppError::NotFound)?;

    let mut tx = app.db.begin_write().await?;
    let free = scheduling::still_free(
        &mut tx,
        &app.db,
        tenant.id,
        tenant.time_zone.tz(),
        &candidates,
        span,
        None,
    )
    .await?;
    let Some((person, why)) = scheduling::pick(
        tx.conn(),
        tenant.id,
        &format!("service:{}", service.id),
        service.assignment_rule,
        &free,
        span.start,
    )
    .await?
    else {
        drop(tx);
        let fresh = slots_around(app, tenant, &service, input.start, &location).await?;
        return Ok(BookingOutcome::SlotTaken {
            alternatives: alternatives(&fresh, input.start, ALTERNATIVES),
        });
    };
    // A contact of its own for every anonymous booking: an e-mail address proves nothing
    // (anyone can type anyone's), so a booking is never attached to an existing customer
    // and its confirmation never tells who else is on record. Staff see these contacts with
    // `GET /v1/customers?source=web_booking`.
    let customer = customers::insert(
        tx.conn(),
        &CustomerRecord {
            id: CustomerId::new(),
            tenant_id: tenant.id,
            name,
            email: Some(email.as_str().to_owned()),
            phone: phone.clone(),
            billing_address: Address {
                street: Some(site.street.clone()),
                postal_code: Some(site.postal_code.clone()),
                city: Some(site.city.clone()),
                country: Some(site.country.clone()),
            },
            vat_id: None,
            buyer_reference: None,
            notes: None,
            source: "web_booking".to_owned(),
            version: 1,
            created_at: now,
            updated_at: now,
        },
    )
    .await?;
    let site = customers::insert_site(
        tx.conn(),
        &SiteRecord {
            id: SiteId::new(),
            customer_id: customer.id,
            ..site
        },
    )
    .await?;
    let actor = customer_actor();
    let mut order = workflow::create(
        &mut tx,
        NewOrder {
            tenant_id: tenant.id,
            process_id: process.id,
            process_version_id: version.id,
            steps: version.steps,
            customer_id: customer.id,
            site_id: site.id,
            channel: Channel::Web,
            title: order_title(&service.name, input.notes.as_deref()),
            description: input
                .notes
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty()),
            priority: Priority::Normal,
            requested_start: Some(span.start),
            requested_end: None,
        },
        &actor,
        now,
    )
    .await?;
    let step = order
        .order
        .steps
        .iter()
        .find(|s| s.definition.key == service.step_key)
        .map(|s| s.id);
    let appointment = AppointmentRecord::scheduled(
        tenant.id,
        order.order.id,
        step,
        (span.start, span.end),
        vec![person],
        None,
        now,
    );
    appointments::insert(&mut tx, &appointment).await?;
    let mut events = Vec::new();
    if let Some(step) = step {
        let mut assigner = DbAssigner::load(tx.conn(), tenant.id).await?;
        let command = Command::PlanStep {
            step,
            user: person,
            reason: format!("booked online ({why})"),
        };
        events = order
            .order
            .handle(command, now, &mut assigner)
            .map_err(workflow::command_error)?;
    }
    workflow::persist(&mut tx, &mut order, &events, &actor, now).await?;
    let token = match input.token {
        Some(token) => token,
        None => new_token("bk_").map_err(AppError::internal)?,
    };
    let booking = BookingRecord {
        id: BookingId::new(),
        tenant_id: tenant.id,
        reference: reference()?,
        service_id: service.id,
        work_order_id: order.order.id,
        appointment_id: appointment.id,
        customer_id: customer.id,
        status: "confirmed".to_owned(),
        consent_at: now,
        created_at: now,
        updated_at: now,
    };
    services::insert_booking(tx.conn(), &booking, &sha256_hex(&token)).await?;
    let entry = NewEvent {
        event_type: "appointment.scheduled".to_owned(),
        data: serde_json::json!({"appointment_id": appointment.id, "start": span.start, "end": span.end, "assignee_ids": [person],
                                 "booking_reference": booking.reference, "assignment_reason": why}),
    };
    work_orders::append_events(
        &mut tx,
        tenant.id,
        order.order.id,
        Uuid::now_v7(),
        &actor,
        now,
        &[entry],
    )
    .await?;
    let status_path = format!("/v1/public/{}/bookings/{token}", tenant.slug);
    let technician = users::get_in(tx.conn(), tenant.id, person)
        .await?
        .map(|u| first_name(&u.name))
        .unwrap_or_default();
    crate::billing::queue_appointment_notice(
        &mut tx,
        crate::billing::AppointmentNotice {
            kind: TemplateKind::BookingConfirmation,
            tenant_id: tenant.id,
            work_order_id: order.order.id,
            appointment_id: appointment.id.0,
            start: span.start,
            end: span.end,
            service_name: &service.name,
            technician_name: &technician,
            location: format!("{}, {} {}", site.street, site.postal_code, site.city),
            manage_link: page_link(app, tenant, &token),
            sequence: appointment.sequence,
        },
        now,
    )
    .await?;
    // Read inside the transaction: with an Idempotency-Key the commit is parked with the
    // reply, and nothing may be read through the pool after it.
    let view = status_on(tx.conn(), tenant, &booking).await?;
    tx.commit().await?;
    tracing::info!(booking = %booking.reference, order = %order.number, "booked online");
    Ok(BookingOutcome::Booked {
        booking: Box::new(view),
        token,
        status_path,
    })
}

/// What the customer sees of a booking, read on a connection (inside a transaction before
/// its commit, so the reply stored for Idempotency-Key replays shows what it did).
async fn status_on(
    conn: &mut Conn,
    tenant: &TenantRecord,
    booking: &BookingRecord,
) -> AppResult<BookingStatus> {
    let appointment = appointments::get(conn, tenant.id, booking.appointment_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let order = work_orders::get_in(conn, tenant.id, booking.work_order_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let service = services::get_in(conn, tenant.id, booking.service_id)
        .await?
        .map(|s| s.name)
        .unwrap_or_default();
    let mut assigned_to = String::new();
    if let Some(person) = appointment.assignees.first()
        && let Some(user) = users::get_in(conn, tenant.id, *person).await?
    {
        assigned_to = first_name(&user.name);
    }
    let postal_code = customers::get_site_in(conn, tenant.id, order.site_id)
        .await?
        .map(|s| s.postal_code);
    Ok(BookingStatus {
        reference: booking.reference.clone(),
        service_id: booking.service_id,
        postal_code,
        appointment_id: appointment.id,
        sequence: appointment.sequence,
        status: booking.status.clone(),
        service,
        start: appointment.start,
        end: appointment.end,
        appointment_status: appointment.status,
        assigned_to,
        order_number: order.number,
        order_status: order.order.status,
        progress: order
            .order
            .steps
            .iter()
            .map(|s| StepProgress {
                name: s.definition.name.clone(),
                status: s.status,
            })
            .collect(),
    })
}

/// [`status_on`] through the pool.
async fn status_of(
    app: &App,
    tenant: &TenantRecord,
    booking: &BookingRecord,
) -> AppResult<BookingStatus> {
    let mut conn = app.db.acquire().await?;
    status_on(&mut conn, tenant, booking).await
}

/// The booking behind a private token.
async fn booking_by_token(
    app: &App,
    tenant: &TenantRecord,
    token: &str,
) -> AppResult<BookingRecord> {
    services::booking_by_token(&app.db, tenant.id, &sha256_hex(token))
        .await?
        .ok_or(AppError::NotFound)
}

/// The booking behind a private token, as the customer sees it.
pub async fn status(app: &App, tenant: &TenantRecord, token: &str) -> AppResult<BookingStatus> {
    let booking = booking_by_token(app, tenant, token).await?;
    status_of(app, tenant, &booking).await
}

/// The booking's appointment as a one-event calendar file (the same event as the
/// confirmation e-mail's: same UID, so calendars update it instead of adding one).
pub async fn calendar_file(app: &App, tenant: &TenantRecord, token: &str) -> AppResult<String> {
    let booking = booking_by_token(app, tenant, token).await?;
    let status = status_of(app, tenant, &booking).await?;
    Ok(crate::billing::booking_ics(
        &status.appointment_id.0.to_string(),
        status.start,
        status.end,
        &format!("{} – {}", status.service, tenant.name),
        "",
        &format!("{} {}", status.reference, status.order_number),
        if status.appointment_status == AppointmentStatus::Cancelled {
            crate::billing::CalendarUpdate::Cancel {
                sequence: status.sequence,
            }
        } else {
            crate::billing::CalendarUpdate::Publish {
                sequence: status.sequence,
            }
        },
        app.db.now(),
    ))
}

/// Moves the appointment to another start that [`slots`] offers for the service (its grid,
/// lead time, horizon and service area), keeping the person if they are free then. Any other
/// start is answered with [`RescheduleOutcome::SlotTaken`].
pub async fn reschedule(
    app: &App,
    tenant: &TenantRecord,
    token: &str,
    start: DateTime<Utc>,
) -> AppResult<RescheduleOutcome> {
    let booking = booking_by_token(app, tenant, token).await?;
    let tz = tenant.time_zone.tz();
    let service = services::get(&app.db, tenant.id, booking.service_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut conn = app.db.acquire().await?;
    let current = appointments::get(&mut conn, tenant.id, booking.appointment_id)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    if booking.status != "confirmed" || !current.status.is_changeable() {
        return Err(AppError::InvalidTransition {
            detail: "this booking can no longer be changed online; please call us".to_owned(),
            current_state: current.status.as_str().to_owned(),
            allowed_actions: Vec::new(),
        });
    }
    let order = work_orders::get(&app.db, tenant.id, booking.work_order_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let location = crate::dispatch::site_location(app, tenant.id, order.site_id).await?;
    let span = Span::new(
        start,
        start + Duration::minutes(i64::from(service.duration_minutes)),
    );
    // Exactly what the booking widget offers (grid, lead time, horizon, service area): a
    // start that `slots` would not show is refused like a taken one, with alternatives.
    // The slot search sees the current appointment as busy.
    if !scheduling::serves_postal_code(&service, location.postal_code.as_deref()) {
        return Err(AppError::conflict(
            codes::OUTSIDE_SERVICE_AREA,
            "this service is no longer offered at this address; please call us",
        ));
    }
    let slots = slots_around(app, tenant, &service, start, &location).await?;
    if !slots.iter().any(|s| s.start == start) {
        return Ok(RescheduleOutcome::SlotTaken {
            alternatives: alternatives(&slots, start, ALTERNATIVES),
        });
    }
    let mut candidates = free_people(&slots, start);
    candidates.extend(current.assignees.iter().copied());
    candidates.sort();
    candidates.dedup();
    let mut tx = app.db.begin_write().await?;
    let free = scheduling::still_free(
        &mut tx,
        &app.db,
        tenant.id,
        tz,
        &candidates,
        span,
        Some(current.id),
    )
    .await?;
    let earliest = app.db.now() + Duration::minutes(i64::from(service.lead_time_minutes));
    let keep = current
        .assignees
        .first()
        .copied()
        .filter(|p| free.contains(p));
    let person = match keep {
        Some(p) => Some(p),
        None => scheduling::pick(
            tx.conn(),
            tenant.id,
            &format!("service:{}", service.id),
            service.assignment_rule,
            &free,
            span.start,
        )
        .await?
        .map(|(p, _)| p),
    };
    let Some(person) = person.filter(|_| start >= earliest) else {
        drop(tx);
        return Ok(RescheduleOutcome::SlotTaken {
            alternatives: alternatives(&slots, start, ALTERNATIVES),
        });
    };
    let mut next = current.clone();
    next.start = span.start;
    next.end = span.end;
    next.assignees = vec![person];
    let now = app.db.now();
    if !appointments::update(&mut tx, &next, current.version, now).await? {
        return Err(AppError::conflict(
            codes::SLOT_TAKEN,
            "the booking changed meanwhile; reload it",
        ));
    }
    if let (Some(step), true) = (next.step_id, keep.is_none()) {
        let mut order =
            work_orders::load_for_update(tx.conn(), &app.db, tenant.id, booking.work_order_id)
                .await?
                .ok_or(AppError::NotFound)?;
        let mut assigner = DbAssigner::load(tx.conn(), tenant.id).await?;
        if let Ok(events) = order.order.handle(
            Command::PlanStep {
                step,
                user: person,
                reason: "rescheduled online".to_owned(),
            },
            now,
            &mut assigner,
        ) {
            workflow::persist(&mut tx, &mut order, &events, &customer_actor(), now).await?;
        }
    }
    let entry = NewEvent {
        event_type: "appointment.changed".to_owned(),
        data: serde_json::json!({"appointment_id": next.id, "start": next.start, "end": next.end, "assignee_ids": next.assignees,
                                 "before": {"start": current.start, "end": current.end}, "by": "customer"}),
    };
    work_orders::append_events(
        &mut tx,
        tenant.id,
        booking.work_order_id,
        Uuid::now_v7(),
        &customer_actor(),
        now,
        &[entry],
    )
    .await?;
    let mut moved = next.clone();
    moved.sequence = current.sequence + 1;
    queue_change_notice(
        app,
        &mut tx,
        tenant,
        &booking,
        &moved,
        token,
        TemplateKind::BookingRescheduled,
        now,
    )
    .await?;
    let view = status_on(tx.conn(), tenant, &booking).await?;
    tx.commit().await?;
    Ok(RescheduleOutcome::Rescheduled(Box::new(view)))
}

/// E-mails the customer that their booking was moved or cancelled, with a calendar file that
/// updates (same UID, the appointment's new SEQUENCE) or removes (`METHOD:CANCEL`) the entry
/// the confirmation made; inside the change's transaction. Skipped without an address.
#[allow(clippy::too_many_arguments)]
async fn queue_change_notice(
    app: &App,
    tx: &mut WriteTx,
    tenant: &TenantRecord,
    booking: &BookingRecord,
    appointment: &AppointmentRecord,
    token: &str,
    kind: TemplateKind,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let service = services::get_in(tx.conn(), tenant.id, booking.service_id)
        .await?
        .map(|s| s.name)
        .unwrap_or_default();
    let mut technician = String::new();
    if let Some(person) = appointment.assignees.first()
        && let Some(user) = users::get_in(tx.conn(), tenant.id, *person).await?
    {
        technician = first_name(&user.name);
    }
    let order = work_orders::get_in(tx.conn(), tenant.id, booking.work_order_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let location = customers::get_site_in(tx.conn(), tenant.id, order.site_id)
        .await?
        .map(|s| format!("{}, {} {}", s.street, s.postal_code, s.city))
        .unwrap_or_default();
    crate::billing::queue_appointment_notice(
        tx,
        crate::billing::AppointmentNotice {
            kind,
            tenant_id: tenant.id,
            work_order_id: booking.work_order_id,
            appointment_id: appointment.id.0,
            start: appointment.start,
            end: appointment.end,
            service_name: &service,
            technician_name: &technician,
            location,
            manage_link: page_link(app, tenant, token),
            sequence: appointment.sequence,
        },
        now,
    )
    .await?;
    Ok(())
}

/// Cancels the appointment and the order (`reason` defaults to "cancelled by the customer").
/// Cancelling a cancelled booking changes nothing.
pub async fn cancel(
    app: &App,
    tenant: &TenantRecord,
    token: &str,
    reason: Option<String>,
) -> AppResult<BookingStatus> {
    let mut booking = booking_by_token(app, tenant, token).await?;
    if booking.status == "cancelled" {
        return status_of(app, tenant, &booking).await;
    }
    let now = app.db.now();
    let mut tx = app.db.begin_write().await?;
    let current = appointments::get(tx.conn(), tenant.id, booking.appointment_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let Some(status) = current.status.apply(AppointmentAction::Cancel) else {
        return Err(AppError::InvalidTransition {
            detail: "this appointment can no longer be cancelled online; please call us".to_owned(),
            current_state: current.status.as_str().to_owned(),
            allowed_actions: Vec::new(),
        });
    };
    let mut next = current.clone();
    next.status = status;
    if !appointments::update(&mut tx, &next, current.version, now).await? {
        return Err(AppError::conflict(
            codes::CONFLICT,
            "the booking changed meanwhile; try again",
        ));
    }
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "cancelled by the customer".to_owned());
    let mut order =
        work_orders::load_for_update(tx.conn(), &app.db, tenant.id, booking.work_order_id)
            .await?
            .ok_or(AppError::NotFound)?;
    let mut assigner = DbAssigner::load(tx.conn(), tenant.id).await?;
    let mut events = Vec::new();
    if let Ok(more) = order.order.handle(
        Command::Cancel {
            reason: reason.clone(),
        },
        now,
        &mut assigner,
    ) {
        events = more;
    }
    workflow::persist(&mut tx, &mut order, &events, &customer_actor(), now).await?;
    let entry = NewEvent {
        event_type: "appointment.cancelled".to_owned(),
        data: serde_json::json!({"appointment_id": next.id, "reason": reason, "by": "customer", "booking_reference": booking.reference}),
    };
    work_orders::append_events(
        &mut tx,
        tenant.id,
        booking.work_order_id,
        Uuid::now_v7(),
        &customer_actor(),
        now,
        &[entry],
    )
    .await?;
    services::set_booking_status(tx.conn(), booking.id, "cancelled", now).await?;
    booking.status = "cancelled".to_owned();
    let mut cancelled = next.clone();
    cancelled.sequence = current.sequence + 1;
    queue_change_notice(
        app,
        &mut tx,
        tenant,
        &booking,
        &cancelled,
        token,
        TemplateKind::BookingCancelled,
        now,
    )
    .await?;
    let view = status_on(tx.conn(), tenant, &booking).await?;
    tx.commit().await?;
    Ok(view)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_booked_order_is_titled_by_service_and_what_the_customer_wrote() {
        assert_eq!(super::order_title("Reparatur", None), "Reparatur");
        assert_eq!(super::order_title("Reparatur", Some("  \n ")), "Reparatur");
        assert_eq!(
            super::order_title("Reparatur", Some("\nDrei Fenster klemmen\nAltbau")),
            "Reparatur – Drei Fenster klemmen"
        );
        let long = super::order_title("Reparatur", Some(&"x".repeat(500)));
        assert_eq!(long.chars().count(), 200);
        assert!(long.ends_with('…'));
    }
}

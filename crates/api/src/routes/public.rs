//! The website booking widget: public endpoints under `/v1/public/{tenant}/`, no account.
//! Rate limited per client address and per tenant; browsers may call them from the tenant's
//! configured website origins only.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_domain::appointment::{AppointmentAction, AppointmentStatus};
use workorders_domain::calendar::Span;
use workorders_domain::tenant::parse_display_name;
use workorders_domain::text::{Line, Text};
use workorders_domain::user::Email;
use workorders_domain::work_order::{Channel, Command, Priority};
use workorders_domain::{
    AppointmentId, BookingId, CustomerId, ServiceId, SiteId, ValidationErrors,
};
use workorders_persistence::appointments::{self, AppointmentRecord};
use workorders_persistence::customers::{self, Address, CustomerRecord};
use workorders_persistence::services::{self, BookingRecord, ServiceRecord};
use workorders_persistence::tenants::{self, TenantRecord};
use workorders_persistence::work_orders::{self, ActorRef, NewEvent};
use workorders_persistence::{processes, users};

use crate::auth::tokens::{new_token, random_bytes, sha256_hex};
use crate::error::{ApiError, ApiResult, Problem, codes};
use crate::extract::ValidJson;
use crate::routes::client_ip;
use crate::scheduling::{
    self, CustomerLocation, alternatives, first_name, free_people, service_slots,
};
use crate::state::AppState;
use crate::workflow::{self, DbAssigner, NewOrder};

/// Days a slot query may span.
const MAX_SLOT_DAYS: i64 = 31;

/// Resolves the tenant of a public request and applies the rate limits.
async fn public_tenant(req: &HttpRequest, state: &AppState, slug: &str) -> ApiResult<TenantRecord> {
    state
        .public_ip_limiter
        .attempt(&client_ip(req))
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    state
        .public_tenant_limiter
        .attempt(slug)
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    tenants::find_by_slug(&state.db, slug)
        .await?
        .ok_or(ApiError::NotFound)
}

fn customer_actor() -> ActorRef {
    ActorRef {
        kind: "customer".to_owned(),
        id: None,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicService {
    pub id: Uuid,
    #[schema(example = "Kostenvoranschlag vor Ort")]
    pub name: String,
    pub description: Option<String>,
    pub duration_minutes: u32,
    /// Earliest booking ahead of now, minutes.
    pub lead_time_minutes: u32,
    pub horizon_days: u32,
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicServiceList {
    pub items: Vec<PublicService>,
}

/// Bookable services
///
/// What the company offers for online booking.
#[utoipa::path(
    operation_id = "listPublicServices",
    tag = "public",
    params(("tenant" = String, Path, description = "The company's slug")),
    responses(
        (status = 200, description = "Active services", body = PublicServiceList),
        (status = 404, description = "Unknown company", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/public/{tenant}/services")]
pub async fn list_public_services(
    req: HttpRequest,
    state: web::Data<AppState>,
    tenant: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let tenant = public_tenant(&req, &state, &tenant).await?;
    let items = services::list(&state.db, tenant.id, true).await?;
    Ok(HttpResponse::Ok().json(PublicServiceList {
        items: items
            .into_iter()
            .map(|s| PublicService {
                id: s.id.as_uuid(),
                name: s.name,
                description: s.description,
                duration_minutes: s.duration_minutes,
                lead_time_minutes: s.lead_time_minutes,
                horizon_days: s.horizon_days,
                time_zone: tenant.time_zone.name().to_owned(),
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotQuery {
    /// First local date (default today).
    #[param(value_type = Option<String>, example = "2026-12-01")]
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_day")]
    pub from: Option<NaiveDate>,
    /// Last local date (default a week after `from`; at most 31 days).
    #[param(value_type = Option<String>, example = "2026-12-07")]
    #[serde(default, deserialize_with = "workorders_domain::bounds::opt_day")]
    pub to: Option<NaiveDate>,
    /// The customer's postal code (service area).
    #[param(example = "10115")]
    pub postal_code: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// A free start time, in UTC and the company's time zone.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicSlot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Local wall-clock start, e.g. `2026-12-01T09:00:00+01:00`.
    pub local_start: String,
    pub local_end: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlotList {
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    pub slots: Vec<PublicSlot>,
    /// False when the service does not cover the given postal code.
    pub serves_location: bool,
}

fn public_slot(tz: Tz, start: DateTime<Utc>, end: DateTime<Utc>) -> PublicSlot {
    PublicSlot {
        start,
        end,
        local_start: start.with_timezone(&tz).to_rfc3339(),
        local_end: end.with_timezone(&tz).to_rfc3339(),
    }
}

async fn public_service(
    state: &AppState,
    tenant: &TenantRecord,
    id: Uuid,
) -> ApiResult<ServiceRecord> {
    services::get(&state.db, tenant.id, ServiceId(id))
        .await?
        .filter(|s| s.active)
        .ok_or(ApiError::NotFound)
}

/// Free slots
///
/// Free start times of a service between two local dates, for the customer's postal code.
/// Who would come is decided at booking.
#[utoipa::path(
    operation_id = "listSlots",
    tag = "public",
    params(("tenant" = String, Path, description = "The company's slug"), ("service_id" = Uuid, Path, description = "Service id"), SlotQuery),
    responses(
        (status = 200, description = "Free slots", body = SlotList),
        (status = 400, description = "Bad date range", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown company or service", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/public/{tenant}/services/{service_id}/slots")]
pub async fn list_slots(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, Uuid)>,
    query: web::Query<SlotQuery>,
) -> ApiResult<HttpResponse> {
    let (slug, service_id) = path.into_inner();
    let tenant = public_tenant(&req, &state, &slug).await?;
    let service = public_service(&state, &tenant, service_id).await?;
    let tz = tenant.time_zone.tz();
    let now = state.db.now();
    let today = now.with_timezone(&tz).date_naive();
    let from = query.from.unwrap_or(today).max(today);
    let to = query.to.unwrap_or(from + Duration::days(6));
    if to < from || (to - from).num_days() >= MAX_SLOT_DAYS {
        return Err(ApiError::bad_request(
            codes::INVALID_QUERY,
            format!("`to` must be on or after `from`, at most {MAX_SLOT_DAYS} days"),
        ));
    }
    let location = CustomerLocation {
        postal_code: query.postal_code.clone(),
        coordinates: query.latitude.zip(query.longitude),
    };
    let serves = scheduling::serves_postal_code(&service, location.postal_code.as_deref());
    let mut conn = state.db.acquire().await?;
    let slots = scheduling::cached_service_slots(
        &state.slot_cache,
        &state.db,
        &mut conn,
        tz,
        &service,
        from,
        to,
        &location,
        now,
    )
    .await?;
    Ok(HttpResponse::Ok().json(SlotList {
        time_zone: tz.name().to_owned(),
        slots: slots
            .iter()
            .map(|s| public_slot(tz, s.start, s.end))
            .collect(),
        serves_location: serves,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingCustomer {
    #[schema(value_type = String, example = "Jana Becker", min_length = 1, max_length = 200)]
    pub name: Line<200>,
    #[schema(value_type = String, max_length = 254, example = "jana.becker@example.com")]
    pub email: Line<254>,
    #[schema(value_type = Option<String>, max_length = 40, example = "+49 30 555 0707")]
    pub phone: Option<Line<40>>,
    #[schema(value_type = String, max_length = 200, example = "Ringstraße 4")]
    pub street: Line<200>,
    #[schema(value_type = String, max_length = 16, example = "12203")]
    pub postal_code: Line<16>,
    #[schema(value_type = String, max_length = 200, example = "Berlin")]
    pub city: Line<200>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBookingRequest {
    pub service_id: Uuid,
    /// A start from `listSlots`.
    #[serde(deserialize_with = "workorders_domain::bounds::instant")]
    pub start: DateTime<Utc>,
    pub customer: BookingCustomer,
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub notes: Option<Text<2000>>,
    /// The customer agreed to the processing of their data for this booking. Must be true.
    pub consent: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookedAppointment {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub local_start: String,
    pub local_end: String,
    #[schema(example = "scheduled")]
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StepProgress {
    pub name: String,
    #[schema(example = "done")]
    pub status: String,
}

/// What a customer sees of their booking.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingView {
    /// Quote it when calling the company.
    #[schema(example = "B-7K3M9Q2X")]
    pub reference: String,
    /// `confirmed` or `cancelled`.
    pub status: String,
    pub service: String,
    pub appointment: BookedAppointment,
    /// First name of the person who comes.
    #[schema(example = "Tim")]
    pub assigned_to: String,
    #[schema(example = "WO-2026-00042")]
    pub order_number: String,
    pub order_status: String,
    pub progress: Vec<StepProgress>,
}

/// A new booking: the status token is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedBooking {
    #[serde(flatten)]
    pub booking: BookingView,
    /// Private token for the status link, rescheduling and cancelling (keep it secret).
    pub token: String,
    /// `/v1/public/<tenant>/bookings/<token>`.
    pub status_path: String,
}

/// 409 `slot_taken` with the next free starts.
fn slot_taken(alternatives: Vec<DateTime<Utc>>, tz: Tz) -> HttpResponse {
    let problem = Problem::new(
        actix_web::http::StatusCode::CONFLICT,
        codes::SLOT_TAKEN,
        "this time was just taken; choose another",
    );
    let body = serde_json::json!({
        "type": problem.type_uri, "title": problem.title, "status": problem.status, "detail": problem.detail, "code": problem.code,
        "alternatives": alternatives.iter().map(|s| serde_json::json!({"start": s, "local_start": s.with_timezone(&tz).to_rfc3339()})).collect::<Vec<_>>(),
    });
    HttpResponse::Conflict()
        .content_type(crate::error::PROBLEM_CONTENT_TYPE)
        .json(body)
}

fn reference() -> ApiResult<String> {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let bytes = random_bytes::<8>().map_err(ApiError::internal)?;
    Ok(format!(
        "B-{}",
        bytes
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
            .collect::<String>()
    ))
}

async fn slots_around(
    state: &AppState,
    tenant: &TenantRecord,
    service: &ServiceRecord,
    start: DateTime<Utc>,
    location: &CustomerLocation,
) -> ApiResult<Vec<workorders_domain::slots::Slot>> {
    let tz = tenant.time_zone.tz();
    let day = start.with_timezone(&tz).date_naive();
    let mut conn = state.db.acquire().await?;
    service_slots(
        &mut conn,
        tz,
        service,
        day,
        day + Duration::days(6),
        location,
        state.db.now(),
    )
    .await
    .map_err(ApiError::from)
}

/// Book a slot
///
/// Creates a contact for the customer (`source: web_booking`, never matched to an existing
/// customer by e-mail), the work order (channel `web`), its appointment and the assignment,
/// in one transaction. Two customers racing for the last
/// slot: exactly one gets it, the other gets 409 `slot_taken` with `alternatives`.
/// `Idempotency-Key` is honoured.
#[utoipa::path(
    operation_id = "createBooking",
    tag = "public",
    params(("tenant" = String, Path, description = "The company's slug")),
    request_body = CreateBookingRequest,
    responses(
        (status = 201, description = "Booked", body = CreatedBooking, headers(("Location" = String))),
        (status = 404, description = "Unknown company or service", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The slot is taken (`slot_taken`, with `alternatives`) or outside the service area", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/public/{tenant}/bookings")]
pub async fn create_booking(
    req: HttpRequest,
    state: web::Data<AppState>,
    tenant: web::Path<String>,
    body: ValidJson<CreateBookingRequest>,
) -> ApiResult<HttpResponse> {
    let tenant = public_tenant(&req, &state, &tenant).await?;
    let body = body.into_inner();
    let tz = tenant.time_zone.tz();
    let now = state.db.now();
    let mut errors = ValidationErrors::new();
    let name = errors
        .check("/customer/name", parse_display_name(&body.customer.name))
        .unwrap_or_default();
    let email = errors.check("/customer/email", Email::parse(&body.customer.email));
    if !body.consent {
        errors.add(
            "/consent",
            "the customer must agree to the processing of their data",
        );
    }
    if body
        .notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > 2000)
    {
        errors.add("/notes", "at most 2000 characters");
    }
    let site_request = crate::schemas::customers::CreateSiteRequest {
        label: None,
        street: body.customer.street.clone(),
        postal_code: body.customer.postal_code.clone(),
        city: body.customer.city.clone(),
        country: None,
        latitude: body.customer.latitude,
        longitude: body.customer.longitude,
        notes: None,
    };
    let mut site = crate::schemas::customers::parse_site(
        &site_request,
        tenant.id,
        CustomerId::new(),
        &mut errors,
        "/customer",
        now,
    );
    let phone = body
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
        email.ok_or_else(|| ApiError::invalid("/customer/email", "not a valid e-mail address"))?;
    let service = public_service(&state, &tenant, body.service_id).await?;
    let location = CustomerLocation {
        postal_code: Some(site.postal_code.clone()),
        coordinates: body.customer.latitude.zip(body.customer.longitude),
    };
    if !scheduling::serves_postal_code(&service, location.postal_code.as_deref()) {
        return Err(ApiError::conflict(
            codes::OUTSIDE_SERVICE_AREA,
            "this service is not offered at this postal code",
        ));
    }
    let slots = slots_around(&state, &tenant, &service, body.start, &location).await?;
    let candidates = free_people(&slots, body.start);
    if candidates.is_empty() {
        return Ok(slot_taken(alternatives(&slots, body.start, 5), tz));
    }
    let span = Span::new(
        body.start,
        body.start + Duration::minutes(i64::from(service.duration_minutes)),
    );
    let process = processes::get(&state.db, tenant.id, service.process_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let version_number = process.published_version.ok_or(ApiError::NotFound)?;
    let version = processes::get_version(&state.db, tenant.id, process.id, version_number)
        .await?
        .ok_or(ApiError::NotFound)?;

    let mut tx = state.db.begin_write().await?;
    let free = scheduling::still_free(
        &mut tx,
        &state.db,
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
        let fresh = slots_around(&state, &tenant, &service, body.start, &location).await?;
        return Ok(slot_taken(alternatives(&fresh, body.start, 5), tz));
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
    site.id = SiteId::new();
    site.customer_id = customer.id;
    let site = customers::insert_site(tx.conn(), &site).await?;
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
            title: service.name.clone(),
            description: body
                .notes
                .clone()
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
    let appointment = AppointmentRecord {
        id: AppointmentId::new(),
        tenant_id: tenant.id,
        work_order_id: order.order.id,
        step_id: step,
        start: span.start,
        end: span.end,
        status: AppointmentStatus::Scheduled,
        notes: None,
        assignees: vec![person],
        sequence: 0,
        version: 1,
        created_at: now,
        updated_at: now,
    };
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
    let token = new_token("bk_").map_err(ApiError::internal)?;
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
            kind: workorders_mail::templates::TemplateKind::BookingConfirmation,
            tenant_id: tenant.id,
            work_order_id: order.order.id,
            appointment_id: appointment.id.0,
            start: span.start,
            end: span.end,
            service_name: &service.name,
            technician_name: &technician,
            location: format!("{}, {} {}", site.street, site.postal_code, site.city),
            manage_link: format!(
                "{}{status_path}",
                state.settings.mail.public_base_url.trim_end_matches('/')
            ),
        },
        now,
    )
    .await?;
    let view = booking_view_on(tx.conn(), &tenant, &booking).await?;
    tx.commit().await?;
    tracing::info!(booking = %booking.reference, order = %order.number, "booked online");
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::LOCATION, status_path.clone()))
        .json(CreatedBooking {
            booking: view,
            token,
            status_path,
        }))
}

async fn booking_view(
    state: &AppState,
    tenant: &TenantRecord,
    booking: &BookingRecord,
) -> ApiResult<BookingView> {
    let mut conn = state.db.acquire().await?;
    booking_view_on(&mut conn, tenant, booking).await
}

/// What the customer sees, read on a connection (inside a transaction before its commit,
/// so the reply stored for Idempotency-Key replays shows what the transaction did).
async fn booking_view_on(
    conn: &mut workorders_persistence::Conn,
    tenant: &TenantRecord,
    booking: &BookingRecord,
) -> ApiResult<BookingView> {
    let tz = tenant.time_zone.tz();
    let appointment = appointments::get(conn, tenant.id, booking.appointment_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let order = work_orders::get_in(conn, tenant.id, booking.work_order_id)
        .await?
        .ok_or(ApiError::NotFound)?;
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
    let slot = public_slot(tz, appointment.start, appointment.end);
    Ok(BookingView {
        reference: booking.reference.clone(),
        status: booking.status.clone(),
        service,
        appointment: BookedAppointment {
            start: slot.start,
            end: slot.end,
            local_start: slot.local_start,
            local_end: slot.local_end,
            status: appointment.status.as_str().to_owned(),
        },
        assigned_to,
        order_number: order.number,
        order_status: order.order.status.as_str().to_owned(),
        progress: order
            .order
            .steps
            .iter()
            .map(|s| StepProgress {
                name: s.definition.name.clone(),
                status: s.status.as_str().to_owned(),
            })
            .collect(),
    })
}

async fn booking_by_token(
    state: &AppState,
    tenant: &TenantRecord,
    token: &str,
) -> ApiResult<BookingRecord> {
    services::booking_by_token(&state.db, tenant.id, &sha256_hex(token))
        .await?
        .ok_or(ApiError::NotFound)
}

/// Booking status
///
/// What the customer may see: their appointment, the first name of who comes, and the
/// progress of their order.
#[utoipa::path(
    operation_id = "getBooking",
    tag = "public",
    params(("tenant" = String, Path, description = "The company's slug"), ("token" = String, Path, description = "The private booking token")),
    responses(
        (status = 200, description = "The booking", body = BookingView),
        (status = 404, description = "Unknown booking", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/public/{tenant}/bookings/{token}")]
pub async fn get_booking(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (slug, token) = path.into_inner();
    let tenant = public_tenant(&req, &state, &slug).await?;
    let booking = booking_by_token(&state, &tenant, &token).await?;
    Ok(HttpResponse::Ok().json(booking_view(&state, &tenant, &booking).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    /// A new start from `listSlots`.
    #[serde(deserialize_with = "workorders_domain::bounds::instant")]
    pub start: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBookingRequest {
    #[schema(value_type = Option<String>, max_length = 1000)]
    pub reason: Option<Text<1000>>,
}

/// Reschedule a booking
///
/// Moves the appointment to another start that `listSlots` offers for the service (its
/// grid, lead time, horizon and service area), keeping the person if they are free then.
/// Any other start answers 409 `slot_taken` with alternatives.
#[utoipa::path(
    operation_id = "rescheduleBooking",
    tag = "public",
    params(("tenant" = String, Path, description = "The company's slug"), ("token" = String, Path, description = "The private booking token")),
    request_body = RescheduleRequest,
    responses(
        (status = 200, description = "The booking", body = BookingView),
        (status = 404, description = "Unknown booking", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Taken (`slot_taken`, with `alternatives`) or no longer changeable (`invalid_transition`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/public/{tenant}/bookings/{token}/reschedule")]
pub async fn reschedule_booking(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: ValidJson<RescheduleRequest>,
) -> ApiResult<HttpResponse> {
    let (slug, token) = path.into_inner();
    let tenant = public_tenant(&req, &state, &slug).await?;
    let booking = booking_by_token(&state, &tenant, &token).await?;
    let tz = tenant.time_zone.tz();
    let service = services::get(&state.db, tenant.id, booking.service_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut conn = state.db.acquire().await?;
    let current = appointments::get(&mut conn, tenant.id, booking.appointment_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    drop(conn);
    if booking.status != "confirmed" || !current.status.is_changeable() {
        return Err(ApiError::InvalidTransition {
            detail: "this booking can no longer be changed online; please call us".to_owned(),
            current_state: current.status.as_str().to_owned(),
            allowed_actions: Vec::new(),
        });
    }
    let order = work_orders::get(&state.db, tenant.id, booking.work_order_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let site = customers::get_site(&state.db, tenant.id, order.site_id).await?;
    let location = CustomerLocation {
        postal_code: site.as_ref().map(|s| s.postal_code.clone()),
        coordinates: site.and_then(|s| s.latitude.zip(s.longitude)),
    };
    let start = body.start;
    let span = Span::new(
        start,
        start + Duration::minutes(i64::from(service.duration_minutes)),
    );
    // Exactly what the booking widget offers (grid, lead time, horizon, service area): a
    // start that `listSlots` would not show is refused like a taken one, with alternatives.
    // The slot search sees the current appointment as busy.
    if !scheduling::serves_postal_code(&service, location.postal_code.as_deref()) {
        return Err(ApiError::conflict(
            codes::OUTSIDE_SERVICE_AREA,
            "this service is no longer offered at this address; please call us",
        ));
    }
    let slots = slots_around(&state, &tenant, &service, start, &location).await?;
    if !slots.iter().any(|s| s.start == start) {
        return Ok(slot_taken(alternatives(&slots, start, 5), tz));
    }
    let mut candidates = free_people(&slots, start);
    candidates.extend(current.assignees.iter().copied());
    candidates.sort();
    candidates.dedup();
    let mut tx = state.db.begin_write().await?;
    let free = scheduling::still_free(
        &mut tx,
        &state.db,
        tenant.id,
        tz,
        &candidates,
        span,
        Some(current.id),
    )
    .await?;
    let earliest = state.db.now() + Duration::minutes(i64::from(service.lead_time_minutes));
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
        return Ok(slot_taken(alternatives(&slots, start, 5), tz));
    };
    let mut next = current.clone();
    next.start = span.start;
    next.end = span.end;
    next.assignees = vec![person];
    let now = state.db.now();
    if !appointments::update(&mut tx, &next, current.version, now).await? {
        return Err(ApiError::conflict(
            codes::SLOT_TAKEN,
            "the booking changed meanwhile; reload it",
        ));
    }
    if let (Some(step), true) = (next.step_id, keep.is_none()) {
        let mut order =
            work_orders::load_for_update(tx.conn(), &state.db, tenant.id, booking.work_order_id)
                .await?
                .ok_or(ApiError::NotFound)?;
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
    let view = booking_view_on(tx.conn(), &tenant, &booking).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Cancel a booking
///
/// Cancels the appointment and the order.
#[utoipa::path(
    operation_id = "cancelBooking",
    tag = "public",
    params(("tenant" = String, Path, description = "The company's slug"), ("token" = String, Path, description = "The private booking token")),
    request_body = CancelBookingRequest,
    responses(
        (status = 200, description = "The cancelled booking", body = BookingView),
        (status = 404, description = "Unknown booking", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No longer cancellable online (`invalid_transition`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/public/{tenant}/bookings/{token}/cancel")]
pub async fn cancel_booking(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: ValidJson<CancelBookingRequest>,
) -> ApiResult<HttpResponse> {
    let (slug, token) = path.into_inner();
    let tenant = public_tenant(&req, &state, &slug).await?;
    let mut booking = booking_by_token(&state, &tenant, &token).await?;
    if booking.status == "cancelled" {
        return Ok(HttpResponse::Ok().json(booking_view(&state, &tenant, &booking).await?));
    }
    let now = state.db.now();
    let mut tx = state.db.begin_write().await?;
    let current = appointments::get(tx.conn(), tenant.id, booking.appointment_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let Some(status) = current.status.apply(AppointmentAction::Cancel) else {
        return Err(ApiError::InvalidTransition {
            detail: "this appointment can no longer be cancelled online; please call us".to_owned(),
            current_state: current.status.as_str().to_owned(),
            allowed_actions: Vec::new(),
        });
    };
    let mut next = current.clone();
    next.status = status;
    if !appointments::update(&mut tx, &next, current.version, now).await? {
        return Err(ApiError::conflict(
            codes::CONFLICT,
            "the booking changed meanwhile; try again",
        ));
    }
    let reason = body
        .into_inner()
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "cancelled by the customer".to_owned());
    let mut order =
        work_orders::load_for_update(tx.conn(), &state.db, tenant.id, booking.work_order_id)
            .await?
            .ok_or(ApiError::NotFound)?;
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
    let view = booking_view_on(tx.conn(), &tenant, &booking).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(view))
}

//! The website booking widget: public endpoints under `/v1/public/{tenant}/`, no account.
//! Rate limited per client address and per tenant; browsers may call them from the tenant's
//! configured website origins only.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_app::booking::{self, BookingOutcome, RescheduleOutcome};
use workorders_app::scheduling::CustomerLocation;
use workorders_domain::ServiceId;
use workorders_domain::text::{Line, Text};
use workorders_persistence::tenants::TenantRecord;

use crate::error::{ApiResult, Problem, codes};
use crate::extract::ValidJson;
use crate::routes::client_ip;
use crate::state::AppState;

/// Resolves the tenant of a public request and applies the rate limits.
async fn public_tenant(req: &HttpRequest, state: &AppState, slug: &str) -> ApiResult<TenantRecord> {
    state.public_limits.admit(&client_ip(req), slug)?;
    Ok(booking::public_tenant(state, slug).await?)
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
    let items = booking::services(&state, &tenant).await?;
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
    let query = query.into_inner();
    let search = booking::SlotSearch {
        from: query.from,
        to: query.to,
        location: CustomerLocation {
            postal_code: query.postal_code,
            coordinates: query.latitude.zip(query.longitude),
        },
    };
    let offer = booking::slots(&state, &tenant, ServiceId(service_id), search).await?;
    let tz = offer.time_zone;
    Ok(HttpResponse::Ok().json(SlotList {
        time_zone: tz.name().to_owned(),
        slots: offer
            .slots
            .iter()
            .map(|s| public_slot(tz, s.start, s.end))
            .collect(),
        serves_location: offer.serves_location,
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
    let tz = tenant.time_zone.tz();
    match booking::book(&state, &tenant, body.into_inner().into()).await? {
        BookingOutcome::Booked {
            booking,
            token,
            status_path,
        } => Ok(HttpResponse::Created()
            .insert_header((actix_web::http::header::LOCATION, status_path.clone()))
            .json(CreatedBooking {
                booking: booking_view(tz, *booking),
                token,
                status_path,
            })),
        BookingOutcome::SlotTaken { alternatives } => Ok(slot_taken(alternatives, tz)),
    }
}

impl From<CreateBookingRequest> for booking::NewBooking {
    fn from(body: CreateBookingRequest) -> Self {
        let customer = body.customer;
        Self {
            service_id: ServiceId(body.service_id),
            start: body.start,
            customer: booking::BookingContact {
                name: customer.name.into(),
                email: customer.email.into(),
                phone: customer.phone.map(String::from),
                street: customer.street.into(),
                postal_code: customer.postal_code.into(),
                city: customer.city.into(),
                latitude: customer.latitude,
                longitude: customer.longitude,
            },
            notes: body.notes.map(String::from),
            consent: body.consent,
            token: None,
        }
    }
}

/// What the customer sees, in the company's time zone.
fn booking_view(tz: Tz, booking: booking::BookingStatus) -> BookingView {
    let slot = public_slot(tz, booking.start, booking.end);
    BookingView {
        reference: booking.reference,
        status: booking.status,
        service: booking.service,
        appointment: BookedAppointment {
            start: slot.start,
            end: slot.end,
            local_start: slot.local_start,
            local_end: slot.local_end,
            status: booking.appointment_status.as_str().to_owned(),
        },
        assigned_to: booking.assigned_to,
        order_number: booking.order_number,
        order_status: booking.order_status.as_str().to_owned(),
        progress: booking
            .progress
            .into_iter()
            .map(|s| StepProgress {
                name: s.name,
                status: s.status.as_str().to_owned(),
            })
            .collect(),
    }
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
    let status = booking::status(&state, &tenant, &token).await?;
    Ok(HttpResponse::Ok().json(booking_view(tenant.time_zone.tz(), status)))
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
    let tz = tenant.time_zone.tz();
    match booking::reschedule(&state, &tenant, &token, body.start).await? {
        RescheduleOutcome::Rescheduled(status) => {
            Ok(HttpResponse::Ok().json(booking_view(tz, *status)))
        }
        RescheduleOutcome::SlotTaken { alternatives } => Ok(slot_taken(alternatives, tz)),
    }
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
    let reason = body.into_inner().reason.map(String::from);
    let status = booking::cancel(&state, &tenant, &token, reason).await?;
    Ok(HttpResponse::Ok().json(booking_view(tenant.time_zone.tz(), status)))
}

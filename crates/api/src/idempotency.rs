//! `Idempotency-Key` for every `POST` under `/v1`.
//!
//! Keys are scoped to (tenant, caller, method, path). The first request with a key claims it
//! atomically in the database and runs; its successful response is stored and replayed (with
//! `Idempotent-Replayed: true`) to every later request with the same key and body for 24
//! hours. A different body gets 422 `idempotency_key_reused`; a request arriving while the
//! first still runs gets 409 `idempotency_key_in_flight`.
//!
//! Exactly once: the handler runs inside [`workorders_persistence::deferred_commit`], so the
//! write transaction it commits is parked; its stored reply is written into that same
//! transaction, which then commits. A key therefore has its committed result, or nothing
//! happened: a crash at any point either loses both (the retry runs again) or keeps both
//! (the retry gets the first reply). A failed request (4xx, 5xx) rolls its transaction back
//! and releases the key. A claim abandoned for five minutes (its server died) may be taken
//! over; the old request, should it still be running, then finds its claim gone at the end
//! and rolls back, so the work is never done twice.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError, web};
use workorders_persistence::idempotency::{self, Claim, KeyPolicy, StoredResponse};

use crate::auth::principal;
use crate::auth::tokens::sha256_hex;
use crate::error::{ApiError, codes};
use crate::extract::{body_limit, read_body};
use crate::state::AppState;

pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Headers of a stored response that are replayed.
const REPLAYED_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG];

fn error(req: ServiceRequest, error: ApiError) -> ServiceResponse<BoxBody> {
    let response = error.error_response();
    req.into_response(response)
}

fn parse_key(value: &HeaderValue) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            codes::INVALID_IDEMPOTENCY_KEY,
            "Idempotency-Key must have 1 to 255 visible ASCII characters",
        )
    };
    let text = value.to_str().map_err(|_| invalid())?;
    if text.is_empty() || text.len() > 255 || !text.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid());
    }
    Ok(text.to_owned())
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut builder = HttpResponse::build(status);
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(value),
        ) {
            builder.insert_header((name, value));
        }
    }
    builder.insert_header((
        HeaderName::from_static(REPLAYED_HEADER),
        HeaderValue::from_static("true"),
    ));
    builder.body(stored.body)
}

pub async fn idempotency_key(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if req.method() != Method::POST {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let Some(raw_key) = req.headers().get(IDEMPOTENCY_KEY_HEADER).cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let key = match parse_key(&raw_key) {
        Ok(key) => key,
        Err(e) => return Ok(error(req, e)),
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(error(
            req,
            ApiError::internal(anyhow::anyhow!("application state missing")),
        ));
    };
    // The caller is part of the scope. Bad credentials: let the handler answer 401.
    let caller = match principal::resolve(req.request()).await {
        Ok(Some(p)) => format!("{}|{}", p.tenant_id, p.actor_key()),
        Ok(None) => "anonymous".to_owned(),
        Err(_) => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body);
        }
    };
    let mut payload = req.take_payload();
    // Uploads have their own, larger limit; JSON routes check theirs again.
    let limit = body_limit(req.request()).max(crate::schemas::attachments::MAX_UPLOAD_BYTES);
    let body = match read_body(req.request(), &mut payload, limit).await {
        Ok(body) => body,
        Err(e) => return Ok(error(req, e)),
    };
    let path = req.path().to_owned();
    let scope = format!("{caller}|POST|{path}");
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut fingerprint =
        format!("POST\n{path}\n{}\n{content_type}\n", req.query_string()).into_bytes();
    fingerprint.extend_from_slice(&body);
    let request_hash = sha256_hex(&String::from_utf8_lossy(&fingerprint));

    let claim = match idempotency::claim(
        &state.db,
        &scope,
        &key,
        &request_hash,
        workorders_persistence::now(),
        KeyPolicy {
            abandon_after: chrono::Duration::from_std(state.settings.idempotency_lease)
                .unwrap_or(chrono::Duration::minutes(5)),
            ..KeyPolicy::default()
        },
    )
    .await
    {
        Ok(claim) => claim,
        Err(e) => return Ok(error(req, e.into())),
    };
    match claim {
        Claim::Replay(stored) => Ok(req.into_response(replay(stored))),
        Claim::Mismatch => Ok(error(
            req,
            ApiError::Unprocessable {
                code: codes::IDEMPOTENCY_KEY_REUSED,
                detail: "this Idempotency-Key was already used with a different request".to_owned(),
            },
        )),
        Claim::InFlight => Ok(error(
            req,
            ApiError::conflict(
                codes::IDEMPOTENCY_KEY_IN_FLIGHT,
                "a request with this Idempotency-Key is still being processed; retry later",
            ),
        )),
        Claim::Started { locked_at } => {
            req.set_payload(Payload::from(body));
            let (result, parked) = workorders_persistence::deferred_commit(next.call(req)).await;
            let res = match result {
                Ok(res) => res,
                Err(e) => {
                    drop(parked);
                    release(&state, &scope, &key, &locked_at).await;
                    return Err(e);
                }
            };
            if !res.status().is_success() {
                // Nothing of a failed request stays: its transaction rolls back.
                drop(parked);
                release(&state, &scope, &key, &locked_at).await;
                return Ok(res.map_into_boxed_body());
            }
            let (request, response) = res.into_parts();
            let (head, body) = response.into_parts();
            let bytes = match actix_web::body::to_bytes(body).await {
                Ok(bytes) => bytes,
                Err(_) => {
                    drop(parked);
                    release(&state, &scope, &key, &locked_at).await;
                    let e =
                        ApiError::internal(anyhow::anyhow!("could not buffer the response body"));
                    return Ok(ServiceResponse::new(request, e.error_response()));
                }
            };
            let stored = StoredResponse {
                status: head.status().as_u16(),
                body: String::from_utf8_lossy(&bytes).into_owned(),
                headers: REPLAYED_HEADERS
                    .iter()
                    .filter_map(|name| {
                        head.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(|v| (name.as_str().to_owned(), v.to_owned()))
                    })
                    .collect(),
            };
            // The reply goes into the transaction that did the work; both commit together.
            let committed: Result<bool, workorders_persistence::StoreError> = async {
                let mut tx = match parked {
                    Some(tx) => tx,
                    None => state.db.begin_write().await?,
                };
                if !idempotency::complete_in(&mut tx, &scope, &key, &locked_at, &stored).await? {
                    return Ok(false);
                }
                tx.commit_now().await?;
                Ok(true)
            }
            .await;
            match committed {
                Ok(true) => Ok(ServiceResponse::new(
                    request,
                    head.set_body(BoxBody::new(bytes)),
                )),
                Ok(false) => {
                    tracing::warn!(
                        "an idempotency claim was taken over; this request's work is rolled back"
                    );
                    let e = ApiError::conflict(
                        codes::IDEMPOTENCY_KEY_IN_FLIGHT,
                        "a later request with this Idempotency-Key took over; retry to get its result",
                    );
                    Ok(ServiceResponse::new(request, e.error_response()))
                }
                Err(e) => {
                    release(&state, &scope, &key, &locked_at).await;
                    let e = ApiError::from(e);
                    Ok(ServiceResponse::new(request, e.error_response()))
                }
            }
        }
    }
}

async fn release(state: &AppState, scope: &str, key: &str, locked_at: &str) {
    if let Err(e) = idempotency::release(&state.db, scope, key, locked_at).await {
        tracing::error!(error = %e, "could not release an idempotency key");
    }
}

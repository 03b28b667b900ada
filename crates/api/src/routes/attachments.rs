//! Attachments of orders: uploads from the field (idempotent by SHA-256), listing and
//! download. Bytes go to the blob store; rows reference them by key.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use workorders_app::attachments;
use workorders_domain::WorkOrderId;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::schemas::attachments::{AttachmentView, read_upload};
use crate::state::AppState;

/// What an order attachment is.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Photo,
    Signature,
    Document,
}

impl AttachmentKind {
    fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Photo => "photo",
            AttachmentKind::Signature => "signature",
            AttachmentKind::Document => "document",
        }
    }

    fn accepts(self, content_type: &str) -> bool {
        match self {
            AttachmentKind::Photo | AttachmentKind::Signature => {
                matches!(content_type, "image/jpeg" | "image/png")
            }
            AttachmentKind::Document => {
                matches!(content_type, "application/pdf" | "image/jpeg" | "image/png")
            }
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// `photo`, `signature` or `document`.
    #[param(inline)]
    pub kind: AttachmentKind,
    /// SHA-256 of the bytes as computed by the client, 64 hex digits. The upload is refused
    /// (422 `digest_mismatch`) when the received bytes hash differently, and it is
    /// idempotent: the same bytes on the same order return the stored attachment.
    #[param(example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
    pub sha256: String,
}

/// Upload an attachment to an order
///
/// The raw file is the request body: JPEG or PNG for photos and signatures, and also PDF for
/// documents, at most 10 MiB (413 beyond). The content type is checked against the bytes.
/// Idempotent by hash: uploading the same bytes to the same order again returns the stored
/// attachment with 200 instead of 201, so a device can retry freely. Reference the id in a
/// `photo_attached` or `signature_captured` sync event to record it on a step.
#[utoipa::path(
    operation_id = "uploadAttachment",
    tag = "field-sync",
    params(("id" = Uuid, Path, description = "Work order id"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "The file (also image/png, application/pdf)"),
    responses(
        (status = 201, description = "Stored", body = AttachmentView, headers(("Location" = String))),
        (status = 200, description = "These bytes were already stored on the order", body = AttachmentView, headers(("Location" = String))),
        (status = 404, description = "No such order visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 10 MiB", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not an accepted type for this kind", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bytes do not match the type (`invalid_upload`) or the hash (`digest_mismatch`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:write"]))
)]
#[post("/work-orders/{id}/attachments")]
pub async fn upload_attachment(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<Uuid>,
    query: web::Query<UploadQuery>,
) -> ApiResult<HttpResponse> {
    let kind = query.kind;
    let uploaded = attachments::upload(
        &state,
        &principal,
        WorkOrderId(path.into_inner()),
        kind.as_str(),
        &query.sha256,
        async || read_upload(&req, payload, |t| kind.accepts(t)).await,
    )
    .await?;
    let view = AttachmentView::from(uploaded.record);
    let mut response = if uploaded.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response
        .insert_header((header::LOCATION, format!("/v1/attachments/{}", view.id)))
        .json(view))
}

/// List an order's attachments
///
/// Photos, signatures, documents and step evidence, oldest first.
#[utoipa::path(
    operation_id = "listAttachments",
    tag = "field-sync",
    params(("id" = Uuid, Path, description = "Work order id")),
    responses(
        (status = 200, description = "The attachments", body = Vec<AttachmentView>),
        (status = 404, description = "No such order visible to the caller", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("access_token" = []), ("api_key" = ["work_orders:read"]))
)]
#[get("/work-orders/{id}/attachments")]
pub async fn list_attachments(
    state: web::Data<AppState>,
    principal: Caller,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let items: Vec<AttachmentView> =
        attachments::list(&state, &principal, WorkOrderId(path.into_inner()))
            .await?
            .into_iter()
            .map(AttachmentView::from)
            .collect();
    Ok(HttpResponse::Ok().json(items))
}

//! Attachments (photos, signatures, documents): their answers and upload reading, shared by
//! the step, attachment and sync routes.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{HttpRequest, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use workorders_app::work_orders;
use workorders_domain::WorkOrderId;
use workorders_persistence::attachments::AttachmentRecord;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, codes};
use crate::extract::read_body;
use crate::state::AppState;

/// Largest evidence upload (10 MiB).
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;

/// A stored file.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentView {
    pub id: Uuid,
    pub work_order_id: Uuid,
    pub step_id: Option<Uuid>,
    #[schema(example = "photo")]
    pub kind: String,
    #[schema(example = "image/jpeg")]
    pub content_type: String,
    pub size_bytes: i64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

impl From<AttachmentRecord> for AttachmentView {
    fn from(a: AttachmentRecord) -> Self {
        Self {
            id: a.id.as_uuid(),
            work_order_id: a.work_order_id.as_uuid(),
            step_id: a.step_id.map(|s| s.as_uuid()),
            kind: a.kind,
            content_type: a.content_type,
            size_bytes: a.size_bytes,
            sha256: a.sha256,
            created_at: a.created_at,
        }
    }
}

/// Whether the bytes are what the content type says (magic numbers; SVG without scripts).
pub fn content_matches(content_type: &str, data: &[u8]) -> bool {
    match content_type {
        "application/pdf" => data.starts_with(b"%PDF-"),
        "image/jpeg" => data.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/png" => data.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]),
        "image/webp" => data.len() > 12 && data.starts_with(b"RIFF") && &data[8..12] == b"WEBP",
        "image/heic" => data.len() > 12 && &data[4..8] == b"ftyp",
        "image/svg+xml" => {
            let text = String::from_utf8_lossy(data).to_lowercase();
            text.contains("<svg") && !text.contains("<script") && !text.contains("javascript:")
        }
        _ => false,
    }
}

/// Reads an uploaded file: the content type must be accepted (checked before reading), the
/// body at most 10 MiB, not empty, and its bytes of that type.
pub async fn read_upload(
    req: &HttpRequest,
    payload: web::Payload,
    accepts: impl Fn(&str) -> bool,
) -> ApiResult<(String, web::Bytes)> {
    let content_type = request_content_type(req);
    if !accepts(&content_type) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let mut raw: Payload = payload.into_inner();
    let data = read_body(req, &mut raw, MAX_UPLOAD_BYTES).await?;
    if data.is_empty() {
        return Err(ApiError::bad_request(
            codes::BAD_REQUEST,
            "the upload is empty",
        ));
    }
    if !content_matches(&content_type, &data) {
        return Err(ApiError::Unprocessable {
            code: codes::INVALID_UPLOAD,
            detail: format!("the content is not a valid {content_type} file"),
        });
    }
    Ok((content_type, data))
}

/// 404 unless the order exists in the caller's tenant and the caller may see it.
pub async fn visible_order(
    state: &AppState,
    principal: &Principal,
    order: WorkOrderId,
) -> ApiResult<()> {
    Ok(work_orders::visible(state, principal, order).await?)
}

/// The content type of the request, lower case, without parameters.
pub fn request_content_type(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

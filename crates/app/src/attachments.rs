//! Attachments of orders: uploads from the field (idempotent by SHA-256), evidence recorded
//! on a step, listing and download. Bytes go to the blob store; rows reference them by key.
//!
//! An upload's bytes are read by the front door (`read`), only after the caller may see the
//! order: an order the caller may not see is refused before its body is taken.

use workorders_domain::auth::Permission;
use workorders_domain::process::Evidence;
use workorders_domain::work_order::Command;
use workorders_domain::{AttachmentId, StepId, WorkOrderId};
use workorders_persistence::attachments::{self, AttachmentRecord};
use workorders_persistence::work_orders;

use crate::App;
use crate::blobs::{load_bytes, store_bytes};
use crate::error::{AppError, AppResult, codes};
use crate::identity::Principal;
use crate::tokens::sha256_bytes_hex;
use crate::workflow::{self, DbAssigner, actor_of, authorize, command_error, ensure_visible};

/// An order attachment as stored, and whether this upload stored it (false: the same bytes
/// were already on the order).
#[derive(Debug)]
pub struct Uploaded {
    pub record: AttachmentRecord,
    pub created: bool,
}

/// Stores a file on an order (`kind`: `photo`, `signature`, `document`). `sha256` is the
/// client's hash of the bytes (64 hex digits, `/sha256` otherwise); bytes that hash
/// differently are refused (`digest_mismatch`). The same bytes on the same order return the
/// stored attachment. `read` reads the content type and the bytes of the upload.
pub async fn upload<B, E>(
    app: &App,
    caller: &Principal,
    order: WorkOrderId,
    kind: &str,
    sha256: &str,
    read: impl AsyncFnOnce() -> Result<(String, B), E>,
) -> Result<Uploaded, E>
where
    B: AsRef<[u8]> + Send + 'static,
    E: From<AppError>,
{
    ensure_visible(&app.db, caller, order).await?;
    if caller.user_id().is_none() {
        caller.require(Permission::WorkOrdersWrite)?;
    }
    let expected = sha256.to_ascii_lowercase();
    if !is_sha256_hex(&expected) {
        return Err(
            AppError::invalid("/sha256", "the SHA-256 must be 64 hexadecimal digits").into(),
        );
    }
    let (content_type, data) = read().await?;
    let actual = sha256_bytes_hex(data.as_ref());
    if actual != expected {
        return Err(AppError::Unprocessable {
            code: codes::DIGEST_MISMATCH,
            detail: format!("the received bytes hash to {actual}, not {expected}"),
        }
        .into());
    }
    Ok(store_upload(app, caller, order, kind, content_type, actual, data).await?)
}

async fn store_upload<B>(
    app: &App,
    caller: &Principal,
    order: WorkOrderId,
    kind: &str,
    content_type: String,
    sha256: String,
    data: B,
) -> AppResult<Uploaded>
where
    B: AsRef<[u8]> + Send + 'static,
{
    let size = i64::try_from(data.as_ref().len()).unwrap_or(i64::MAX);
    let key = store_bytes(app, caller.tenant_id, &sha256, data).await?;
    let mut tx = app.db.begin_write().await?;
    work_orders::load_for_update(tx.conn(), &app.db, caller.tenant_id, order)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Some(existing) =
        attachments::find_by_hash(tx.conn(), caller.tenant_id, order, &sha256).await?
    {
        drop(tx);
        return Ok(Uploaded {
            record: existing,
            created: false,
        });
    }
    let record = AttachmentRecord {
        id: AttachmentId::new(),
        tenant_id: caller.tenant_id,
        work_order_id: order,
        step_id: None,
        kind: kind.to_owned(),
        content_type,
        size_bytes: size,
        sha256,
        storage_key: Some(key),
        created_by: actor_of(caller),
        created_at: app.db.now(),
    };
    attachments::insert(tx.conn(), &record).await?;
    tx.touch_order(caller.tenant_id, order);
    tx.commit().await?;
    Ok(Uploaded {
        record,
        created: true,
    })
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Stores evidence (a photo, a signature) and records it on a step of the order, as the
/// step's holder or a dispatcher. `read` reads the content type and the bytes.
pub async fn record_evidence<B, E>(
    app: &App,
    caller: &Principal,
    order: WorkOrderId,
    step: StepId,
    kind: Evidence,
    read: impl AsyncFnOnce() -> Result<(String, B), E>,
) -> Result<AttachmentRecord, E>
where
    B: AsRef<[u8]> + Send + 'static,
    E: From<AppError>,
{
    ensure_visible(&app.db, caller, order).await?;
    let (content_type, data) = read().await?;
    Ok(store_evidence(app, caller, order, step, kind, content_type, data).await?)
}

async fn store_evidence<B>(
    app: &App,
    caller: &Principal,
    order: WorkOrderId,
    step: StepId,
    kind: Evidence,
    content_type: String,
    data: B,
) -> AppResult<AttachmentRecord>
where
    B: AsRef<[u8]> + Send + 'static,
{
    let sha256 = sha256_bytes_hex(data.as_ref());
    let size_bytes = i64::try_from(data.as_ref().len()).unwrap_or(i64::MAX);
    let storage_key = store_bytes(app, caller.tenant_id, &sha256, data).await?;
    let now = app.db.now();
    let actor = actor_of(caller);
    let attachment = AttachmentRecord {
        id: AttachmentId::new(),
        tenant_id: caller.tenant_id,
        work_order_id: order,
        step_id: Some(step),
        kind: kind.as_str().to_owned(),
        content_type,
        size_bytes,
        sha256,
        storage_key: Some(storage_key),
        created_by: actor.clone(),
        created_at: now,
    };
    let mut tx = app.db.begin_write().await?;
    let mut record = work_orders::load_for_update(tx.conn(), &app.db, caller.tenant_id, order)
        .await?
        .ok_or(AppError::NotFound)?;
    let command = Command::RecordEvidence {
        step,
        kind,
        attachment: attachment.id,
    };
    authorize(caller, &record, &command)?;
    let mut assigner = DbAssigner::load(tx.conn(), caller.tenant_id).await?;
    let events = record
        .order
        .handle(command, now, &mut assigner)
        .map_err(command_error)?;
    attachments::insert(tx.conn(), &attachment).await?;
    workflow::persist(&mut tx, &mut record, &events, &actor, now).await?;
    tx.commit().await?;
    Ok(attachment)
}

/// An attachment of an order the caller may see, with its bytes.
pub async fn download(
    app: &App,
    caller: &Principal,
    id: AttachmentId,
) -> AppResult<(AttachmentRecord, Vec<u8>)> {
    let (attachment, data) = attachments::get(&app.db, caller.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    ensure_visible(&app.db, caller, attachment.work_order_id).await?;
    let data = load_bytes(app, &attachment, data).await?;
    Ok((attachment, data))
}

/// The attachments of an order the caller may see (photos, signatures, documents and step
/// evidence), oldest first.
pub async fn list(
    app: &App,
    caller: &Principal,
    order: WorkOrderId,
) -> AppResult<Vec<AttachmentRecord>> {
    crate::work_orders::visible(app, caller, order).await?;
    Ok(attachments::list_for_order(&app.db, caller.tenant_id, order).await?)
}

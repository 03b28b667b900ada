//! The caller's tenant.

use actix_web::{HttpResponse, get, web};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::routes::ok_versioned;
use crate::routes::views::TenantView;
use crate::state::AppState;
use workorders_persistence::tenants;

/// Get the current tenant
///
/// The company the caller belongs to.
#[utoipa::path(
    operation_id = "getTenant",
    tag = "tenants",
    responses((status = 200, description = "The caller's tenant", body = TenantView)),
    security(("access_token" = []), ("api_key" = []))
)]
#[get("/tenant")]
pub async fn get_tenant(
    state: web::Data<AppState>,
    principal: Principal,
) -> ApiResult<HttpResponse> {
    let tenant = tenants::get(&state.db, principal.tenant_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(ok_versioned(tenant.version, &TenantView::from(tenant)))
}

//! What operators and orchestrators ask of a running server: is it ready, and its metrics.

use crate::App;
use crate::error::{AppError, AppResult};

/// Ready to serve: the database answers and every migration is applied
/// ([`AppError::Unavailable`] otherwise).
pub async fn ready(app: &App) -> AppResult<()> {
    if app.db.is_ready().await {
        Ok(())
    } else {
        Err(AppError::Unavailable)
    }
}

/// The metrics in the OpenMetrics text format, with the database pool's figures now.
pub fn metrics_text(app: &App) -> AppResult<String> {
    app.metrics
        .render(app.db.stats())
        .map_err(AppError::internal)
}

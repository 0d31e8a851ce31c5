//! `POST /api/v1/shares/{share}/restore/{*path}`: writes a version back into
//! the share. The handler checks the request and hands it to the writer
//! (ingest), which versions what is on disk first, writes atomically and
//! versions the restored bytes (see `ingest::restore`).

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::auth::Actor;
use super::shares::document_path;
use super::{ApiError, AppState};
use crate::ingest::{RestoreError, RestoreRequest, Restored};
use crate::watch::IngestMsg;

/// How long a restore may wait for the writer (a bulk import may hold it);
/// below the API's request timeout, so the answer says what happened.
const WRITER_WAIT: Duration = Duration::from_secs(50);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreBody {
    version: u32,
    to: Option<String>,
    #[serde(default)]
    overwrite: bool,
}

pub async fn restore(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    params: Result<Path<(String, String)>, PathRejection>,
    body: Result<Json<RestoreBody>, JsonRejection>,
) -> Result<Json<Restored>, ApiError> {
    let Path((share, path)) = params?;
    let path = document_path(&path)?;
    let Json(body) = body?;
    let to = body.to.as_deref().map(document_path).transpose()?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    let request = RestoreRequest {
        share,
        path,
        version: body.version,
        to,
        overwrite: body.overwrite,
        actor: actor.name,
        reply,
    };
    let unavailable = |why: &str| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", why);
    state
        .ingest
        .send(IngestMsg::Restore(Box::new(request)))
        .map_err(|_| unavailable("the archive writer has stopped"))?;
    let result = tokio::time::timeout(WRITER_WAIT, answer)
        .await
        .map_err(|_| {
            unavailable(
                "the archive writer is busy; the restore may still happen, check the history",
            )
        })?
        .map_err(|_| unavailable("the archive writer stopped before answering"))?;
    match result {
        Ok(restored) => Ok(Json(restored)),
        Err(RestoreError::NotFound(m)) => Err(ApiError::not_found(m)),
        Err(RestoreError::Gone(m)) => Err(ApiError::new(StatusCode::GONE, "gone", m)),
        Err(RestoreError::Conflict(m)) => Err(ApiError::new(StatusCode::CONFLICT, "conflict", m)),
        Err(RestoreError::Busy(m)) => Err(ApiError::new(StatusCode::CONFLICT, "busy", m)),
        Err(RestoreError::BadPath(m)) => Err(ApiError::bad_request(m)),
        Err(RestoreError::Failed(m)) => Err(ApiError::internal(m)),
    }
}

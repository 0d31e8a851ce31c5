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
use utoipa::ToSchema;

use super::auth::Actor;
use super::shares::{DocumentParams, document_path};
use super::{ApiError, AppState};
use crate::ingest::{RestoreError, RestoreRequest, Restored};
use crate::watch::IngestMsg;

/// How long a restore may wait for the writer (a bulk import may hold it);
/// below the API's request timeout, so the answer says what happened.
const WRITER_WAIT: Duration = Duration::from_secs(50);

/// What to restore.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreBody {
    /// The version whose bytes are written back.
    version: u32,
    /// Another share-relative path to write them to (default: the document's own).
    #[schema(nullable = false)]
    to: Option<String>,
    /// Write over a file at `to` that is another document.
    #[serde(default)]
    overwrite: bool,
}

/// Writes a version back into the share and versions it as `restored`.
#[utoipa::path(post, path = "/api/v1/shares/{share}/restore/{*path}", tag = "documents",
    params(DocumentParams),
    request_body = RestoreBody,
    responses(
        (status = 200, description = "Restored (or already holding those bytes: `unchanged`)", body = Restored),
        (status = 400, description = "A bad body or path, or a target an ignore rule hides", body = super::error::ErrorBody),
        (status = 404, description = "No such share, document or version", body = super::error::ErrorBody),
        (status = 409, description = "The target holds something that would be overwritten unseen, or is busy", body = super::error::ErrorBody),
        (status = 410, description = "The version records a deletion", body = super::error::GoneBody),
        (status = 413, description = "The body is over 64 KiB", body = super::error::ErrorBody),
        (status = 500, description = "The restore failed", body = super::error::ErrorBody),
        (status = 503, description = "The archive writer is stopped or busy", body = super::error::ErrorBody),
    ))]
pub async fn restore(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    params: Result<Path<DocumentParams>, PathRejection>,
    body: Result<Json<RestoreBody>, JsonRejection>,
) -> Result<Json<Restored>, ApiError> {
    let Path(DocumentParams { share, path }) = params?;
    let path = document_path(&path)?;
    let Json(body) = body?;
    let to = body.to.as_deref().map(document_path).transpose()?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    let source = (share.clone(), path.clone());
    let request = RestoreRequest {
        share,
        path,
        version: body.version,
        to,
        overwrite: body.overwrite,
        actor: actor.name,
        reply,
    };
    let result = super::writer::ask(
        &state,
        IngestMsg::Restore(Box::new(request)),
        answer,
        WRITER_WAIT,
        "the archive writer is busy; the restore may still happen, check the history",
    )
    .await?;
    match result {
        Ok(restored) => Ok(Json(restored)),
        Err(RestoreError::NotFound(m)) => Err(ApiError::not_found(m)),
        Err(RestoreError::Gone(m)) => Err(ApiError::gone(m, last_content(&state, &source))),
        Err(RestoreError::Conflict(m)) => Err(ApiError::new(StatusCode::CONFLICT, "conflict", m)),
        Err(RestoreError::Busy(m)) => Err(ApiError::new(StatusCode::CONFLICT, "busy", m)),
        Err(RestoreError::BadPath(m)) => Err(ApiError::bad_request(m)),
        Err(RestoreError::Failed(m)) => Err(ApiError::internal(m)),
    }
}

/// The newest version of the document with content (0: none), which every 410 names.
fn last_content(state: &AppState, (share, path): &(String, String)) -> u32 {
    let catalog = state.catalog.read().expect("catalog lock");
    catalog
        .share(share)
        .and_then(|s| s.docs.get(path))
        .and_then(|doc| doc.last_content())
        .map_or(0, |v| v.version)
}

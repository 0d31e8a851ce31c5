//! Handing a request to the one writer (the ingest thread) and waiting for
//! its answer, with the same errors for every route that changes something.

use std::time::Duration;

use axum::http::StatusCode;

use super::{ApiError, AppState};
use crate::watch::IngestMsg;

/// Sends `msg` and waits up to `wait` for the answer on `answer`. 503 when
/// the writer has stopped or is still busy after `wait` (`busy` says what
/// the client can check then).
pub async fn ask<T>(
    state: &AppState,
    msg: IngestMsg,
    answer: tokio::sync::oneshot::Receiver<T>,
    wait: Duration,
    busy: &str,
) -> Result<T, ApiError> {
    let unavailable = |why: &str| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", why);
    state
        .ingest
        .send(msg)
        .map_err(|_| unavailable("the archive writer has stopped"))?;
    tokio::time::timeout(wait, answer)
        .await
        .map_err(|_| unavailable(busy))?
        .map_err(|_| unavailable("the archive writer stopped before answering"))
}

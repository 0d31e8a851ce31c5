//! `GET /api/v1/events?since=&limit=`: the audit trail, oldest first, paged
//! by sequence number (pass `next` back as `since`).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, AppState, Work};
use crate::audit::AuditEvent;

/// The most events one page holds.
pub const MAX_EVENTS: usize = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Events after this sequence number (0 or absent: from the first).
    #[serde(default)]
    #[param(minimum = 0, default = 0)]
    since: u64,
    /// The most events in the answer.
    #[param(minimum = 1, maximum = 1000, default = 100, nullable = false)]
    limit: Option<usize>,
}

/// One page of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    events: Vec<AuditEvent>,
    /// The `since` for the next page: the last sequence number returned (or
    /// the `since` given when there is nothing newer yet).
    next: u64,
}

/// The audit trail, oldest first: every version, restore and hold change.
#[utoipa::path(get, path = "/api/v1/events", tag = "audit",
    params(EventsQuery),
    responses(
        (status = 200, description = "Events after `since`", body = EventPage),
        (status = 400, description = "A bad parameter", body = super::error::ErrorBody),
    ))]
pub async fn events(
    State(state): State<AppState>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventPage>, ApiError> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_EVENTS).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_EVENTS}"
        )));
    }
    let since = q.since;
    let chunks = state
        .events
        .read()
        .expect("events lock")
        .chunks_after(since, limit);
    let readers = state.archive.clone();
    let read = super::on_cpu(&state, Work::Long, move || {
        readers.with(|archive| crate::audit::read_events(archive.repo(), &chunks, since, limit))
    });
    let events = match read.await? {
        Ok(Ok(events)) => events,
        Ok(Err(e)) | Err(e) => return Err(ApiError::internal(e)),
    };
    let next = events.last().map_or(since, |e| e.seq);
    Ok(Json(EventPage { events, next }))
}

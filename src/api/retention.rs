//! Retention and legal holds: what may be disposed of and why, and the
//! holds that protect documents. Hold changes go to the writer (ingest),
//! which stores them in the archive and logs them in the audit trail.

use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Actor;
use super::shares::document_path;
use super::{ApiError, AppState};
use crate::ingest::{DisposeAnswer, DisposeFailure, DisposeRequest, HoldError, HoldRequest};
use crate::retention::{self, DueVersion, Hold, Status, rfc3339, rule_for};
use crate::watch::IngestMsg;

/// How long a hold change may wait for the writer.
const WRITER_WAIT: Duration = Duration::from_secs(50);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    /// Share name.
    share: String,
    /// The document's share-relative path.
    path: String,
}

/// One version's retention.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionRetention {
    version: u32,
    status: Status,
    #[schema(required = true)]
    retain_until: Option<String>,
    #[schema(required = true)]
    superseded_at: Option<String>,
    reasons: Vec<String>,
}

/// A document's retention: the deciding rule, the holds and each version.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    share: String,
    path: String,
    /// The rule that decides (the first matching one), or null.
    #[schema(required = true)]
    policy: Option<String>,
    holds: Vec<Hold>,
    /// Newest first.
    versions: Vec<VersionRetention>,
}

/// Each version of a document: current, retained, held or due, and why.
#[utoipa::path(get, path = "/api/v1/retention/check", tag = "retention",
    params(CheckQuery),
    responses(
        (status = 200, description = "The document's retention", body = Check),
        (status = 400, description = "A bad parameter", body = super::error::ErrorBody),
        (status = 404, description = "No such share or document", body = super::error::ErrorBody),
    ))]
pub async fn check(
    State(state): State<AppState>,
    query: Result<Query<CheckQuery>, QueryRejection>,
) -> Result<Json<Check>, ApiError> {
    let Query(q) = query?;
    let path = document_path(&q.path)?;
    let holds = state
        .holds
        .read()
        .expect("holds lock")
        .covering(&q.share, &path);
    let rules = state.retention.read().expect("rules lock").clone();
    let rule = rule_for(&rules, &q.share, &path);
    let catalog = state.catalog.read().expect("catalog lock");
    let share = catalog
        .share(&q.share)
        .ok_or_else(|| ApiError::not_found(format!("no share named {}", q.share)))?;
    let doc = share
        .docs
        .get(&path)
        .ok_or_else(|| ApiError::not_found(format!("no document {path} in share {}", q.share)))?;
    let verdicts = retention::evaluate(&doc.versions, rule, &holds, SystemTime::now());
    let versions = verdicts
        .into_iter()
        .rev()
        .map(|v| VersionRetention {
            version: v.version,
            status: v.status,
            retain_until: v.retain_until.map(rfc3339),
            superseded_at: v.superseded_at.map(rfc3339),
            reasons: v.reasons,
        })
        .collect();
    Ok(Json(Check {
        share: q.share,
        path,
        policy: rule.map(|r| r.name.clone()),
        holds,
        versions,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DueQuery {
    /// Only this share.
    #[param(nullable = false)]
    share: Option<String>,
}

/// The versions that may be disposed of now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Due {
    versions: Vec<DueVersion>,
    /// Total content bytes of the due versions.
    bytes: u64,
}

/// The versions that may be disposed of now, with their bytes.
#[utoipa::path(get, path = "/api/v1/retention/due", tag = "retention",
    params(DueQuery),
    responses(
        (status = 200, description = "The due versions", body = Due),
        (status = 400, description = "A bad parameter", body = super::error::ErrorBody),
        (status = 404, description = "No such share", body = super::error::ErrorBody),
    ))]
pub async fn due(
    State(state): State<AppState>,
    query: Result<Query<DueQuery>, QueryRejection>,
) -> Result<Json<Due>, ApiError> {
    let Query(q) = query?;
    let holds = state.holds.read().expect("holds lock").holds.clone();
    let rules = state.retention.read().expect("rules lock").clone();
    let catalog = state.catalog.read().expect("catalog lock");
    if let Some(share) = &q.share {
        if catalog.share(share).is_none() {
            return Err(ApiError::not_found(format!("no share named {share}")));
        }
    }
    let versions = retention::due(
        &catalog,
        &rules,
        &holds,
        q.share.as_deref(),
        SystemTime::now(),
    );
    let bytes = versions.iter().map(|v| v.size).sum();
    Ok(Json(Due { versions, bytes }))
}

/// The standing holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldPage {
    holds: Vec<Hold>,
}

/// The standing legal holds.
#[utoipa::path(get, path = "/api/v1/holds", tag = "retention",
    responses((status = 200, description = "The holds", body = HoldPage)))]
pub async fn list_holds(State(state): State<AppState>) -> Json<HoldPage> {
    let holds = state.holds.read().expect("holds lock").holds.clone();
    Json(HoldPage { holds })
}

/// A hold to place.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHold {
    share: String,
    /// A plain prefix of the share-relative path; "" = the whole share.
    #[serde(default)]
    prefix: String,
    reason: String,
    /// Only versions recorded at or after this time (RFC 3339).
    #[schema(format = DateTime)]
    from: Option<String>,
    /// Only versions recorded at or before this time (RFC 3339).
    #[schema(format = DateTime)]
    to: Option<String>,
}

/// Places a legal hold (stored in the archive, logged in the audit trail).
#[utoipa::path(post, path = "/api/v1/holds", tag = "retention",
    request_body = NewHold,
    responses(
        (status = 201, description = "The hold placed", body = Hold),
        (status = 400, description = "A bad body", body = super::error::ErrorBody),
        (status = 404, description = "No such share", body = super::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = super::error::ErrorBody),
        (status = 500, description = "The hold could not be stored", body = super::error::ErrorBody),
    ))]
pub async fn add_hold(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Result<Json<NewHold>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(h) = body?;
    if h.reason.trim().is_empty() {
        return Err(ApiError::bad_request("reason must not be empty"));
    }
    if h.prefix.contains('\0') || h.prefix.starts_with('/') || h.prefix.contains('\\') {
        return Err(ApiError::bad_request(
            "prefix is a share-relative path prefix: no leading '/', NUL or backslash",
        ));
    }
    let bound = |name: &str, t: &Option<String>| -> Result<Option<String>, ApiError> {
        t.as_deref()
            .map(|s| {
                retention::parse_time(s).map(rfc3339).ok_or_else(|| {
                    ApiError::bad_request(format!("{name} must be an RFC 3339 time, got {s:?}"))
                })
            })
            .transpose()
    };
    let (from, to) = (bound("from", &h.from)?, bound("to", &h.to)?);
    let prefix = crate::watch::nfc(&h.prefix);
    let (reply, answer) = tokio::sync::oneshot::channel();
    let request = HoldRequest::Add {
        share: h.share,
        prefix,
        reason: h.reason,
        from,
        to,
        actor: actor.name,
        reply,
    };
    let hold = ask_writer(&state, request, answer).await?;
    Ok((StatusCode::CREATED, Json(hold)).into_response())
}

/// Lifts a legal hold.
#[utoipa::path(delete, path = "/api/v1/holds/{id}", tag = "retention",
    params(("id" = u64, Path, description = "The hold's id")),
    responses(
        (status = 204, description = "Lifted"),
        (status = 400, description = "A bad id", body = super::error::ErrorBody),
        (status = 404, description = "No such hold", body = super::error::ErrorBody),
        (status = 500, description = "The change could not be stored", body = super::error::ErrorBody),
    ))]
pub async fn remove_hold(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    id: Result<Path<u64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    let request = HoldRequest::Remove {
        id,
        actor: actor.name,
        reply,
    };
    ask_writer(&state, request, answer).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn ask_writer(
    state: &AppState,
    request: HoldRequest,
    answer: tokio::sync::oneshot::Receiver<Result<Hold, HoldError>>,
) -> Result<Hold, ApiError> {
    let result = super::writer::ask(
        state,
        IngestMsg::Holds(Box::new(request)),
        answer,
        WRITER_WAIT,
        "the archive writer is busy; check GET /api/v1/holds",
    )
    .await?;
    result.map_err(|e| match e {
        HoldError::NotFound(m) => ApiError::not_found(m),
        HoldError::Failed(m) => ApiError::internal(m),
    })
}

/// What to dispose of.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisposeBody {
    /// List what would be removed, remove nothing.
    #[serde(default)]
    dry_run: bool,
}

/// How long a disposition may take on the writer (a rewrite, a purge and a
/// repack); past it the answer is 503 and the disposition still completes.
const DISPOSE_WAIT: Duration = Duration::from_secs(55);

/// Removes the due versions physically (archive history, objects, index),
/// never current, held or retained ones; each is a `disposed` event.
#[utoipa::path(post, path = "/api/v1/retention/dispose", tag = "retention",
    request_body = DisposeBody,
    responses(
        (status = 200, description = "What was (or, for a dry run, would be) disposed", body = DisposeAnswer),
        (status = 400, description = "A bad body", body = super::error::ErrorBody),
        (status = 409, description = "Extraction is busy with versions a rewrite would move; nothing was disposed", body = super::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = super::error::ErrorBody),
        (status = 500, description = "The disposition failed (a started one is finished at the next start)", body = super::error::ErrorBody),
    ))]
pub async fn dispose(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Result<Json<DisposeBody>, JsonRejection>,
) -> Result<Json<DisposeAnswer>, ApiError> {
    let Json(body) = body?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    let request = DisposeRequest {
        dry_run: body.dry_run,
        actor: actor.name,
        reply,
    };
    let result = super::writer::ask(
        &state,
        IngestMsg::Dispose(Box::new(request)),
        answer,
        DISPOSE_WAIT,
        "the disposition is still running; check GET /api/v1/events",
    )
    .await?;
    match result {
        Ok(answer) => Ok(Json(answer)),
        Err(DisposeFailure::Busy(m)) => Err(ApiError::new(StatusCode::CONFLICT, "busy", m)),
        Err(DisposeFailure::Failed(m)) => Err(ApiError::internal(m)),
    }
}

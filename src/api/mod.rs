//! The HTTP API (axum). [`router`] holds the whole route table; handlers
//! read the catalog under a read lock and open their own archive handle for
//! blobs, so they never wait on the writer.

pub mod auth;
mod diff;
mod error;
mod events;
mod metrics;
mod restore;
mod retention;
mod search;
mod shares;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::json;
use tower_http::set_header::SetResponseHeaderLayer;

pub use error::ApiError;

use crate::catalog::Catalog;
use crate::config::Role;
use crate::ingest::Progress;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub catalog: Arc<RwLock<Catalog>>,
    pub progress: Arc<Progress>,
    pub archive_path: PathBuf,
    pub searcher: Option<crate::index::Searcher>,
    pub auth: Arc<auth::Auth>,
    /// Requests to the one writer (restores).
    pub ingest: std::sync::mpsc::Sender<crate::watch::IngestMsg>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The audit trail (the writer appends to it).
    pub events: crate::audit::SharedEvents,
    /// The standing legal holds (the writer changes them).
    pub holds: crate::ingest::SharedHolds,
    /// The `[[retention]]` rules, in config order.
    pub retention: Arc<Vec<crate::config::RetentionRule>>,
}

impl AppState {
    /// A state over this catalog and archive with no tokens, no writer
    /// behind it and fresh metrics: for the handlers' in-process tests.
    #[cfg(test)]
    pub(crate) fn for_tests(
        catalog: Arc<RwLock<Catalog>>,
        archive_path: PathBuf,
        searcher: Option<crate::index::Searcher>,
    ) -> AppState {
        let progress = Arc::new(Progress::default());
        AppState {
            catalog,
            progress: progress.clone(),
            archive_path,
            searcher,
            auth: Arc::new(auth::Auth::new(Vec::new())),
            ingest: std::sync::mpsc::channel().0,
            metrics: Arc::new(crate::metrics::Metrics::new(progress)),
            events: Arc::default(),
            holds: Arc::default(),
            retention: Arc::default(),
        }
    }
}

/// The largest request body accepted (restore and hold requests are small JSON).
pub const MAX_BODY: usize = 64 * 1024;

/// How long a request may take to produce its answer's head (a download's
/// body then streams as long as it needs).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The whole route table. Each group of routes carries the lowest role it needs.
pub fn router(state: AppState) -> Router {
    let needs = |role: Role| {
        axum::middleware::from_fn_with_state((state.auth.clone(), role), auth::require)
    };
    let readers = Router::new()
        .route("/api/v1/search", get(search::search))
        .route("/api/v1/shares", get(shares::list_shares))
        .route("/api/v1/events", get(events::events))
        .route("/api/v1/retention/check", get(retention::check))
        .route("/api/v1/retention/due", get(retention::due))
        .route("/api/v1/holds", get(retention::list_holds))
        .route(
            "/api/v1/shares/{share}/documents",
            get(shares::list_documents),
        )
        .route(
            "/api/v1/shares/{share}/history/{*path}",
            get(shares::history),
        )
        .route("/api/v1/shares/{share}/diff/{*path}", get(diff::diff))
        .route(
            "/api/v1/shares/{share}/files/{*path}",
            get(shares::download),
        )
        .route_layer(needs(Role::Reader));
    let editors = Router::new()
        .route(
            "/api/v1/shares/{share}/restore/{*path}",
            post(restore::restore),
        )
        .route_layer(needs(Role::Editor));
    let admins = Router::new()
        .route("/api/v1/holds", post(retention::add_hold))
        .route("/api/v1/holds/{id}", delete(retention::remove_hold))
        .route_layer(needs(Role::Admin));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::metrics))
        .merge(readers)
        .merge(editors)
        .merge(admins)
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn(time_limit))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        // Headers every answer carries: no sniffing, no framing, no
        // referrer, and a content policy that lets nothing run.
        .layer(header_if_absent("x-content-type-options", "nosniff"))
        .layer(header_if_absent("x-frame-options", "DENY"))
        .layer(header_if_absent("referrer-policy", "no-referrer"))
        .layer(header_if_absent(
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'; sandbox",
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

fn header_if_absent(
    name: &'static str,
    value: &'static str,
) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(
        axum::http::HeaderName::from_static(name),
        HeaderValue::from_static(value),
    )
}

/// Answers 503 (JSON) when a handler takes longer than [`REQUEST_TIMEOUT`].
async fn time_limit(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("the request took longer than {REQUEST_TIMEOUT:?}"),
        )
        .into_response(),
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let p = &state.progress;
    if p.ready.load(Ordering::SeqCst) {
        return Json(json!({ "status": "ready" })).into_response();
    }
    let progress = json!({
        "files_scanned": p.scanned.load(Ordering::Relaxed),
        "paths_pending": p.pending.load(Ordering::Relaxed),
        "versions_committed": p.versions.load(Ordering::Relaxed),
        "extraction_pending": p.extraction_pending.load(Ordering::Relaxed),
    });
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "starting", "progress": progress })),
    )
        .into_response()
}

async fn unknown_route() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

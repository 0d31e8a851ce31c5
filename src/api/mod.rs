//! The HTTP API (axum). [`router`] holds the whole route table; handlers
//! read the catalog under a read lock and open their own archive handle for
//! blobs, so they never wait on the writer.

mod diff;
mod error;
mod search;
mod shares;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

pub use error::ApiError;

use crate::catalog::Catalog;
use crate::ingest::Progress;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub catalog: Arc<RwLock<Catalog>>,
    pub progress: Arc<Progress>,
    pub archive_path: PathBuf,
    pub searcher: Option<crate::index::Searcher>,
}

/// The whole route table.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/search", get(search::search))
        .route("/api/v1/shares", get(shares::list_shares))
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
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
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

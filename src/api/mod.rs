//! The HTTP API (axum). [`router`] holds the whole route table; handlers
//! read the catalog under a read lock and open their own archive handle for
//! blobs, so they never wait on the writer.

pub mod auth;
mod diff;
mod error;
mod events;
mod metrics;
pub mod openapi;
mod restore;
mod retention;
mod search;
mod shares;
mod writer;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
    /// Opened archive handles for downloads (closed after a disposition).
    pub archive: Arc<crate::archive::ArchiveReaders>,
    pub searcher: Option<crate::index::Searcher>,
    /// Permits for the CPU-bound part of a request (a search, reading a
    /// small version): about two per CPU, so a burst of requests queues
    /// here instead of as runnable threads that share the CPUs.
    pub cpu: Arc<tokio::sync::Semaphore>,
    pub auth: Arc<auth::Auth>,
    /// Requests to the one writer (restores).
    pub ingest: std::sync::mpsc::Sender<crate::watch::IngestMsg>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The audit trail (the writer appends to it).
    pub events: crate::audit::SharedEvents,
    /// The standing legal holds (the writer changes them).
    pub holds: crate::ingest::SharedHolds,
    /// The `[[retention]]` rules, in config order.
    pub retention: Arc<RwLock<Vec<crate::config::RetentionRule>>>,
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
            archive: Arc::new(crate::archive::ArchiveReaders::new(&archive_path)),
            archive_path,
            searcher,
            cpu: cpu_permits(),
            auth: Arc::new(auth::Auth::new(Vec::new())),
            ingest: std::sync::mpsc::channel().0,
            metrics: Arc::new(crate::metrics::Metrics::new(progress)),
            events: Arc::default(),
            holds: Arc::default(),
            retention: Arc::default(),
        }
    }
}

/// One permit per CPU: requests queue rather than threads. Searches and
/// small downloads read memory-mapped files that the page cache holds, so
/// they rarely wait for the disk; with two permits per CPU they shared the
/// CPUs instead, and each one-word search cost 13 % more CPU (two pairs of
/// HTTP bench runs: p99 23.2 and 22.5 ms against 20.9 and 19.6 ms).
pub fn cpu_permits() -> Arc<tokio::sync::Semaphore> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    Arc::new(tokio::sync::Semaphore::new(cpus))
}

/// How long the CPU-bound part of a request takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Work {
    /// A few milliseconds at most (a search of a few words, reading a
    /// small version): it runs on the async worker serving the request.
    /// Handing it to the blocking pool and back costs two thread wake-ups:
    /// in `cargo bench --bench http` the CPUs sat idle a sixth of the time
    /// while 32 connections waited, and one-word searches ran at
    /// 1,975–3,348/s there against 3,207–3,778/s here.
    Short,
    /// Longer, or unknown: it runs on the blocking pool, so the workers
    /// keep serving other requests meanwhile.
    Long,
}

impl Work {
    /// [`Work::Short`] when `short`, else [`Work::Long`].
    pub(crate) fn short_if(short: bool) -> Work {
        if short { Work::Short } else { Work::Long }
    }
}

/// Runs `work` once a [`AppState::cpu`] permit is free, where [`Work`]
/// says; the permit is held until `work` ends, even if the client goes
/// away.
pub(crate) async fn on_cpu<R: Send + 'static>(
    state: &AppState,
    kind: Work,
    work: impl FnOnce() -> R + Send + 'static,
) -> Result<R, ApiError> {
    let permit = state.cpu.clone().acquire_owned().await;
    let permit = permit.expect("the CPU semaphore is never closed");
    if kind == Work::Short {
        let answer = work();
        drop(permit);
        return Ok(answer);
    }
    tokio::task::spawn_blocking(move || {
        let answer = work();
        drop(permit);
        answer
    })
    .await
    .map_err(ApiError::internal)
}

/// The largest request body accepted (restore and hold requests are small JSON).
pub const MAX_BODY: usize = 64 * 1024;

/// How long a request may take to produce its answer's head (a download's
/// body then streams as long as it needs).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The whole route table. Each group of routes carries the lowest role it
/// needs. Routes are added only with `routes!`, which registers each
/// handler at the path and methods of its `#[utoipa::path]` and describes
/// it in the OpenAPI document (see [`openapi`]).
fn routes(auth: Arc<auth::Auth>) -> OpenApiRouter<AppState> {
    let readers = OpenApiRouter::default()
        .routes(routes!(search::search))
        .routes(routes!(shares::list_shares))
        .routes(routes!(events::events))
        .routes(routes!(retention::check))
        .routes(routes!(retention::due))
        .routes(routes!(retention::list_holds))
        .routes(routes!(shares::list_documents))
        .routes(routes!(shares::history))
        .routes(routes!(diff::diff))
        .routes(routes!(shares::download));
    let editors = OpenApiRouter::default().routes(routes!(restore::restore));
    let admins = OpenApiRouter::default()
        .routes(routes!(retention::add_hold))
        .routes(routes!(retention::remove_hold))
        .routes(routes!(retention::dispose));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi::openapi_json))
        .merge(guarded(readers, &auth, Role::Reader))
        .merge(guarded(editors, &auth, Role::Editor))
        .merge(guarded(admins, &auth, Role::Admin))
}

/// A route group that needs a token of `role`, in the router and in the document.
fn guarded(
    group: OpenApiRouter<AppState>,
    auth: &Arc<auth::Auth>,
    role: Role,
) -> OpenApiRouter<AppState> {
    let layer = axum::middleware::from_fn_with_state((auth.clone(), role), auth::require);
    let mut group = group.route_layer(layer);
    openapi::needs_token(group.get_openapi_mut(), role);
    group
}

/// The OpenAPI document of the routes [`router`] serves.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, spec) = routes(Arc::new(auth::Auth::new(Vec::new()))).split_for_parts();
    openapi::finish(spec)
}

/// The whole application: the route table and the layers every answer passes.
pub fn router(state: AppState) -> Router {
    let (routes, spec) = routes(state.auth.clone()).split_for_parts();
    let document = openapi::Document::new(&openapi::finish(spec));
    routes
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::Extension(document))
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
        // 5xx answers are logged where they are made, with their reason
        // (internal errors, timeouts); the trace layer's own line would
        // repeat them without it, and call every /readyz poll during
        // start-up a failure.
        .layer(
            tower_http::trace::TraceLayer::new_for_http().on_failure(
                tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG),
            ),
        )
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
        Err(_) => {
            tracing::warn!(timeout = ?REQUEST_TIMEOUT, "a request took too long; answered 503");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!("the request took longer than {REQUEST_TIMEOUT:?}"),
            )
            .into_response()
        }
    }
}

/// `{"status": "ok"}`.
#[derive(Serialize, ToSchema)]
struct Health {
    status: Ok,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum Ok {
    Ok,
}

/// `{"status": "ready"}`: the start-up scan is committed, extracted and indexed.
#[derive(Serialize, ToSchema)]
struct Ready {
    status: ReadyStatus,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum ReadyStatus {
    Ready,
}

/// `{"status": "starting", "progress": {…}}`: the start-up scan is still running.
#[derive(Serialize, ToSchema)]
struct Starting {
    status: StartingStatus,
    progress: StartProgress,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum StartingStatus {
    Starting,
}

/// How far the start-up scan has come.
#[derive(Serialize, ToSchema)]
struct StartProgress {
    files_scanned: u64,
    paths_pending: u64,
    versions_committed: u64,
    extraction_pending: u64,
}

/// Liveness: the daemon answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The daemon answers", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: Ok::Ok })
}

/// Readiness: 200 once the start-up scan is committed, extracted and indexed.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "Still starting", body = Starting),
    ))]
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let p = &state.progress;
    if p.ready.load(Ordering::SeqCst) {
        return Json(Ready {
            status: ReadyStatus::Ready,
        })
        .into_response();
    }
    let progress = StartProgress {
        files_scanned: p.scanned.load(Ordering::Relaxed),
        paths_pending: p.pending.load(Ordering::Relaxed),
        versions_committed: p.versions.load(Ordering::Relaxed),
        extraction_pending: p.extraction_pending.load(Ordering::Relaxed),
    };
    let starting = Starting {
        status: StartingStatus::Starting,
        progress,
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(starting)).into_response()
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

//! `GET /api/v1/shares/{share}/diff/{*path}?from=N&to=M`: what changed
//! between two versions of a document. By default a unified diff of their
//! extracted text, read from the search index; with `format=cells`, for
//! spreadsheets and CSV/TSV, the cells whose value changed, read from the
//! archive's blobs.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::shares::{DocumentParams, document_path, find, pick_version};
use super::{ApiError, AppState};
use crate::catalog::VersionRecord;
use crate::diff::{CellChange, CellsError, Side};
use crate::extract::{ExtractError, Limits};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// One version to compare (either order).
    #[param(required = true, value_type = u32, minimum = 0, nullable = false)]
    from: Option<String>,
    /// The other version.
    #[param(required = true, value_type = u32, minimum = 0, nullable = false)]
    to: Option<String>,
    /// `unified` (default): a diff of the extracted text; `cells`: the changed cells, as JSON.
    #[param(value_type = Option<DiffFormat>, inline, nullable = false)]
    format: Option<String>,
}

/// What a diff compares (for the OpenAPI document; the handler parses the
/// string itself to say what is wrong with a bad one).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum DiffFormat {
    Unified,
    Cells,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Unified,
    Cells,
}

/// The two versions being compared.
struct Pair {
    share: String,
    path: String,
    old: VersionRecord,
    new: VersionRecord,
}

impl Pair {
    fn record(&self, side: Side) -> &VersionRecord {
        match side {
            Side::Old => &self.old,
            Side::New => &self.new,
        }
    }

    /// `version 3 of plan.xlsx`, for messages.
    fn name(&self, side: Side) -> String {
        format!("version {} of {}", self.record(side).version, self.path)
    }
}

/// What changed between two versions of a document.
#[utoipa::path(get, path = "/api/v1/shares/{share}/diff/{*path}", tag = "documents",
    params(DocumentParams, DiffQuery),
    responses(
        (status = 200, description = "Text: a unified diff of the extracted text (empty when equal). \
            Cells (`format=cells`): the changed cells", content(
                (String = "text/plain"),
                (CellDiff = "application/json"),
            ),
            headers(("X-Docvault-Truncated" = String,
                description = "Text only: the versions whose text was cut at `max_text`, comma-separated"))),
        (status = 400, description = "A missing or bad parameter, or `format=cells` on a version that is no spreadsheet", body = super::error::ErrorBody),
        (status = 404, description = "No such share, document or version", body = super::error::ErrorBody),
        (status = 409, description = "A version without extracted text, or not yet indexed; cells: one that cannot be read as a spreadsheet", body = super::error::ErrorBody),
        (status = 410, description = "A version that records the deletion", body = super::error::GoneBody),
        (status = 413, description = "Cells: a version over the size, decompression or cell limits", body = super::error::ErrorBody),
        (status = 500, description = "The archive or the index could not be read", body = super::error::ErrorBody),
        (status = 503, description = "Text: the search index is off", body = super::error::ErrorBody),
    ))]
pub async fn diff(
    State(state): State<AppState>,
    params: Result<Path<DocumentParams>, PathRejection>,
    query: Result<Query<DiffQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(DocumentParams { share, path }) = params?;
    let Query(q) = query?;
    let path = document_path(&path)?;
    let from = version_param("from", q.from.as_deref())?;
    let to = version_param("to", q.to.as_deref())?;
    let format = format_param(q.format.as_deref())?;
    let (old, new) = {
        let catalog = state.catalog.read().expect("catalog lock");
        let doc = find(&catalog, &share, &path)?;
        let old = pick_version(doc, &path, Some(from))?.clone();
        (old, pick_version(doc, &path, Some(to))?.clone())
    };
    let pair = Pair {
        share,
        path,
        old,
        new,
    };
    match format {
        Format::Unified => text_diff(&state, pair).await,
        Format::Cells => cell_diff(&state, pair).await,
    }
}

fn version_param(name: &str, value: Option<&str>) -> Result<u32, ApiError> {
    let value = value.ok_or_else(|| {
        ApiError::bad_request(format!("{name} is required: the version number to compare"))
    })?;
    value.parse().map_err(|_| {
        ApiError::bad_request(format!("{name} must be a version number, not {value:?}"))
    })
}

fn format_param(value: Option<&str>) -> Result<Format, ApiError> {
    match value {
        None | Some("unified") => Ok(Format::Unified),
        Some("cells") => Ok(Format::Cells),
        Some(other) => Err(ApiError::bad_request(format!(
            "unknown format {other:?}: leave it out (or say unified) for a diff of the text, or use format=cells"
        ))),
    }
}

fn conflict(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "conflict", message)
}

fn too_large(message: String) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
}

// --- the text diff -------------------------------------------------------------

/// A unified diff of the two versions' extracted text, as the index holds it.
async fn text_diff(state: &AppState, pair: Pair) -> Result<Response, ApiError> {
    let Some(searcher) = state.searcher.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the search index is not open; the text diff reads the extracted text from it",
        ));
    };
    for side in [Side::Old, Side::New] {
        has_text(&pair, side)?;
    }
    tokio::task::spawn_blocking(move || {
        let text = |side| {
            let r = pair.record(side);
            match searcher.text_of(&pair.share, &pair.path, r.version) {
                Ok(Some(t)) if matches!(t.status.as_str(), "ok" | "truncated") => Ok(t),
                Ok(_) => Err(conflict(format!(
                    "{} is not in the search index yet; try again shortly",
                    pair.name(side)
                ))),
                Err(e) => Err(ApiError::internal(e)),
            }
        };
        let (old, new) = (text(Side::Old)?, text(Side::New)?);
        let label = |prefix, side| {
            format!(
                "{prefix}/{}\tversion {}",
                pair.path,
                pair.record(side).version
            )
        };
        let body = crate::diff::unified(
            &old.text,
            &new.text,
            &label("a", Side::Old),
            &label("b", Side::New),
        );
        let truncated: Vec<String> = [(Side::Old, &old), (Side::New, &new)]
            .iter()
            .filter(|(_, t)| t.status == "truncated")
            .map(|(side, _)| pair.record(*side).version.to_string())
            .collect();
        let mut response =
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response();
        if !truncated.is_empty() {
            let value = HeaderValue::from_str(&truncated.join(","))
                .expect("version numbers are a valid header value");
            response.headers_mut().insert("x-docvault-truncated", value);
        }
        Ok(response)
    })
    .await
    .map_err(ApiError::internal)?
}

/// A 409 unless the version's extraction gave text (`ok` or `truncated`).
fn has_text(pair: &Pair, side: Side) -> Result<(), ApiError> {
    let extraction = &pair.record(side).extraction;
    match (extraction.status.as_str(), extraction.message.as_deref()) {
        ("ok" | "truncated", _) => Ok(()),
        ("pending", _) => Err(conflict(format!(
            "{} is not extracted yet (extraction status: pending); try again shortly",
            pair.name(side)
        ))),
        (status, Some(message)) => Err(conflict(format!(
            "{} has no extracted text to compare (extraction status: {status}: {message})",
            pair.name(side)
        ))),
        (status, None) => Err(conflict(format!(
            "{} has no extracted text to compare (extraction status: {status})",
            pair.name(side)
        ))),
    }
}

// --- the cell diff ---------------------------------------------------------------

/// The cells whose value differs between two versions, by sheet, row and column.
#[derive(Debug, Serialize, ToSchema)]
pub struct CellDiff {
    share: String,
    path: String,
    from: u32,
    to: u32,
    changes: Vec<CellChange>,
}

/// The bounds of reading a version for a cell diff. It runs in the daemon,
/// where no worker's memory limit applies, so the zip and grid bounds are
/// tighter than extraction's; the configured input limit still applies
/// through the versions extraction `refused`.
fn cell_limits() -> Limits {
    Limits {
        max_unzipped: 128 << 20,
        memory: 256 << 20,
        ..Limits::default()
    }
}

/// Cell diffs at once: each may hold two versions' bytes and cells.
static CELL_DIFFS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The MIME types extraction gives the formats a cell diff reads.
const SHEET_MIMES: &[&str] = &[
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-excel.sheet.macroEnabled.12",
    "application/vnd.oasis.opendocument.spreadsheet",
    "text/csv",
    "text/tab-separated-values",
];

/// The cells whose value differs between the two versions.
async fn cell_diff(state: &AppState, pair: Pair) -> Result<Response, ApiError> {
    let limits = cell_limits();
    for side in [Side::Old, Side::New] {
        readable_as_sheet(&pair, side, &limits)?;
    }
    let _permit = CELL_DIFFS.acquire().await.map_err(ApiError::internal)?;
    let archive_path = state.archive_path.clone();
    tokio::task::spawn_blocking(move || {
        let archive = crate::archive::Archive::open(&archive_path).map_err(ApiError::internal)?;
        let old = read_blob(&archive, &pair, Side::Old, &limits)?;
        let new = read_blob(&archive, &pair, Side::New, &limits)?;
        let changes = crate::diff::cells(&old, &new, &pair.path, &limits)
            .map_err(|e| cells_error(&pair, e))?;
        Ok(Json(CellDiff {
            from: pair.old.version,
            to: pair.new.version,
            share: pair.share,
            path: pair.path,
            changes,
        })
        .into_response())
    })
    .await
    .map_err(ApiError::internal)?
}

/// Refuses, before reading anything, a version that is too large, that
/// extraction refused, or that extraction found is not a spreadsheet.
fn readable_as_sheet(pair: &Pair, side: Side, limits: &Limits) -> Result<(), ApiError> {
    let r = pair.record(side);
    if r.size > limits.max_input {
        return Err(too_large(format!(
            "{} is {} bytes; a cell diff reads versions of up to {} bytes",
            pair.name(side),
            r.size,
            limits.max_input
        )));
    }
    if r.extraction.status == "refused" {
        return Err(too_large(format!(
            "{} was refused by extraction ({}); it is not read for a cell diff either",
            pair.name(side),
            r.extraction.message.as_deref().unwrap_or("over a limit")
        )));
    }
    let extracted = !matches!(r.extraction.status.as_str(), "pending" | "none");
    if let Some(mime) = r.mime.as_deref().filter(|_| extracted) {
        let essence = mime.split(';').next().unwrap_or(mime).trim();
        if !SHEET_MIMES.iter().any(|m| m.eq_ignore_ascii_case(essence)) {
            return Err(not_a_sheet(pair, side, mime));
        }
    }
    Ok(())
}

fn not_a_sheet(pair: &Pair, side: Side, mime: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{} is {mime}, not a spreadsheet; format=cells reads {}",
        pair.name(side),
        crate::diff::SUPPORTED
    ))
}

fn cells_error(pair: &Pair, e: CellsError) -> ApiError {
    match e {
        CellsError::NotASpreadsheet { side, mime } => not_a_sheet(pair, side, mime),
        CellsError::Unreadable {
            side,
            error: error @ ExtractError::Refused(_),
        } => too_large(format!(
            "{} cannot be compared cell by cell: {error}",
            pair.name(side)
        )),
        CellsError::Unreadable { side, error } => conflict(format!(
            "{} cannot be read as a spreadsheet: {error}",
            pair.name(side)
        )),
    }
}

/// A version's bytes from the archive, never more than the input limit.
fn read_blob(
    archive: &crate::archive::Archive,
    pair: &Pair,
    side: Side,
    limits: &Limits,
) -> Result<Vec<u8>, ApiError> {
    let r = pair.record(side);
    let blob = r
        .blob
        .as_deref()
        .and_then(|b| git2::Oid::from_str(b).ok())
        .ok_or_else(|| {
            ApiError::internal(format!(
                "version record without blob: {} v{}",
                pair.path, r.version
            ))
        })?;
    let mut out = Bounded {
        bytes: Vec::with_capacity(usize::try_from(r.size).unwrap_or(0)),
        max: usize::try_from(limits.max_input).unwrap_or(usize::MAX),
        over: false,
    };
    match archive.copy_blob(blob, &mut out) {
        Ok(_) => Ok(out.bytes),
        Err(_) if out.over => Err(too_large(format!(
            "{} is over {} bytes; a cell diff reads versions of up to that size",
            pair.name(side),
            limits.max_input
        ))),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// A `Write` into memory that refuses to grow past `max` bytes.
struct Bounded {
    bytes: Vec<u8>,
    max: usize,
    over: bool,
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > self.max - self.bytes.len() {
            self.over = true;
            return Err(std::io::Error::other("over the input limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, RwLock};
    use std::time::SystemTime;

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::archive::Archive;
    use crate::catalog::{Catalog, Document, Event, Extraction};
    use crate::index::{Entry, Index};

    /// An archive, a catalog and an index holding the versions a test records.
    struct Vault {
        archive: Archive,
        catalog: Arc<RwLock<Catalog>>,
        index: Index,
        dir: tempfile::TempDir,
    }

    impl Vault {
        fn new() -> Vault {
            let dir = tempfile::TempDir::new().unwrap();
            let archive = Archive::open_or_init(&dir.path().join("archive.git")).unwrap();
            let index = Index::open_or_create(&dir.path().join("index")).unwrap();
            let mut catalog = Catalog::default();
            catalog.add_share("alpha", None);
            Vault {
                archive,
                catalog: Arc::new(RwLock::new(catalog)),
                index,
                dir,
            }
        }

        /// Records the next version of `path` with these bytes, mime and
        /// extraction status, and indexes `bytes` as its text when the status has text.
        fn version(&mut self, path: &str, bytes: &[u8], mime: &str, status: &str) -> &mut Self {
            let stored = self.archive.store_loose(bytes).unwrap();
            let n = self
                .catalog
                .read()
                .unwrap()
                .document("alpha", path)
                .map_or(1, Document::next_version);
            let mut r = VersionRecord::new(
                "alpha",
                path,
                n,
                Event::Modified,
                stored.size,
                stored.sha256,
            );
            r.blob = Some(stored.oid.to_string());
            r.mime = Some(mime.into());
            r.extraction = Extraction {
                status: status.into(),
                message: (status == "failed").then(|| "docx: not a valid zip package".into()),
            };
            if matches!(status, "ok" | "truncated" | "failed") {
                self.index
                    .add(Entry {
                        share: "alpha".into(),
                        path: path.into(),
                        version: n,
                        valid_from: SystemTime::now(),
                        valid_to: None,
                        modified: SystemTime::now(),
                        size: stored.size,
                        mime: mime.into(),
                        title: None,
                        author: None,
                        status: status.into(),
                        text: if status == "failed" {
                            String::new()
                        } else {
                            String::from_utf8_lossy(bytes).into()
                        },
                    })
                    .unwrap();
                self.index.commit(&BTreeMap::new()).unwrap();
            }
            self.catalog.write().unwrap().apply(r);
            self
        }

        fn deletion(&mut self, path: &str) -> &mut Self {
            let mut catalog = self.catalog.write().unwrap();
            let n = catalog.document("alpha", path).unwrap().next_version();
            catalog.apply(VersionRecord::new(
                "alpha",
                path,
                n,
                Event::Deleted,
                0,
                [0; 32],
            ));
            drop(catalog);
            self
        }

        /// A record's field changed after the fact (size, status).
        fn edit(&mut self, path: &str, n: u32, f: impl FnOnce(&mut VersionRecord)) -> &mut Self {
            let mut catalog = self.catalog.write().unwrap();
            let doc = catalog.document_mut("alpha", path).unwrap();
            f(doc.versions.iter_mut().find(|v| v.version == n).unwrap());
            drop(catalog);
            self
        }

        fn state(&self, with_index: bool) -> AppState {
            AppState::for_tests(
                self.catalog.clone(),
                self.dir.path().join("archive.git"),
                with_index.then(|| self.index.searcher()),
            )
        }

        async fn get(&self, route: &str) -> (StatusCode, Option<String>, String) {
            get(self.state(true), route).await
        }
    }

    /// Status, content type and body of `GET route`.
    async fn get(state: AppState, route: &str) -> (StatusCode, Option<String>, String) {
        let request = Request::get(route).body(Body::empty()).unwrap();
        let response = super::super::router(state).oneshot(request).await.unwrap();
        let status = response.status();
        let ctype = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, ctype, String::from_utf8(body.to_vec()).unwrap())
    }

    /// The error message of an error answer with this status.
    async fn error(v: &Vault, route: &str, status: StatusCode) -> String {
        let (got, _, body) = v.get(route).await;
        assert_eq!(got, status, "{route}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        json["error"]["message"].as_str().unwrap().to_owned()
    }

    const TEXT: &str = "text/plain";
    const DIFF: &str = "/api/v1/shares/alpha/diff/";

    #[tokio::test]
    async fn text_diff_of_two_versions() {
        let mut v = Vault::new();
        v.version(
            "minutes.txt",
            b"present: A, B\nrisk R-12 amber\nnext: May\n",
            TEXT,
            "ok",
        )
        .version(
            "minutes.txt",
            b"present: A, B\nrisk R-12 red\nnext: May\n",
            TEXT,
            "ok",
        );
        let (status, ctype, body) = v.get(&format!("{DIFF}minutes.txt?from=1&to=2")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(ctype.as_deref(), Some("text/plain; charset=utf-8"));
        assert_eq!(
            body,
            "--- a/minutes.txt\tversion 1\n+++ b/minutes.txt\tversion 2\n@@ -1,3 +1,3 @@\n \
             present: A, B\n-risk R-12 amber\n+risk R-12 red\n next: May\n"
        );
        let (status, _, body) = v.get(&format!("{DIFF}minutes.txt?from=2&to=2")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
    }

    #[tokio::test]
    async fn versions_without_text_are_409_naming_version_and_status() {
        let mut v = Vault::new();
        v.version("a.docx", b"one\n", TEXT, "ok")
            .version("a.docx", b"PK broken", TEXT, "failed")
            .version("a.docx", b"two\n", TEXT, "pending")
            .version("a.docx", b"three\n", TEXT, "ok");
        assert_eq!(
            error(
                &v,
                &format!("{DIFF}a.docx?from=1&to=3"),
                StatusCode::CONFLICT
            )
            .await,
            "version 3 of a.docx is not extracted yet (extraction status: pending); try again shortly"
        );
        assert_eq!(
            error(
                &v,
                &format!("{DIFF}a.docx?from=2&to=1"),
                StatusCode::CONFLICT
            )
            .await,
            "version 2 of a.docx has no extracted text to compare (extraction status: failed: docx: not a valid zip package)"
        );
        // Extracted, but the index has not committed it yet.
        v.edit("a.docx", 3, |r| r.extraction.status = "ok".into());
        assert_eq!(
            error(
                &v,
                &format!("{DIFF}a.docx?from=1&to=3"),
                StatusCode::CONFLICT
            )
            .await,
            "version 3 of a.docx is not in the search index yet; try again shortly"
        );
        let (status, _, body) = v.get(&format!("{DIFF}a.docx?from=1&to=4")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("-one\n+three\n"), "{body}");
    }

    #[tokio::test]
    async fn truncated_versions_are_compared_and_named_in_a_header() {
        let mut v = Vault::new();
        v.version("big.txt", b"a\n", TEXT, "truncated")
            .version("big.txt", b"b\n", TEXT, "ok");
        let request = Request::get(format!("{DIFF}big.txt?from=1&to=2"))
            .body(Body::empty())
            .unwrap();
        let response = super::super::router(v.state(true))
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-docvault-truncated"], "1");
    }

    #[tokio::test]
    async fn bad_parameters_are_400_never_422() {
        let mut v = Vault::new();
        v.version("x.txt", b"a\n", TEXT, "ok");
        let cases = [
            (
                "x.txt?to=1",
                "from is required: the version number to compare",
            ),
            (
                "x.txt?from=1",
                "to is required: the version number to compare",
            ),
            (
                "x.txt?from=one&to=1",
                "from must be a version number, not \"one\"",
            ),
            (
                "x.txt?from=1&to=-2",
                "to must be a version number, not \"-2\"",
            ),
            (
                "x.txt?from=1&to=1&format=html",
                "unknown format \"html\": leave it out (or say unified) for a diff of the text, or use format=cells",
            ),
            (
                "a/../x.txt?from=1&to=1",
                "invalid document path \"a/../x.txt\": empty, '.' or '..' components are not allowed",
            ),
        ];
        for (route, message) in cases {
            assert_eq!(
                error(&v, &format!("{DIFF}{route}"), StatusCode::BAD_REQUEST).await,
                message,
                "{route}"
            );
        }
        let unknown = error(
            &v,
            &format!("{DIFF}x.txt?from=1&to=1&verbose=1"),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(unknown.contains("unknown field `verbose`"), "{unknown}");
    }

    #[tokio::test]
    async fn unknown_is_404_deleted_is_410_and_no_index_is_503() {
        let mut v = Vault::new();
        v.version("x.txt", b"a\n", TEXT, "ok").deletion("x.txt");
        let cases = [
            (
                "/api/v1/shares/beta/diff/x.txt?from=1&to=1",
                "no share named beta",
            ),
            (
                "/api/v1/shares/alpha/diff/y.txt?from=1&to=1",
                "no document y.txt in share alpha",
            ),
            (
                "/api/v1/shares/alpha/diff/x.txt?from=1&to=7",
                "x.txt has no version 7",
            ),
        ];
        for (route, message) in cases {
            assert_eq!(error(&v, route, StatusCode::NOT_FOUND).await, message);
        }
        let (status, _, body) = v.get(&format!("{DIFF}x.txt?from=1&to=2")).await;
        assert_eq!(status, StatusCode::GONE, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json["error"]["message"],
            "version 2 of x.txt records its deletion and has no content"
        );
        assert_eq!(json["error"]["last_version"], 1);

        let (status, _, body) = get(v.state(false), &format!("{DIFF}x.txt?from=1&to=1")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.contains("the search index is not open"), "{body}");
    }

    #[tokio::test]
    async fn cell_diff_of_a_csv_needs_no_index() {
        let mut v = Vault::new();
        v.version(
            "risks.csv",
            b"id,status\nR-12,amber\nR-13,green\n",
            "text/csv",
            "ok",
        )
        .version(
            "risks.csv",
            b"id,status\nR-12,red\nR-13,green\n",
            "text/csv",
            "pending",
        );
        let (status, ctype, body) = get(
            v.state(false),
            &format!("{DIFF}risks.csv?from=1&to=2&format=cells"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(ctype.as_deref(), Some("application/json"));
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "share": "alpha", "path": "risks.csv", "from": 1, "to": 2,
                "changes": [{"sheet": "risks.csv", "cell": "B2", "old": "amber", "new": "red"}]
            })
        );
    }

    #[tokio::test]
    async fn cell_diff_refuses_non_sheets_large_and_refused_versions() {
        let mut v = Vault::new();
        v.version("r.pdf", b"%PDF-1.4 x", "application/pdf", "ok")
            .version("r.pdf", b"%PDF-1.4 y", "application/pdf", "ok")
            .version("t.csv", b"a\n", "text/csv", "ok")
            .version("t.csv", b"b\n", "text/csv", "ok")
            .version("t.csv", b"c\n", "text/csv", "refused")
            .edit("t.csv", 2, |r| r.size = 300 << 20)
            .edit("t.csv", 3, |r| {
                r.extraction.message = Some("input size over limit".into())
            })
            .version("p.csv", b"%PDF-1.4 really a pdf", "text/csv", "pending")
            .version("p.csv", b"a\n", "text/csv", "pending")
            .version(
                "d.xlsx",
                b"PK\x03\x04 damaged",
                "application/zip",
                "pending",
            );
        assert_eq!(
            error(
                &v,
                &format!("{DIFF}r.pdf?from=1&to=2&format=cells"),
                StatusCode::BAD_REQUEST
            )
            .await,
            "version 1 of r.pdf is application/pdf, not a spreadsheet; format=cells reads xlsx, xlsm, ods, csv and tsv"
        );
        assert_eq!(
            error(
                &v,
                &format!("{DIFF}p.csv?from=2&to=1&format=cells"),
                StatusCode::BAD_REQUEST
            )
            .await,
            "version 1 of p.csv is application/pdf, not a spreadsheet; format=cells reads xlsx, xlsm, ods, csv and tsv"
        );
        assert_eq!(
            error(
                &v,
                &format!("{DIFF}t.csv?from=1&to=2&format=cells"),
                StatusCode::PAYLOAD_TOO_LARGE
            )
            .await,
            "version 2 of t.csv is 314572800 bytes; a cell diff reads versions of up to 268435456 bytes"
        );
        assert_eq!(
            error(
                &v,
                &format!("{DIFF}t.csv?from=3&to=1&format=cells"),
                StatusCode::PAYLOAD_TOO_LARGE
            )
            .await,
            "version 3 of t.csv was refused by extraction (input size over limit); it is not read for a cell diff either"
        );
        let damaged = error(
            &v,
            &format!("{DIFF}d.xlsx?from=1&to=1&format=cells"),
            StatusCode::CONFLICT,
        )
        .await;
        assert!(
            damaged.starts_with("version 1 of d.xlsx cannot be read as a spreadsheet: failed: xlsx: not a valid zip package"),
            "{damaged}"
        );
    }
}

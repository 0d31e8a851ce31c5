//! Shares, their documents, a document's history and any version's bytes.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, AppState, Work};
use crate::catalog::{Document, Extraction, VersionRecord};

/// A share and how much it holds.
#[derive(Serialize, ToSchema)]
pub struct ShareSummary {
    name: String,
    /// Live (not deleted) documents.
    documents: usize,
    /// Versions of all its documents, deleted ones included.
    versions: u64,
    /// When the last version was recorded (RFC 3339); null before the first.
    #[schema(required = true, format = DateTime)]
    last_change: Option<String>,
}

/// The configured shares.
#[utoipa::path(get, path = "/api/v1/shares", tag = "shares",
    responses((status = 200, description = "Every configured share", body = Vec<ShareSummary>)))]
pub async fn list_shares(State(state): State<AppState>) -> Json<Vec<ShareSummary>> {
    let catalog = state.catalog.read().expect("catalog lock");
    let shares = catalog
        .shares()
        .map(|(name, s)| ShareSummary {
            name: name.clone(),
            documents: s.live_documents(),
            versions: s.versions,
            last_change: s.last_change.clone(),
        })
        .collect();
    Json(shares)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only documents whose path starts with this string.
    #[serde(default)]
    prefix: String,
    /// Include deleted documents.
    #[serde(default)]
    deleted: bool,
    /// Documents per page.
    #[param(minimum = 1, maximum = 1000, default = 100, nullable = false)]
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    #[param(nullable = false)]
    cursor: Option<String>,
}

/// A document and its current version.
#[derive(Serialize, ToSchema)]
pub struct DocumentSummary {
    path: String,
    /// The current version (of a deleted document: its deletion).
    version: u32,
    deleted: bool,
    size: u64,
    sha256: String,
    /// The type of the newest content; null before extraction said.
    #[schema(required = true)]
    mime: Option<String>,
    #[schema(required = true)]
    title: Option<String>,
    /// The file's modification time (RFC 3339).
    #[schema(format = DateTime)]
    modified: String,
}

/// One page of documents in path order.
#[derive(Serialize, ToSchema)]
pub struct DocumentPage {
    documents: Vec<DocumentSummary>,
    /// Pass back as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// Documents in path order; `deleted=true` includes deleted ones; the cursor is the last path seen.
#[utoipa::path(get, path = "/api/v1/shares/{share}/documents", tag = "shares",
    params(("share" = String, Path, description = "The share's name"), ListQuery),
    responses(
        (status = 200, description = "One page of documents", body = DocumentPage),
        (status = 400, description = "A bad parameter or cursor", body = super::error::ErrorBody),
        (status = 404, description = "No such share", body = super::error::ErrorBody),
    ))]
pub async fn list_documents(
    State(state): State<AppState>,
    share: Result<Path<String>, PathRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<DocumentPage>, ApiError> {
    let Path(share) = share?;
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let catalog = state.catalog.read().expect("catalog lock");
    let share_state = catalog.share(&share).ok_or_else(|| unknown_share(&share))?;
    let start = after.clone().unwrap_or_else(|| q.prefix.clone());
    let mut documents = Vec::new();
    let mut next_cursor = None;
    let candidates = share_state
        .docs
        .range(start..)
        .filter(|(p, _)| after.as_ref() != Some(*p))
        .take_while(|(p, _)| p.starts_with(&q.prefix))
        .filter(|(_, d)| q.deleted || d.is_live());
    for (path, doc) in candidates {
        if documents.len() == limit {
            next_cursor = documents
                .last()
                .map(|d: &DocumentSummary| hex::encode(&d.path));
            break;
        }
        documents.extend(summary(path, doc));
    }
    Ok(Json(DocumentPage {
        documents,
        next_cursor,
    }))
}

fn summary(path: &str, doc: &Document) -> Option<DocumentSummary> {
    let current = doc.current()?;
    let content = doc.last_content().unwrap_or(current);
    Some(DocumentSummary {
        path: path.to_owned(),
        version: current.version,
        deleted: current.is_deletion(),
        size: current.size,
        sha256: current.sha256.clone(),
        mime: content.mime.clone(),
        title: content.title.clone(),
        modified: current.mtime.clone().unwrap_or_else(|| current.at.clone()),
    })
}

fn decode_cursor(c: &str) -> Result<String, ApiError> {
    hex::decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::bad_request("cursor is not one this API handed out"))
}

/// One version of a document.
#[derive(Serialize, ToSchema)]
pub struct HistoryEntry {
    version: u32,
    event: crate::catalog::Event,
    /// When docvault recorded the version (RFC 3339).
    #[schema(format = DateTime)]
    at: String,
    /// The file's modification time; null for deletions.
    #[schema(required = true, format = DateTime)]
    mtime: Option<String>,
    size: u64,
    sha256: String,
    #[schema(required = true)]
    mime: Option<String>,
    #[schema(required = true)]
    title: Option<String>,
    #[schema(required = true)]
    author: Option<String>,
    /// The archive commit holding the version.
    #[schema(required = true)]
    commit: Option<String>,
    #[schema(required = true)]
    renamed_from: Option<String>,
    #[schema(required = true)]
    renamed_to: Option<String>,
    #[schema(required = true)]
    restored_from: Option<u32>,
    extraction: Extraction,
}

impl From<&VersionRecord> for HistoryEntry {
    fn from(v: &VersionRecord) -> Self {
        HistoryEntry {
            version: v.version,
            event: v.event,
            at: v.at.clone(),
            mtime: v.mtime.clone(),
            size: v.size,
            sha256: v.sha256.clone(),
            mime: v.mime.clone(),
            title: v.title.clone(),
            author: v.author.clone(),
            commit: v.commit.clone(),
            renamed_from: v.renamed_from.clone(),
            renamed_to: v.renamed_to.clone(),
            restored_from: v.restored_from,
            extraction: v.extraction.clone(),
        }
    }
}

/// A document's versions, newest first.
#[derive(Serialize, ToSchema)]
pub struct History {
    share: String,
    path: String,
    versions: Vec<HistoryEntry>,
}

/// A document named in a URL: `…/{share}/…/{*path}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DocumentParams {
    /// The share's name.
    pub share: String,
    /// The document's share-relative path, percent-encoded, `/` between folders;
    /// one that would leave the share (`..`, absolute, NUL) is a 400.
    #[param(min_length = 1)]
    pub path: String,
}

/// A document's versions, newest first.
#[utoipa::path(get, path = "/api/v1/shares/{share}/history/{*path}", tag = "documents",
    params(DocumentParams),
    responses(
        (status = 200, description = "The document's versions, newest first", body = History),
        (status = 400, description = "A path that would leave the share", body = super::error::ErrorBody),
        (status = 404, description = "No such share or document", body = super::error::ErrorBody),
    ))]
pub async fn history(
    State(state): State<AppState>,
    params: Result<Path<DocumentParams>, PathRejection>,
) -> Result<Json<History>, ApiError> {
    let Path(DocumentParams { share, path }) = params?;
    let path = document_path(&path)?;
    let catalog = state.catalog.read().expect("catalog lock");
    let doc = find(&catalog, &share, &path)?;
    let versions = doc.versions.iter().rev().map(HistoryEntry::from).collect();
    Ok(Json(History {
        share,
        path,
        versions,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FileQuery {
    /// The version to send; the current one if left out.
    #[param(minimum = 0, nullable = false)]
    version: Option<u32>,
}

/// The bytes of a version (the current one by default), streamed from the
/// archive. `ETag` is the sha256; `If-None-Match` answers 304, a single
/// satisfiable `Range` 206 (several ranges are answered whole, as RFC 9110
/// allows), an unsatisfiable one 416; HEAD sends the headers only.
#[utoipa::path(method(get, head), path = "/api/v1/shares/{share}/files/{*path}", tag = "documents",
    params(DocumentParams, FileQuery,
        ("If-None-Match" = Option<String>, Header, nullable = false, description = "ETags already held: 304 if the version's is among them"),
        ("Range" = Option<String>, Header, nullable = false, description = "`bytes=START-END`: one range gives 206"),
        ("If-Range" = Option<String>, Header, nullable = false, description = "The ETag the range is for; another version gets everything"),
    ),
    responses(
        (status = 200, description = "The version's bytes, with its own `Content-Type`",
            content(("*/*")), headers(
                ("ETag" = String, description = "The sha256 of the bytes, quoted"),
                ("X-Docvault-Version" = u32, description = "The version sent"),
                ("Content-Disposition" = String, description = "`attachment` with the file's name"),
                ("Content-Length" = u64),
            )),
        (status = 206, description = "The requested range of the bytes",
            content(("*/*")), headers(
                ("ETag" = String), ("X-Docvault-Version" = u32),
                ("Content-Range" = String, description = "`bytes START-END/SIZE`"),
            )),
        (status = 304, description = "`If-None-Match` names this version's ETag", headers(("ETag" = String))),
        (status = 400, description = "A bad parameter, or a path that would leave the share", body = super::error::ErrorBody),
        (status = 404, description = "No such share, document or version", body = super::error::ErrorBody),
        (status = 410, description = "The document is deleted (no version asked), or the version records the deletion", body = super::error::GoneBody),
        (status = 416, description = "The range is outside the bytes", body = super::error::ErrorBody,
            headers(("Content-Range" = String, description = "`bytes */SIZE`"))),
        (status = 500, description = "The archive could not be read", body = super::error::ErrorBody),
    ))]
pub async fn download(
    State(state): State<AppState>,
    method: Method,
    request_headers: HeaderMap,
    params: Result<Path<DocumentParams>, PathRejection>,
    query: Result<Query<FileQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(DocumentParams { share, path }) = params?;
    let Query(q) = query?;
    let path = document_path(&path)?;
    let record = {
        let catalog = state.catalog.read().expect("catalog lock");
        let doc = find(&catalog, &share, &path)?;
        pick_version(doc, &path, q.version)?.clone()
    };
    let blob = record
        .blob
        .as_deref()
        .and_then(|b| git2::Oid::from_str(b).ok());
    let blob = blob.ok_or_else(|| {
        ApiError::internal(format!(
            "version record without blob: {path} v{}",
            record.version
        ))
    })?;
    let etag = format!("\"{}\"", record.sha256);
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, header_value(&etag));
    headers.insert("x-docvault-version", HeaderValue::from(record.version));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if etag_matches(&request_headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    let mime = record
        .mime
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    headers.insert(header::CONTENT_TYPE, header_value(&mime));
    headers.insert(
        header::CONTENT_DISPOSITION,
        header_value(&content_disposition(&path)),
    );
    let size = record.size;
    let (status, range) = match wanted_range(&request_headers, &etag, size) {
        Wanted::All => (StatusCode::OK, 0..=size.saturating_sub(1)),
        Wanted::Part(r) => {
            headers.insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes {}-{}/{size}", r.start(), r.end())),
            );
            (StatusCode::PARTIAL_CONTENT, r)
        }
        Wanted::Unsatisfiable => {
            headers.insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{size}")),
            );
            let mut e = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the range is outside the version's {size} bytes"),
            )
            .into_response();
            // The answer is the JSON error, not the document.
            headers.remove(header::CONTENT_TYPE);
            headers.remove(header::CONTENT_DISPOSITION);
            e.headers_mut().extend(headers);
            return Ok(e);
        }
    };
    let length = if size == 0 {
        0
    } else {
        range.end() - range.start() + 1
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if method == Method::HEAD {
        return Ok((status, headers).into_response());
    }
    let body = if size <= WHOLE_READ_LIMIT {
        read_blob(&state, blob, size, *range.start(), length).await?
    } else {
        stream_blob(state.archive.clone(), blob, *range.start(), length).await?
    };
    Ok((status, headers, body).into_response())
}

/// Whether `If-None-Match` names this ETag (or `*`); weak tags compare weakly.
fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

enum Wanted {
    All,
    Part(std::ops::RangeInclusive<u64>),
    Unsatisfiable,
}

/// The part of the bytes a `Range` header asks for. Malformed headers,
/// several ranges and an `If-Range` naming another version get everything.
fn wanted_range(headers: &HeaderMap, etag: &str, size: u64) -> Wanted {
    let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Wanted::All;
    };
    if let Some(if_range) = headers.get(header::IF_RANGE) {
        if if_range.to_str().ok().map(str::trim) != Some(etag) {
            return Wanted::All;
        }
    }
    use http_range_header::RangeUnsatisfiableError as E;
    match http_range_header::parse_range_header(range).map(|r| r.validate(size)) {
        Ok(Ok(ranges)) if ranges.len() == 1 => Wanted::Part(ranges[0].clone()),
        Ok(Ok(_)) => Wanted::All,
        Ok(Err(E::Unsatisfiable)) | Err(E::Unsatisfiable) => Wanted::Unsatisfiable,
        Ok(Err(_)) | Err(_) => Wanted::All,
    }
}

/// The asked version (the current one by default), which must have
/// content: unknown is 404, a deletion 410 naming the last content version.
pub(super) fn pick_version<'a>(
    doc: &'a Document,
    path: &str,
    version: Option<u32>,
) -> Result<&'a VersionRecord, ApiError> {
    let current = doc
        .current()
        .ok_or_else(|| ApiError::not_found(format!("no document {path}")))?;
    let record = match version {
        None => current,
        Some(n) => doc
            .version(n)
            .ok_or_else(|| ApiError::not_found(format!("{path} has no version {n}")))?,
    };
    if record.is_deletion() {
        let last = doc.last_content().map_or(0, |v| v.version);
        let message = match version {
            None => format!(
                "{path} was deleted (version {}); ask for an earlier version",
                record.version
            ),
            Some(n) => format!("version {n} of {path} records its deletion and has no content"),
        };
        return Err(ApiError::gone(message, last));
    }
    Ok(record)
}

/// Versions up to this size are read in one piece and sent as one buffer;
/// larger ones are streamed, so memory stays flat whatever the size.
const WHOLE_READ_LIMIT: u64 = 1 << 20;

/// Versions up to this size are read where the request is served (a
/// [`Work::Short`]: inflating 64 KiB takes well under a millisecond).
const SHORT_READ_LIMIT: u64 = 64 << 10;

/// Reads `length` bytes of a small blob of `size` bytes from `skip` on, in
/// one piece: no channel, no task streaming chunks.
async fn read_blob(
    state: &AppState,
    blob: git2::Oid,
    size: u64,
    skip: u64,
    length: u64,
) -> Result<Body, ApiError> {
    let readers = state.archive.clone();
    let work = Work::short_if(size <= SHORT_READ_LIMIT);
    let read = super::on_cpu(state, work, move || {
        readers.with(|archive| {
            let found = archive.repo().find_blob(blob);
            let found = found.map_err(|e| format!("blob {blob} missing from the archive: {e}"))?;
            let wanted = usize::try_from(skip)
                .ok()
                .zip(usize::try_from(skip + length).ok());
            wanted
                .and_then(|(from, to)| found.content().get(from..to))
                .map(bytes::Bytes::copy_from_slice)
                .ok_or_else(|| format!("blob {blob} is shorter than its version record says"))
        })
    });
    match read.await? {
        Ok(Ok(bytes)) => Ok(Body::from(bytes)),
        Ok(Err(e)) => Err(ApiError::internal(e)),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Reads `length` bytes of the blob from `skip` on, on a blocking thread
/// with one of the API's opened archive handles, and streams them out in
/// chunks.
async fn stream_blob(
    readers: std::sync::Arc<crate::archive::ArchiveReaders>,
    blob: git2::Oid,
    skip: u64,
    length: u64,
) -> Result<Body, ApiError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let (opened_tx, opened_rx) = tokio::sync::oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let mut opened = Some(opened_tx);
        let copied = readers.with(|archive| {
            let opened = opened.take().expect("taken once");
            if !archive.repo().odb().is_ok_and(|odb| odb.exists(blob)) {
                return drop(opened.send(Err(format!("blob {blob} missing from the archive"))));
            }
            let _ = opened.send(Ok(()));
            let mut sink = ChunkSender {
                tx: tx.clone(),
                skip,
                left: length,
            };
            if let Err(e) = archive.copy_blob(blob, &mut sink) {
                if sink.left > 0 {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                }
            }
        });
        if let (Err(e), Some(opened)) = (copied, opened) {
            let _ = opened.send(Err(e.to_string()));
        }
    });
    match opened_rx.await {
        Ok(Ok(())) => {
            let mut rx = rx;
            Ok(Body::from_stream(futures_util::stream::poll_fn(
                move |cx| rx.poll_recv(cx),
            )))
        }
        Ok(Err(e)) => Err(ApiError::internal(e)),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// A `Write` that hands the wanted part of the bytes to the response body,
/// chunk by chunk; it stops the copy once that part is sent or the client
/// hangs up.
struct ChunkSender {
    tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
    skip: u64,
    left: u64,
}

impl std::io::Write for ChunkSender {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "range sent",
            ));
        }
        let skipped = self.skip.min(buf.len() as u64) as usize;
        self.skip -= skipped as u64;
        let wanted = &buf[skipped..];
        let take = self.left.min(wanted.len() as u64) as usize;
        if take > 0 {
            self.tx
                .blocking_send(Ok(bytes::Bytes::copy_from_slice(&wanted[..take])))
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away")
                })?;
            self.left -= take as u64;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// `attachment` with an ASCII fallback name and the RFC 5987 UTF-8 name.
fn content_disposition(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

pub(super) fn find<'a>(
    catalog: &'a crate::catalog::Catalog,
    share: &str,
    path: &str,
) -> Result<&'a Document, ApiError> {
    let state = catalog.share(share).ok_or_else(|| unknown_share(share))?;
    state
        .docs
        .get(path)
        .ok_or_else(|| ApiError::not_found(format!("no document {path} in share {share}")))
}

fn unknown_share(share: &str) -> ApiError {
    ApiError::not_found(format!("no share named {share}"))
}

/// A document path from a URL: relative, `/`-separated, NFC, never leaving the share.
pub fn document_path(raw: &str) -> Result<String, ApiError> {
    let bad = |why: &str| {
        Err(ApiError::bad_request(format!(
            "invalid document path {raw:?}: {why}"
        )))
    };
    if raw.is_empty() {
        return bad("empty");
    }
    if raw.starts_with('/') {
        return bad("absolute paths are not allowed");
    }
    if raw.contains('\0') {
        return bad("NUL byte");
    }
    if raw.contains('\\') {
        return bad("backslashes are not allowed");
    }
    if raw
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return bad("empty, '.' or '..' components are not allowed");
    }
    Ok(crate::watch::nfc(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_odd_paths_are_refused() {
        for p in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a\\b",
            "a\0b",
            "a/",
        ] {
            assert!(document_path(p).is_err(), "{p:?} accepted");
        }
        assert_eq!(document_path("-lead/ü b.txt").unwrap(), "-lead/ü b.txt");
    }

    proptest::proptest! {
        #[test]
        fn document_path_never_panics_and_never_escapes(raw in ".{0,64}") {
            if let Ok(p) = document_path(&raw) {
                proptest::prop_assert!(!p.starts_with('/'));
                proptest::prop_assert!(!p.contains('\0') && !p.contains('\\'));
                proptest::prop_assert!(p.split('/').all(|c| !c.is_empty() && c != "." && c != ".."));
            }
        }

        #[test]
        fn cursor_decoding_never_panics(raw in ".{0,64}") {
            let _ = decode_cursor(&raw);
        }
    }

    #[test]
    fn chunk_sender_passes_exactly_the_wanted_slice() {
        use std::io::Write;
        let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        for (skip, len) in [(0u64, 5000u64), (1, 1), (999, 1001), (4990, 10), (0, 0)] {
            let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
            let mut sink = ChunkSender {
                tx,
                skip,
                left: len,
            };
            for chunk in data.chunks(333) {
                if sink.write(chunk).is_err() {
                    break;
                }
            }
            drop(sink);
            let mut got = Vec::new();
            while let Ok(Ok(b)) = rx.try_recv() {
                got.extend_from_slice(&b);
            }
            assert_eq!(
                got,
                &data[skip as usize..(skip + len) as usize],
                "{skip}+{len}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn range_headers_never_panic_and_stay_inside(raw in ".{0,40}", size in 0u64..100_000) {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&raw) {
                h.insert(header::RANGE, v);
            }
            if let Wanted::Part(r) = wanted_range(&h, "\"x\"", size) {
                proptest::prop_assert!(r.start() <= r.end() && *r.end() < size);
            }
        }
    }

    #[test]
    fn disposition_has_ascii_fallback_and_utf8_name() {
        assert_eq!(
            content_disposition("a/Prüf bericht.docx"),
            "attachment; filename=\"Pr_f bericht.docx\"; filename*=UTF-8''Pr%C3%BCf%20bericht%2Edocx"
        );
    }
}

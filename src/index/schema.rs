//! The schema: one tantivy document per version, and the way between an
//! [`Entry`] and that document.
//!
//! Times are i64 nanoseconds since the Unix epoch in fast fields, so that
//! "as of T" (`valid_from <= T < valid_to`) is an exact, cheap range filter;
//! "current" is the absence of the `superseded` term (`valid_to` is
//! `i64::MAX`). `type` holds several short
//! values per version: the file's extension, the type named by its mime type,
//! and the family (`document`, `spreadsheet`, ...).

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tantivy::TantivyDocument;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};

use super::Entry;
use super::tokenizer;

/// `valid_to` of a current version.
pub(crate) const CURRENT: i64 = i64::MAX;
/// The `superseded` term of a superseded version.
pub(crate) const SUPERSEDED: &str = "yes";

/// The fields of the schema, by role.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    pub share: Field,
    /// The path as is: exact match and prefix filter.
    pub path_raw: Field,
    /// The path tokenized (`path:minutes`).
    pub path: Field,
    /// `share\0path`.
    pub doc_key: Field,
    /// `share\0path\0version`: what `add` replaces.
    pub version_key: Field,
    /// The first 8 bytes of sha256(doc_key): groups the versions of a document.
    pub doc_hash: Field,
    pub version: Field,
    pub valid_from: Field,
    pub valid_to: Field,
    /// [`SUPERSEDED`] on entries with a `valid_to`: current versions are the others.
    pub superseded: Field,
    pub modified: Field,
    pub size: Field,
    pub mime: Field,
    pub types: Field,
    pub status: Field,
    pub title: Field,
    pub author: Field,
    pub content: Field,
}

/// Fast-field names the search reads per matching document.
pub(crate) const DOC_HASH: &str = "doc_hash";
pub(crate) const VERSION: &str = "version";
pub(crate) const VALID_TO: &str = "valid_to";

fn text(stored: bool) -> TextOptions {
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(tokenizer::TEXT)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let options = TextOptions::default().set_indexing_options(indexing);
    if stored {
        options.set_stored()
    } else {
        options
    }
}

fn keyword() -> TextOptions {
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(tokenizer::KEYWORD)
        .set_index_option(IndexRecordOption::Basic)
        .set_fieldnorms(false);
    TextOptions::default().set_indexing_options(indexing)
}

/// The schema and its fields. Field names are what the query syntax uses
/// (`title:`, `path:`, `author:`, `type:`, also `share:`, `mime:`, `status:`).
pub(crate) fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        share: b.add_text_field("share", STRING | STORED),
        path_raw: b.add_text_field("path_raw", STRING | STORED),
        path: b.add_text_field("path", text(false)),
        doc_key: b.add_text_field("doc_key", STRING),
        version_key: b.add_text_field("version_key", STRING),
        doc_hash: b.add_u64_field(DOC_HASH, FAST),
        version: b.add_u64_field(VERSION, INDEXED | FAST | STORED),
        valid_from: b.add_i64_field("valid_from", FAST | STORED),
        valid_to: b.add_i64_field(VALID_TO, FAST | STORED),
        superseded: b.add_text_field("superseded", STRING),
        modified: b.add_i64_field("modified", FAST | STORED),
        size: b.add_u64_field("size", FAST | STORED),
        mime: b.add_text_field("mime", STRING | STORED),
        types: b.add_text_field("type", keyword()),
        status: b.add_text_field("status", STRING | STORED),
        title: b.add_text_field("title", text(true)),
        author: b.add_text_field("author", text(true)),
        content: b.add_text_field("content", text(true)),
    };
    (b.build(), fields)
}

pub(crate) fn doc_key(share: &str, path: &str) -> String {
    format!("{share}\0{path}")
}

pub(crate) fn version_key(share: &str, path: &str, version: u32) -> String {
    format!("{share}\0{path}\0{version}")
}

fn doc_hash(doc_key: &str) -> u64 {
    let digest = Sha256::digest(doc_key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// Nanoseconds since the epoch, saturating (years 1678 to 2262 are exact).
pub(crate) fn nanos(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

pub(crate) fn time(nanos: i64) -> SystemTime {
    let abs = Duration::from_nanos(nanos.unsigned_abs());
    if nanos >= 0 {
        UNIX_EPOCH + abs
    } else {
        UNIX_EPOCH - abs
    }
}

/// The tantivy document of a version.
pub(crate) fn document(f: &Fields, e: &Entry) -> TantivyDocument {
    // Sized up front: grown by doubling from tantivy's 1 KiB, a document's
    // buffer had up to twice its text's size, and an import holds hundreds.
    let strings = [&e.share, &e.path, &e.mime, &e.status, &e.text]
        .into_iter()
        .chain(e.title.as_ref())
        .chain(e.author.as_ref())
        .map(|s| s.len())
        .sum::<usize>();
    let mut d = TantivyDocument::with_capacity(strings + 4 * (e.share.len() + e.path.len()) + 512);
    let key = doc_key(&e.share, &e.path);
    d.add_text(f.share, &e.share);
    d.add_text(f.path_raw, &e.path);
    d.add_text(f.path, &e.path);
    d.add_u64(f.doc_hash, doc_hash(&key));
    d.add_text(f.doc_key, key);
    d.add_text(f.version_key, version_key(&e.share, &e.path, e.version));
    d.add_u64(f.version, u64::from(e.version));
    d.add_i64(f.valid_from, nanos(e.valid_from));
    d.add_i64(f.valid_to, e.valid_to.map_or(CURRENT, nanos));
    if e.valid_to.is_some() {
        d.add_text(f.superseded, SUPERSEDED);
    }
    d.add_i64(f.modified, nanos(e.modified));
    d.add_u64(f.size, e.size);
    d.add_text(f.mime, &e.mime);
    for t in types(&e.path, &e.mime) {
        d.add_text(f.types, t);
    }
    d.add_text(f.status, &e.status);
    if let Some(title) = &e.title {
        d.add_text(f.title, title);
    }
    if let Some(author) = &e.author {
        d.add_text(f.author, author);
    }
    d.add_text(f.content, &e.text);
    d
}

fn str_of(d: &TantivyDocument, field: Field) -> Option<String> {
    d.get_first(field)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

fn i64_of(d: &TantivyDocument, field: Field) -> i64 {
    d.get_first(field)
        .and_then(|v| v.as_i64())
        .unwrap_or_default()
}

fn u64_of(d: &TantivyDocument, field: Field) -> u64 {
    d.get_first(field)
        .and_then(|v| v.as_u64())
        .unwrap_or_default()
}

/// The entry a stored document was made from.
pub(crate) fn entry(f: &Fields, d: &TantivyDocument) -> Entry {
    let valid_to = i64_of(d, f.valid_to);
    Entry {
        share: str_of(d, f.share).unwrap_or_default(),
        path: str_of(d, f.path_raw).unwrap_or_default(),
        version: u32::try_from(u64_of(d, f.version)).unwrap_or(u32::MAX),
        valid_from: time(i64_of(d, f.valid_from)),
        valid_to: (valid_to != CURRENT).then(|| time(valid_to)),
        modified: time(i64_of(d, f.modified)),
        size: u64_of(d, f.size),
        mime: str_of(d, f.mime).unwrap_or_default(),
        title: str_of(d, f.title),
        author: str_of(d, f.author),
        status: str_of(d, f.status).unwrap_or_default(),
        text: str_of(d, f.content).unwrap_or_default(),
    }
}

/// Mime type (without parameters) to short type.
const MIME_TYPES: &[(&str, &str)] = &[
    ("text/plain", "txt"),
    ("text/markdown", "md"),
    ("text/csv", "csv"),
    ("text/tab-separated-values", "tsv"),
    ("text/html", "html"),
    ("application/json", "json"),
    ("application/xml", "xml"),
    ("text/xml", "xml"),
    ("message/rfc822", "eml"),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
    ),
    ("application/vnd.ms-excel.sheet.macroEnabled.12", "xlsm"),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "pptx",
    ),
    ("application/vnd.oasis.opendocument.text", "odt"),
    ("application/vnd.oasis.opendocument.spreadsheet", "ods"),
    ("application/vnd.oasis.opendocument.presentation", "odp"),
    ("application/pdf", "pdf"),
    ("application/rtf", "rtf"),
    ("text/rtf", "rtf"),
];

/// Short type to family.
const FAMILIES: &[(&str, &[&str])] = &[
    (
        "document",
        &["docx", "doc", "odt", "rtf", "txt", "md", "pdf"],
    ),
    ("spreadsheet", &["xlsx", "xlsm", "xls", "ods", "csv", "tsv"]),
    ("presentation", &["pptx", "ppt", "odp"]),
    ("email", &["eml", "msg"]),
    ("web", &["html"]),
];

/// Spellings of an extension that mean the same short type.
fn normalize(ext: &str) -> &str {
    match ext {
        "htm" | "xhtml" => "html",
        "markdown" => "md",
        "text" => "txt",
        other => other,
    }
}

/// The `type` values of a version: extension, type of the mime type, families.
pub(crate) fn types(path: &str, mime: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let name = path.rsplit('/').next().unwrap_or(path);
    if let Some((stem, ext)) = name.rsplit_once('.') {
        let ext = ext.to_lowercase();
        let short = (1..=10).contains(&ext.len());
        if !stem.is_empty() && short && ext.chars().all(|c| c.is_ascii_alphanumeric()) {
            out.insert(normalize(&ext).to_owned());
        }
    }
    let essence = mime.split(';').next().unwrap_or("").trim().to_lowercase();
    if let Some((_, short)) = MIME_TYPES
        .iter()
        .find(|(m, _)| m.eq_ignore_ascii_case(&essence))
    {
        out.insert((*short).to_owned());
    }
    let families: Vec<&str> = FAMILIES
        .iter()
        .filter(|(_, members)| members.iter().any(|m| out.contains(*m)))
        .map(|(family, _)| *family)
        .collect();
    out.extend(families.into_iter().map(str::to_owned));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(path: &str, mime: &str) -> Vec<String> {
        types(path, mime).into_iter().collect()
    }

    #[test]
    fn types_come_from_extension_mime_and_family() {
        let docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
        assert_eq!(list("a/Plan.DOCX", docx), ["document", "docx"]);
        assert_eq!(
            list("budget.csv", "text/csv; charset=utf-8"),
            ["csv", "spreadsheet"]
        );
        assert_eq!(list("index.htm", "text/html"), ["html", "web"]);
        assert_eq!(list("README", "text/plain"), ["document", "txt"]);
        assert_eq!(list(".bashrc", "text/plain"), ["document", "txt"]);
        assert_eq!(list("x.tar.gz", "application/octet-stream"), ["gz"]);
    }

    #[test]
    fn times_round_trip_exactly() {
        for t in [
            UNIX_EPOCH,
            UNIX_EPOCH + Duration::new(1_780_000_000, 123_456_789),
            UNIX_EPOCH - Duration::new(10, 1),
        ] {
            assert_eq!(time(nanos(t)), t);
        }
    }
}

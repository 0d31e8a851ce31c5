//! Extraction: from a version's bytes and file name to its text, title,
//! author, MIME type and an extraction status.
//!
//! The real type is detected from the content (a `.docx` that is really a
//! PDF is read as a PDF; an OOXML or ODF zip is recognised by its entries),
//! the name only breaks ties for text formats. Every format module turns
//! bytes into a [`Doc`] through a [`TextSink`] that enforces the text limit,
//! and reports encrypted, refused (limits) or failed input as an
//! [`ExtractError`]. [`extract`] never fails: whatever happens becomes a
//! [`Status`]. Parsers of hostile input can still panic, loop or allocate
//! without end; [`sandbox`] runs [`extract`] in worker processes with a
//! memory limit and a timeout so that none of that reaches the daemon.

pub mod detect;
#[cfg(test)]
mod fixture_tests;
pub mod mail;
pub mod office;
pub mod pdf;
pub mod rtf;
pub mod sandbox;
pub mod stage;
pub mod text;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use detect::Format;

/// Bounds on one extraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Input bytes read; larger files are `refused`.
    pub max_input: u64,
    /// Total uncompressed size of the zip members a document may inflate to.
    pub max_unzipped: u64,
    /// Largest compression ratio (uncompressed / compressed) of a zip member.
    pub max_ratio: u64,
    /// Text kept, in bytes of UTF-8; beyond it the status is `truncated`.
    pub max_text: usize,
    /// Wall time per file (enforced by the sandbox).
    pub timeout: Duration,
    /// Address-space limit of a worker process (enforced by the sandbox).
    pub memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input: 256 << 20,
            max_unzipped: 512 << 20,
            max_ratio: 200,
            max_text: 4 << 20,
            timeout: Duration::from_secs(30),
            memory: 2 << 30,
        }
    }
}

/// What a format module gets out of a document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Doc {
    pub text: String,
    pub title: Option<String>,
    pub author: Option<String>,
    /// The text limit cut the text short.
    pub truncated: bool,
}

/// Why a format module could not give the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("encrypted")]
    Encrypted,
    #[error("unsupported")]
    Unsupported,
    /// A limit was hit before reading: `decompressed size over limit`, ...
    #[error("refused: {0}")]
    Refused(String),
    #[error("failed: {0}")]
    Failed(String),
}

/// The outcome of extraction, as recorded in a version's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Ok,
    Truncated,
    Encrypted,
    Unsupported,
    Refused(String),
    Failed(String),
}

impl Status {
    /// The status word (`ok`, `truncated`, `encrypted`, `unsupported`, `refused`, `failed`).
    pub fn word(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Truncated => "truncated",
            Status::Encrypted => "encrypted",
            Status::Unsupported => "unsupported",
            Status::Refused(_) => "refused",
            Status::Failed(_) => "failed",
        }
    }

    /// The reason, for `refused` and `failed`.
    pub fn message(&self) -> Option<&str> {
        match self {
            Status::Refused(m) | Status::Failed(m) => Some(m),
            _ => None,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.message() {
            Some(m) => write!(f, "{}: {m}", self.word()),
            None => f.write_str(self.word()),
        }
    }
}

/// Everything extraction tells about a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extracted {
    pub text: String,
    pub title: Option<String>,
    pub author: Option<String>,
    pub mime: String,
    pub status: Status,
}

/// Extracts in this process. Never returns an error, but a hostile file may
/// still make a parser panic or spin: call it through [`sandbox`] in the daemon.
///
/// ```
/// use docvault::extract::{extract, Limits, Status};
///
/// let md = extract(b"# Status report\nRisk R-12 is red.", "status.md", &Limits::default());
/// assert_eq!(md.title.as_deref(), Some("Status report"));
/// assert!(md.text.contains("R-12"));
///
/// // A PDF named .docx is read as what it is; random bytes are unsupported.
/// let odd = extract(&[0, 159, 146, 150, 0, 1], "budget.xlsx", &Limits::default());
/// assert_eq!(odd.status, Status::Unsupported);
/// ```
pub fn extract(data: &[u8], name: &str, limits: &Limits) -> Extracted {
    let format = detect::detect(data, name);
    let mime = format.mime().to_owned();
    let done = |doc: Result<Doc, ExtractError>| match doc {
        Ok(doc) => Extracted {
            status: if doc.truncated {
                Status::Truncated
            } else {
                Status::Ok
            },
            text: doc.text,
            title: clean(doc.title),
            author: clean(doc.author),
            mime: mime.clone(),
        },
        Err(e) => Extracted {
            text: String::new(),
            title: None,
            author: None,
            mime: mime.clone(),
            status: match e {
                ExtractError::Encrypted => Status::Encrypted,
                ExtractError::Unsupported => Status::Unsupported,
                ExtractError::Refused(m) => Status::Refused(m),
                ExtractError::Failed(m) => Status::Failed(m),
            },
        },
    };
    if data.is_empty() {
        return done(Ok(Doc::default()));
    }
    if data.len() as u64 > limits.max_input {
        return done(Err(ExtractError::Refused("input size over limit".into())));
    }
    done(format.extract(data, limits))
}

/// Runs `f`, turning a panic into its message. What `f` touched may be
/// half-changed after a panic; callers only read it or throw it away.
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| {
        if let Some(s) = panic.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = panic.downcast_ref::<String>() {
            s.clone()
        } else {
            "unknown panic".to_owned()
        }
    })
}

/// Trims a title or author; empty becomes `None`.
fn clean(s: Option<String>) -> Option<String> {
    let s = s?.split_whitespace().collect::<Vec<_>>().join(" ");
    (!s.is_empty()).then_some(s)
}

/// Collects text up to the limit; what does not fit sets `truncated`.
#[derive(Debug)]
pub struct TextSink {
    text: String,
    max: usize,
    truncated: bool,
}

impl TextSink {
    pub fn new(limits: &Limits) -> TextSink {
        TextSink {
            text: String::new(),
            max: limits.max_text,
            truncated: false,
        }
    }

    /// Appends text; false once the limit is reached (callers may stop reading).
    pub fn push(&mut self, s: &str) -> bool {
        if self.truncated {
            return false;
        }
        let room = self.max - self.text.len();
        if s.len() <= room {
            self.text.push_str(s);
            return true;
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&s[..cut]);
        self.truncated = true;
        false
    }

    /// Ends a paragraph/cell/line: one separator, never doubled.
    pub fn newline(&mut self) -> bool {
        if self.text.is_empty() || self.text.ends_with('\n') {
            return !self.truncated;
        }
        self.push("\n")
    }

    pub fn is_full(&self) -> bool {
        self.truncated
    }

    pub fn finish(self, title: Option<String>, author: Option<String>) -> Doc {
        Doc {
            text: self.text,
            title,
            author,
            truncated: self.truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_truncates_on_a_char_boundary() {
        let limits = Limits {
            max_text: 5,
            ..Limits::default()
        };
        let mut sink = TextSink::new(&limits);
        assert!(sink.push("abc"));
        assert!(!sink.push("üü"));
        let doc = sink.finish(None, None);
        assert_eq!(doc.text, "abcü");
        assert!(doc.truncated);
    }

    #[test]
    fn empty_file_is_ok_with_empty_text() {
        let e = extract(b"", "empty.docx", &Limits::default());
        assert_eq!(e.status, Status::Ok);
        assert_eq!(e.text, "");
    }

    #[test]
    fn status_words_and_messages() {
        let s = Status::Refused("decompressed size over limit".into());
        assert_eq!(s.to_string(), "refused: decompressed size over limit");
        assert_eq!(s.word(), "refused");
        assert_eq!(Status::Encrypted.message(), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Every entry point, fed arbitrary bytes behind each format's magic,
        /// under every name: a status, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            magic in proptest::sample::select(vec![
                &b""[..], b"PK\x03\x04", b"%PDF-1.4\n", b"{\\rtf1 ", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
                b"<!DOCTYPE html><html>", b"<?xml version=\"1.0\"?>", b"From: a@b\nSubject: x\n\n", b"{\"a\":", b"\xFF\xFE",
            ]),
            name in proptest::sample::select(vec![
                "a.txt", "a.md", "a.csv", "a.tsv", "a.html", "a.json", "a.xml", "a.eml", "a.docx", "a.xlsx",
                "a.xlsm", "a.pptx", "a.odt", "a.ods", "a.odp", "a.pdf", "a.rtf", "noext",
            ]),
        ) {
            let mut data = magic.to_vec();
            data.extend(body);
            let limits = Limits { max_text: 1024, ..Limits::default() };
            let out = extract(&data, name, &limits);
            proptest::prop_assert!(out.text.len() <= 1024);
        }
    }
}

//! Packages: the zip container of OOXML and ODF documents, opened under the
//! decompression limits. A member's declared size is checked before anything
//! is inflated ([`open_zip`]); because headers can lie, every read then goes
//! through a [`Capped`] reader that refuses to inflate past the declared size
//! or the package's remaining budget.

use std::io::{self, BufReader, Cursor, Read};

use zip::ZipArchive;
use zip::result::ZipError;

use super::xml::{self, Markup, Properties};
use crate::extract::{ExtractError, Limits};

/// The reason given for every decompression limit that is hit.
pub const OVER_LIMIT: &str = "decompressed size over limit";

/// A zip archive over the document's bytes.
pub type Zip<'a> = ZipArchive<Cursor<&'a [u8]>>;

/// Opens `data` as a zip; refuses it if its members declare more than
/// `max_unzipped` bytes in all, or one of them a compression ratio over
/// `max_ratio`. `kind` (`docx`, ...) prefixes the failure message.
pub fn open_zip<'a>(data: &'a [u8], limits: &Limits, kind: &str) -> Result<Zip<'a>, ExtractError> {
    let invalid =
        |e: ZipError| ExtractError::Failed(format!("{kind}: not a valid zip package: {e}"));
    let mut zip = ZipArchive::new(Cursor::new(data)).map_err(invalid)?;
    let mut total = 0u64;
    for index in 0..zip.len() {
        let member = zip.by_index_raw(index).map_err(invalid)?;
        let (size, packed) = (member.size(), member.compressed_size().max(1));
        total = total.saturating_add(size);
        if total > limits.max_unzipped || size > packed.saturating_mul(limits.max_ratio) {
            return Err(over_limit());
        }
    }
    Ok(zip)
}

pub fn over_limit() -> ExtractError {
    ExtractError::Refused(OVER_LIMIT.into())
}

/// An opened package and what it may still inflate.
pub struct Package<'a> {
    zip: Zip<'a>,
    kind: &'static str,
    /// Bytes that reads may still inflate, over all members and all reads.
    budget: u64,
}

impl<'a> Package<'a> {
    pub fn open(data: &'a [u8], limits: &Limits, kind: &'static str) -> Result<Self, ExtractError> {
        let zip = open_zip(data, limits, kind)?;
        Ok(Package {
            zip,
            kind,
            budget: limits.max_unzipped,
        })
    }

    /// The member names, in the archive's order.
    pub fn names(&self) -> Vec<String> {
        self.zip.file_names().map(str::to_owned).collect()
    }

    /// The index of member `name`: exact, else ignoring ASCII case (OPC part
    /// names are case-insensitive), without a leading `/`.
    fn find(&self, name: &str) -> Option<usize> {
        let name = name.trim_start_matches('/');
        self.zip.index_for_name(name).or_else(|| {
            let found = self
                .zip
                .file_names()
                .find(|n| n.eq_ignore_ascii_case(name))?;
            self.zip.index_for_name(found)
        })
    }

    pub fn has(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// Streams the XML member `name` through `markup`; `Ok(false)` if there is
    /// no such member. Stops early once `markup` is done.
    pub fn walk(&mut self, name: &str, markup: &mut impl Markup) -> Result<bool, ExtractError> {
        let kind = self.kind;
        let Some(index) = self.find(name) else {
            return Ok(false);
        };
        let member = self
            .zip
            .by_index(index)
            .map_err(|e| cannot_read(kind, name, &e))?;
        let limit = member.size().min(self.budget);
        let mut reader = xml::reader(BufReader::with_capacity(
            64 << 10,
            Capped::new(member, limit),
        ));
        let walked = xml::walk(&mut reader, markup);
        let capped = reader.into_inner().into_inner();
        self.budget = self.budget.saturating_sub(capped.used);
        if capped.over {
            return Err(over_limit());
        }
        walked.map_err(|e| match e {
            quick_xml::Error::Io(e) => cannot_read(kind, name, &e),
            e => ExtractError::Failed(format!("{kind}: malformed XML in {name}: {e}")),
        })?;
        Ok(true)
    }

    /// Title and author from a properties part (`docProps/core.xml`,
    /// `meta.xml`); a missing or broken part gives none: only a limit stops
    /// the document.
    pub fn properties(
        &mut self,
        name: &str,
    ) -> Result<(Option<String>, Option<String>), ExtractError> {
        let mut props = Properties::default();
        match self.walk(name, &mut props) {
            Err(e @ ExtractError::Refused(_)) => Err(e),
            _ => Ok(props.title_author()),
        }
    }

    /// Inflates every member once, to prove it is no bigger than it declares,
    /// before the bytes go to a parser without limits (calamine). Read errors
    /// are left for that parser to meet: only sizes matter here.
    pub fn verify_sizes(&mut self) -> Result<(), ExtractError> {
        for index in 0..self.zip.len() {
            let Ok(member) = self.zip.by_index(index) else {
                continue;
            };
            let limit = member.size();
            let mut capped = Capped::new(member, limit);
            if io::copy(&mut capped, &mut io::sink()).is_err() && capped.over {
                return Err(over_limit());
            }
        }
        Ok(())
    }
}

fn cannot_read(kind: &str, name: &str, e: &dyn std::fmt::Display) -> ExtractError {
    ExtractError::Failed(format!("{kind}: cannot read {name}: {e}"))
}

/// Reads at most `left` bytes from `inner`; a byte beyond that is an error
/// and sets `over` (so the member is refused, not silently cut).
pub struct Capped<R> {
    inner: R,
    left: u64,
    used: u64,
    over: bool,
}

impl<R: Read> Capped<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        Capped {
            inner,
            left: limit,
            used: 0,
            over: false,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.over = true;
            return Err(io::Error::other(OVER_LIMIT));
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..want])?.min(want);
        self.left -= got as u64;
        self.used += got as u64;
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_reader_refuses_the_byte_past_its_limit() {
        let mut capped = Capped::new(&b"abcdef"[..], 4);
        let mut out = Vec::new();
        assert!(capped.read_to_end(&mut out).is_err());
        assert!(capped.over);
        assert_eq!(out, b"abcd");

        let mut exact = Capped::new(&b"abcd"[..], 4);
        let mut out = Vec::new();
        assert_eq!(exact.read_to_end(&mut out).unwrap(), 4);
        assert!(!exact.over);
    }
}

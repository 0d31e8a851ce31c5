//! OpenDocument text and presentations: the paragraphs (`text:p`, `text:h`)
//! of `content.xml` in document order, which for a presentation is each
//! `draw:page` with its `presentation:notes`, then a text document's page
//! headers and footers from `styles.xml`. Whitespace inside a paragraph is
//! collapsed, as ODF renders it; `text:s`, `text:tab` and `text:line-break`
//! stand for a space, a tab and a new line.

use quick_xml::events::BytesStart;

use super::package::Package;
use super::xml::{Flow, Gap, Markup, Out};
use crate::extract::{Doc, ExtractError, Limits};

/// An `.odt` or `.odp` document.
pub fn odf_text(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    let mut pkg = Package::open(data, limits, "odf")?;
    refuse_encrypted(&mut pkg)?;
    let (title, author) = pkg.properties("meta.xml")?;
    let mut out = Out::new(limits);
    if !pkg.walk("content.xml", &mut OdfText::new(&mut out, false))? {
        return Err(ExtractError::Failed("odf: no content.xml".into()));
    }
    if !out.is_full() {
        out.newline();
        pkg.walk("styles.xml", &mut OdfText::new(&mut out, true))?;
    }
    Ok(out.finish(title, author))
}

/// An encrypted package lists `manifest:encryption-data` in its manifest.
pub fn refuse_encrypted(pkg: &mut Package<'_>) -> Result<(), ExtractError> {
    let mut probe = EncryptionProbe(false);
    if let Err(e @ ExtractError::Refused(_)) = pkg.walk("META-INF/manifest.xml", &mut probe) {
        return Err(e);
    }
    if probe.0 {
        Err(ExtractError::Encrypted)
    } else {
        Ok(())
    }
}

struct EncryptionProbe(bool);

impl Markup for EncryptionProbe {
    fn start(&mut self, e: &BytesStart<'_>) -> Flow {
        self.0 |= e.local_name().as_ref() == b"encryption-data";
        Flow::Into
    }
    fn end(&mut self, _: &[u8]) {}
    fn text(&mut self, _: &str) {}
    fn done(&self) -> bool {
        self.0
    }
}

/// Text of ODF content: paragraphs on their own lines, table cells separated
/// by tabs and rows by newlines (paragraphs in a cell by spaces). Skipped:
/// footnote numbers, tracked deletions, annotation authors and dates, page
/// number fields (`<number>` on a notes page). With `headers_only`, only
/// text inside page headers and footers is kept.
struct OdfText<'o> {
    out: &'o mut Out,
    headers_only: bool,
    paragraphs: usize,
    cells: usize,
    headers: usize,
}

impl<'o> OdfText<'o> {
    fn new(out: &'o mut Out, headers_only: bool) -> Self {
        OdfText {
            out,
            headers_only,
            paragraphs: 0,
            cells: 0,
            headers: 0,
        }
    }

    fn line_break(&mut self) {
        if self.cells > 0 {
            self.out.gap(Gap::Space);
        } else {
            self.out.newline();
        }
    }
}

fn is_header(local: &[u8]) -> bool {
    matches!(
        local,
        b"header" | b"footer" | b"header-left" | b"footer-left" | b"header-first" | b"footer-first"
    )
}

impl Markup for OdfText<'_> {
    fn start(&mut self, e: &BytesStart<'_>) -> Flow {
        match e.local_name().as_ref() {
            b"p" | b"h" => {
                self.paragraphs += 1;
                self.line_break();
            }
            b"s" => self.out.gap(Gap::Space),
            b"tab" => self.out.gap(Gap::Tab),
            b"line-break" => self.line_break(),
            b"table-cell" | b"covered-table-cell" => self.cells += 1,
            b"note-citation" | b"tracked-changes" | b"creator" | b"date" | b"creator-initials"
            | b"page-number" | b"page-count" => return Flow::Skip,
            local if is_header(local) => self.headers += 1,
            _ => {}
        }
        Flow::Into
    }

    fn end(&mut self, local: &[u8]) {
        match local {
            b"p" | b"h" => {
                self.paragraphs = self.paragraphs.saturating_sub(1);
                self.line_break();
            }
            b"table-cell" | b"covered-table-cell" => {
                self.cells = self.cells.saturating_sub(1);
                self.out.gap(Gap::Tab);
            }
            b"table-row" | b"page" => self.out.newline(),
            local if is_header(local) => self.headers = self.headers.saturating_sub(1),
            _ => {}
        }
    }

    fn text(&mut self, text: &str) {
        if self.paragraphs > 0 && (!self.headers_only || self.headers > 0) {
            self.out.words(text);
        }
    }

    fn done(&self) -> bool {
        self.out.is_full()
    }
}

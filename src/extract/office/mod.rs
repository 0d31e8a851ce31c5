//! Office documents: the zip-based formats of Microsoft Office (OOXML:
//! `.docx`, `.xlsx`, `.pptx`) and OpenDocument (`.odt`, `.ods`, `.odp`).
//!
//! Every one of them is a *package*, a zip of XML parts. The package is the
//! attack surface: a member may inflate to gigabytes or lie about its size,
//! a part may declare a billion-laughs DTD. `package` opens the zip under
//! the decompression limits, `xml` streams a part without expanding
//! entities, and the format modules say which parts hold text and how:
//! `ooxml` (Word, PowerPoint), `odf` (text, presentations) and `sheet`
//! (spreadsheets, through calamine).

mod odf;
mod ooxml;
mod package;
mod sheet;
mod xml;

pub use package::{OVER_LIMIT, open_zip};
pub use sheet::{Book, Visit, cells as sheet_cells};

use super::{Doc, ExtractError, Limits};

/// Word (`.docx`): the body's paragraphs and tables, headers, footers,
/// footnotes, endnotes and comments; title and author from `docProps/core.xml`.
pub fn docx(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    ooxml::docx(data, limits)
}

/// Excel (`.xlsx`, `.xlsm`): every sheet's name, then its rows of non-empty
/// cells separated by tabs; title and author from `docProps/core.xml`.
pub fn xlsx(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    sheet::xlsx(data, limits)
}

/// PowerPoint (`.pptx`): the slides in deck order, each followed by its
/// speaker notes; title and author from `docProps/core.xml`.
pub fn pptx(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    ooxml::pptx(data, limits)
}

/// OpenDocument text (`.odt`) or presentation (`.odp`); title and author
/// from `meta.xml`. An encrypted package is [`ExtractError::Encrypted`].
pub fn odf_text(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    odf::odf_text(data, limits)
}

/// OpenDocument spreadsheet (`.ods`), laid out like [`xlsx`]; title and
/// author from `meta.xml`.
pub fn ods(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    sheet::ods(data, limits)
}

#[cfg(test)]
mod tests;

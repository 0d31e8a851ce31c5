//! Type detection: what a version really is, from its bytes first and its
//! name second. Zips are told apart by their entries (`word/document.xml`,
//! `xl/workbook.xml`, ODF's `mimetype`), OLE compound files by whether they
//! hold an `EncryptionInfo` stream (a password-protected OOXML document).

use std::io::{Cursor, Read};

use super::{Doc, ExtractError, Limits, mail, office, pdf, rtf, text};

/// The formats extraction knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Csv,
    Tsv,
    Html,
    Json,
    Xml,
    Eml,
    Docx,
    Xlsx,
    Xlsm,
    Pptx,
    Odt,
    Ods,
    Odp,
    Pdf,
    Rtf,
    /// An OLE compound file holding an encrypted OOXML package.
    EncryptedOffice,
    /// Legacy binary Office (.doc, .xls, .ppt) and other OLE files.
    Ole,
    Zip,
    Binary,
}

impl Format {
    pub fn mime(self) -> &'static str {
        match self {
            Format::Text => "text/plain",
            Format::Markdown => "text/markdown",
            Format::Csv => "text/csv",
            Format::Tsv => "text/tab-separated-values",
            Format::Html => "text/html",
            Format::Json => "application/json",
            Format::Xml => "application/xml",
            Format::Eml => "message/rfc822",
            Format::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Xlsm => "application/vnd.ms-excel.sheet.macroEnabled.12",
            Format::Pptx => {
                "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            }
            Format::Odt => "application/vnd.oasis.opendocument.text",
            Format::Ods => "application/vnd.oasis.opendocument.spreadsheet",
            Format::Odp => "application/vnd.oasis.opendocument.presentation",
            Format::Pdf => "application/pdf",
            Format::Rtf => "application/rtf",
            Format::EncryptedOffice => "application/x-ooxml-encrypted",
            Format::Ole => "application/x-ole-storage",
            Format::Zip => "application/zip",
            Format::Binary => "application/octet-stream",
        }
    }

    /// Runs the format's extractor.
    pub fn extract(self, data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
        match self {
            Format::Text => text::plain(data, limits),
            Format::Markdown => text::markdown(data, limits),
            Format::Csv => text::delimited(data, b',', limits),
            Format::Tsv => text::delimited(data, b'\t', limits),
            Format::Html => text::html(data, limits),
            Format::Json => text::json(data, limits),
            Format::Xml => text::xml(data, limits),
            Format::Eml => mail::eml(data, limits),
            Format::Docx => office::docx(data, limits),
            Format::Xlsx | Format::Xlsm => office::xlsx(data, limits),
            Format::Pptx => office::pptx(data, limits),
            Format::Odt | Format::Odp => office::odf_text(data, limits),
            Format::Ods => office::ods(data, limits),
            Format::Pdf => pdf::pdf(data, limits),
            Format::Rtf => rtf::rtf(data, limits),
            Format::EncryptedOffice => Err(ExtractError::Encrypted),
            Format::Ole | Format::Zip | Format::Binary => Err(ExtractError::Unsupported),
        }
    }
}

const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// The format of `data`, named `name`.
pub fn detect(data: &[u8], name: &str) -> Format {
    let ext = extension(name);
    let head = &data[..data.len().min(1024)];
    if find(head, b"%PDF-").is_some() {
        return Format::Pdf;
    }
    if data.starts_with(b"{\\rtf") {
        return Format::Rtf;
    }
    if data.starts_with(OLE_MAGIC) {
        let marker: Vec<u8> = "EncryptionInfo"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        return if find(data, &marker).is_some() {
            Format::EncryptedOffice
        } else {
            Format::Ole
        };
    }
    if data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06") {
        return zip_format(data).unwrap_or_else(|| match by_extension(&ext) {
            Some(f @ (Format::Docx | Format::Xlsx | Format::Xlsm | Format::Pptx)) => f,
            Some(f @ (Format::Odt | Format::Ods | Format::Odp)) => f,
            _ => Format::Zip,
        });
    }
    if !looks_like_text(data) {
        return Format::Binary;
    }
    match by_extension(&ext) {
        Some(f) if is_text_format(f) => f,
        _ => sniff_text(data),
    }
}

/// An OOXML or ODF package by its entries; `None` if the zip cannot be read.
fn zip_format(data: &[u8]) -> Option<Format> {
    let mut zip = zip::ZipArchive::new(Cursor::new(data)).ok()?;
    let has = |zip: &zip::ZipArchive<Cursor<&[u8]>>, n: &str| zip.index_for_name(n).is_some();
    if has(&zip, "word/document.xml") {
        return Some(Format::Docx);
    }
    if has(&zip, "xl/workbook.xml") {
        return Some(if has(&zip, "xl/vbaProject.bin") {
            Format::Xlsm
        } else {
            Format::Xlsx
        });
    }
    if has(&zip, "ppt/presentation.xml") {
        return Some(Format::Pptx);
    }
    if let Ok(entry) = zip.by_name("mimetype") {
        let mut mime = String::new();
        entry.take(100).read_to_string(&mut mime).ok()?;
        return Some(match mime.trim() {
            "application/vnd.oasis.opendocument.text" => Format::Odt,
            "application/vnd.oasis.opendocument.spreadsheet" => Format::Ods,
            "application/vnd.oasis.opendocument.presentation" => Format::Odp,
            _ => Format::Zip,
        });
    }
    Some(Format::Zip)
}

fn extension(name: &str) -> String {
    let file = name.rsplit('/').next().unwrap_or(name);
    match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext.to_ascii_lowercase(),
        _ => String::new(),
    }
}

fn by_extension(ext: &str) -> Option<Format> {
    Some(match ext {
        "txt" | "text" | "log" | "ini" | "cfg" | "conf" | "toml" | "yaml" | "yml" => Format::Text,
        "md" | "markdown" => Format::Markdown,
        "csv" => Format::Csv,
        "tsv" | "tab" => Format::Tsv,
        "html" | "htm" | "xhtml" => Format::Html,
        "json" => Format::Json,
        "xml" | "svg" => Format::Xml,
        "eml" => Format::Eml,
        "docx" | "docm" | "dotx" => Format::Docx,
        "xlsx" => Format::Xlsx,
        "xlsm" => Format::Xlsm,
        "pptx" | "pptm" => Format::Pptx,
        "odt" => Format::Odt,
        "ods" => Format::Ods,
        "odp" => Format::Odp,
        "pdf" => Format::Pdf,
        "rtf" => Format::Rtf,
        _ => return None,
    })
}

fn is_text_format(f: Format) -> bool {
    matches!(
        f,
        Format::Text
            | Format::Markdown
            | Format::Csv
            | Format::Tsv
            | Format::Html
            | Format::Json
            | Format::Xml
            | Format::Eml
    )
}

/// A text file without a telling extension: HTML, XML, an e-mail, JSON or plain text.
fn sniff_text(data: &[u8]) -> Format {
    let head = String::from_utf8_lossy(&data[..data.len().min(2048)]).to_ascii_lowercase();
    let start = head.trim_start_matches('\u{feff}').trim_start();
    if start.starts_with("<!doctype html") || start.starts_with("<html") {
        return Format::Html;
    }
    if start.starts_with("<?xml") {
        return Format::Xml;
    }
    if (start.starts_with('{') || start.starts_with('['))
        && serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok()
    {
        return Format::Json;
    }
    let mail_headers = [
        "from:",
        "to:",
        "subject:",
        "date:",
        "received:",
        "message-id:",
        "mime-version:",
        "return-path:",
    ];
    let header_lines = start
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| mail_headers.iter().any(|h| l.starts_with(h)))
        .count();
    if header_lines >= 2 && mail_headers.iter().any(|h| start.starts_with(h)) {
        return Format::Eml;
    }
    Format::Text
}

/// Text if it has a UTF-16 BOM, or no NUL and few control bytes in its first 8 KiB.
fn looks_like_text(data: &[u8]) -> bool {
    if data.starts_with(&[0xFF, 0xFE]) || data.starts_with(&[0xFE, 0xFF]) {
        return true;
    }
    let head = &data[..data.len().min(8192)];
    if head.contains(&0) {
        return false;
    }
    let control = head
        .iter()
        .filter(|&&b| b < 0x09 || (0x0E..0x20).contains(&b) && b != 0x1B)
        .count();
    control * 100 <= head.len()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_beats_the_extension() {
        assert_eq!(detect(b"%PDF-1.7\n...", "report.docx"), Format::Pdf);
        assert_eq!(detect(b"{\\rtf1\\ansi hello}", "x.txt"), Format::Rtf);
        assert_eq!(
            detect(&[0u8, 1, 2, 3, 255, 254, 0, 9], "x.docx"),
            Format::Binary
        );
    }

    #[test]
    fn text_formats_by_extension_then_by_content() {
        assert_eq!(detect(b"a,b\n1,2\n", "t.csv"), Format::Csv);
        assert_eq!(detect(b"# Title\n", "README.md"), Format::Markdown);
        assert_eq!(
            detect(b"<!DOCTYPE html><html></html>", "page"),
            Format::Html
        );
        assert_eq!(
            detect(b"From: a@b\nSubject: hi\n\nbody", "mail"),
            Format::Eml
        );
        assert_eq!(detect(b"{\"a\": 1}", "data"), Format::Json);
        assert_eq!(detect(b"just words", "notes"), Format::Text);
    }

    #[test]
    fn ole_with_encryption_info_is_encrypted_office() {
        let mut data = OLE_MAGIC.to_vec();
        data.extend(vec![0u8; 100]);
        data.extend("EncryptionInfo".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(detect(&data, "secret.docx"), Format::EncryptedOffice);
        assert_eq!(detect(OLE_MAGIC, "old.doc"), Format::Ole);
    }
}

//! Per-format tests on the real fixtures under tests/fixtures/: files made by
//! LibreOffice, python-docx, openpyxl, python-pptx, reportlab, fpdf2 and
//! Python's email package, plus broken and hostile inputs. Each fixture holds
//! known one-word markers (see tests/fixtures/README.md), so a test can tell
//! which part of a document reached the text. tests/fixtures/make.sh
//! regenerates them.

use std::time::{Duration, Instant};

use super::{Extracted, Limits, Status};

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const PPTX: &str = "application/vnd.openxmlformats-officedocument.presentationml.presentation";

/// Extracts `tests/fixtures/NAME` as a file called NAME, with default or given limits.
macro_rules! extract_fixture {
    ($name:literal) => {
        extract_fixture!($name, &Limits::default())
    };
    ($name:literal, $limits:expr) => {{
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/", $name);
        let data = std::fs::read(path)
            .unwrap_or_else(|e| panic!("{path}: {e} (see tests/fixtures/make.sh)"));
        super::extract(&data, $name, $limits)
    }};
}

/// The start of the text, for failure messages.
fn head(e: &Extracted) -> String {
    let mut end = e.text.len().min(600);
    while !e.text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "status {:?}, mime {}, title {:?}, author {:?}, text {:?}",
        e.status,
        e.mime,
        e.title,
        e.author,
        &e.text[..end]
    )
}

fn assert_ok(e: &Extracted) {
    assert_eq!(e.status, Status::Ok, "{}", head(e));
}

/// Where each marker is in the text; fails naming every missing one.
fn positions(e: &Extracted, markers: &[&str]) -> Vec<usize> {
    let missing: Vec<&str> = markers
        .iter()
        .copied()
        .filter(|m| !e.text.contains(m))
        .collect();
    assert!(missing.is_empty(), "missing {missing:?} in {}", head(e));
    markers
        .iter()
        .map(|m| e.text.find(m).expect("checked above"))
        .collect()
}

fn assert_contains(e: &Extracted, markers: &[&str]) {
    positions(e, markers);
}

/// The markers are all there, in this order.
fn assert_in_order(e: &Extracted, markers: &[&str]) {
    let at = positions(e, markers);
    for (i, pair) in at.windows(2).enumerate() {
        assert!(
            pair[0] < pair[1],
            "{} comes after {} in {}",
            markers[i],
            markers[i + 1],
            head(e)
        );
    }
}

fn assert_absent(e: &Extracted, markers: &[&str]) {
    let found: Vec<&str> = markers
        .iter()
        .copied()
        .filter(|m| e.text.contains(m))
        .collect();
    assert!(
        found.is_empty(),
        "{found:?} must not be extracted: {}",
        head(e)
    );
}

fn assert_meta(e: &Extracted, title: &str, author: &str) {
    assert_eq!(e.title.as_deref(), Some(title), "{}", head(e));
    assert_eq!(e.author.as_deref(), Some(author), "{}", head(e));
}

// --- Word: python-docx -------------------------------------------------------

#[test]
fn docx_from_python_docx_gives_body_table_and_core_properties() {
    let e = extract_fixture!("report.docx");
    assert_ok(&e);
    assert_eq!(e.mime, DOCX);
    assert_in_order(
        &e,
        &[
            "Wombat census",
            "REPORTBODYK1",
            "REPORTCELLK2 north",
            "1234.5",
            "REPORTTAILK6",
        ],
    );
    assert_contains(&e, &["Grüße an das Team"]);
    assert_meta(&e, "Quarterly Wombat Report", "Ada Lovelace");
}

#[test]
fn docx_header_and_footer_text_is_extracted() {
    let e = extract_fixture!("report.docx");
    assert_ok(&e);
    assert_contains(&e, &["REPORTHEADERK3", "REPORTFOOTERK4"]);
}

#[test]
fn docx_comment_text_is_extracted() {
    let e = extract_fixture!("report.docx");
    assert_ok(&e);
    assert_contains(&e, &["REPORTCOMMENTK5"]);
}

// --- Writer: one .fodt source converted by LibreOffice -----------------------

const WRITER_TEXT: &[&str] = &[
    "WRITERHEADINGM1",
    "WRITERBODYM2",
    "Grüße aus Köln",
    "WRITERCELLM5",
    "42.5 mm",
    "WRITERENDM6",
];

#[test]
fn odt_from_libreoffice_gives_text_in_order_and_meta() {
    let e = extract_fixture!("writer.odt");
    assert_ok(&e);
    assert_eq!(e.mime, "application/vnd.oasis.opendocument.text");
    assert_in_order(&e, WRITER_TEXT);
    assert_meta(&e, "Harbour Lighthouse Survey", "Grace Hopper");
}

#[test]
fn odt_footnote_and_annotation_text_is_extracted() {
    let e = extract_fixture!("writer.odt");
    assert_ok(&e);
    assert_contains(&e, &["WRITERFOOTNOTEM3", "WRITERCOMMENTM4"]);
}

#[test]
fn docx_from_libreoffice_gives_text_in_order_and_core_properties() {
    let e = extract_fixture!("writer.docx");
    assert_ok(&e);
    assert_eq!(e.mime, DOCX);
    assert_in_order(&e, WRITER_TEXT);
    assert_meta(&e, "Harbour Lighthouse Survey", "Grace Hopper");
}

#[test]
fn docx_footnote_and_comment_parts_are_extracted() {
    let e = extract_fixture!("writer.docx");
    assert_ok(&e);
    assert_contains(&e, &["WRITERFOOTNOTEM3", "WRITERCOMMENTM4"]);
}

#[test]
fn rtf_from_libreoffice_decodes_unicode_and_takes_info_as_meta() {
    let e = extract_fixture!("writer.rtf");
    assert_ok(&e);
    assert_eq!(e.mime, "application/rtf");
    assert_in_order(&e, WRITER_TEXT);
    assert_meta(&e, "Harbour Lighthouse Survey", "Grace Hopper");
    // The \info group, the font table and control words are not body text.
    assert_absent(
        &e,
        &[
            "Harbour Lighthouse Survey",
            "DejaVu",
            "\\loch",
            "\\par",
            "{",
            "}",
        ],
    );
}

#[test]
fn rtf_footnote_destination_is_extracted() {
    let e = extract_fixture!("writer.rtf");
    assert_ok(&e);
    assert_contains(&e, &["WRITERFOOTNOTEM3"]);
}

#[test]
fn pdf_from_libreoffice_gives_page_text_and_info() {
    let e = extract_fixture!("writer.pdf");
    assert_ok(&e);
    assert_eq!(e.mime, "application/pdf");
    assert_in_order(&e, WRITER_TEXT);
    assert_contains(&e, &["WRITERFOOTNOTEM3"]);
    assert_meta(&e, "Harbour Lighthouse Survey", "Grace Hopper");
}

// --- Spreadsheets ------------------------------------------------------------

#[test]
fn xlsx_from_openpyxl_gives_every_sheet_in_order_and_properties() {
    let e = extract_fixture!("budget.xlsx");
    assert_ok(&e);
    assert_eq!(e.mime, XLSX);
    assert_in_order(
        &e,
        &[
            "BUDGETITEMP1 travel",
            "1234.5",
            "15000.25",
            "R-12",
            "Supplier insolvency XLSXRISKP2",
            "red",
        ],
    );
    assert_meta(&e, "Budget 2025", "Dorothy Vaughan");
}

#[test]
fn ods_from_libreoffice_gives_every_sheet_in_order_and_meta() {
    let e = extract_fixture!("calc.ods");
    assert_ok(&e);
    assert_eq!(e.mime, "application/vnd.oasis.opendocument.spreadsheet");
    assert_in_order(
        &e,
        &[
            "CALCITEMN1 widget",
            "99.25",
            "Gadget",
            "CALCNOTEN2 reorder before winter",
        ],
    );
    assert_meta(&e, "Warehouse Inventory", "Katherine Johnson");
}

#[test]
fn xlsx_from_libreoffice_gives_shared_strings_numbers_and_properties() {
    let e = extract_fixture!("calc.xlsx");
    assert_ok(&e);
    assert_eq!(e.mime, XLSX);
    assert_in_order(
        &e,
        &[
            "CALCITEMN1 widget",
            "99.25",
            "Gadget",
            "CALCNOTEN2 reorder before winter",
        ],
    );
    assert_meta(&e, "Warehouse Inventory", "Katherine Johnson");
}

// --- Presentations -----------------------------------------------------------

/// DECKSLIDE01Z … DECKSLIDE12Z, one per slide.
fn slide_markers() -> Vec<String> {
    (1..=12).map(|n| format!("DECKSLIDE{n:02}Z")).collect()
}

#[test]
fn pptx_slides_come_in_presentation_order_slide10_after_slide2() {
    let e = extract_fixture!("deck.pptx");
    assert_ok(&e);
    assert_eq!(e.mime, PPTX);
    let markers = slide_markers();
    assert_in_order(&e, &markers.iter().map(String::as_str).collect::<Vec<_>>());
    assert_meta(&e, "Roadmap Deck", "Hedy Lamarr");
}

#[test]
fn pptx_speaker_notes_are_extracted() {
    let e = extract_fixture!("deck.pptx");
    assert_ok(&e);
    assert_contains(&e, &["DECKNOTES02Z"]);
}

#[test]
fn odp_from_libreoffice_keeps_slide_order_and_meta() {
    let e = extract_fixture!("impress.odp");
    assert_ok(&e);
    assert_eq!(e.mime, "application/vnd.oasis.opendocument.presentation");
    let markers = slide_markers();
    assert_in_order(&e, &markers.iter().map(String::as_str).collect::<Vec<_>>());
    assert_meta(&e, "Roadmap Deck", "Hedy Lamarr");
}

// --- PDF from other producers ------------------------------------------------

#[test]
fn pdf_from_reportlab_gives_both_pages_in_order_and_info() {
    let e = extract_fixture!("reportlab.pdf");
    assert_ok(&e);
    assert_eq!(e.mime, "application/pdf");
    assert_in_order(&e, &["REPORTLABPAGEONE", "REPORTLABPAGETWO"]);
    assert_meta(&e, "Tide Tables", "Rachel Carson");
}

#[test]
fn pdf_with_only_drawings_is_ok_with_no_text() {
    let e = extract_fixture!("lines-only.pdf");
    assert_ok(&e);
    assert_eq!(e.text.trim(), "", "{}", head(&e));
    assert_meta(&e, "Lines Only", "Piet Mondrian");
}

#[test]
fn pdf_named_docx_is_read_as_pdf() {
    let e = extract_fixture!("notapdf.docx");
    assert_eq!(e.mime, "application/pdf");
    assert_ok(&e);
    assert_contains(&e, &["NOTAPDFMARKJ1"]);
    assert_meta(&e, "Not A Word File", "Alan Turing");
}

// --- E-mail ------------------------------------------------------------------

#[test]
fn eml_gives_decoded_text_part_subject_as_title_sender_as_author() {
    let e = extract_fixture!("mail.eml");
    assert_ok(&e);
    assert_eq!(e.mime, "message/rfc822");
    // The text/plain part is quoted-printable: decoded, not raw.
    assert_contains(&e, &["MAILTEXTB1", "Grüße, Margaret"]);
    assert_absent(&e, &["=C3=BC", "==docvault-fixture-"]);
    assert_meta(
        &e,
        "Launch window moved – Grüße from Houston",
        "Margaret Hamilton <margaret@example.org>",
    );
}

#[test]
fn eml_text_attachment_is_extracted() {
    let e = extract_fixture!("mail.eml");
    assert_ok(&e);
    // Base64 in the message: only decoded text can hold the marker.
    assert_contains(&e, &["MAILATTACHB3"]);
}

// --- Text formats ------------------------------------------------------------

#[test]
fn html_gives_title_and_body_but_not_script_or_style() {
    let e = extract_fixture!("page.html");
    assert_ok(&e);
    assert_eq!(e.mime, "text/html");
    assert_in_order(
        &e,
        &[
            "Garden party",
            "HTMLBODYX1 & cake, café chairs",
            "HTMLLISTX2",
        ],
    );
    assert_absent(&e, &["HTMLSCRIPTX9", "HTMLSTYLEX8", "<p", "&amp;"]);
    assert_eq!(
        e.title.as_deref(),
        Some("Garden Party Plans"),
        "{}",
        head(&e)
    );
}

#[test]
fn html_author_comes_from_meta_author() {
    let e = extract_fixture!("page.html");
    assert_ok(&e);
    assert_eq!(e.author.as_deref(), Some("Beatrix Potter"), "{}", head(&e));
}

#[test]
fn markdown_title_is_the_first_heading() {
    let e = extract_fixture!("notes.md");
    assert_ok(&e);
    assert_eq!(e.mime, "text/markdown");
    assert_in_order(&e, &["MDBODYY1", "MDLISTY2"]);
    assert_eq!(
        e.title.as_deref(),
        Some("Kestrel Meeting Notes"),
        "{}",
        head(&e)
    );
    assert_eq!(e.author, None);
}

#[test]
fn csv_gives_unquoted_cells() {
    let e = extract_fixture!("table.csv");
    assert_ok(&e);
    assert_eq!(e.mime, "text/csv");
    assert_in_order(
        &e,
        &["Zürich", "CSVCELLW1", "Bob, Jr.", "Köln", "CSVCELLW2"],
    );
    assert_absent(&e, &["\"Bob"]);
}

#[test]
fn latin1_text_is_decoded() {
    let e = extract_fixture!("latin1.txt");
    assert_ok(&e);
    assert_eq!(e.mime, "text/plain");
    assert_contains(&e, &["Übergabe des Schlüssels LATIN1MARKV1"]);
}

#[test]
fn utf16le_text_with_bom_is_decoded() {
    let e = extract_fixture!("utf16.txt");
    assert_ok(&e);
    assert_eq!(e.mime, "text/plain");
    assert_contains(&e, &["Grüße aus Köln UTF16MARKV2"]);
    assert!(!e.text.starts_with('\u{feff}'), "BOM kept: {}", head(&e));
}

// --- Broken and hostile input ------------------------------------------------

fn assert_unsupported_binary(e: &Extracted) {
    assert_eq!(e.status, Status::Unsupported, "{}", head(e));
    assert_eq!(e.mime, "application/octet-stream");
    assert_eq!(e.text, "");
}

#[test]
fn random_bytes_named_docx_are_unsupported() {
    assert_unsupported_binary(&extract_fixture!("random.docx"));
}

#[test]
fn random_bytes_named_pdf_are_unsupported() {
    assert_unsupported_binary(&extract_fixture!("random.pdf"));
}

#[test]
fn random_bytes_named_xlsx_are_unsupported() {
    assert_unsupported_binary(&extract_fixture!("random.xlsx"));
}

#[test]
fn truncated_docx_fails() {
    let e = extract_fixture!("truncated.docx");
    assert!(matches!(e.status, Status::Failed(_)), "{}", head(&e));
    assert_eq!(e.mime, DOCX);
}

#[test]
fn truncated_pdf_fails() {
    let e = extract_fixture!("truncated.pdf");
    assert!(matches!(e.status, Status::Failed(_)), "{}", head(&e));
    assert_eq!(e.mime, "application/pdf");
}

#[test]
fn password_protected_docx_is_encrypted() {
    let e = extract_fixture!("encrypted.docx");
    assert_eq!(e.status, Status::Encrypted, "{}", head(&e));
    assert_eq!(e.mime, "application/x-ooxml-encrypted");
}

#[test]
fn pdf_with_user_password_is_encrypted() {
    let e = extract_fixture!("encrypted.pdf");
    assert_eq!(e.status, Status::Encrypted, "{}", head(&e));
    assert_eq!(e.mime, "application/pdf");
    assert_eq!(e.text, "");
}

/// Peak resident memory of this process so far (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Runs the zip bomb and checks it was refused from the zip's directory:
/// quickly (a debug build takes ~12 s just to inflate 1 GiB) and without
/// holding the inflated bytes.
fn refuse_zip_bomb(limits: &Limits) -> Extracted {
    let before = peak_rss();
    let start = Instant::now();
    let e = extract_fixture!("zipbomb.xlsx", limits);
    let took = start.elapsed();
    assert!(matches!(e.status, Status::Refused(_)), "{}", head(&e));
    assert!(
        took < Duration::from_secs(3),
        "took {took:?}: inflated before refusing?"
    );
    if let (Some(before), Some(after)) = (before, peak_rss()) {
        assert!(
            after < before + (128 << 20),
            "peak RSS grew from {before} to {after} bytes"
        );
    }
    assert_eq!(e.text, "");
    e
}

#[test]
fn zip_bomb_xlsx_is_refused_before_inflating() {
    let e = refuse_zip_bomb(&Limits::default());
    assert_eq!(e.mime, XLSX);
    assert_eq!(
        e.status,
        Status::Refused("decompressed size over limit".into())
    );
}

#[test]
fn zip_bomb_xlsx_is_refused_by_compression_ratio_alone() {
    refuse_zip_bomb(&Limits {
        max_unzipped: u64::MAX,
        ..Limits::default()
    });
}

#[test]
fn billion_laughs_docx_does_not_expand_entities() {
    let e = extract_fixture!("billion-laughs.docx");
    assert_ok(&e);
    assert_contains(&e, &["LAUGHSBODYL1"]);
    assert!(e.text.len() < 10_000, "{} bytes of text", e.text.len());
}

#[test]
fn empty_docx_is_ok_with_no_text() {
    let e = extract_fixture!("empty.docx");
    assert_eq!(e.status, Status::Ok);
    assert_eq!(e.text, "");
    assert_eq!(e.title, None);
}

// --- Limits ------------------------------------------------------------------

#[test]
fn tiny_max_text_truncates_every_format() {
    let limits = Limits {
        max_text: 16,
        ..Limits::default()
    };
    let cases = [
        ("report.docx", extract_fixture!("report.docx", &limits)),
        ("writer.odt", extract_fixture!("writer.odt", &limits)),
        ("writer.rtf", extract_fixture!("writer.rtf", &limits)),
        ("writer.pdf", extract_fixture!("writer.pdf", &limits)),
        ("budget.xlsx", extract_fixture!("budget.xlsx", &limits)),
        ("calc.ods", extract_fixture!("calc.ods", &limits)),
        ("deck.pptx", extract_fixture!("deck.pptx", &limits)),
        ("reportlab.pdf", extract_fixture!("reportlab.pdf", &limits)),
        ("mail.eml", extract_fixture!("mail.eml", &limits)),
        ("page.html", extract_fixture!("page.html", &limits)),
        ("notes.md", extract_fixture!("notes.md", &limits)),
        ("table.csv", extract_fixture!("table.csv", &limits)),
        ("latin1.txt", extract_fixture!("latin1.txt", &limits)),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(_, e)| e.status != Status::Truncated || e.text.is_empty() || e.text.len() > 16)
        .map(|(name, e)| format!("{name}: {}", head(e)))
        .collect();
    assert!(
        wrong.is_empty(),
        "not truncated to at most 16 bytes:\n{}",
        wrong.join("\n")
    );
}

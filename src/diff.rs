//! Diffs between two versions of a document: a unified diff of their
//! extracted text ([`unified`]) and, for spreadsheets and CSV/TSV, the cells
//! whose value changed ([`cells`]), so that "when did risk R-12 turn red"
//! has an answer.
//!
//! Both are pure: texts or bytes in, the difference out. The cell diff reads
//! users' files inside the daemon, so it reads them the way extraction does:
//! the zip package checked under [`Limits`] before calamine sees it, panics
//! caught, and at most `max_text` bytes of cells kept per version.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::extract::detect::{self, Format};
use crate::extract::office::{self, Book};
use crate::extract::{ExtractError, Limits};

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// After this long the line diff stops looking for the smallest diff and
/// approximates (the diff stays correct, only longer).
const DIFF_TIMEOUT: Duration = Duration::from_secs(2);

/// A unified diff (`--- old_label`, `+++ new_label`, hunks with 3 lines of
/// context) of two texts, line by line; empty when they are equal.
///
/// ```
/// let d = docvault::diff::unified("a\nb\n", "a\nc\n", "a/x.txt", "b/x.txt");
/// assert_eq!(d, "--- a/x.txt\n+++ b/x.txt\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n");
/// assert_eq!(docvault::diff::unified("same\n", "same\n", "a", "b"), "");
/// ```
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    similar::TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(old, new)
        .unified_diff()
        .context_radius(CONTEXT)
        .header(old_label, new_label)
        .to_string()
}

/// One cell whose value differs between two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CellChange {
    pub sheet: String,
    /// A1 notation: `C2`, `AA10`.
    pub cell: String,
    /// None: the cell is empty in the old version (added).
    #[schema(required = true)]
    pub old: Option<String>,
    /// None: the cell is empty in the new version (removed).
    #[schema(required = true)]
    pub new: Option<String>,
}

/// Which of the two versions an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Old,
    New,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Old => "old",
            Side::New => "new",
        })
    }
}

/// The formats a cell diff reads, for messages.
pub const SUPPORTED: &str = "xlsx, xlsm, ods, csv and tsv";

/// Why a version's cells were not read in full.
pub const CELLS_OVER_LIMIT: &str = "spreadsheet cells over the text limit";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CellsError {
    #[error("the {side} version is {mime}, not a spreadsheet; a cell diff reads {SUPPORTED}")]
    NotASpreadsheet { side: Side, mime: &'static str },
    #[error("the {side} version cannot be read as a spreadsheet: {error}")]
    Unreadable { side: Side, error: ExtractError },
}

/// The cells whose values differ between two versions of the document
/// `name` (its file name names the one sheet of a CSV/TSV and breaks ties in
/// type detection), ordered by sheet (the new version's order, then sheets
/// only the old one has), then row, then column. Each version's type comes
/// from its content: xlsx, xlsm, ods, csv or tsv. Cell values are written as
/// extraction writes them (`0.3`, `2025-10-13`, `TRUE`); an empty cell is
/// no cell.
pub fn cells(
    old: &[u8],
    new: &[u8],
    name: &str,
    limits: &Limits,
) -> Result<Vec<CellChange>, CellsError> {
    let old = workbook(old, name, limits).map_err(|e| e.on(Side::Old))?;
    let new = workbook(new, name, limits).map_err(|e| e.on(Side::New))?;
    Ok(compare(&old, &new))
}

/// A version that could not be read, before it is known which one it is.
enum Unread {
    NotASpreadsheet(&'static str),
    Error(ExtractError),
}

impl Unread {
    fn on(self, side: Side) -> CellsError {
        match self {
            Unread::NotASpreadsheet(mime) => CellsError::NotASpreadsheet { side, mime },
            Unread::Error(error) => CellsError::Unreadable { side, error },
        }
    }
}

/// Memory counted for a kept cell on top of its text (position, map entry).
const CELL_COST: usize = 32;

/// The non-empty cells of one version, sheet by sheet.
struct Workbook {
    sheets: Vec<Sheet>,
    by_name: HashMap<String, usize>,
    /// Bytes still allowed for cells (text + [`CELL_COST`] each).
    budget: usize,
}

struct Sheet {
    name: String,
    cells: BTreeMap<(u32, u32), String>,
}

impl Workbook {
    fn new(limits: &Limits) -> Workbook {
        Workbook {
            sheets: Vec::new(),
            by_name: HashMap::new(),
            budget: limits.max_text,
        }
    }

    fn put(&mut self, sheet: &str, row: u32, column: u32, text: &str) -> Result<(), ExtractError> {
        let cost = text.len().saturating_add(CELL_COST);
        self.budget = self
            .budget
            .checked_sub(cost)
            .ok_or_else(|| ExtractError::Refused(CELLS_OVER_LIMIT.into()))?;
        let index = match self.by_name.get(sheet) {
            Some(&index) => index,
            None => {
                self.sheets.push(Sheet {
                    name: sheet.to_owned(),
                    cells: BTreeMap::new(),
                });
                self.by_name.insert(sheet.to_owned(), self.sheets.len() - 1);
                self.sheets.len() - 1
            }
        };
        self.sheets[index]
            .cells
            .insert((row, column), text.to_owned());
        Ok(())
    }

    fn sheet(&self, name: &str) -> Option<&BTreeMap<(u32, u32), String>> {
        self.by_name.get(name).map(|&i| &self.sheets[i].cells)
    }
}

/// How a format's cells are read.
enum Reader {
    Book(Book),
    Delimited(u8),
}

fn workbook(data: &[u8], name: &str, limits: &Limits) -> Result<Workbook, Unread> {
    let mut book = Workbook::new(limits);
    if data.is_empty() && has_sheet_extension(name) {
        return Ok(book);
    }
    if data.len() as u64 > limits.max_input {
        return Err(Unread::Error(ExtractError::Refused(
            "input size over limit".into(),
        )));
    }
    let reader = match detect::detect(data, name) {
        Format::Xlsx | Format::Xlsm => Reader::Book(Book::Xlsx),
        Format::Ods => Reader::Book(Book::Ods),
        Format::Csv => Reader::Delimited(b','),
        Format::Tsv => Reader::Delimited(b'\t'),
        Format::EncryptedOffice => return Err(Unread::Error(ExtractError::Encrypted)),
        other => return Err(Unread::NotASpreadsheet(other.mime())),
    };
    let sheet = name.rsplit('/').next().unwrap_or(name);
    let read = crate::extract::contain(|| match reader {
        Reader::Book(kind) => {
            office::sheet_cells(data, limits, kind, &mut |s, r, c, t| book.put(s, r, c, t))
        }
        Reader::Delimited(sep) => delimited(data, sep, sheet, &mut book),
    });
    match read {
        Ok(Ok(())) => Ok(book),
        Ok(Err(e)) => Err(Unread::Error(e)),
        Err(panic) => Err(Unread::Error(ExtractError::Failed(format!(
            "parser panicked: {panic}"
        )))),
    }
}

fn has_sheet_extension(name: &str) -> bool {
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    ["xlsx", "xlsm", "ods", "csv", "tsv"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(ext))
}

/// The cells of a CSV/TSV (quoted fields may hold separators, quotes and
/// newlines). Blank lines are rows, as spreadsheet programs show them.
fn delimited(data: &[u8], sep: u8, sheet: &str, book: &mut Workbook) -> Result<(), ExtractError> {
    let text = crate::extract::text::decode(data);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(sep)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut row = 0u32;
    while reader
        .read_record(&mut record)
        .map_err(|e| ExtractError::Failed(format!("csv: {e}")))?
    {
        // The reader skips blank lines; its position is from before them.
        let start = record.position().map_or(0, |p| p.byte());
        row = row.saturating_add(blank_lines(text.as_bytes(), start));
        for (column, cell) in (0u32..).zip(record.iter()) {
            if !cell.is_empty() {
                book.put(sheet, row, column, cell)?;
            }
        }
        row = row.saturating_add(1);
    }
    Ok(())
}

/// The blank lines at byte `at` of a CSV text, where the reader starts
/// looking for the next record.
fn blank_lines(text: &[u8], at: u64) -> u32 {
    let at = usize::try_from(at).unwrap_or(usize::MAX);
    let mut rest = text.get(at..).unwrap_or_default();
    // The `\n` of the `\r\n` that ended the previous record.
    if at > 0 && text.get(at - 1) == Some(&b'\r') {
        rest = rest.strip_prefix(b"\n").unwrap_or(rest);
    }
    let mut blank = 0u32;
    while let Some(after) = rest
        .strip_prefix(b"\r\n")
        .or_else(|| rest.strip_prefix(b"\n"))
        .or_else(|| rest.strip_prefix(b"\r"))
    {
        rest = after;
        blank = blank.saturating_add(1);
    }
    blank
}

fn compare(old: &Workbook, new: &Workbook) -> Vec<CellChange> {
    let mut names: Vec<&str> = new.sheets.iter().map(|s| s.name.as_str()).collect();
    names.extend(
        old.sheets
            .iter()
            .map(|s| s.name.as_str())
            .filter(|n| !new.by_name.contains_key(*n)),
    );
    let empty = BTreeMap::new();
    let mut changes = Vec::new();
    for name in names {
        let (before, after) = (
            old.sheet(name).unwrap_or(&empty),
            new.sheet(name).unwrap_or(&empty),
        );
        let positions: BTreeSet<&(u32, u32)> = before.keys().chain(after.keys()).collect();
        for &(row, column) in positions {
            let (o, n) = (before.get(&(row, column)), after.get(&(row, column)));
            if o != n {
                changes.push(CellChange {
                    sheet: name.to_owned(),
                    cell: a1(row, column),
                    old: o.cloned(),
                    new: n.cloned(),
                });
            }
        }
    }
    changes
}

/// A 0-based (row, column) in A1 notation: (0, 0) is `A1`, (9, 26) `AA10`.
pub fn a1(row: u32, column: u32) -> String {
    let mut letters = Vec::new();
    let mut n = u64::from(column) + 1;
    while n > 0 {
        n -= 1;
        letters.push(char::from(b'A' + (n % 26) as u8));
        n /= 26;
    }
    letters.iter().rev().collect::<String>() + &(u64::from(row) + 1).to_string()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use proptest::prelude::*;

    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn change(sheet: &str, cell: &str, old: Option<&str>, new: Option<&str>) -> CellChange {
        CellChange {
            sheet: sheet.into(),
            cell: cell.into(),
            old: old.map(str::to_owned),
            new: new.map(str::to_owned),
        }
    }

    fn diff(old: &[u8], new: &[u8], name: &str) -> Vec<CellChange> {
        cells(old, new, name, &Limits::default()).unwrap()
    }

    /// A CSV of these rows, quoted where needed.
    fn csv_of(rows: &[Vec<String>]) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        for row in rows {
            w.write_record(row).unwrap();
        }
        w.into_inner().unwrap()
    }

    fn escape(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('"', "&quot;")
    }

    /// A sheet's name and its (row, column, text) cells.
    type SheetCells<'a> = (&'a str, Vec<(u32, u32, String)>);

    /// A minimal Excel workbook, its cells as inline strings.
    fn xlsx_of(sheets: &[SheetCells<'_>]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let mut put = |name: &str, body: String| {
            zip.start_file(name, options).unwrap();
            zip.write_all(body.as_bytes()).unwrap();
        };
        let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
        let rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
        let mut overrides = String::new();
        let (mut list, mut rels) = (String::new(), String::new());
        for (i, (name, cells)) in sheets.iter().enumerate() {
            let n = i + 1;
            overrides += &format!(
                r#"<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#
            );
            list += &format!(
                r#"<sheet name="{}" sheetId="{n}" r:id="rId{n}"/>"#,
                escape(name)
            );
            rels += &format!(
                r#"<Relationship Id="rId{n}" Type="{rel}/worksheet" Target="worksheets/sheet{n}.xml"/>"#
            );
            let mut rows: BTreeMap<u32, Vec<(u32, &str)>> = BTreeMap::new();
            for (r, c, t) in cells {
                rows.entry(*r).or_default().push((*c, t));
            }
            let mut data = String::new();
            for (r, mut cs) in rows {
                cs.sort();
                data += &format!(r#"<row r="{}">"#, r + 1);
                for (c, t) in cs {
                    data += &format!(
                        r#"<c r="{}" t="inlineStr"><is><t xml:space="preserve">{}</t></is></c>"#,
                        a1(r, c),
                        escape(t)
                    );
                }
                data += "</row>";
            }
            put(
                &format!("xl/worksheets/sheet{n}.xml"),
                format!(r#"<worksheet xmlns="{main}"><sheetData>{data}</sheetData></worksheet>"#),
            );
        }
        put(
            "[Content_Types].xml",
            format!(
                r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>{overrides}</Types>"#
            ),
        );
        put(
            "_rels/.rels",
            format!(
                r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
            ),
        );
        put(
            "xl/workbook.xml",
            format!(
                r#"<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>{list}</sheets></workbook>"#
            ),
        );
        put(
            "xl/_rels/workbook.xml.rels",
            format!(
                r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>"#
            ),
        );
        zip.finish().unwrap().into_inner()
    }

    /// A copy of a zip package with member `name` passed through `edit`.
    fn edit_member(package: &[u8], name: &str, edit: impl Fn(String) -> String) -> Vec<u8> {
        let mut src = zip::ZipArchive::new(std::io::Cursor::new(package)).unwrap();
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for i in 0..src.len() {
            let mut member = src.by_index(i).unwrap();
            let mut body = Vec::new();
            member.read_to_end(&mut body).unwrap();
            if member.name() == name {
                body = edit(String::from_utf8(body).unwrap()).into_bytes();
            }
            out.start_file(member.name(), options).unwrap();
            out.write_all(&body).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    /// Applies a unified diff to `old` (every line of which ends in `\n`).
    fn apply(old: &str, patch: &str) -> String {
        let old: Vec<&str> = old.split_inclusive('\n').collect();
        let (mut out, mut at) = (String::new(), 0usize);
        for line in patch.split_inclusive('\n') {
            if line.starts_with("--- ") || line.starts_with("+++ ") {
                continue;
            }
            if let Some(header) = line.strip_prefix("@@ -") {
                let start: usize = header.split([',', ' ']).next().unwrap().parse().unwrap();
                // `-0,0` (nothing old) starts before line 1.
                let start = start.saturating_sub(1).max(at);
                out.extend(old[at..start].iter().copied());
                at = start;
                continue;
            }
            match line.split_at(1) {
                (" ", rest) => {
                    assert_eq!(old[at], rest, "context line");
                    out.push_str(rest);
                    at += 1;
                }
                ("-", rest) => {
                    assert_eq!(old[at], rest, "removed line");
                    at += 1;
                }
                ("+", rest) => out.push_str(rest),
                _ => panic!("unexpected diff line {line:?}"),
            }
        }
        out.extend(old[at..].iter().copied());
        out
    }

    #[test]
    fn unified_diff_shows_the_changed_lines_with_three_lines_of_context() {
        let old = "1\n2\n3\n4\nrisk R-12 amber\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\nrisk R-12 red\n6\n7\n8\n9\n";
        assert_eq!(
            unified(old, new, "a/risks.txt\tv1", "b/risks.txt\tv2"),
            "--- a/risks.txt\tv1\n+++ b/risks.txt\tv2\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n\
             -risk R-12 amber\n+risk R-12 red\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn a_missing_final_newline_is_shown() {
        let d = unified("a\nb", "a\nc", "a/x", "b/x");
        assert!(d.contains("-b\n\\ No newline at end of file\n"), "{d}");
        assert!(d.contains("+c\n\\ No newline at end of file\n"), "{d}");
    }

    #[test]
    fn a1_notation() {
        assert_eq!(a1(0, 0), "A1");
        assert_eq!(a1(1, 2), "C2");
        assert_eq!(a1(9, 25), "Z10");
        assert_eq!(a1(9, 26), "AA10");
        assert_eq!(a1(0, 701), "ZZ1");
        assert_eq!(a1(0, 702), "AAA1");
        assert_eq!(a1(u32::MAX, 16_383), "XFD4294967296");
    }

    #[test]
    fn csv_quoted_fields_with_commas_quotes_and_newlines_are_one_cell() {
        let old = "id,risk,status\r\nR-12,\"Supplier, insolvent\",amber\r\nR-13,\"two\nlines\",\"say \"\"hi\"\"\"\r\n";
        let new = "id,risk,status\r\nR-12,\"Supplier, insolvent\",red\r\nR-13,\"two\nlines\",\"say \"\"hi\"\"\"\r\n";
        assert_eq!(
            diff(old.as_bytes(), new.as_bytes(), "risks/register.csv"),
            [change("register.csv", "C2", Some("amber"), Some("red"))]
        );
        let moved = "id,risk,status\r\nR-12,\"Supplier, insolvent\",amber\r\nR-13,\"two\nlines, now\",\"say \"\"hi\"\"\"\r\n";
        assert_eq!(
            diff(old.as_bytes(), moved.as_bytes(), "register.csv"),
            [change(
                "register.csv",
                "B3",
                Some("two\nlines"),
                Some("two\nlines, now")
            )]
        );
    }

    #[test]
    fn csv_blank_lines_are_rows_and_added_and_removed_cells_are_null() {
        let old = "a,b\n\nc,d\n";
        let expected = [
            change("x.csv", "B1", Some("b"), None),
            change("x.csv", "C3", None, Some("e")),
            change("x.csv", "A6", None, Some("f")),
        ];
        for new in [
            "a\n\nc,d,e\n\n\nf\n",
            "a\r\n\r\nc,d,e\r\n\r\n\r\nf",
            "\"a\"\r\rc,d,e\r\r\rf\r",
        ] {
            assert_eq!(
                diff(old.as_bytes(), new.as_bytes(), "x.csv"),
                expected,
                "{new:?}"
            );
        }
    }

    #[test]
    fn tsv_and_latin1_csv() {
        let d = diff(b"a\tb\n", b"a\tc\n", "x.tsv");
        assert_eq!(d, [change("x.tsv", "B1", Some("b"), Some("c"))]);
        let d = diff(b"Stra\xdfe,1\n", b"Stra\xdfe,2\n", "x.csv");
        assert_eq!(d, [change("x.csv", "B1", Some("1"), Some("2"))]);
        let d = diff(b"Stra\xdfe\n", b"Strasse\n", "x.csv");
        assert_eq!(d, [change("x.csv", "A1", Some("Straße"), Some("Strasse"))]);
    }

    #[test]
    fn xlsx_changes_are_ordered_by_sheet_then_row_then_column() {
        let cell = |r, c, t: &str| (r, c, t.to_owned());
        let old = xlsx_of(&[
            ("Budget", vec![cell(0, 0, "Item"), cell(1, 1, "10")]),
            ("Risks", vec![cell(1, 2, "amber"), cell(1, 0, "R-12")]),
            ("Old", vec![cell(0, 0, "gone")]),
        ]);
        let new = xlsx_of(&[
            (
                "Risks",
                vec![cell(1, 2, "red"), cell(1, 0, "R-12"), cell(0, 27, "x")],
            ),
            ("Budget", vec![cell(0, 0, "Item"), cell(1, 1, "12")]),
        ]);
        assert_eq!(
            diff(&old, &new, "book.xlsx"),
            [
                change("Risks", "AB1", None, Some("x")),
                change("Risks", "C2", Some("amber"), Some("red")),
                change("Budget", "B2", Some("10"), Some("12")),
                change("Old", "A1", Some("gone"), None),
            ]
        );
    }

    #[test]
    fn the_budget_fixture_tells_when_r12_turned_red() {
        let red = fixture("budget.xlsx");
        let green = edit_member(&red, "xl/worksheets/sheet2.xml", |xml| {
            xml.replace("<t>red</t>", "<t>green</t>")
        });
        assert_eq!(
            diff(&green, &red, "budget.xlsx"),
            [change("Risks", "C2", Some("green"), Some("red"))]
        );
        assert_eq!(diff(&red, &red, "budget.xlsx"), []);
    }

    #[test]
    fn the_same_sheets_from_libreoffice_as_ods_and_xlsx_have_the_same_cells() {
        let d = diff(&fixture("calc.ods"), &fixture("calc.xlsx"), "calc.xlsx");
        assert_eq!(d, [], "numbers, strings and positions read alike");
        let none: &[u8] = b"";
        let all = diff(none, &fixture("calc.ods"), "calc.ods");
        assert!(
            all.iter()
                .any(|c| c.sheet == "Inventory" && c.new.as_deref() == Some("99.25"))
        );
        assert!(all.iter().all(|c| c.old.is_none()), "{all:?}");
    }

    #[test]
    fn non_spreadsheets_say_which_formats_are_supported() {
        let e = cells(
            &fixture("reportlab.pdf"),
            b"a,b\n",
            "x.csv",
            &Limits::default(),
        );
        assert_eq!(
            e.unwrap_err().to_string(),
            "the old version is application/pdf, not a spreadsheet; a cell diff reads xlsx, xlsm, ods, csv and tsv"
        );
        let e = cells(
            b"a,b\n",
            &fixture("report.docx"),
            "x.csv",
            &Limits::default(),
        );
        assert!(
            matches!(
                e,
                Err(CellsError::NotASpreadsheet {
                    side: Side::New,
                    ..
                })
            ),
            "{e:?}"
        );
        let e = cells(
            &fixture("encrypted.docx"),
            b"",
            "x.xlsx",
            &Limits::default(),
        );
        assert_eq!(
            e,
            Err(CellsError::Unreadable {
                side: Side::Old,
                error: ExtractError::Encrypted
            })
        );
    }

    #[test]
    fn zip_bombs_damaged_files_and_too_many_cells_are_refused() {
        let bomb = cells(b"", &fixture("zipbomb.xlsx"), "x.xlsx", &Limits::default());
        assert_eq!(
            bomb,
            Err(CellsError::Unreadable {
                side: Side::New,
                error: ExtractError::Refused(crate::extract::office::OVER_LIMIT.into())
            })
        );
        let mut broken = fixture("budget.xlsx");
        broken.truncate(broken.len() / 2);
        let e = cells(&broken, b"", "x.xlsx", &Limits::default());
        assert!(
            matches!(
                e,
                Err(CellsError::Unreadable {
                    error: ExtractError::Failed(_),
                    ..
                })
            ),
            "{e:?}"
        );
        let small = Limits {
            max_text: 100,
            ..Limits::default()
        };
        let e = cells(b"", "x\n".repeat(3).as_bytes(), "x.csv", &small);
        assert!(e.is_ok(), "three cells fit: {e:?}");
        let e = cells(b"", "x\n".repeat(4).as_bytes(), "x.csv", &small);
        assert_eq!(
            e.unwrap_err().to_string(),
            "the new version cannot be read as a spreadsheet: refused: spreadsheet cells over the text limit"
        );
        let tiny = Limits {
            max_input: 3,
            ..Limits::default()
        };
        let e = cells(b"a,b\n", b"", "x.csv", &tiny);
        assert!(
            matches!(
                e,
                Err(CellsError::Unreadable {
                    error: ExtractError::Refused(_),
                    ..
                })
            ),
            "{e:?}"
        );
    }

    fn grid() -> impl Strategy<Value = Vec<Vec<String>>> {
        prop::collection::vec(prop::collection::vec("[a-z0-9 ,\"\n]{0,6}", 1..6), 1..8)
    }

    /// The cells of a grid as the diff sees them: non-empty ones by position.
    fn filled(rows: &[Vec<String>]) -> Vec<(u32, u32, String)> {
        let mut out = Vec::new();
        for (r, row) in (0u32..).zip(rows) {
            for (c, text) in (0u32..).zip(row) {
                if !text.is_empty() {
                    out.push((r, c, text.clone()));
                }
            }
        }
        out
    }

    proptest! {
        #[test]
        fn unified_diff_of_a_text_with_itself_is_empty(text in "\\PC*(\n\\PC*){0,8}") {
            prop_assert_eq!(unified(&text, &text, "a", "b"), "");
        }

        #[test]
        fn applying_the_unified_diff_gives_the_new_text(
            old in prop::collection::vec("[abc]{0,2}\n", 0..30),
            new in prop::collection::vec("[abc]{0,2}\n", 0..30),
        ) {
            let (old, new) = (old.concat(), new.concat());
            let patch = unified(&old, &new, "a/x", "b/x");
            prop_assert_eq!(patch.is_empty(), old == new);
            prop_assert_eq!(apply(&old, &patch), new);
        }

        #[test]
        fn csv_diff_of_a_table_with_itself_is_empty(rows in grid()) {
            let data = csv_of(&rows);
            prop_assert_eq!(diff(&data, &data, "t.csv"), vec![]);
        }

        #[test]
        fn a_changed_csv_cell_is_reported_once_with_old_and_new(
            rows in grid(),
            pick in any::<prop::sample::Index>(),
            value in "[a-z0-9 ,\"\n]{1,6}",
        ) {
            let r = pick.index(rows.len());
            let c = pick.index(rows[r].len());
            let mut changed = rows.clone();
            changed[r][c] = value.clone();
            let old = rows[r][c].clone();
            let expected = if old == value {
                vec![]
            } else {
                vec![change("t.csv", &a1(r as u32, c as u32), (!old.is_empty()).then_some(old.as_str()), Some(&value))]
            };
            prop_assert_eq!(diff(&csv_of(&rows), &csv_of(&changed), "t.csv"), expected);
        }

        #[test]
        fn csv_rows_are_lines_blank_lines_included(
            lines in prop::collection::vec("[ab,]{0,4}", 0..10),
            end in prop::sample::select(vec!["\n", "\r\n", "\r"]),
        ) {
            let data = lines.join(end);
            let expected: Vec<CellChange> = (0u32..)
                .zip(&lines)
                .flat_map(|(r, line)| {
                    (0u32..).zip(line.split(',')).filter(|(_, t)| !t.is_empty()).map(move |(c, t)| {
                        change("t.csv", &a1(r, c), None, Some(t))
                    })
                })
                .collect();
            prop_assert_eq!(diff(b"", data.as_bytes(), "t.csv"), expected);
        }

        #[test]
        fn a_changed_xlsx_cell_is_reported_once_with_old_and_new(
            rows in prop::collection::vec(prop::collection::vec("[a-z0-9<&\"']{0,5}", 1..6), 1..8),
            pick in any::<prop::sample::Index>(),
            value in "[a-z0-9<&\"']{0,5}",
        ) {
            let r = pick.index(rows.len());
            let c = pick.index(rows[r].len());
            let mut changed = rows.clone();
            changed[r][c] = value.clone();
            let (old_book, new_book) = (xlsx_of(&[("S", filled(&rows))]), xlsx_of(&[("S", filled(&changed))]));
            prop_assert_eq!(diff(&old_book, &old_book, "b.xlsx"), vec![]);
            let old = rows[r][c].clone();
            let expected = if old == value {
                vec![]
            } else {
                let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
                vec![CellChange { sheet: "S".into(), cell: a1(r as u32, c as u32), old: some(&old), new: some(&value) }]
            };
            prop_assert_eq!(diff(&old_book, &new_book, "b.xlsx"), expected);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary bytes, behind a zip's or nothing's magic, under every
        /// spreadsheet name: an answer or an error, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(
            body in prop::collection::vec(any::<u8>(), 0..2048),
            magic in prop::sample::select(vec![&b""[..], b"PK\x03\x04", b"PK\x05\x06", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"]),
            name in prop::sample::select(vec!["a.xlsx", "a.xlsm", "a.ods", "a.csv", "a.tsv", "a.txt"]),
        ) {
            let mut data = magic.to_vec();
            data.extend(body);
            let limits = Limits { max_text: 4096, ..Limits::default() };
            let _ = cells(&data, &data, name, &limits);
            let _ = cells(b"", &data, name, &limits);
        }

        #[test]
        fn a_damaged_workbook_never_panics(cut in 0usize..5000, flip in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut data = fixture("budget.xlsx");
            let i = flip.index(data.len());
            data[i] = byte;
            data.truncate(cut.max(1).min(data.len()));
            let _ = cells(&data, &data, "budget.xlsx", &Limits::default());
        }
    }
}

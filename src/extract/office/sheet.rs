//! Spreadsheets (`.xlsx`, `.xlsm`, `.ods`) through calamine: each sheet's
//! name on its own line, then one line per row of its non-empty cells,
//! separated by tabs. Numbers are written plainly (`0.3`, not
//! `0.30000000000000004`), dates as ISO 8601.
//!
//! calamine reads the zip without limits, so the package is opened and every
//! member inflated under the limits first; its panics are caught here. Its
//! ODS reader also builds every sheet as a dense grid in memory, which
//! `number-rows-repeated` / `number-columns-repeated` can make enormous from
//! a 1 KB file, so the grid's size is counted from `content.xml` beforehand.

use std::borrow::Cow;
use std::io::Cursor;

use calamine::{Data, DataRef, ExcelDateTime, Ods, Reader, Xlsx, XlsxError};

use super::odf::refuse_encrypted;
use super::package::Package;
use super::xml::{Flow, Gap, Markup, Out, attr};
use crate::extract::{Doc, ExtractError, Limits};

/// An Excel workbook (`.xlsx`, `.xlsm`).
pub fn xlsx(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    let mut pkg = Package::open(data, limits, "xlsx")?;
    pkg.verify_sizes()?;
    let (title, author) = pkg.properties("docProps/core.xml")?;
    let mut out = Out::new(limits);
    contained("xlsx", || xlsx_cells(data, &mut out))?;
    Ok(out.finish(title, author))
}

/// An OpenDocument spreadsheet.
pub fn ods(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    let mut pkg = Package::open(data, limits, "ods")?;
    refuse_encrypted(&mut pkg)?;
    pkg.verify_sizes()?;
    refuse_huge_grids(&mut pkg, limits)?;
    let (title, author) = pkg.properties("meta.xml")?;
    let mut out = Out::new(limits);
    contained("ods", || ods_cells(data, &mut out))?;
    Ok(out.finish(title, author))
}

/// Memory calamine takes per cell of an ODS sheet's grid, rounded up (about
/// 125 bytes measured: the value, its formula string, and copies).
const ODS_CELL_BYTES: u64 = 128;

/// Refuses an ODS whose grids, as calamine would build them, would take more
/// than a quarter of the worker's memory limit.
fn refuse_huge_grids(pkg: &mut Package<'_>, limits: &Limits) -> Result<(), ExtractError> {
    let mut grid = GridSize::default();
    pkg.walk("content.xml", &mut grid)?;
    if grid.cells > limits.memory / 4 / ODS_CELL_BYTES {
        return Err(ExtractError::Refused(CELLS_OVER_LIMIT.into()));
    }
    Ok(())
}

pub const CELLS_OVER_LIMIT: &str = "spreadsheet cell count over limit";

/// calamine's caps on an ODS sheet.
const MAX_ROWS: u64 = 1 << 20;
const MAX_COLUMNS: u64 = 1 << 14;

/// The cells of all tables' dense grids: per table, up to the last row and
/// the last column that hold a value (an upper bound of what calamine keeps).
#[derive(Debug, Default)]
struct GridSize {
    cells: u64,
    row: u64,
    rows_repeated: u64,
    column: u64,
    cell_columns: u64,
    cell_filled: bool,
    rows_end: u64,
    columns_end: u64,
}

fn repeated(e: &quick_xml::events::BytesStart<'_>, local: &[u8], max: u64) -> u64 {
    attr(e, local)
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(1)
        .clamp(1, max)
}

impl Markup for GridSize {
    fn start(&mut self, e: &quick_xml::events::BytesStart<'_>) -> Flow {
        match e.local_name().as_ref() {
            b"table" => (self.row, self.rows_end, self.columns_end) = (0, 0, 0),
            b"table-row" => {
                self.rows_repeated = repeated(e, b"number-rows-repeated", MAX_ROWS);
                self.column = 0;
            }
            b"table-cell" | b"covered-table-cell" => {
                self.cell_columns = repeated(e, b"number-columns-repeated", MAX_COLUMNS);
                self.cell_filled =
                    attr(e, b"value-type").is_some() || attr(e, b"formula").is_some();
            }
            _ => self.cell_filled = true,
        }
        Flow::Into
    }

    fn end(&mut self, local: &[u8]) {
        match local {
            b"table-cell" | b"covered-table-cell" => {
                self.column = (self.column + self.cell_columns).min(MAX_COLUMNS);
                if self.cell_filled {
                    self.columns_end = self.columns_end.max(self.column);
                    self.rows_end = self
                        .rows_end
                        .max((self.row + self.rows_repeated).min(MAX_ROWS));
                }
                self.cell_filled = false;
            }
            b"table-row" => self.row = (self.row + self.rows_repeated).min(MAX_ROWS),
            b"table" => self.cells = self.cells.saturating_add(self.rows_end * self.columns_end),
            _ => {}
        }
    }

    fn text(&mut self, _: &str) {}
}

/// Runs a calamine call, turning its panic into `failed: <kind>: parser panicked: ...`.
fn contained<T>(
    kind: &str,
    f: impl FnOnce() -> Result<T, ExtractError>,
) -> Result<T, ExtractError> {
    crate::extract::contain(f).unwrap_or_else(|panic| {
        Err(ExtractError::Failed(format!(
            "{kind}: parser panicked: {panic}"
        )))
    })
}

/// Streams the cells (calamine's cell reader does not build a dense range,
/// which two far-apart cells would make huge).
fn xlsx_cells(data: &[u8], out: &mut Out) -> Result<(), ExtractError> {
    let failed = |e: XlsxError| ExtractError::Failed(format!("xlsx: {e}"));
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(data)).map_err(failed)?;
    for name in book.sheet_names() {
        if out.is_full() {
            break;
        }
        let mut cells = match book.worksheet_cells_reader(&name) {
            Ok(cells) => cells,
            Err(XlsxError::NotAWorksheet(_)) => continue,
            Err(e) => return Err(failed(e)),
        };
        let mut rows = Rows::new(out, &name);
        while let Some(cell) = cells.next_cell().map_err(failed)? {
            if rows.out.is_full() {
                break;
            }
            let row = cell.get_position().0;
            match cell.get_value() {
                DataRef::SharedString(s) => rows.cell(row, s),
                value => rows.cell(
                    row,
                    &value_text(&Data::from(value.clone())).unwrap_or_default(),
                ),
            }
        }
        rows.out.newline();
    }
    Ok(())
}

fn ods_cells(data: &[u8], out: &mut Out) -> Result<(), ExtractError> {
    let failed = |e: calamine::OdsError| ExtractError::Failed(format!("ods: {e}"));
    let mut book: Ods<_> = Ods::new(Cursor::new(data)).map_err(failed)?;
    for name in book.sheet_names() {
        if out.is_full() {
            break;
        }
        let range = book.worksheet_range(&name).map_err(failed)?;
        let mut rows = Rows::new(out, &name);
        for (row, cells) in (0u32..).zip(range.rows()) {
            for value in cells {
                rows.cell(row, &value_text(value).unwrap_or_default());
            }
        }
        rows.out.newline();
    }
    Ok(())
}

/// The workbook formats [`cells`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Book {
    /// Excel (`.xlsx`, `.xlsm`).
    Xlsx,
    /// OpenDocument (`.ods`).
    Ods,
}

/// Hands every non-empty cell of a workbook to `visit` as (sheet, row,
/// column, text), 0-based, sheet by sheet in workbook order, each cell's
/// text written as extraction writes it. The package is checked under the
/// same limits as extraction and calamine's panics are caught; an error from
/// `visit` stops the walk and is returned.
pub fn cells(
    data: &[u8],
    limits: &Limits,
    book: Book,
    visit: &mut Visit<'_>,
) -> Result<(), ExtractError> {
    match book {
        Book::Xlsx => {
            let mut pkg = Package::open(data, limits, "xlsx")?;
            pkg.verify_sizes()?;
            contained("xlsx", || visit_xlsx(data, visit))
        }
        Book::Ods => {
            let mut pkg = Package::open(data, limits, "ods")?;
            refuse_encrypted(&mut pkg)?;
            pkg.verify_sizes()?;
            refuse_huge_grids(&mut pkg, limits)?;
            contained("ods", || visit_ods(data, visit))
        }
    }
}

/// What [`cells`] calls per cell: sheet, row, column, text.
pub type Visit<'v> = dyn FnMut(&str, u32, u32, &str) -> Result<(), ExtractError> + 'v;

fn visit_xlsx(data: &[u8], visit: &mut Visit<'_>) -> Result<(), ExtractError> {
    let failed = |e: XlsxError| ExtractError::Failed(format!("xlsx: {e}"));
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(data)).map_err(failed)?;
    for name in book.sheet_names() {
        let mut cells = match book.worksheet_cells_reader(&name) {
            Ok(cells) => cells,
            Err(XlsxError::NotAWorksheet(_)) => continue,
            Err(e) => return Err(failed(e)),
        };
        while let Some(cell) = cells.next_cell().map_err(failed)? {
            let (row, column) = cell.get_position();
            let text = match cell.get_value() {
                DataRef::SharedString(s) => Cow::Borrowed(*s),
                value => Cow::Owned(
                    value_text(&Data::from(value.clone()))
                        .unwrap_or_default()
                        .into_owned(),
                ),
            };
            if !text.is_empty() {
                visit(&name, row, column, &text)?;
            }
        }
    }
    Ok(())
}

fn visit_ods(data: &[u8], visit: &mut Visit<'_>) -> Result<(), ExtractError> {
    let failed = |e: calamine::OdsError| ExtractError::Failed(format!("ods: {e}"));
    let mut book: Ods<_> = Ods::new(Cursor::new(data)).map_err(failed)?;
    for name in book.sheet_names() {
        let range = book.worksheet_range(&name).map_err(failed)?;
        let (top, left) = range.start().unwrap_or((0, 0));
        for (row, column, value) in range.used_cells() {
            let text = value_text(value).unwrap_or_default();
            if !text.is_empty() {
                let (row, column) = (offset(top, row), offset(left, column));
                visit(&name, row, column, &text)?;
            }
        }
    }
    Ok(())
}

/// An absolute position from a range's start and a relative index.
fn offset(start: u32, index: usize) -> u32 {
    u32::try_from(index).map_or(u32::MAX, |i| start.saturating_add(i))
}

/// One sheet being written: its name line, then cells row by row.
struct Rows<'o> {
    out: &'o mut Out,
    row: Option<u32>,
}

impl<'o> Rows<'o> {
    fn new(out: &'o mut Out, name: &str) -> Self {
        out.text(name);
        out.newline();
        Rows { out, row: None }
    }

    /// A cell of row `row`; empty cells are left out.
    fn cell(&mut self, row: u32, text: &str) {
        if text.trim().is_empty() {
            return;
        }
        match self.row {
            Some(current) if current == row => self.out.gap(Gap::Tab),
            Some(_) => self.out.newline(),
            None => {}
        }
        self.row = Some(row);
        self.out.text(text);
    }
}

/// A cell's value as text; `None` when empty.
fn value_text(value: &Data) -> Option<Cow<'_, str>> {
    Some(match value {
        Data::Empty => return None,
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Cow::Borrowed(s.as_str()),
        Data::Int(i) => Cow::Owned(i.to_string()),
        Data::Float(f) => Cow::Owned(plain_number(*f)),
        Data::Bool(b) => Cow::Borrowed(if *b { "TRUE" } else { "FALSE" }),
        Data::DateTime(d) => Cow::Owned(iso_date(d)),
        Data::Error(e) => Cow::Owned(e.to_string()),
    })
}

/// A number as a spreadsheet shows it: 15 significant digits, no exponent.
fn plain_number(f: f64) -> String {
    let shortest = f.to_string();
    if !f.is_finite() || significant_digits(&shortest) <= 15 {
        return shortest;
    }
    let rounded: f64 = format!("{f:.14e}").parse().unwrap_or(f);
    rounded.to_string()
}

/// Digits of a plainly written number without its leading and trailing zeros.
fn significant_digits(number: &str) -> usize {
    let digits: Vec<u8> = number.bytes().filter(u8::is_ascii_digit).collect();
    let first = digits.iter().position(|&d| d != b'0');
    let last = digits.iter().rposition(|&d| d != b'0');
    match (first, last) {
        (Some(first), Some(last)) => last + 1 - first,
        _ => 0,
    }
}

/// `2025-10-13`, `2025-10-13T12:59:02`, `12:59:02` (a time of day) or
/// `36:00:00` (a duration); a serial number outside years 1900–9999 stays a number.
fn iso_date(d: &ExcelDateTime) -> String {
    let serial = d.as_f64();
    if !(0.0..2_958_466.0).contains(&serial) {
        return plain_number(serial);
    }
    if d.is_duration() {
        let secs = (serial * 86_400.0).round() as u64;
        return format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    }
    let (year, month, day, hour, min, sec, _) = d.to_ymd_hms_milli();
    if serial < 1.0 {
        format!("{hour:02}:{min:02}:{sec:02}")
    } else if (hour, min, sec) == (0, 0, 0) {
        format!("{year:04}-{month:02}-{day:02}")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{min:02}:{sec:02}")
    }
}

#[cfg(test)]
mod tests {
    use calamine::ExcelDateTimeType;

    use super::*;

    #[test]
    fn numbers_are_plain() {
        assert_eq!(plain_number(0.1 + 0.2), "0.3");
        assert_eq!(plain_number(3.0), "3");
        assert_eq!(plain_number(-1234.5), "-1234.5");
        assert_eq!(plain_number(1e20), "100000000000000000000");
    }

    #[test]
    fn dates_are_iso() {
        let date = |v, t| iso_date(&ExcelDateTime::new(v, t, false));
        assert_eq!(date(45943.0, ExcelDateTimeType::DateTime), "2025-10-13");
        assert_eq!(
            date(45943.5, ExcelDateTimeType::DateTime),
            "2025-10-13T12:00:00"
        );
        assert_eq!(date(0.75, ExcelDateTimeType::DateTime), "18:00:00");
        assert_eq!(date(1.5, ExcelDateTimeType::TimeDelta), "36:00:00");
        assert_eq!(date(-5.0, ExcelDateTimeType::DateTime), "-5");
    }
}

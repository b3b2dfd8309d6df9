//! Workbooks (XLSX, XLS, ODS) through calamine: every sheet with data
//! becomes a table of the resource, named by its sheet. Formulas give the
//! value the spreadsheet saved with them; they are never evaluated. XLSX
//! sheets stream cell by cell; XLS and ODS sheets are read whole (calamine
//! offers no streaming reader for them), one at a time.
//!
//! Government workbooks often start with a title and notes above the table:
//! the header is the first of the leading rows that is at least half as wide
//! as the widest of them, and whose cells are all text.

use std::io::BufReader;

use calamine::{Data, Reader as _, Sheets};

use crate::IngestError;
use crate::reader::{Input, Reader, check_zip};
use crate::table::{Analysis, AnalyzeOptions, Source, TableBuilder};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Xlsx,
    Xls,
    Ods,
}

pub struct Workbook {
    kind: Kind,
}

impl Workbook {
    pub const XLSX: Workbook = Workbook { kind: Kind::Xlsx };
    pub const XLS: Workbook = Workbook { kind: Kind::Xls };
    pub const ODS: Workbook = Workbook { kind: Kind::Ods };

    /// Whether a table read in `format` (a reader's [`Reader::format`]) is
    /// a workbook's sheet.
    pub fn reads(format: &str) -> bool {
        [Workbook::XLSX, Workbook::XLS, Workbook::ODS].iter().any(|workbook| workbook.format() == format)
    }
}

const ZIP: &[u8] = b"PK\x03\x04";
const OLE: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
/// An ODS file's first entry is its uncompressed `mimetype`.
const ODS_MIMETYPE: &[u8] = b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet";

fn is_ods(head: &[u8]) -> bool {
    head.starts_with(ZIP) && head.get(30..30 + ODS_MIMETYPE.len()) == Some(ODS_MIMETYPE)
}

impl Reader for Workbook {
    fn format(&self) -> &'static str {
        match self.kind {
            Kind::Xlsx => "xlsx",
            Kind::Xls => "xls",
            Kind::Ods => "ods",
        }
    }

    fn extensions(&self) -> &'static [&'static str] {
        match self.kind {
            Kind::Xlsx => &["xlsx", "xlsm", "xlsb"],
            Kind::Xls => &["xls"],
            Kind::Ods => &["ods"],
        }
    }

    fn binary_signature(&self) -> bool {
        true
    }

    fn sniff(&self, head: &[u8]) -> bool {
        match self.kind {
            Kind::Xlsx => head.starts_with(ZIP) && !is_ods(head),
            Kind::Xls => head.starts_with(OLE),
            Kind::Ods => is_ods(head),
        }
    }

    fn read(&self, input: Input<'_>, options: &AnalyzeOptions) -> Result<Vec<Analysis>, IngestError> {
        let path = input.path()?;
        if self.kind != Kind::Xls {
            check_zip(path, options.max_uncompressed_bytes)?;
        }
        let open = || std::fs::File::open(path).map(BufReader::new);
        let mut workbook = match self.kind {
            // XLSB is a zip too; it is tried when the file is no XLSX.
            Kind::Xlsx => match calamine::Xlsx::new(open()?) {
                Ok(workbook) => Sheets::Xlsx(workbook),
                Err(error) => match calamine::Xlsb::new(open()?) {
                    Ok(workbook) => Sheets::Xlsb(workbook),
                    Err(_) => return Err(workbook_error(error)),
                },
            },
            Kind::Xls => Sheets::Xls(calamine::Xls::new(open()?).map_err(workbook_error)?),
            Kind::Ods => Sheets::Ods(calamine::Ods::new(open()?).map_err(workbook_error)?),
        };
        let mut tables = Vec::new();
        for name in workbook.sheet_names() {
            let mut sheet = SheetTable::new(self.format(), &name, options, tables.len());
            match &mut workbook {
                Sheets::Xlsx(xlsx) => {
                    let mut cells = xlsx.worksheet_cells_reader(&name).map_err(workbook_error)?;
                    let mut current: Option<u32> = None;
                    let mut row = Vec::new();
                    while let Some(cell) = cells.next_cell().map_err(workbook_error)? {
                        let (row_index, column) = cell.get_position();
                        if current != Some(row_index) {
                            if let Some(index) = current {
                                sheet.row(index, std::mem::take(&mut row))?;
                            }
                            current = Some(row_index);
                        }
                        let (text, is_text) = cell_text(Data::from(cell.get_value().clone()));
                        if !text.is_empty() {
                            row.push((column, text, is_text));
                        }
                    }
                    if let Some(index) = current {
                        sheet.row(index, row)?;
                    }
                }
                other => {
                    let range = other.worksheet_range(&name).map_err(workbook_error)?;
                    let (first_row, first_column) = range.start().unwrap_or((0, 0));
                    for (offset, cells) in range.rows().enumerate() {
                        let row: Vec<(u32, String, bool)> = cells
                            .iter()
                            .enumerate()
                            .filter_map(|(column, value)| {
                                let (text, is_text) = cell_text(value.clone());
                                (!text.is_empty()).then(|| (first_column + column as u32, text, is_text))
                            })
                            .collect();
                        sheet.row(first_row + offset as u32, row)?;
                    }
                }
            }
            if let Some(table) = sheet.finish()? {
                tables.push(table);
            }
        }
        if tables.is_empty() {
            return Err(IngestError::NoTable);
        }
        Ok(tables)
    }
}

fn workbook_error(error: impl std::fmt::Display) -> IngestError {
    IngestError::Workbook(error.to_string())
}

fn number_text(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 { format!("{value:.0}") } else { value.to_string() }
}

fn datetime_text(value: &calamine::ExcelDateTime) -> String {
    let (year, month, day, hour, minute, second, _) = value.to_ymd_hms_milli();
    if value.is_duration() || value.as_f64().abs() < 1.0 {
        let hours = if value.is_duration() { (value.as_f64() * 24.0).floor() as u64 } else { u64::from(hour) };
        return format!("{hours:02}:{minute:02}:{second:02}");
    }
    if (hour, minute, second) == (0, 0, 0) {
        format!("{year:04}-{month:02}-{day:02}")
    } else {
        format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}")
    }
}

/// A cell as the text the rest of ingestion reads, and whether it was text in the workbook.
fn cell_text(value: Data) -> (String, bool) {
    match value {
        Data::Int(value) => (value.to_string(), false),
        Data::Float(value) => (number_text(value), false),
        Data::String(value) => (value, true),
        Data::Bool(value) => (value.to_string(), false),
        Data::DateTime(value) => (datetime_text(&value), false),
        Data::DateTimeIso(value) | Data::DurationIso(value) => (value, false),
        // "#DIV/0!" and the like: the saved result of a failed formula, no value.
        Data::Error(_) | Data::Empty => (String::new(), false),
    }
}

/// Rows examined to find the header.
const HEADER_WINDOW: usize = 30;

type Row = Vec<(u32, String, bool)>;

/// One sheet's rows on their way to a table: the first rows wait until the
/// header is found, then every row streams into the builder.
struct SheetTable<'a> {
    format: &'static str,
    name: String,
    options: &'a AnalyzeOptions,
    index: usize,
    pending: Vec<(u32, Row)>,
    table: Option<(TableBuilder, u32, usize)>,
    record: csv::StringRecord,
}

impl<'a> SheetTable<'a> {
    fn new(format: &'static str, name: &str, options: &'a AnalyzeOptions, index: usize) -> Self {
        SheetTable {
            format,
            name: name.to_string(),
            options,
            index,
            pending: Vec::new(),
            table: None,
            record: csv::StringRecord::new(),
        }
    }

    fn row(&mut self, row: u32, cells: Row) -> Result<(), IngestError> {
        if self.table.is_none() {
            if !cells.is_empty() {
                self.pending.push((row, cells));
            }
            if self.pending.len() >= HEADER_WINDOW {
                self.start()?;
            }
            return Ok(());
        }
        self.push(row, &cells)
    }

    fn start(&mut self) -> Result<(), IngestError> {
        let pending = std::mem::take(&mut self.pending);
        let widest = pending.iter().map(|(_, cells)| cells.len()).max().unwrap_or(0);
        let at = pending.iter().position(|(_, cells)| cells.len() * 2 > widest).unwrap_or(0);
        let (header_row, header) = &pending[at];
        let has_header = header.iter().all(|(_, _, is_text)| *is_text);
        let data_rows = if has_header { &pending[at + 1..] } else { &pending[at..] };
        let first_column =
            pending[at..].iter().flat_map(|(_, cells)| cells.iter().map(|cell| cell.0)).min().unwrap_or(0);
        let (labels, width) = if has_header {
            let last = header.iter().map(|cell| cell.0).max().unwrap_or(first_column);
            let mut labels = vec![String::new(); (last - first_column + 1) as usize];
            for (column, text, _) in header {
                labels[(column - first_column) as usize] = text.clone();
            }
            let width = labels.len();
            (labels, width)
        } else {
            let last = pending[at..].iter().flat_map(|(_, cells)| cells.iter().map(|cell| cell.0)).max().unwrap_or(0);
            let width = (last - first_column + 1) as usize;
            ((1..=width).map(|number| format!("field{number}")).collect(), width)
        };
        let header_number = if has_header { u64::from(*header_row) + 1 } else { u64::from(*header_row) };
        let builder = TableBuilder::new(labels, header_number, self.options, self.index, Some(&self.name))?;
        self.table = Some((builder, first_column, width));
        for (row, cells) in data_rows {
            self.push(*row, cells)?;
        }
        Ok(())
    }

    fn push(&mut self, row: u32, cells: &Row) -> Result<(), IngestError> {
        let Some((builder, first_column, width)) = &mut self.table else { return Ok(()) };
        let last = cells.iter().map(|cell| cell.0).max().unwrap_or(0);
        let span = (last.saturating_sub(*first_column) as usize + 1).max(*width);
        self.record.clear();
        let mut cells = cells.iter().filter(|cell| cell.0 >= *first_column).peekable();
        for column in 0..span {
            match cells.peek() {
                Some((at, text, _)) if (*at - *first_column) as usize == column => {
                    self.record.push_field(text);
                    cells.next();
                }
                _ => self.record.push_field(""),
            }
        }
        builder.set_row_number(u64::from(row));
        builder.push(&self.record)
    }

    fn finish(mut self) -> Result<Option<Analysis>, IngestError> {
        if self.table.is_none() {
            if self.pending.is_empty() {
                return Ok(None);
            }
            self.start()?;
        }
        let Some((builder, _, _)) = self.table.take() else { return Ok(None) };
        builder.finish(Source { format: self.format.into(), name: self.name.clone(), ..Default::default() }).map(Some)
    }
}

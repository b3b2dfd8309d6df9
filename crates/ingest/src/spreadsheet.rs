//! Workbooks (XLSX, XLS, ODS) through calamine: every sheet with data
//! becomes a table of the resource, named by its sheet. Formulas give the
//! value the spreadsheet saved with them; they are never evaluated. XLSX
//! and XLSB sheets stream cell by cell; XLS and ODS sheets are read whole
//! (calamine offers no streaming reader for them), one at a time.
//!
//! A workbook may expand: an ODS row or cell can be "repeated" a million
//! times in a few bytes, and calamine makes every repeat. So an ODS file's
//! `content.xml` is first scanned (streamed, nothing made) to count the
//! cells and text it would expand to, and refused past
//! [`AnalyzeOptions::max_cells`] or `max_uncompressed_bytes`; every sheet's
//! rows are counted against the same bounds as they arrive.
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
            Kind::Xls => {
                scan_xls(path, options)?;
                Sheets::Xls(calamine::Xls::new(open()?).map_err(workbook_error)?)
            }
            Kind::Ods => {
                scan_ods(path, options)?;
                Sheets::Ods(calamine::Ods::new(open()?).map_err(workbook_error)?)
            }
        };
        let mut tables = Vec::new();
        let mut cells_left = options.max_cells;
        for name in workbook.sheet_names() {
            let mut sheet = SheetTable::new(self.format(), &name, options, tables.len(), cells_left);
            // The streamed readers give cells in order, row by row.
            macro_rules! stream_cells {
                ($cells:expr) => {{
                    let mut cells = $cells.map_err(workbook_error)?;
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
                }};
            }
            match &mut workbook {
                Sheets::Xlsx(xlsx) => stream_cells!(xlsx.worksheet_cells_reader(&name)),
                Sheets::Xlsb(xlsb) => stream_cells!(xlsb.worksheet_cells_reader(&name)),
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
            cells_left = sheet.cells_left;
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

/// Repeats calamine honours at most: rows per sheet and columns per row.
const ODS_MAX_ROWS: u64 = 1_048_576;
const ODS_MAX_COLUMNS: u64 = 16_384;

/// The box of rows and columns that holds a sheet's cells of one kind:
/// calamine makes every cell of it (each repeat made).
#[derive(Default, Clone, Copy)]
struct Extent {
    first_row: Option<u64>,
    last_row: u64,
    first_column: u64,
    last_column: u64,
}

impl Extent {
    fn cells(&self) -> u64 {
        match self.first_row {
            None => 0,
            Some(first) => {
                let rows = self.last_row - first + 1;
                rows.saturating_mul(self.last_column.saturating_sub(self.first_column) + 1)
            }
        }
    }

    /// Marks `count` cells from `column` over `row_repeats` rows from `row`.
    fn mark(&mut self, row: u64, column: u64, count: u64, row_repeats: u64) {
        let last_column = (column + count.max(1) - 1).min(ODS_MAX_COLUMNS - 1);
        match self.first_row {
            None => {
                self.first_row = Some(row);
                self.first_column = column;
                self.last_column = last_column;
            }
            Some(_) => {
                self.first_column = self.first_column.min(column);
                self.last_column = self.last_column.max(last_column);
            }
        }
        self.last_row = self.last_row.max(row + row_repeats.max(1) - 1);
    }
}

/// What one ODS sheet would expand to, counted as calamine expands it: a
/// grid of values over the box holding every non-empty cell, and one of
/// formulas over the box holding every formula.
#[derive(Default)]
struct SheetExtent {
    rows: u64,
    values: Extent,
    formulas: Extent,
}

impl SheetExtent {
    fn cells(&self) -> u64 {
        self.values.cells().saturating_add(self.formulas.cells())
    }
}

/// Scans an XLS workbook's records without making its cells, and refuses
/// it if its sheets would take more than [`AnalyzeOptions::max_cells`]
/// cells in all: calamine reserves each sheet's declared rows × columns
/// (its DIMENSIONS record, which a file of a few hundred bytes can set to
/// 2³² × 2¹⁶) before reading it, then makes the dense box that holds all
/// its cell records (two cells far apart make billions). Sheets are read
/// where the workbook's sheet list puts them, as calamine reads them.
fn scan_xls(path: &std::path::Path, options: &AnalyzeOptions) -> Result<(), IngestError> {
    use std::io::{Read, Seek, SeekFrom};
    let container = |error: std::io::Error| IngestError::Workbook(error.to_string());
    let mut file = cfb::open(path).map_err(container)?;
    let mut stream = file.open_stream("Workbook").or_else(|_| file.open_stream("Book")).map_err(container)?;
    let length = stream.seek(SeekFrom::End(0)).map_err(container)?;
    // Reads the records from `start` to the first EOF, giving each small
    // record of a wanted type to `each` (the others are skipped unread).
    let mut records = |start: u64, each: &mut dyn FnMut(u16, &[u8])| -> Result<(), IngestError> {
        let mut at = start;
        let mut header = [0u8; 4];
        let mut data = Vec::new();
        while at + 4 <= length {
            stream.seek(SeekFrom::Start(at)).map_err(container)?;
            stream.read_exact(&mut header).map_err(container)?;
            let kind = u16::from_le_bytes([header[0], header[1]]);
            let size = u64::from(u16::from_le_bytes([header[2], header[3]]));
            if kind == 0x000A {
                break; // EOF of this substream
            }
            if (matches!(kind, 0x0085 | 0x0200) || XLS_CELLS.contains(&kind)) && at + 4 + size <= length {
                data.resize(size as usize, 0);
                stream.read_exact(&mut data).map_err(container)?;
                each(kind, &data);
            }
            at += 4 + size;
        }
        Ok(())
    };
    // The globals: where each sheet starts (BOUNDSHEET, 0x0085).
    let mut sheets = Vec::new();
    records(0, &mut |kind, data| {
        if kind == 0x0085 && data.len() >= 4 {
            sheets.push(u64::from(u32::from_le_bytes([data[0], data[1], data[2], data[3]])));
        }
    })?;
    let mut cells = 0u64;
    for start in sheets.into_iter().take(4096) {
        // The first DIMENSIONS of a sheet is the one calamine reserves for;
        // then it makes the box that holds every cell record, dense.
        let mut declared = None;
        let mut rows: Option<(u64, u64)> = None;
        let mut columns: Option<(u64, u64)> = None;
        records(start, &mut |kind, data| {
            if kind == 0x0200 && declared.is_none() {
                declared = declared_cells(data);
            } else if XLS_CELLS.contains(&kind) && data.len() >= 4 {
                let row = u64::from(u16::from_le_bytes([data[0], data[1]]));
                let first = u64::from(u16::from_le_bytes([data[2], data[3]]));
                // MULRK's last column closes the record.
                let last = if kind == 0x00BD && data.len() >= 6 {
                    u64::from(u16::from_le_bytes([data[data.len() - 2], data[data.len() - 1]]))
                } else {
                    first
                };
                rows = Some(rows.map_or((row, row), |(low, high)| (low.min(row), high.max(row))));
                columns = Some(columns.map_or((first, last), |(low, high)| (low.min(first), high.max(last))));
            }
        })?;
        let dense = match (rows, columns) {
            (Some((top, bottom)), Some((left, right))) => {
                (bottom.saturating_sub(top) + 1).saturating_mul(right.saturating_sub(left) + 1)
            }
            _ => 0,
        };
        cells = cells.saturating_add(declared.unwrap_or(0).max(dense));
        if cells > options.max_cells {
            return Err(IngestError::ExpandsTooMuch { what: "cells", limit: options.max_cells });
        }
    }
    Ok(())
}

/// The XLS records of one cell each (MULRK: several), each starting with its
/// row and column: number, label, rich label, bool or error, RK, shared
/// string label, MULRK, formula.
const XLS_CELLS: [u16; 8] = [0x0203, 0x0204, 0x00D6, 0x0205, 0x027E, 0x00FD, 0x00BD, 0x0006];

/// The cells a DIMENSIONS record declares, read as calamine reads it.
fn declared_cells(data: &[u8]) -> Option<u64> {
    let u16_at = |at: usize| u64::from(u16::from_le_bytes([data[at], data[at + 1]]));
    let u32_at = |at: usize| u64::from(u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]));
    let (first_row, last_row, mut first_column, last_column) = match data.len() {
        10 => (u16_at(0), u16_at(2), u16_at(4), u16_at(6)),
        14 | 16 => (u32_at(0), u32_at(4), u16_at(8), u16_at(10)),
        _ => return None,
    };
    if first_column > 0xFF || last_column < first_column {
        first_column = 0;
    }
    Some(
        last_row
            .saturating_sub(first_row)
            .saturating_add(1)
            .saturating_mul(last_column.saturating_sub(first_column).saturating_add(1)),
    )
}

/// A cell being read: its first column, repeats, whether it holds a value
/// or a formula, and the text bytes each copy of it makes.
struct OpenCell {
    column: u64,
    count: u64,
    has_value: bool,
    formula: bool,
    bytes: u64,
}

/// Scans an ODS file's `content.xml` without making any cell, and refuses
/// the file if its sheets would expand past [`AnalyzeOptions::max_cells`]
/// cells or its repeated text (content, and attributes such as
/// `office:string-value` and `table:formula`, which calamine copies too)
/// past `max_uncompressed_bytes`.
fn scan_ods(path: &std::path::Path, options: &AnalyzeOptions) -> Result<(), IngestError> {
    use quick_xml::events::{BytesStart, Event};
    let file = std::fs::File::open(path)?;
    let mut archive =
        zip::ZipArchive::new(BufReader::new(file)).map_err(|error| IngestError::Container(error.to_string()))?;
    let content = archive.by_name("content.xml").map_err(|error| IngestError::Container(error.to_string()))?;
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(content));
    let repeats = |element: &BytesStart, name: &str| -> u64 {
        element
            .try_get_attribute(name)
            .ok()
            .flatten()
            .and_then(|attribute| attribute.value.trim().parse::<u64>().ok())
            .unwrap_or(1)
            .max(1)
    };
    let has = |element: &BytesStart, name: &str| element.try_get_attribute(name).ok().flatten().is_some();
    let attribute_bytes = |element: &BytesStart| -> u64 {
        element.attributes().with_checks(false).flatten().map(|attribute| attribute.value.len() as u64).sum()
    };
    let too_many_cells = || IngestError::ExpandsTooMuch { what: "cells", limit: options.max_cells };
    let too_much_text = || IngestError::TooLarge { limit: options.max_uncompressed_bytes };
    let (mut cells_before, mut text_bytes) = (0u64, 0u64);
    let mut sheet = SheetExtent::default();
    let (mut row_repeats, mut column) = (1u64, 0u64);
    let mut cell: Option<OpenCell> = None;
    // Counts a finished cell: its boxes and the text its copies make.
    let close = |sheet: &mut SheetExtent, cell: OpenCell, row_repeats: u64, text_bytes: &mut u64| {
        if cell.has_value {
            sheet.values.mark(sheet.rows, cell.column, cell.count, row_repeats);
            *text_bytes = text_bytes.saturating_add(cell.bytes.saturating_mul(cell.count).saturating_mul(row_repeats));
        }
        if cell.formula {
            sheet.formulas.mark(sheet.rows, cell.column, cell.count, row_repeats);
        }
        (cell.column + cell.count).min(ODS_MAX_COLUMNS)
    };
    let mut buffer = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buffer).map_err(|error| IngestError::Workbook(error.to_string()))?;
        let (element, empty) = match &event {
            Event::Start(element) => (Some(element), false),
            Event::Empty(element) => (Some(element), true),
            _ => (None, false),
        };
        if let Some(element) = element {
            match element.name().as_ref() {
                "table:table" => sheet = SheetExtent::default(),
                "table:table-row" => {
                    row_repeats =
                        repeats(element, "table:number-rows-repeated").min(ODS_MAX_ROWS - sheet.rows.min(ODS_MAX_ROWS));
                    column = 0;
                    if empty {
                        sheet.rows += row_repeats;
                    }
                }
                "table:table-cell" | "table:covered-table-cell" => {
                    let formula = has(element, "table:formula");
                    let opened = OpenCell {
                        column,
                        count: repeats(element, "table:number-columns-repeated").min(ODS_MAX_COLUMNS),
                        has_value: has(element, "office:value-type") || formula,
                        formula,
                        bytes: attribute_bytes(element),
                    };
                    if empty {
                        column = close(&mut sheet, opened, row_repeats, &mut text_bytes);
                    } else {
                        cell = Some(opened);
                    }
                }
                // `<text:s text:c="N"/>`: N spaces, made as many times as the cell repeats.
                "text:s" => {
                    if let Some(cell) = &mut cell {
                        cell.bytes = cell.bytes.saturating_add(repeats(element, "text:c"));
                        cell.has_value = true;
                    }
                }
                _ => {}
            }
        }
        match &event {
            Event::Text(text) => {
                if let Some(cell) = &mut cell {
                    if text.as_ref().chars().any(|character| !character.is_whitespace()) {
                        cell.has_value = true;
                    }
                    cell.bytes = cell.bytes.saturating_add(text.as_ref().len() as u64);
                }
            }
            // `&amp;` and the like: a character or a few, once expanded.
            Event::GeneralRef(reference) => {
                if let Some(cell) = &mut cell {
                    cell.has_value = true;
                    cell.bytes = cell.bytes.saturating_add(reference.as_ref().len() as u64 + 2);
                }
            }
            Event::End(end) => match end.name().as_ref() {
                "table:table-cell" | "table:covered-table-cell" => {
                    if let Some(open) = cell.take() {
                        column = close(&mut sheet, open, row_repeats, &mut text_bytes);
                    }
                }
                "table:table-row" => sheet.rows += row_repeats,
                "table:table" => {
                    cells_before = cells_before.saturating_add(sheet.cells());
                    sheet = SheetExtent::default();
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        if text_bytes > options.max_uncompressed_bytes {
            return Err(too_much_text());
        }
        if cells_before.saturating_add(sheet.cells()) > options.max_cells {
            return Err(too_many_cells());
        }
        buffer.clear();
    }
    Ok(())
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
    /// Cells the file's tables may still make (see [`AnalyzeOptions::max_cells`]).
    cells_left: u64,
}

impl<'a> SheetTable<'a> {
    fn new(format: &'static str, name: &str, options: &'a AnalyzeOptions, index: usize, cells_left: u64) -> Self {
        SheetTable {
            format,
            name: name.to_string(),
            options,
            index,
            pending: Vec::new(),
            table: None,
            record: csv::StringRecord::new(),
            cells_left,
        }
    }

    /// Counts a row of `width` cells against the bounds, before it is made.
    fn count(&mut self, width: usize) -> Result<(), IngestError> {
        if width > self.options.max_columns {
            return Err(IngestError::ExpandsTooMuch { what: "columns", limit: self.options.max_columns as u64 });
        }
        self.cells_left = self
            .cells_left
            .checked_sub(width as u64)
            .ok_or(IngestError::ExpandsTooMuch { what: "cells", limit: self.options.max_cells })?;
        Ok(())
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
        let last_anywhere =
            pending[at..].iter().flat_map(|(_, cells)| cells.iter().map(|cell| cell.0)).max().unwrap_or(0);
        if last_anywhere.saturating_sub(first_column) as usize >= self.options.max_columns {
            return Err(IngestError::ExpandsTooMuch { what: "columns", limit: self.options.max_columns as u64 });
        }
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
        let Some((_, first_column, width)) = &self.table else { return Ok(()) };
        let (first_column, width) = (*first_column, *width);
        let last = cells.iter().map(|cell| cell.0).max().unwrap_or(0);
        let span = (last.saturating_sub(first_column) as usize + 1).max(width);
        self.count(span)?;
        let Some((builder, _, _)) = &mut self.table else { return Ok(()) };
        self.record.clear();
        let mut cells = cells.iter().filter(|cell| cell.0 >= first_column).peekable();
        for column in 0..span {
            match cells.peek() {
                Some((at, text, _)) if (*at - first_column) as usize == column => {
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

//! One streaming pass over a delimited file: decode, sniff, infer, profile
//! and validate. See the crate documentation for the memory bounds.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::Read;

use serde::Serialize;
use serde_json::{Value, json};

use crate::IngestError;
use crate::columnar::{Staging, TypedField, write_typed};
use crate::encoding::{EncodingSource, detect, looks_binary};
use crate::infer::{DateFormat, FieldType, MISSING_MARKERS, TypeVotes, fits, is_missing, parse_date, parse_number};
use crate::sniff::{Dialect, sniff};

#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    /// Use this encoding instead of detecting one (a WHATWG label such as "windows-1252").
    pub encoding: Option<String>,
    /// How many errors the report lists; all are counted.
    pub max_listed_errors: usize,
    /// The file's name, for the report.
    pub name: String,
    /// Write the rows, typed, to this Parquet file (through a staging file
    /// beside it, removed at the end).
    pub parquet: Option<std::path::PathBuf>,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions { encoding: None, max_listed_errors: 1000, name: "table".into(), parquet: None }
    }
}

/// Everything learned about a table.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub encoding: String,
    pub encoding_source: EncodingSource,
    pub dialect: Dialect,
    pub rows: u64,
    pub bytes: u64,
    /// A Frictionless Table Schema.
    pub schema: Value,
    pub profile: Vec<ColumnProfile>,
    /// A report in the JSON shape of frictionless-py's `validate`.
    pub report: Value,
    /// The Parquet file written, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parquet: Option<ParquetSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParquetSummary {
    pub rows: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopValue {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnProfile {
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Values present (not missing).
    pub count: u64,
    pub nulls: u64,
    pub distinct: u64,
    /// The column has more distinct values than are tracked: `distinct` is a lower bound.
    pub distinct_is_lower_bound: bool,
    pub min: Option<String>,
    pub max: Option<String>,
    pub mean: Option<f64>,
    pub stddev: Option<f64>,
    pub top: Vec<TopValue>,
    /// Numbers and dates (as days since 1970-01-01), when a Parquet file is written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histogram: Option<crate::columnar::Histogram>,
}

/// Distinct values tracked per column before counting stops at a lower bound.
const DISTINCT_CAP: usize = 10_000;
/// Rows remembered for duplicate detection (8 bytes each).
const DUPLICATE_CAP: usize = 20_000_000;
/// Failing values remembered per column and candidate type.
const SAMPLE_CAP: usize = 1_000;

#[derive(Default)]
struct Column {
    votes: TypeVotes,
    nulls: u64,
    // Keyed by values from an uploaded file: the standard, randomly seeded
    // hasher keeps crafted collisions from making inserts quadratic.
    distinct: HashMap<String, u64>,
    distinct_overflow: bool,
    /// Welford's running mean and variance of the numeric values.
    numeric: (u64, f64, f64),
    numeric_min: Option<f64>,
    numeric_max: Option<f64>,
    text_min: Option<String>,
    text_max: Option<String>,
    date_min: [Option<(i32, u32, u32)>; 3],
    date_max: [Option<(i32, u32, u32)>; 3],
    /// (row, value) of values failing each candidate: integer, number, boolean, dates ×3, datetime, time.
    failures: [Vec<(u64, String)>; 8],
}

impl Column {
    fn add(&mut self, row: u64, cell: &str) {
        let trimmed = cell.trim();
        let checks = crate::infer::candidates(trimmed);
        self.votes.add_checked(&checks);
        for (index, ok) in checks.iter().enumerate() {
            if !ok && self.failures[index].len() < SAMPLE_CAP {
                self.failures[index].push((row, cell.to_string()));
            }
        }
        if let Some(value) = if checks[1] { parse_number(trimmed) } else { None } {
            let (count, mean, m2) = &mut self.numeric;
            *count += 1;
            let delta = value - *mean;
            *mean += delta / *count as f64;
            *m2 += delta * (value - *mean);
            self.numeric_min = Some(self.numeric_min.map_or(value, |min| min.min(value)));
            self.numeric_max = Some(self.numeric_max.map_or(value, |max| max.max(value)));
        }
        for (index, format) in DateFormat::ALL.iter().enumerate() {
            if !checks[3 + index] {
                continue;
            }
            if let Some(date) = parse_date(trimmed, *format) {
                self.date_min[index] = Some(self.date_min[index].map_or(date, |min| min.min(date)));
                self.date_max[index] = Some(self.date_max[index].map_or(date, |max| max.max(date)));
            }
        }
        if self.text_min.as_deref().is_none_or(|min| trimmed < min) {
            self.text_min = Some(trimmed.to_string());
        }
        if self.text_max.as_deref().is_none_or(|max| trimmed > max) {
            self.text_max = Some(trimmed.to_string());
        }
        let tracked = self.distinct.len();
        match self.distinct.get_mut(trimmed) {
            Some(count) => *count += 1,
            None if tracked < DISTINCT_CAP => {
                self.distinct.insert(trimmed.to_string(), 1);
            }
            None => self.distinct_overflow = true,
        }
    }
}

struct ErrorLog {
    listed: Vec<Value>,
    count: u64,
    by_type: HashMap<&'static str, u64>,
    cap: usize,
}

fn describe(kind: &str) -> (&'static str, &'static str, &'static str) {
    // (title, English message start, Spanish message start)
    match kind {
        "blank-header" => {
            ("Blank Header", "A label in the header row is missing", "Falta un nombre en la fila de encabezados")
        }
        "duplicate-label" => {
            ("Duplicate Label", "A label in the header row is duplicated", "Un nombre de columna está repetido")
        }
        "missing-cell" => (
            "Missing Cell",
            "This row has less values compared to the header row",
            "Esta fila tiene menos valores que encabezados",
        ),
        "extra-cell" => (
            "Extra Cell",
            "This row has more values compared to the header row",
            "Esta fila tiene más valores que encabezados",
        ),
        "blank-row" => ("Blank Row", "This row is empty", "Esta fila está vacía"),
        "duplicate-row" => ("Duplicate Row", "The row is duplicated", "La fila está repetida"),
        "type-error" => (
            "Type Error",
            "The cell does not fit the type of its column",
            "El valor no corresponde al tipo de su columna",
        ),
        "encoding-error" => (
            "Encoding Error",
            "The cell has characters that could not be decoded",
            "El valor tiene caracteres que no se pudieron decodificar",
        ),
        _ => ("Error", "Error", "Error"),
    }
}

impl ErrorLog {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        kind: &'static str,
        row: Option<u64>,
        field: Option<(&str, usize)>,
        cell: Option<&str>,
        note_en: String,
        note_es: String,
    ) {
        self.count += 1;
        *self.by_type.entry(kind).or_insert(0) += 1;
        if self.listed.len() >= self.cap {
            return;
        }
        let (title, english, spanish) = describe(kind);
        let place_en = match (row, field) {
            (Some(row), Some((name, _))) => format!(" (row {row}, field \"{name}\")"),
            (Some(row), None) => format!(" (row {row})"),
            (None, Some((name, _))) => format!(" (field \"{name}\")"),
            (None, None) => String::new(),
        };
        let place_es = match (row, field) {
            (Some(row), Some((name, _))) => format!(" (fila {row}, columna «{name}»)"),
            (Some(row), None) => format!(" (fila {row})"),
            (None, Some((name, _))) => format!(" (columna «{name}»)"),
            (None, None) => String::new(),
        };
        let mut error = json!({
            "type": kind,
            "title": title,
            "message": format!("{english}{place_en}: {note_en}"),
            "messageEs": format!("{spanish}{place_es}: {note_es}"),
            "note": note_en,
            "tags": if row.is_some() { json!(["#table", "#row"]) } else { json!(["#table", "#header"]) },
        });
        if let Some(row) = row {
            error["rowNumber"] = json!(row);
        }
        if let Some((name, number)) = field {
            error["fieldName"] = json!(name);
            error["fieldNumber"] = json!(number);
        }
        if let Some(cell) = cell {
            error["cell"] = json!(cell);
        }
        self.listed.push(error);
    }
}

fn row_hash(record: &csv::StringRecord) -> u64 {
    // A fast non-cryptographic hash of the whole row; the set that holds it
    // is randomly seeded (see `seen_rows`).
    let mut hasher = rustc_hash::FxHasher::default();
    for field in record.iter() {
        field.hash(&mut hasher);
        0xffu8.hash(&mut hasher);
    }
    hasher.finish()
}

/// Reads a whole delimited file and analyses it.
pub fn analyze(mut input: impl Read, options: &AnalyzeOptions) -> Result<Analysis, IngestError> {
    let mut sample = Vec::with_capacity(64 * 1024);
    (&mut input).take(64 * 1024).read_to_end(&mut sample)?;
    if sample.is_empty() {
        return Err(IngestError::Empty);
    }
    let (encoding, encoding_source) =
        match options.encoding.as_deref().and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes())) {
            Some(encoding) => (encoding, EncodingSource::Given),
            None => detect(&sample),
        };
    if looks_binary(&sample, encoding) {
        return Err(IngestError::Binary);
    }
    let (decoded_sample, _, _) = encoding.decode(&sample);
    let dialect = sniff(&decoded_sample);
    let byte_count = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let counted = CountingReader { inner: std::io::Cursor::new(sample).chain(input), bytes: byte_count.clone() };
    let decoder =
        encoding_rs_io::DecodeReaderBytesBuilder::new().encoding(Some(encoding)).bom_override(true).build(counted);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(dialect.delimiter as u8)
        .has_headers(false)
        .flexible(true)
        .from_reader(decoder);
    let mut errors = ErrorLog { listed: Vec::new(), count: 0, by_type: HashMap::new(), cap: options.max_listed_errors };
    let mut records = reader.records();
    for _ in 0..dialect.preamble_lines {
        let _ = records.next();
    }
    let mut labels: Vec<String> = Vec::new();
    let mut first_data: Option<csv::StringRecord> = None;
    match records.next() {
        None => {}
        Some(Err(error)) => return Err(IngestError::Csv(error.to_string())),
        Some(Ok(record)) if dialect.header => labels = record.iter().map(|label| label.trim().to_string()).collect(),
        Some(Ok(record)) => {
            labels = (1..=record.len()).map(|number| format!("field{number}")).collect();
            first_data = Some(record);
        }
    }
    let mut seen_labels = HashSet::new();
    for (index, label) in labels.iter_mut().enumerate() {
        if label.is_empty() {
            errors.add(
                "blank-header",
                None,
                Some(("", index + 1)),
                None,
                format!("column {} has no label", index + 1),
                format!("la columna {} no tiene nombre", index + 1),
            );
            *label = format!("field{}", index + 1);
        }
        if !seen_labels.insert(label.clone()) {
            errors.add(
                "duplicate-label",
                None,
                Some((label, index + 1)),
                None,
                format!("\"{label}\" is used before"),
                format!("«{label}» ya se usó antes"),
            );
            // Field names must be unique for the schema and for queries.
            let mut suffix = 2;
            while seen_labels.contains(&format!("{label}_{suffix}")) {
                suffix += 1;
            }
            *label = format!("{label}_{suffix}");
            seen_labels.insert(label.clone());
        }
    }
    let staging_path = options.parquet.as_ref().map(|path| path.with_extension("staging.parquet"));
    let mut staging = match &staging_path {
        Some(path) => Some(Staging::create(path, &labels)?),
        None => None,
    };
    let mut columns: Vec<Column> = labels.iter().map(|_| Column::default()).collect();
    // Randomly seeded for the same reason; the row hashes it holds are cheap
    // FxHash values (a crafted equal hash can only mislabel a row of the
    // uploader's own file as a duplicate).
    let mut seen_rows: HashSet<u64> = HashSet::new();
    let mut duplicates_checked = true;
    let mut rows: u64 = 0;
    // Row numbers count physical rows as frictionless does: the header is row 1.
    let mut row_number: u64 = dialect.preamble_lines as u64 + if dialect.header { 1 } else { 0 };
    let utf = encoding == encoding_rs::UTF_8 || encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE;
    let mut handle = |record: &csv::StringRecord,
                      columns: &mut Vec<Column>,
                      errors: &mut ErrorLog,
                      staging: &mut Option<Staging>|
     -> Result<(), IngestError> {
        row_number += 1;
        if record.iter().all(|cell| cell.trim().is_empty()) {
            errors.add(
                "blank-row",
                Some(row_number),
                None,
                None,
                "all cells are empty".into(),
                "todas las celdas están vacías".into(),
            );
            return Ok(());
        }
        rows += 1;
        if let Some(staging) = staging {
            staging.push(record)?;
        }
        if duplicates_checked {
            if seen_rows.len() >= DUPLICATE_CAP {
                duplicates_checked = false;
            } else if !seen_rows.insert(row_hash(record)) {
                errors.add(
                    "duplicate-row",
                    Some(row_number),
                    None,
                    None,
                    "the same values appear in an earlier row".into(),
                    "los mismos valores aparecen en una fila anterior".into(),
                );
            }
        }
        for (index, label) in labels.iter().enumerate() {
            match record.get(index) {
                None => errors.add(
                    "missing-cell",
                    Some(row_number),
                    Some((label, index + 1)),
                    None,
                    "no value".into(),
                    "sin valor".into(),
                ),
                Some(cell) => {
                    if utf && cell.contains('\u{FFFD}') {
                        errors.add(
                            "encoding-error",
                            Some(row_number),
                            Some((label, index + 1)),
                            Some(cell),
                            "invalid bytes for the encoding".into(),
                            "bytes inválidos para la codificación".into(),
                        );
                    }
                    if is_missing(cell) {
                        columns[index].nulls += 1;
                    } else {
                        columns[index].add(row_number, cell);
                    }
                }
            }
        }
        for (index, cell) in record.iter().enumerate().skip(labels.len()) {
            errors.add(
                "extra-cell",
                Some(row_number),
                Some(("", index + 1)),
                Some(cell),
                format!("value in column {} with no header", index + 1),
                format!("valor en la columna {} sin encabezado", index + 1),
            );
        }
        Ok(())
    };
    if let Some(record) = first_data.take() {
        handle(&record, &mut columns, &mut errors, &mut staging)?;
    }
    drop(records);
    // One record buffer for the whole file: no allocation per row.
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => handle(&record, &mut columns, &mut errors, &mut staging)?,
            Ok(false) => break,
            Err(error) => return Err(IngestError::Csv(error.to_string())),
        }
    }
    drop(reader);
    let bytes = byte_count.get();

    let mut fields = Vec::new();
    let mut typed_fields = Vec::new();
    let mut profile = Vec::new();
    for (label, column) in labels.iter().zip(&columns) {
        let (field_type, format) = column.votes.decide();
        let failure_index = match (field_type, format) {
            (FieldType::Integer, _) => Some(0),
            (FieldType::Number, _) => Some(1),
            (FieldType::Boolean, _) => Some(2),
            (FieldType::Date, Some(format)) => {
                Some(3 + DateFormat::ALL.iter().position(|candidate| *candidate == format).unwrap_or(1))
            }
            (FieldType::Datetime, _) => Some(6),
            (FieldType::Time, _) => Some(7),
            _ => None,
        };
        if let Some(index) = failure_index {
            for (row, value) in &column.failures[index] {
                debug_assert!(!fits(value, field_type, format));
                let number = labels.iter().position(|candidate| candidate == label).unwrap_or(0) + 1;
                errors.add(
                    "type-error",
                    Some(*row),
                    Some((label, number)),
                    Some(value),
                    format!("\"{value}\" is not a {}; it is read as null", field_type.as_str()),
                    format!("«{value}» no es de tipo {}; se lee como nulo", field_type.as_str()),
                );
            }
            // Counted in full, listed up to the caps.
            let failures = column.votes.values - voted(&column.votes, index);
            let listed = column.failures[index].len() as u64;
            if failures > listed {
                errors.count += failures - listed;
                *errors.by_type.entry("type-error").or_insert(0) += failures - listed;
            }
        }
        let date_index = DateFormat::ALL.iter().position(|candidate| Some(*candidate) == format).unwrap_or(1);
        let days = |date: Option<(i32, u32, u32)>| {
            date.map(|(year, month, day)| f64::from(crate::infer::days_from_civil(year, month, day)))
        };
        let range = match field_type {
            FieldType::Integer | FieldType::Number => column.numeric_min.zip(column.numeric_max),
            FieldType::Date => days(column.date_min[date_index]).zip(days(column.date_max[date_index])),
            _ => None,
        };
        typed_fields.push(TypedField { name: label.clone(), field_type, date_format: format, range });
        let mut field = json!({"name": label, "type": field_type.as_str()});
        if let Some(format) = format {
            field["format"] = json!(format.pattern());
        }
        fields.push(field);
        let iso =
            |date: Option<(i32, u32, u32)>| date.map(|(year, month, day)| format!("{year:04}-{month:02}-{day:02}"));
        let (min, max, mean, stddev) = match field_type {
            FieldType::Integer | FieldType::Number => {
                let (count, mean, m2) = column.numeric;
                let stddev = if count > 1 { Some((m2 / (count - 1) as f64).sqrt()) } else { None };
                (
                    column.numeric_min.map(|value| value.to_string()),
                    column.numeric_max.map(|value| value.to_string()),
                    (count > 0).then_some(mean),
                    stddev,
                )
            }
            FieldType::Date => {
                let index = DateFormat::ALL.iter().position(|candidate| Some(*candidate) == format).unwrap_or(1);
                (iso(column.date_min[index]), iso(column.date_max[index]), None, None)
            }
            _ => (column.text_min.clone(), column.text_max.clone(), None, None),
        };
        let mut top: Vec<TopValue> =
            column.distinct.iter().map(|(value, count)| TopValue { value: value.clone(), count: *count }).collect();
        top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        top.truncate(10);
        profile.push(ColumnProfile {
            name: label.clone(),
            field_type,
            count: column.votes.values,
            nulls: column.nulls,
            distinct: column.distinct.len() as u64,
            distinct_is_lower_bound: column.distinct_overflow,
            min,
            max,
            mean,
            stddev,
            top,
            histogram: None,
        });
    }
    let schema = json!({"fields": fields, "missingValues": MISSING_MARKERS});
    let mut warnings = Vec::new();
    if !duplicates_checked {
        warnings.push(format!("duplicate rows were checked in the first {DUPLICATE_CAP} rows only"));
    }
    let report = json!({
        "valid": errors.count == 0,
        "stats": {"errors": errors.count, "warnings": warnings.len(), "tasks": 1},
        "warnings": warnings,
        "errors": [],
        "tasks": [{
            "name": options.name,
            "type": "table",
            "valid": errors.count == 0,
            "place": options.name,
            "labels": labels,
            "stats": {"errors": errors.count, "rows": rows, "fields": labels.len(), "bytes": bytes, "encoding": encoding.name()},
            "errorCounts": errors.by_type,
            "errors": errors.listed,
            "warnings": [],
        }],
    });
    let parquet = match (staging, &options.parquet) {
        (Some(staging), Some(output)) => {
            let staged = staging.finish()?;
            let written = write_typed(&staged, output, &typed_fields);
            let _ = std::fs::remove_file(&staged);
            let (rows, histograms) = written?;
            for (column, histogram) in profile.iter_mut().zip(histograms) {
                column.histogram = histogram;
            }
            Some(ParquetSummary { rows, bytes: std::fs::metadata(output)?.len() })
        }
        _ => None,
    };
    Ok(Analysis {
        parquet,
        encoding: encoding.name().to_string(),
        encoding_source,
        dialect,
        rows,
        bytes,
        schema,
        profile,
        report,
    })
}

fn voted(votes: &TypeVotes, index: usize) -> u64 {
    match index {
        0 => votes.integers,
        1 => votes.numbers,
        2 => votes.booleans,
        3..=5 => votes.dates[index - 3],
        6 => votes.datetimes,
        _ => votes.times,
    }
}

struct CountingReader<R> {
    inner: R,
    bytes: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.bytes.set(self.bytes.get() + read as u64);
        Ok(read)
    }
}

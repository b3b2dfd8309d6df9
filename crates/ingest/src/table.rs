//! One streaming pass over a delimited file: decode, sniff, infer, profile
//! and validate. See the crate documentation for the memory bounds.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::Read;

use serde::Serialize;
use serde_json::{Value, json};

use crate::IngestError;
use crate::columnar::{Part, TableWriter, TypedField, Written};
use crate::constraints::{GivenField, GivenSchema};
use crate::encoding::{EncodingSource, detect, looks_binary};
use crate::infer::{DateFormat, FieldType, MISSING_MARKERS, TypeVotes, fits, is_missing, parse_dates};
use crate::pass::{ColumnPass, Plan, shorten};
use crate::sniff::{Dialect, sniff};

/// Cells a workbook may expand to by default: 20 million (a million rows of
/// 20 columns).
pub const DEFAULT_MAX_CELLS: u64 = 20_000_000;
/// Columns a table may have by default: a spreadsheet's most.
pub const DEFAULT_MAX_COLUMNS: usize = 16_384;

#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    /// Use this encoding instead of detecting one (a WHATWG label such as "windows-1252").
    pub encoding: Option<String>,
    /// How many errors the report lists; all are counted.
    pub max_listed_errors: usize,
    /// The file's name, for the report.
    pub name: String,
    /// Write the rows, typed, to this Parquet file, as the file is read.
    /// Workbooks and other files with several tables write the next ones
    /// beside it (`<stem>-2.parquet`, ...; see [`AnalyzeOptions::parquet_path`]).
    pub parquet: Option<std::path::PathBuf>,
    /// The format the publisher declared ("XLSX", "GeoJSON"), when the
    /// file's name and first bytes leave it open.
    pub format: Option<String>,
    /// The most a compressed container (a workbook, a zipped Shapefile) may
    /// expand to, summed over its entries.
    pub max_uncompressed_bytes: u64,
    /// The most cells (rows × columns, empty ones too) all the sheets of a
    /// workbook may expand to: repeated rows and columns make millions of
    /// cells from a few bytes, so this is checked before any of them is
    /// made. (Delimited text and JSON cannot expand: their cells are
    /// bounded by the file's size.)
    pub max_cells: u64,
    /// The most columns a table may have.
    pub max_columns: usize,
    /// Counters another thread may read while the analysis runs.
    pub progress: Option<std::sync::Arc<Progress>>,
    /// The publisher's Table Schema: its types, formats, missing values and
    /// constraints replace inference's. Its own fields are the file's first
    /// table's; a workbook's sheets may have theirs under
    /// `"sheets": {"<sheet name>": <Table Schema>}`, which for a sheet named
    /// there (the first one too) is the one that applies.
    pub schema: Option<Value>,
    /// Where files that must be read twice or out of order are kept while
    /// they are read (defaults to the Parquet output's folder, then the
    /// system's temporary folder).
    pub spool_dir: Option<std::path::PathBuf>,
    /// The types to write each table's columns as, by table number, when
    /// they are known before reading (a first pass found that the types
    /// its first rows suggested were not the table's; see
    /// [`crate::reader::analyze_source`]). Otherwise each column is written
    /// as the type its first batch of values suggests.
    pub known_types: HashMap<usize, Vec<Written>>,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            encoding: None,
            max_listed_errors: 1000,
            name: "table".into(),
            parquet: None,
            format: None,
            max_uncompressed_bytes: 2 << 30,
            max_cells: DEFAULT_MAX_CELLS,
            max_columns: DEFAULT_MAX_COLUMNS,
            spool_dir: None,
            schema: None,
            progress: None,
            known_types: HashMap::new(),
        }
    }
}

impl AnalyzeOptions {
    /// The publisher's schema for table number `index`, named `name` (a
    /// workbook's sheet): the sheet's own, else for the first table the
    /// schema's fields.
    pub fn given_schema(&self, index: usize, name: Option<&str>) -> Result<Option<GivenSchema>, IngestError> {
        match self.schema.as_ref().and_then(|schema| crate::constraints::table_schema(schema, index == 0, name)) {
            Some(chosen) => GivenSchema::parse(chosen).map(Some).map_err(IngestError::Schema),
            None => Ok(None),
        }
    }

    /// Where table number `index` (from 0) of the file is written.
    pub fn parquet_path(&self, index: usize) -> Option<std::path::PathBuf> {
        let first = self.parquet.as_ref()?;
        if index == 0 {
            return Some(first.clone());
        }
        let stem = first.file_stem().map(|stem| stem.to_string_lossy().to_string()).unwrap_or_default();
        Some(first.with_file_name(format!("{stem}-{}.parquet", index + 1)))
    }
}

/// Everything learned about a table.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// The table's name: a sheet's name, or the file's.
    pub name: String,
    /// The format it was read from ("csv", "xlsx", "json", ...).
    pub format: String,
    /// The text encoding, for text formats ("" for workbooks).
    pub encoding: String,
    pub encoding_source: Option<EncodingSource>,
    /// Lines read in another encoding than `encoding` (a file that mixes two).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mixed_encoding: Option<MixedEncoding>,
    /// How delimited text was split, for delimited text.
    pub dialect: Option<Dialect>,
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
    /// The extent and kinds of the geometries of a geographic table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geo: Option<GeoSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParquetSummary {
    pub rows: u64,
    pub bytes: u64,
    /// Where the file was written.
    #[serde(skip)]
    pub path: std::path::PathBuf,
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
    /// The column has more distinct values than are counted one by one:
    /// `distinct` is an estimate (HyperLogLog, about 1.6% standard error).
    pub distinct_is_estimate: bool,
    pub min: Option<String>,
    pub max: Option<String>,
    pub mean: Option<f64>,
    pub stddev: Option<f64>,
    /// The most frequent values, at most 10. Empty for a column whose values
    /// are nearly all different: past the 10,000 distinct values counted one
    /// by one, fewer than 1 in 100 values of a batch was one of them.
    pub top: Vec<TopValue>,
    /// Numbers and dates (as days since 1970-01-01), when a Parquet file is written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histogram: Option<crate::columnar::Histogram>,
}

/// Rows remembered for duplicate detection. Each costs 8 bytes in a table
/// sized in powers of two and kept at most three quarters full: 3,145,728
/// fill a table of 4,194,304 slots (32 MB, 48 MB while it grows), which
/// keeps the peak memory of a file of any size under 500 MB. Past it the
/// report warns that duplicates were checked in the first rows only.
const DUPLICATE_CAP: usize = 3 << 20;

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
        "constraint-error" => (
            "Constraint Error",
            "The cell does not conform to a constraint of its field",
            "El valor no cumple una restricción de su columna",
        ),
        "unique-error" => (
            "Unique Error",
            "The cell repeats a value of a field that must be unique",
            "El valor se repite en una columna que debe ser única",
        ),
        "primary-key" => (
            "Primary Key Error",
            "The row repeats the primary key of an earlier row",
            "La fila repite la llave primaria de una fila anterior",
        ),
        "source-error" => (
            "Source Error",
            "A part of the file could not be read as a row",
            "Una parte del archivo no se pudo leer como fila",
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

/// The cells of a row, as a reader gives them to [`TableBuilder::push`]:
/// every cell's text one after another, and where each cell ends.
pub trait Cells {
    fn len(&self) -> usize;
    /// Every cell's text, one after another.
    fn joined(&self) -> &str;
    /// Where cell `index` ends in [`Cells::joined`].
    fn end(&self, index: usize) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, index: usize) -> Option<&str> {
        if index >= self.len() {
            return None;
        }
        let start = if index == 0 { 0 } else { self.end(index - 1) };
        self.joined().get(start..self.end(index))
    }

    fn cells(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|index| self.get(index).unwrap_or_default())
    }
}

impl Cells for csv::StringRecord {
    fn len(&self) -> usize {
        csv::StringRecord::len(self)
    }

    fn joined(&self) -> &str {
        self.as_slice()
    }

    fn end(&self, index: usize) -> usize {
        self.range(index).map_or(0, |range| range.end)
    }

    fn get(&self, index: usize) -> Option<&str> {
        csv::StringRecord::get(self, index)
    }
}

/// A row of delimited text whose bytes were checked as UTF-8 all at once
/// (csv's own `StringRecord` checks every cell of a row that is not all
/// ASCII). Cells split the text at ASCII delimiters and quotes, so each one
/// is whole characters.
pub(crate) struct TextRow<'a> {
    record: &'a csv::ByteRecord,
    text: &'a str,
}

impl<'a> TextRow<'a> {
    pub(crate) fn new(record: &'a csv::ByteRecord) -> Result<TextRow<'a>, IngestError> {
        // Checked for every row: SIMD is twice as fast as the standard
        // library on rows of a hundred bytes or more.
        let text = match simdutf8::basic::from_utf8(record.as_slice()) {
            Ok(text) => text,
            Err(_) => {
                let error = std::str::from_utf8(record.as_slice()).expect_err("the same bytes are invalid");
                return Err(IngestError::Csv(format!("invalid UTF-8 in a row: {error}")));
            }
        };
        Ok(TextRow { record, text })
    }
}

impl Cells for TextRow<'_> {
    fn len(&self) -> usize {
        self.record.len()
    }

    fn joined(&self) -> &str {
        self.text
    }

    fn end(&self, index: usize) -> usize {
        self.record.range(index).map_or(0, |range| range.end)
    }
}

fn duplicate_row(errors: &mut ErrorLog, row: u64) {
    errors.add(
        "duplicate-row",
        Some(row),
        None,
        None,
        "the same values appear in an earlier row".into(),
        "los mismos valores aparecen en una fila anterior".into(),
    );
}

fn row_hash(record: &impl Cells) -> u64 {
    // A fast non-cryptographic hash of the whole row; the set that holds it
    // is randomly seeded (see `seen_rows`).
    // Two rows are the same when their text and the ends of their cells are.
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(record.joined().as_bytes());
    for index in 0..record.len() {
        hasher.write_usize(record.end(index));
    }
    hasher.finish()
}

/// Where a table came from: how its bytes were decoded and split into rows.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// The reader's format ("csv", "xlsx", "json", ...).
    pub format: String,
    /// The table's name within the file (a sheet's name), or the file's name.
    pub name: String,
    pub encoding: Option<String>,
    pub encoding_source: Option<EncodingSource>,
    /// Lines in another encoding than `encoding`, when a file mixes two.
    pub mixed_encoding: Option<MixedEncoding>,
    pub dialect: Option<Dialect>,
    pub bytes: u64,
}

/// The lines of a text file in another encoding than most of its lines
/// (each was read in its own).
#[derive(Debug, Clone, Serialize)]
pub struct MixedEncoding {
    pub encoding: String,
    /// How many lines.
    pub lines: u64,
    /// The first of them (line numbers from 1), up to ten.
    pub first_lines: Vec<u64>,
}

/// Builds one table's analysis from its rows, whatever the format they come
/// from: labels, type votes, profile, validation errors, duplicate rows,
/// and the typed Parquet output. Every reader feeds one.
pub struct TableBuilder {
    labels: Vec<String>,
    /// The column pass (nulls, type votes, profile, typed values), on
    /// worker threads, started by the first row.
    pass: Option<ColumnPass>,
    /// How each column's written type is chosen.
    plans: Vec<Plan>,
    workers: usize,
    errors: ErrorLog,
    /// The Parquet output, and the senders its workers get when the pass starts.
    writer: Option<TableWriter>,
    parts: Option<Vec<std::sync::mpsc::SyncSender<Part>>>,
    /// The table's number in its file.
    index: usize,
    parquet_path: Option<std::path::PathBuf>,
    seen_rows: crate::seen::SeenRows,
    duplicates_checked: bool,
    rows: u64,
    row_number: u64,
    check_decoding: bool,
    /// Columns whose type is given by the format, not inferred (a geometry).
    given_types: HashMap<usize, &'static str>,
    /// A bounding box and geometry kinds, for geographic formats.
    pub geo: Option<GeoSummary>,
    /// The publisher's field, per column, when a schema was given.
    given: Vec<Option<GivenField>>,
    /// Hashes of the values of unique columns.
    unique_seen: Vec<Option<HashSet<u64>>>,
    /// Columns of the primary key, and hashes of the keys seen.
    key_columns: Vec<usize>,
    keys_seen: HashSet<u64>,
    /// Some column has a publisher's field or is in the key: every row's
    /// cells are checked one by one.
    constrained: bool,
    missing: Option<Vec<String>>,
    primary_key: Vec<String>,
    progress: Option<std::sync::Arc<Progress>>,
}

/// How far an analysis got, read by another thread while it runs.
#[derive(Debug, Default)]
pub struct Progress {
    /// Rows read, over every table of the file.
    pub rows: std::sync::atomic::AtomicU64,
}

/// Whether a cell is a missing value: the publisher's list (exact, after
/// trimming) when given, else the default markers.
pub(crate) fn is_null(missing: &Option<Vec<String>>, cell: &str) -> bool {
    match missing {
        None => is_missing(cell),
        Some(values) => {
            let trimmed = crate::infer::trim(cell);
            values.iter().any(|value| value == trimmed)
        }
    }
}

fn hash_text(text: &str) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    text.hash(&mut hasher);
    hasher.finish()
}

/// What a geographic table's geometries cover.
#[derive(Debug, Clone, Serialize, Default)]
pub struct GeoSummary {
    /// The column holding each row's geometry as GeoJSON.
    pub geometry_field: String,
    /// [min longitude, min latitude, max longitude, max latitude].
    pub bbox: Option<[f64; 4]>,
    /// How many rows have each geometry type (Point, Polygon, ...).
    pub geometry_types: std::collections::BTreeMap<String, u64>,
    /// The coordinate reference system a Shapefile's `.prj` names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crs: Option<String>,
    /// The coordinates were converted from `crs` to longitude and latitude on WGS 84.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reprojected: bool,
    /// Why `crs` could not be converted (the coordinates are kept in it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crs_problem: Option<String>,
    /// Shapes whose coordinates could not be converted (their geometry is left empty).
    #[serde(skip_serializing_if = "is_zero")]
    pub unconverted: u64,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

impl GeoSummary {
    pub fn extend(&mut self, x: f64, y: f64) {
        let bbox = self.bbox.get_or_insert([x, y, x, y]);
        bbox[0] = bbox[0].min(x);
        bbox[1] = bbox[1].min(y);
        bbox[2] = bbox[2].max(x);
        bbox[3] = bbox[3].max(y);
    }
}

impl TableBuilder {
    /// Starts a table with the header row's `labels`, read at physical row
    /// `header_row` (0 when the table has no header row). Blank and repeated
    /// labels are reported and renamed so every field has a unique name.
    /// `index` is the table's number in the file and `sheet` its sheet's
    /// name in a workbook, for its Parquet path and the publisher's schema.
    pub fn new(
        mut labels: Vec<String>,
        header_row: u64,
        options: &AnalyzeOptions,
        index: usize,
        sheet: Option<&str>,
    ) -> Result<TableBuilder, IngestError> {
        let parquet = options.parquet_path(index);
        let max_listed_errors = options.max_listed_errors;
        let schema = options.given_schema(index, sheet)?;
        let mut errors = ErrorLog { listed: Vec::new(), count: 0, by_type: HashMap::new(), cap: max_listed_errors };
        let mut seen_labels = HashSet::new();
        for (index, label) in labels.iter_mut().enumerate() {
            *label = label.trim().to_string();
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
        let missing = schema.as_ref().and_then(|schema| schema.missing_values.clone());
        let workers = crate::pass::worker_count(labels.len());
        let (writer, parts) = match &parquet {
            Some(path) => {
                let (writer, parts) = TableWriter::start(path, &labels, workers)?;
                (Some(writer), Some(parts))
            }
            None => (None, None),
        };
        let given: Vec<Option<GivenField>> =
            labels.iter().map(|label| schema.as_ref().and_then(|schema| schema.fields.get(label).cloned())).collect();
        let plans = match options.known_types.get(&index).filter(|known| known.len() == labels.len()) {
            Some(known) => known.iter().copied().map(Plan::Fixed).collect(),
            None => given
                .iter()
                .map(|field| match field.as_ref().filter(|field| field.schema_type.is_some()) {
                    None => Plan::Infer,
                    Some(field) => match (field.field_type, field.format) {
                        (Some(FieldType::Date), None) => Plan::InferDateFormat,
                        (Some(kind), format) => Plan::Fixed(Written::new(kind, format)),
                        // Kept as text (geojson, object, year...).
                        (None, _) => Plan::Fixed(Written::new(FieldType::String, None)),
                    },
                })
                .collect(),
        };
        let unique_seen = given
            .iter()
            .map(|field| field.as_ref().filter(|field| field.constraints.unique).map(|_| HashSet::new()))
            .collect();
        let primary_key = schema.as_ref().map(|schema| schema.primary_key.clone()).unwrap_or_default();
        let mut key_columns = Vec::new();
        for name in &primary_key {
            match labels.iter().position(|label| label == name) {
                Some(column) => key_columns.push(column),
                None => {
                    return Err(IngestError::Schema(format!("the primary key names \"{name}\", which is not a field")));
                }
            }
        }
        Ok(TableBuilder {
            progress: options.progress.clone(),
            constrained: !key_columns.is_empty() || given.iter().any(Option::is_some),
            given,
            unique_seen,
            key_columns,
            keys_seen: HashSet::new(),
            missing,
            primary_key,
            pass: None,
            plans,
            workers,
            labels,
            errors,
            writer,
            parts,
            index,
            parquet_path: parquet,
            // The row hashes it holds are cheap FxHash values (a crafted
            // equal hash can only mislabel a row of the uploader's own file
            // as a duplicate).
            seen_rows: crate::seen::SeenRows::default(),
            duplicates_checked: true,
            rows: 0,
            row_number: header_row,
            check_decoding: false,
            given_types: HashMap::new(),
            geo: None,
        })
    }

    /// The field names, unique.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Reports cells holding U+FFFD, the mark of bytes the decoder could not read.
    pub fn check_decoding(&mut self, check: bool) {
        self.check_decoding = check;
    }

    /// Declares a column's Table Schema type instead of inferring it (the
    /// values are kept as text in the table).
    pub fn give_type(&mut self, column: usize, field_type: &'static str) {
        self.given_types.insert(column, field_type);
        if let Some(plan) = self.plans.get_mut(column) {
            *plan = Plan::Fixed(Written::new(FieldType::String, None));
        }
    }

    /// The column pass, started by the first row (once the readers have
    /// said which types they give).
    fn pass(&mut self) -> Result<&mut ColumnPass, IngestError> {
        if self.pass.is_none() {
            self.pass = Some(ColumnPass::start(&self.plans, self.workers, self.missing.clone(), self.parts.take())?);
        }
        Ok(self.pass.as_mut().expect("the pass was just started"))
    }

    /// Every column of the pass once every row is in (a pass is started
    /// for a table without rows).
    fn finish_pass(&mut self) -> Result<Vec<crate::pass::Finished>, IngestError> {
        self.pass()?;
        self.pass.take().expect("the pass is started").finish()
    }

    /// The physical row number of the next row is `row_number + 1`: for
    /// formats whose rows may be skipped (empty spreadsheet rows).
    pub fn set_row_number(&mut self, row_number: u64) {
        self.row_number = row_number;
    }

    /// Records a row that could not be read at all (a line of NDJSON that is
    /// not JSON): the load goes on without it.
    pub fn source_error(&mut self, note_en: String, note_es: String) {
        self.row_number += 1;
        let row = self.row_number;
        self.errors.add("source-error", Some(row), None, None, note_en, note_es);
    }

    /// Adds the next row.
    pub fn push(&mut self, record: &impl Cells) -> Result<(), IngestError> {
        self.row_number += 1;
        let row_number = self.row_number;
        let errors = &mut self.errors;
        if record.cells().all(|cell| crate::infer::trim(cell).is_empty()) {
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
        self.rows += 1;
        if let Some(progress) = &self.progress {
            progress.rows.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if self.duplicates_checked {
            if self.seen_rows.len() >= DUPLICATE_CAP {
                self.duplicates_checked = false;
            }
            // Told one row late (see `crate::seen`): after the next row's
            // own errors, if it has any.
            let repeated = match self.duplicates_checked {
                true => self.seen_rows.add(row_hash(record), row_number),
                false => self.seen_rows.finish(),
            };
            if let Some(row) = repeated {
                duplicate_row(errors, row);
            }
        }
        // Most rows need nothing checked cell by cell here: they have every
        // cell, no undecodable byte, and no constraint to check.
        let short = record.len() < self.labels.len();
        let undecoded = self.check_decoding && record.joined().contains('\u{FFFD}');
        for (index, label) in self.labels.iter().enumerate().filter(|_| short || undecoded || self.constrained) {
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
                    if undecoded && cell.contains('\u{FFFD}') {
                        errors.add(
                            "encoding-error",
                            Some(row_number),
                            Some((label, index + 1)),
                            Some(cell),
                            "invalid bytes for the encoding".into(),
                            "bytes inválidos para la codificación".into(),
                        );
                    }
                    // Nulls and the profile are counted in the column pass (`crate::pass`).
                    let in_key = self.key_columns.contains(&index);
                    if !in_key && self.given[index].is_none() {
                        continue;
                    }
                    let null = is_null(&self.missing, cell);
                    let Some(field) = &self.given[index] else {
                        if null && in_key {
                            errors.add(
                                "constraint-error",
                                Some(row_number),
                                Some((label, index + 1)),
                                None,
                                "a primary key field needs a value".into(),
                                "una columna de la llave primaria necesita un valor".into(),
                            );
                        }
                        continue;
                    };
                    if null {
                        if field.constraints.required || in_key {
                            errors.add(
                                "constraint-error",
                                Some(row_number),
                                Some((label, index + 1)),
                                None,
                                "a value is required".into(),
                                "se requiere un valor".into(),
                            );
                        }
                        continue;
                    }
                    let value = crate::infer::trim(cell);
                    let typed = match field.field_type {
                        Some(FieldType::Date) if field.format.is_none() => {
                            parse_dates(value).iter().any(Option::is_some)
                        }
                        Some(kind) => fits(value, kind, field.format),
                        None => true,
                    };
                    if !typed {
                        continue;
                    }
                    if let Some(broken) = field.check(value) {
                        errors.add(
                            "constraint-error",
                            Some(row_number),
                            Some((label, index + 1)),
                            Some(cell),
                            format!("\"{}\" {}", shorten(value), broken.en),
                            format!("«{}» {}", shorten(value), broken.es),
                        );
                    }
                    if let Some(seen) = &mut self.unique_seen[index]
                        && !seen.insert(hash_text(value))
                    {
                        errors.add(
                            "unique-error",
                            Some(row_number),
                            Some((label, index + 1)),
                            Some(cell),
                            format!("\"{}\" appears in an earlier row", shorten(value)),
                            format!("«{}» aparece en una fila anterior", shorten(value)),
                        );
                    }
                }
            }
        }
        if !self.key_columns.is_empty() {
            let mut hasher = rustc_hash::FxHasher::default();
            for column in &self.key_columns {
                record.get(*column).unwrap_or_default().trim().hash(&mut hasher);
                0xffu8.hash(&mut hasher);
            }
            if !self.keys_seen.insert(hasher.finish()) {
                let key: Vec<&str> =
                    self.key_columns.iter().map(|column| record.get(*column).unwrap_or_default().trim()).collect();
                let key = shorten(&key.join(", "));
                errors.add(
                    "primary-key",
                    Some(row_number),
                    None,
                    None,
                    format!("the key ({key}) is used by an earlier row"),
                    format!("la llave ({key}) ya la usa una fila anterior"),
                );
            }
        }
        for (index, cell) in
            (self.labels.len()..record.len()).map(|index| (index, record.get(index).unwrap_or_default()))
        {
            errors.add(
                "extra-cell",
                Some(row_number),
                Some(("", index + 1)),
                Some(cell),
                format!("value in column {} with no header", index + 1),
                format!("valor en la columna {} sin encabezado", index + 1),
            );
        }
        let pushed = self.pass().and_then(|pass| pass.push(record, row_number));
        pushed.map_err(|error| self.why_stopped(error))
    }

    /// The column pass stops when the Parquet writer does (a full disk):
    /// its error says why, better than the pass's.
    fn why_stopped(&mut self, error: IngestError) -> IngestError {
        drop(self.pass.take());
        drop(self.parts.take());
        match self.writer.take().and_then(TableWriter::failure) {
            Some(cause) => cause,
            None => error,
        }
    }

    /// Decides the types, completes the profile and the report, and writes
    /// the typed Parquet table.
    pub fn finish(mut self, source: Source) -> Result<Analysis, IngestError> {
        if let Some(row) = self.seen_rows.finish() {
            duplicate_row(&mut self.errors, row);
        }
        let columns = match self.finish_pass() {
            Ok(columns) => columns,
            Err(error) => return Err(self.why_stopped(error)),
        };
        let mut retype = false;
        let labels = std::mem::take(&mut self.labels);
        let errors = &mut self.errors;
        let mut fields = Vec::new();
        let mut typed_fields = Vec::new();
        let mut profile = Vec::new();
        for (number, (label, (column, written))) in labels.iter().zip(&columns).enumerate() {
            let publisher = self.given[number].as_ref();
            let given = self.given_types.get(&number).copied();
            // The plan the column was written under, now with every value's votes.
            let decided = self.plans[number].decide(&column.votes);
            let (field_type, format) = (decided.field_type, decided.date_format);
            let failure_index = match (field_type, format) {
                (FieldType::Integer, _) => Some(0),
                (FieldType::Number, _) => Some(1),
                (FieldType::Boolean, _) => Some(2),
                (FieldType::Date, Some(format)) => Some(3 + format.index()),
                (FieldType::Datetime, _) => Some(6),
                (FieldType::Time, _) => Some(7),
                _ => None,
            };
            if let Some(index) = failure_index {
                for (row, value) in &column.failures[index] {
                    errors.add(
                        "type-error",
                        Some(*row),
                        Some((label, number + 1)),
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
            let date_index = format.map_or(1, DateFormat::index);
            let days = |date: Option<(i32, u32, u32)>| {
                date.map(|(year, month, day)| f64::from(crate::infer::days_from_civil(year, month, day)))
            };
            let range = match field_type {
                FieldType::Integer | FieldType::Number => column.numeric_min.zip(column.numeric_max),
                FieldType::Date => days(column.date_min[date_index]).zip(days(column.date_max[date_index])),
                _ => None,
            };
            // Written as another type than the table's: read again (see `analyze_source`).
            retype |= written.is_some_and(|written| written != decided);
            typed_fields.push(TypedField {
                name: label.clone(),
                field_type,
                date_format: format,
                range,
                many_values: column.distinct_overflow,
            });
            let mut field = json!({"name": label, "type": given.unwrap_or(field_type.as_str())});
            if let Some(format) = format {
                field["format"] = json!(format.pattern());
            }
            // The publisher's title, description, constraints and own type
            // name; a type the reader gave (a geometry) stays the reader's.
            if let Some(publisher) = publisher {
                for (key, value) in &publisher.raw {
                    let readers = given.is_some() && (key == "type" || key == "format");
                    if key != "name" && !(key == "format" && format.is_some()) && !readers {
                        field[key] = value.clone();
                    }
                }
            }
            fields.push(field);
            let iso =
                |date: Option<(i32, u32, u32)>| date.map(|(year, month, day)| format!("{year:04}-{month:02}-{day:02}"));
            let (min, max, mean, stddev) = match field_type {
                FieldType::Integer | FieldType::Number => {
                    let (count, mean, stddev) = column.moments();
                    (
                        column.numeric_min.map(|value| value.to_string()),
                        column.numeric_max.map(|value| value.to_string()),
                        (count > 0).then_some(mean),
                        stddev,
                    )
                }
                FieldType::Date => (iso(column.date_min[date_index]), iso(column.date_max[date_index]), None, None),
                _ if given.is_some() => (None, None, None, None),
                _ => {
                    let (min, max) = column.text_range();
                    (min, max, None, None)
                }
            };
            // An uncounted column's counts stopped part way (see `Column::uncounted`).
            let mut top: Vec<TopValue> = match column.uncounted {
                true => Vec::new(),
                false => column.distinct.iter().map(|(value, count)| TopValue { value, count }).collect(),
            };
            top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            top.truncate(10);
            let (distinct, distinct_is_estimate) = column.distinct_count();
            profile.push(ColumnProfile {
                name: label.clone(),
                field_type,
                count: column.votes.values,
                nulls: column.nulls,
                distinct,
                distinct_is_estimate,
                min,
                max,
                mean,
                stddev,
                top,
                histogram: None,
            });
        }
        let mut schema = match &self.missing {
            Some(missing) => json!({"fields": fields, "missingValues": missing}),
            None => json!({"fields": fields, "missingValues": MISSING_MARKERS}),
        };
        if !self.primary_key.is_empty() {
            schema["primaryKey"] = json!(self.primary_key);
        }
        let mut warnings = Vec::new();
        if !self.duplicates_checked {
            warnings.push(format!("duplicate rows were checked in the first {DUPLICATE_CAP} rows only"));
        }
        if let Some(mixed) = &source.mixed_encoding {
            let first: Vec<String> = mixed.first_lines.iter().map(u64::to_string).collect();
            warnings.push(format!(
                "the file mixes encodings: {} lines are in {} (the first: {}), the others in {}; each line was read in its own",
                mixed.lines,
                mixed.encoding,
                first.join(", "),
                source.encoding.as_deref().unwrap_or_default()
            ));
        }
        let rows = self.rows;
        let mut stats = json!({"errors": errors.count, "rows": rows, "fields": labels.len(), "bytes": source.bytes});
        if let Some(encoding) = &source.encoding {
            stats["encoding"] = json!(encoding);
        }
        let report = json!({
            "valid": errors.count == 0,
            "stats": {"errors": errors.count, "warnings": warnings.len(), "tasks": 1},
            "warnings": warnings,
            "errors": [],
            "tasks": [{
                "name": source.name,
                "type": "table",
                "valid": errors.count == 0,
                "place": source.name,
                "labels": labels,
                "stats": stats,
                "errorCounts": errors.by_type,
                "errors": errors.listed,
                "warnings": [],
            }],
        });
        if retype {
            let types = typed_fields.iter().map(|field| Written::new(field.field_type, field.date_format)).collect();
            // The writer, dropped, removes its file.
            return Err(IngestError::TypesChanged { table: self.index, types });
        }
        let parquet = match self.writer.take() {
            Some(writer) => {
                let path = self.parquet_path.clone().expect("a writer has a path");
                let (rows, histograms) = writer.finish(&typed_fields)?;
                for (column, histogram) in profile.iter_mut().zip(histograms) {
                    column.histogram = histogram;
                }
                Some(ParquetSummary { rows, bytes: std::fs::metadata(&path)?.len(), path })
            }
            None => None,
        };
        Ok(Analysis {
            name: source.name,
            format: source.format,
            parquet,
            encoding: source.encoding.unwrap_or_default(),
            encoding_source: source.encoding_source,
            mixed_encoding: source.mixed_encoding,
            dialect: source.dialect,
            rows,
            bytes: source.bytes,
            schema,
            profile,
            report,
            geo: self.geo.take(),
        })
    }
}

impl Drop for TableBuilder {
    fn drop(&mut self) {
        // An abandoned table stops its workers, then its writer, which
        // removes its unfinished file.
        drop(self.pass.take());
        drop(self.parts.take());
        drop(self.writer.take());
    }
}

/// Reads a whole delimited file and analyses it. When a Parquet file is
/// written, the input is kept in a spool file first, to be read again if
/// the types its first rows suggest are not the table's (see
/// [`crate::reader::analyze_source`]).
pub fn analyze(input: impl Read, options: &AnalyzeOptions) -> Result<Analysis, IngestError> {
    if options.parquet.is_none() {
        return analyze_once(input, options);
    }
    let spooled = crate::reader::spool(input, options)?;
    crate::reader::with_settled_types(|| std::fs::File::open(spooled.path()), options, analyze_once)
}

/// [`analyze`], in one pass whatever the types written.
pub(crate) fn analyze_once(mut input: impl Read, options: &AnalyzeOptions) -> Result<Analysis, IngestError> {
    let mut sample = Vec::with_capacity(64 * 1024);
    (&mut input).take(64 * 1024).read_to_end(&mut sample)?;
    analyze_delimited(sample, input, options)
}

/// Bytes read at a time from a delimited file, and decoded at a time.
const READ_BUFFER: usize = 256 * 1024;

/// The longest record (a row of delimited text, a line of NDJSON) a file
/// may have: the readers hold a whole record in memory.
pub const MAX_RECORD_BYTES: u64 = 64 * 1024 * 1024;

/// Analyses delimited text whose first bytes, already read, are `sample`.
pub(crate) fn analyze_delimited(
    sample: Vec<u8>,
    input: impl Read,
    options: &AnalyzeOptions,
) -> Result<Analysis, IngestError> {
    if sample.is_empty() {
        return Err(IngestError::Empty);
    }
    let (encoding, encoding_source) =
        match options.encoding.as_deref().and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes())) {
            Some(encoding) => (encoding, EncodingSource::Given),
            None => detect(&sample),
        };
    // UTF-8 and single-byte encodings are decoded line by line, each line
    // in the one it is valid in (see `LineDecoder`); a given encoding, and
    // the others (UTF-16, multibyte Asian ones), for the whole file.
    let given = encoding_source == EncodingSource::Given;
    let by_line = !given && (encoding == encoding_rs::UTF_8 || encoding.is_single_byte());
    let other = if encoding.is_single_byte() { encoding } else { encoding_rs::WINDOWS_1252 };
    let decoded_sample = match by_line {
        true => crate::encoding::decode_lines(&sample, other).into(),
        false => encoding.decode(&sample).0,
    };
    if looks_binary(&sample, encoding, &decoded_sample, given) {
        return Err(IngestError::Binary);
    }
    let dialect = sniff(&decoded_sample);
    drop(decoded_sample);
    let byte_count = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let counted =
        CountingReader { inner: std::io::Cursor::new(sample).chain(input), bytes: byte_count.clone(), limit: u64::MAX };
    let mut line_encodings = None;
    let decoder: Box<dyn Read> = match by_line {
        true => {
            let (decoder, lines) = crate::encoding::LineDecoder::new(counted, other);
            line_encodings = Some(lines);
            Box::new(decoder)
        }
        // Reads of 256 KiB, not the default 8 KiB: fewer system calls and
        // calls through each layer.
        false => Box::new(
            encoding_rs_io::DecodeReaderBytesBuilder::new()
                .encoding(Some(encoding))
                .bom_override(true)
                .build_with_buffer(counted, vec![0; READ_BUFFER])?,
        ),
    };
    // The bytes given to the CSV reader since its last whole record: one
    // record past the bound (a quoted field that never ends) is refused
    // before it fills memory.
    let since_record = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let bounded = CountingReader { inner: decoder, bytes: since_record.clone(), limit: RECORD_READ_LIMIT };
    let mut reader = csv::ReaderBuilder::new()
        .buffer_capacity(READ_BUFFER)
        .delimiter(dialect.delimiter as u8)
        .has_headers(false)
        .flexible(true)
        .from_reader(bounded);
    // One record buffer for the whole file: no allocation per row.
    let mut record = csv::ByteRecord::new();
    let mut read = |record: &mut csv::ByteRecord| {
        let read = reader.read_byte_record(record).map_err(|error| match since_record.get() > RECORD_READ_LIMIT {
            true => IngestError::RecordTooLong(MAX_RECORD_BYTES),
            false => IngestError::Csv(error.to_string()),
        });
        since_record.set(0);
        read
    };
    for _ in 0..dialect.preamble_lines {
        read(&mut record)?;
    }
    let has_row = read(&mut record)?;
    if record.len() > options.max_columns {
        return Err(IngestError::ExpandsTooMuch { what: "columns", limit: options.max_columns as u64 });
    }
    let (labels, first_is_data) = match (has_row, dialect.header) {
        (false, _) => (Vec::new(), false),
        (true, true) => (TextRow::new(&record)?.cells().map(str::to_string).collect(), false),
        (true, false) => ((1..=record.len()).map(|number| format!("field{number}")).collect(), true),
    };
    // Row numbers count physical rows as frictionless does: the header is row 1.
    let header_row = dialect.preamble_lines as u64 + if dialect.header { 1 } else { 0 };
    let mut table = TableBuilder::new(labels, header_row, options, 0, None)?;
    table.check_decoding(
        encoding == encoding_rs::UTF_8 || encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE,
    );
    if first_is_data {
        table.push(&TextRow::new(&record)?)?;
    }
    if has_row {
        while read(&mut record)? {
            table.push(&TextRow::new(&record)?)?;
        }
    }
    drop(reader);
    let (name, mixed) = match line_encodings {
        Some(lines) => lines.borrow().verdict(),
        None => (encoding.name(), None),
    };
    table.finish(Source {
        format: "csv".into(),
        name: options.name.clone(),
        encoding: Some(name.to_string()),
        encoding_source: Some(encoding_source),
        mixed_encoding: mixed,
        dialect: Some(dialect),
        bytes: byte_count.get(),
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

/// Counts the bytes read through it into `bytes`, and fails a read once the
/// count passes `limit` (`u64::MAX`: never).
struct CountingReader<R> {
    inner: R,
    bytes: std::rc::Rc<std::cell::Cell<u64>>,
    limit: u64,
}

/// The bytes the CSV reader may take in for one record: the bound, and its buffer's worth.
const RECORD_READ_LIMIT: u64 = MAX_RECORD_BYTES + READ_BUFFER as u64;

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        let bytes = self.bytes.get() + read as u64;
        self.bytes.set(bytes);
        if bytes > self.limit {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "past the bound on bytes read"));
        }
        Ok(read)
    }
}

//! Parquet output, written while the file streams in.
//!
//! A column's type is only known once every value has been seen, but the
//! table is written as its rows are read: each column is written as the
//! type its first batch of values suggests ([`Written`], decided by the
//! column pass in [`crate::pass`]), the workers of the column pass build
//! each batch's typed Arrow arrays ([`Output`]) from the values they already
//! parsed for the type checks, and a writer thread ([`TableWriter`]) encodes
//! them into the Parquet file. Once every value has been seen, the table
//! decides its types; when they are the ones written (nearly always: a
//! file's first 16,384 rows rarely disagree with the rest, and a smaller
//! file is decided from all its rows) the file is complete. When a column's
//! type differs, the file is dropped and read again with the types known
//! (see [`crate::reader::analyze_source`]).
//!
//! Text is written as plain strings; the Arrow schema kept in the file's
//! footer, written last, says which text columns queries should read as a
//! dictionary (those whose distinct values the profile counted one by one).
//! Memory is bounded by a few batches in flight, whatever the file's size.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use arrow::array::{
    Array, ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::IngestError;
use crate::infer::{DateFormat, FieldType, days_from_civil, parse_boolean, parse_datetime, parse_time};
use crate::pass::Learned;

/// Rows per row group of the final file: several per file let queries use both cores.
const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Rows per data page, at most: a page of a sorted search (a hundred rows
/// anywhere in the table) reads only the pages that hold its rows, so they
/// are kept small; scans barely notice.
const PAGE_ROWS: usize = 4 * 1024;

fn parquet_error(error: impl std::fmt::Display) -> IngestError {
    IngestError::Parquet(error.to_string())
}

/// The Arrow type a Table Schema field is stored as.
pub fn arrow_type(field_type: FieldType) -> DataType {
    match field_type {
        FieldType::Integer => DataType::Int64,
        FieldType::Number => DataType::Float64,
        FieldType::Boolean => DataType::Boolean,
        FieldType::Date => DataType::Date32,
        FieldType::Datetime => DataType::Timestamp(TimeUnit::Microsecond, None),
        FieldType::Time => DataType::Time64(TimeUnit::Microsecond),
        FieldType::String => DataType::Utf8,
    }
}

/// The type a column is written as: a Table Schema type and, for dates,
/// the order of day, month and year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub field_type: FieldType,
    pub date_format: Option<DateFormat>,
}

impl Written {
    pub fn new(field_type: FieldType, date_format: Option<DateFormat>) -> Written {
        let date_format = match field_type {
            FieldType::Date => Some(date_format.unwrap_or(DateFormat::DayMonthYear)),
            _ => None,
        };
        Written { field_type, date_format }
    }
}

/// One column's values of a batch, typed as they are read. A value that
/// does not fit the column's type becomes null (the report lists it).
pub(crate) enum Output {
    Text(StringBuilder),
    Integer(Int64Builder),
    Number(Float64Builder),
    Boolean(BooleanBuilder),
    Date(Date32Builder, usize),
    Datetime(TimestampMicrosecondBuilder),
    Time(Time64MicrosecondBuilder),
}

impl Output {
    pub(crate) fn new(written: Written) -> Output {
        match written.field_type {
            FieldType::String => Output::Text(StringBuilder::new()),
            FieldType::Integer => Output::Integer(Int64Builder::new()),
            FieldType::Number => Output::Number(Float64Builder::new()),
            FieldType::Boolean => Output::Boolean(BooleanBuilder::new()),
            FieldType::Date => Output::Date(Date32Builder::new(), written.date_format.map_or(1, DateFormat::index)),
            FieldType::Datetime => Output::Datetime(TimestampMicrosecondBuilder::new()),
            FieldType::Time => Output::Time(Time64MicrosecondBuilder::new()),
        }
    }

    /// Adds a present value, `trimmed`, whose type checks gave `learned`
    /// (examined here when not given, and never needed for text).
    pub(crate) fn append(&mut self, trimmed: &str, learned: Option<Learned>) {
        let learned = || learned.unwrap_or_else(|| Learned::of(trimmed));
        match self {
            Output::Text(builder) => builder.append_value(trimmed),
            // What the type checks parsed: the same rules as `parse_integer`
            // and `parse_number`, and below 9e15 an integer is exact as f64.
            Output::Integer(builder) => {
                let learned = learned();
                builder.append_option(learned.number().filter(|_| learned.fits(0)).map(|value| value as i64))
            }
            Output::Number(builder) => builder.append_option(learned().number()),
            Output::Boolean(builder) => {
                builder.append_option(if learned().fits(2) { parse_boolean(trimmed) } else { None })
            }
            Output::Date(builder, index) => builder
                .append_option(learned().date(*index).map(|(year, month, day)| days_from_civil(year, month, day))),
            Output::Datetime(builder) => {
                builder.append_option(if learned().fits(6) { parse_datetime(trimmed) } else { None })
            }
            Output::Time(builder) => builder.append_option(if learned().fits(7) {
                parse_time(trimmed).map(|(hour, minute, second)| {
                    (i64::from(hour) * 3_600 + i64::from(minute) * 60 + i64::from(second)) * 1_000_000
                })
            } else {
                None
            }),
        }
    }

    pub(crate) fn append_null(&mut self) {
        match self {
            Output::Text(builder) => builder.append_null(),
            Output::Integer(builder) => builder.append_null(),
            Output::Number(builder) => builder.append_null(),
            Output::Boolean(builder) => builder.append_null(),
            Output::Date(builder, _) => builder.append_null(),
            Output::Datetime(builder) => builder.append_null(),
            Output::Time(builder) => builder.append_null(),
        }
    }

    /// The values added since the last call, as an array.
    pub(crate) fn finish(&mut self) -> ArrayRef {
        match self {
            Output::Text(builder) => Arc::new(builder.finish()),
            Output::Integer(builder) => Arc::new(builder.finish()),
            Output::Number(builder) => Arc::new(builder.finish()),
            Output::Boolean(builder) => Arc::new(builder.finish()),
            Output::Date(builder, _) => Arc::new(builder.finish()),
            Output::Datetime(builder) => Arc::new(builder.finish()),
            Output::Time(builder) => Arc::new(builder.finish()),
        }
    }
}

/// One column of one batch, from a worker of the column pass.
pub(crate) struct PartColumn {
    pub(crate) index: usize,
    pub(crate) array: ArrayRef,
    /// The column's first values were mostly different from each other:
    /// its Parquet pages are written without a dictionary.
    pub(crate) many_values: bool,
}

/// The columns a worker of the column pass owns, for one batch.
pub(crate) type Part = Vec<PartColumn>;

/// What the writer thread leaves once every batch is encoded.
struct Encoded {
    writer: ArrowWriter<BufWriter<File>>,
    schema: SchemaRef,
    rows: u64,
    /// Per column, whether its pages were written with a Parquet dictionary.
    dictionary: Vec<bool>,
}

/// The Parquet file of one table, encoded on its own thread from the parts
/// the column pass's workers send; [`TableWriter::finish`] completes it with
/// the table's final schema. A writer dropped unfinished removes its file.
pub(crate) struct TableWriter {
    thread: Option<JoinHandle<Result<Option<Encoded>, IngestError>>>,
    path: PathBuf,
    labels: Vec<String>,
    finished: bool,
}

/// The writer's settings for a table whose columns are `types`, and
/// whether each is written with a Parquet dictionary.
fn writer_properties(labels: &[String], types: &[&DataType], dictionary: &[bool]) -> WriterProperties {
    let mut properties = WriterProperties::builder();
    // Numbers, dates and row numbers barely compress with Snappy (a
    // dictionary already packs the repetitive ones), and every query would
    // pay to decompress them: they are stored as they are. Text is compressed.
    properties = properties.set_column_compression(ColumnPath::from(ROW_ID), Compression::UNCOMPRESSED);
    // Every row number differs: a dictionary would be built and thrown away
    // in every row group.
    properties = properties.set_column_dictionary_enabled(ColumnPath::from(ROW_ID), false);
    for ((label, data_type), dictionary) in labels.iter().zip(types).zip(dictionary) {
        let path = ColumnPath::from(label.as_str());
        if **data_type != DataType::Utf8 {
            properties = properties.set_column_compression(path.clone(), Compression::UNCOMPRESSED);
        }
        if !*dictionary {
            // Mostly distinct values: a dictionary would fill up and be
            // thrown away in every row group.
            properties = properties.set_column_dictionary_enabled(path, false);
        } else if **data_type == DataType::Utf8 {
            // A text column read as a dictionary keeps one in every row
            // group: room for all the values the profile counts (at most
            // 10,000 of at most 200 bytes), where the default 1 MB would
            // fall back to plain pages part way.
            let limit = crate::pass::DISTINCT_CAP * crate::pass::DISTINCT_VALUE_MAX * 2;
            properties = properties.set_column_dictionary_page_size_limit(path, limit);
        }
    }
    properties
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by("datalab".into())
        .build()
}

impl TableWriter {
    /// Starts the writer of `path`, fed by `parts` senders (one per worker
    /// of the column pass), each of which sends every batch.
    pub(crate) fn start(
        path: &Path,
        labels: &[String],
        parts: usize,
    ) -> Result<(TableWriter, Vec<SyncSender<Part>>), IngestError> {
        let file = File::create(path)?;
        let (senders, receivers): (Vec<_>, Vec<Receiver<Part>>) = (0..parts).map(|_| sync_channel::<Part>(2)).unzip();
        let columns = labels.len();
        let names = labels.to_vec();
        let thread = std::thread::Builder::new().name("ingest-parquet".into()).spawn(move || {
            let mut file = Some(file);
            let mut encoded: Option<Encoded> = None;
            if receivers.is_empty() {
                return Ok(None);
            }
            'batches: loop {
                let mut arrays: Vec<Option<ArrayRef>> = vec![None; columns];
                let mut many = vec![false; columns];
                for receiver in &receivers {
                    // Every worker sends every batch, in order: a closed
                    // part means the pass is over.
                    let Ok(part) = receiver.recv() else { break 'batches };
                    for column in part {
                        many[column.index] = column.many_values;
                        arrays[column.index] = Some(column.array);
                    }
                }
                let arrays: Vec<ArrayRef> = arrays
                    .into_iter()
                    .map(|array| array.ok_or_else(|| parquet_error("a part of a batch is missing a column")))
                    .collect::<Result<_, _>>()?;
                let length = arrays.first().map_or(0, |array| array.len());
                if encoded.is_none() {
                    // The first batch settles the file's physical layout.
                    let types: Vec<&DataType> = arrays.iter().map(|array| array.data_type()).collect();
                    let dictionary: Vec<bool> = many.iter().map(|many| !many).collect();
                    let schema = Arc::new(Schema::new(
                        std::iter::once(Field::new(ROW_ID, DataType::Int64, false))
                            .chain(
                                names
                                    .iter()
                                    .zip(&types)
                                    .map(|(name, data_type)| Field::new(name, (*data_type).clone(), true)),
                            )
                            .collect::<Vec<_>>(),
                    ));
                    let properties = writer_properties(&names, &types, &dictionary);
                    // The Arrow schema goes in the footer at the end, once
                    // the table knows which text to read as a dictionary.
                    let options = ArrowWriterOptions::new().with_properties(properties).with_skip_arrow_metadata(true);
                    let file = file.take().expect("the file is opened once");
                    let writer = ArrowWriter::try_new_with_options(
                        BufWriter::with_capacity(1 << 20, file),
                        schema.clone(),
                        options,
                    )
                    .map_err(parquet_error)?;
                    encoded = Some(Encoded { writer, schema, rows: 0, dictionary });
                }
                let state = encoded.as_mut().expect("the writer was just made");
                let first = state.rows as i64 + 1;
                state.rows += length as u64;
                let ids: ArrayRef = Arc::new(arrow::array::Int64Array::from_iter_values(first..=state.rows as i64));
                let batch = RecordBatch::try_new(state.schema.clone(), std::iter::once(ids).chain(arrays).collect())
                    .map_err(parquet_error)?;
                state.writer.write(&batch).map_err(parquet_error)?;
            }
            if let Some(state) = encoded.as_mut() {
                // The last rows are encoded here, not on the finishing thread.
                state.writer.flush().map_err(parquet_error)?;
            }
            Ok(encoded)
        })?;
        Ok((
            TableWriter { thread: Some(thread), path: path.to_path_buf(), labels: labels.to_vec(), finished: false },
            senders,
        ))
    }

    fn join(&mut self) -> Result<Option<Encoded>, IngestError> {
        match self.thread.take() {
            Some(handle) => handle.join().map_err(|_| parquet_error("the Parquet writer panicked"))?,
            None => Ok(None),
        }
    }

    /// Why the writer stopped, once every part is closed: the error it met,
    /// if any (its file is removed).
    pub(crate) fn failure(mut self) -> Option<IngestError> {
        self.join().err()
    }

    /// Completes the file once the column pass is over (every part closed):
    /// its final Arrow schema, from `fields` (the types written, with the
    /// profile's ranges and value counts), then the histograms of its
    /// numbers and dates, read back from the file. Returns the number of
    /// rows and a histogram per field.
    pub(crate) fn finish(mut self, fields: &[TypedField]) -> Result<(u64, Vec<Option<Histogram>>), IngestError> {
        let encoded = self.join()?;
        let dictionary: Vec<bool> = match &encoded {
            Some(encoded) => encoded.dictionary.clone(),
            None => vec![true; fields.len()],
        };
        let schema: SchemaRef = Arc::new(Schema::new(
            std::iter::once(Field::new(ROW_ID, DataType::Int64, false))
                .chain(
                    fields
                        .iter()
                        .zip(&dictionary)
                        .map(|(field, dictionary)| Field::new(&field.name, stored_type(field, *dictionary), true)),
                )
                .collect::<Vec<_>>(),
        ));
        let rows = match encoded {
            Some(mut encoded) => {
                encoded.writer.append_key_value_metadata(KeyValue::new(
                    parquet::arrow::ARROW_SCHEMA_META_KEY.to_string(),
                    parquet::arrow::encode_arrow_schema(&schema),
                ));
                encoded.writer.close().map_err(parquet_error)?;
                encoded.rows
            }
            None => {
                // No row at all: an empty table with the decided types.
                let plain: Vec<DataType> = fields.iter().map(|field| arrow_type(field.field_type)).collect();
                let plain: Vec<&DataType> = plain.iter().collect();
                let properties = writer_properties(&self.labels, &plain, &dictionary);
                let writer = ArrowWriter::try_new(BufWriter::new(File::create(&self.path)?), schema, Some(properties))
                    .map_err(parquet_error)?;
                writer.close().map_err(parquet_error)?;
                0
            }
        };
        self.finished = true;
        // The file's pages go to disk while its histograms are read back: a
        // table is synced before it is published, and little is left to
        // write by then.
        let path = &self.path;
        let (histograms, synced) = std::thread::scope(|scope| {
            let synced = scope.spawn(|| File::open(path).and_then(|file| file.sync_data()));
            (histograms(path, fields), synced.join())
        });
        synced.map_err(|_| parquet_error("syncing the table panicked"))??;
        Ok((rows, histograms?))
    }
}

impl Drop for TableWriter {
    fn drop(&mut self) {
        let _ = self.join();
        if !self.finished {
            // A table abandoned part way leaves no file behind.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The histograms of a written table's numbers and dates, drawn between
/// the minimum and maximum the profile found.
fn histograms(path: &Path, fields: &[TypedField]) -> Result<Vec<Option<Histogram>>, IngestError> {
    let histograms: Vec<Option<Histogram>> = fields
        .iter()
        .map(|field| match (field.field_type, field.range) {
            (FieldType::Integer | FieldType::Number | FieldType::Date, Some((min, max))) => {
                Some(Histogram::new(min, max))
            }
            _ => None,
        })
        .collect();
    let wanted: Vec<usize> = (0..fields.len()).filter(|index| histograms[*index].is_some()).collect();
    if wanted.is_empty() {
        return Ok(histograms);
    }
    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
    let metadata = ArrowReaderMetadata::load(&File::open(path)?, Default::default()).map_err(parquet_error)?;
    // The file's first column is the row number.
    let mask = parquet::arrow::ProjectionMask::roots(metadata.parquet_schema(), wanted.iter().map(|index| index + 1));
    // The row groups are shared out among the cores: this runs after the
    // pass, while only the file's sync runs beside it.
    let groups = metadata.metadata().num_row_groups();
    let threads = std::thread::available_parallelism().map_or(1, |count| count.get()).clamp(1, groups.max(1));
    let shares: Vec<Vec<usize>> = (0..threads).map(|thread| (thread..groups).step_by(threads).collect()).collect();
    let read = |row_groups: Vec<usize>, mut histograms: Vec<Option<Histogram>>| {
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(File::open(path)?, metadata.clone())
            .with_projection(mask.clone())
            .with_row_groups(row_groups)
            .with_batch_size(64 * 1024)
            .build()
            .map_err(parquet_error)?;
        for batch in reader {
            let batch = batch.map_err(parquet_error)?;
            for (position, index) in wanted.iter().enumerate() {
                if let Some(histogram) = &mut histograms[*index] {
                    histogram.add_array(batch.column(position));
                }
            }
        }
        Ok::<_, IngestError>(histograms)
    };
    let parts: Vec<Result<Vec<Option<Histogram>>, IngestError>> = std::thread::scope(|scope| {
        let running: Vec<_> = shares.into_iter().map(|share| scope.spawn(|| read(share, histograms.clone()))).collect();
        running
            .into_iter()
            .map(|thread| thread.join().unwrap_or_else(|_| Err(parquet_error("a histogram reader panicked"))))
            .collect()
    });
    let mut total = histograms;
    for part in parts {
        for (total, part) in total.iter_mut().zip(part?) {
            if let (Some(total), Some(part)) = (total, part) {
                total.counts.iter_mut().zip(part.counts).for_each(|(total, count)| *total += count);
            }
        }
    }
    Ok(total)
}

/// A column of the final file.
#[derive(Debug, Clone)]
pub struct TypedField {
    pub name: String,
    pub field_type: FieldType,
    pub date_format: Option<DateFormat>,
    /// The smallest and largest value (numbers, or days for dates), from
    /// the profile: the histogram's bins are drawn between them.
    pub range: Option<(f64, f64)>,
    /// The column has more distinct values than the profile counts one by
    /// one: it is not read as a dictionary.
    pub many_values: bool,
}

/// Bins of every histogram.
pub const HISTOGRAM_BINS: usize = 20;

/// How a numeric or date column's values spread between its minimum and maximum.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Histogram {
    pub min: f64,
    pub max: f64,
    /// Values per bin; bin `i` holds values from `min + i·w` to `min + (i+1)·w`, the last one includes `max`.
    pub counts: Vec<u64>,
}

impl Histogram {
    fn new(min: f64, max: f64) -> Histogram {
        let bins = if max > min { HISTOGRAM_BINS } else { 1 };
        Histogram { min, max, counts: vec![0; bins] }
    }

    #[cfg(test)]
    fn add(&mut self, value: f64) {
        self.add_all(std::iter::once(value));
    }

    fn add_all(&mut self, values: impl Iterator<Item = f64>) {
        let (min, max, bins) = (self.min, self.max, self.counts.len());
        for value in values {
            if value.is_finite() && value >= min && value <= max {
                // Divided, not multiplied by a precomputed scale: values on
                // a bin's edge fall in the same bin as they always did.
                let index = if max > min { (((value - min) / (max - min)) * bins as f64) as usize } else { 0 };
                self.counts[index.min(bins - 1)] += 1;
            }
        }
    }

    fn add_array(&mut self, column: &ArrayRef) {
        use arrow::array::{ArrowPrimitiveType, AsArray, PrimitiveArray};
        use arrow::datatypes::{Date32Type, Float64Type, Int64Type};
        fn each<T: ArrowPrimitiveType>(array: &PrimitiveArray<T>, float: impl Fn(T::Native) -> f64) -> Vec<f64> {
            match array.nulls() {
                // Most columns have no null in most batches.
                None => array.values().iter().map(|value| float(*value)).collect(),
                Some(_) => array.iter().flatten().map(float).collect(),
            }
        }
        let values = match column.data_type() {
            DataType::Int64 => each(column.as_primitive::<Int64Type>(), |value| value as f64),
            DataType::Float64 => each(column.as_primitive::<Float64Type>(), |value| value),
            DataType::Date32 => each(column.as_primitive::<Date32Type>(), f64::from),
            _ => return,
        };
        self.add_all(values.into_iter());
    }
}

/// The first column of every table: the row's number, from 1 (CKAN
/// DataStore's `_id`, and a stable order for keyset paging).
pub const ROW_ID: &str = "_id";

/// The Arrow type a field is read as: text with few distinct values (all
/// of them counted by the profile, and written with a Parquet dictionary)
/// as a dictionary, which the file's footer says so that queries read the
/// column as one (see the query crate's `dictionary` module); everything
/// else as its own type.
fn stored_type(field: &TypedField, dictionary: bool) -> DataType {
    match field.field_type {
        FieldType::String if !field.many_values && dictionary => {
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
        }
        other => arrow_type(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_bin_between_min_and_max() {
        let mut histogram = Histogram::new(0.0, 100.0);
        for value in [0.0, 4.9, 5.0, 99.0, 100.0, 150.0] {
            histogram.add(value);
        }
        assert_eq!(histogram.counts[0], 2);
        assert_eq!(histogram.counts[1], 1);
        assert_eq!(histogram.counts[19], 2, "the maximum falls in the last bin; out-of-range values in none");
        let mut flat = Histogram::new(7.0, 7.0);
        flat.add(7.0);
        assert_eq!(flat.counts, vec![1]);
    }

    #[test]
    fn days_from_civil_matches_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
    }

    #[test]
    fn values_that_do_not_fit_become_null() {
        let mut output = Output::new(Written::new(FieldType::Integer, None));
        for value in ["$1,234", "x", "7", "1.5"] {
            output.append(value, None);
        }
        output.append_null();
        let typed = output.finish();
        let typed = typed.as_any().downcast_ref::<arrow::array::Int64Array>().unwrap();
        assert_eq!(typed.iter().collect::<Vec<_>>(), vec![Some(1234), None, Some(7), None, None]);
        let mut dates = Output::new(Written::new(FieldType::Date, Some(DateFormat::DayMonthYear)));
        for value in ["31/03/2024", "2024-03-31", "31/02/2024"] {
            dates.append(value, None);
        }
        let typed = dates.finish();
        let typed = typed.as_any().downcast_ref::<arrow::array::Date32Array>().unwrap();
        assert_eq!(typed.iter().collect::<Vec<_>>(), vec![Some(19_813), None, None]);
    }
}

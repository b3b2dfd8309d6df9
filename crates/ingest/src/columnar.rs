//! Parquet output, written while the file streams in.
//!
//! A column's type is only known once every value has been seen, so the
//! column pass ([`crate::pass`]) sends each column's text (missing markers
//! already turned into nulls) to a *staging* file in Arrow's IPC format,
//! written on its own thread. Once the types are decided, [`write_typed`]
//! reads the staging file back batch by batch, converts each column to its
//! Arrow type (a value that does not fit becomes null: the report already
//! lists it) and writes the final, compressed Parquet with statistics.
//! Memory is bounded by a few batches in flight, whatever the file's size.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use arrow::array::{
    Array, ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringArray,
    Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::IngestError;
use crate::infer::{
    DateFormat, FieldType, days_from_civil, parse_boolean, parse_date, parse_datetime, parse_integer, parse_number,
    parse_time,
};

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

/// The text of some columns of one batch, as (column index, text array):
/// what each worker of the column pass sends the staging writer.
pub(crate) type StagingPart = Vec<(usize, ArrayRef)>;

/// The text of every row (missing markers already turned into nulls),
/// written to a staging file (Arrow IPC) on its own thread. The column pass's
/// workers each send their columns of every batch through one part; the
/// writer puts a batch's parts together in column order.
pub(crate) struct Staging {
    writer: Option<JoinHandle<Result<(), IngestError>>>,
    path: PathBuf,
}

impl Staging {
    /// Starts the writer of `path`, fed by `parts` senders (one per worker).
    pub(crate) fn create(
        path: &Path,
        labels: &[String],
        parts: usize,
    ) -> Result<(Staging, Vec<SyncSender<StagingPart>>), IngestError> {
        let schema: SchemaRef = Arc::new(Schema::new(
            labels.iter().map(|label| Field::new(label, DataType::Utf8, true)).collect::<Vec<_>>(),
        ));
        let file = File::create(path)?;
        // Arrow's IPC format: the text is written as it sits in memory and
        // read back the same way, with no encoding either way.
        let mut writer = arrow::ipc::writer::FileWriter::try_new(BufWriter::with_capacity(1 << 20, file), &schema)
            .map_err(parquet_error)?;
        let (senders, receivers): (Vec<_>, Vec<Receiver<StagingPart>>) =
            (0..parts).map(|_| sync_channel::<StagingPart>(2)).unzip();
        let columns = labels.len();
        let handle = std::thread::Builder::new().name("ingest-staging".into()).spawn(move || {
            if receivers.is_empty() {
                writer.finish().map_err(parquet_error)?;
                return Ok(());
            }
            'batches: loop {
                let mut arrays: Vec<Option<ArrayRef>> = vec![None; columns];
                for receiver in &receivers {
                    // Every worker sends every batch, in order: a closed
                    // part means the pass is over.
                    let Ok(part) = receiver.recv() else { break 'batches };
                    for (index, array) in part {
                        arrays[index] = Some(array);
                    }
                }
                let arrays: Vec<ArrayRef> = arrays
                    .into_iter()
                    .map(|array| array.ok_or_else(|| parquet_error("a staging part is missing a column")))
                    .collect::<Result<_, _>>()?;
                let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(parquet_error)?;
                writer.write(&batch).map_err(parquet_error)?;
            }
            writer.finish().map_err(parquet_error)?;
            Ok(())
        })?;
        Ok((Staging { writer: Some(handle), path: path.to_path_buf() }, senders))
    }

    fn join(&mut self) -> Result<(), IngestError> {
        match self.writer.take() {
            Some(handle) => handle.join().map_err(|_| parquet_error("the staging writer panicked"))?,
            None => Ok(()),
        }
    }

    /// Waits for the writer (every part must be closed first) and gives the
    /// file's path.
    pub(crate) fn finish(mut self) -> Result<PathBuf, IngestError> {
        self.join()?;
        Ok(self.path.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

/// A column of the final file.
#[derive(Debug, Clone)]
pub struct TypedField {
    pub name: String,
    pub field_type: FieldType,
    pub date_format: Option<DateFormat>,
    /// The smallest and largest value (numbers, or days for dates), known
    /// from the first pass: the histogram's bins are drawn between them.
    pub range: Option<(f64, f64)>,
    /// The column has more distinct values than the profile counts one by
    /// one: a dictionary would overflow and be thrown away, so none is built.
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

    fn add(&mut self, value: f64) {
        if !value.is_finite() || value < self.min || value > self.max {
            return;
        }
        let bins = self.counts.len();
        let index =
            if self.max > self.min { (((value - self.min) / (self.max - self.min)) * bins as f64) as usize } else { 0 };
        self.counts[index.min(bins - 1)] += 1;
    }

    fn add_array(&mut self, column: &ArrayRef) {
        use arrow::array::AsArray;
        use arrow::datatypes::{Date32Type, Float64Type, Int64Type};
        match column.data_type() {
            DataType::Int64 => column.as_primitive::<Int64Type>().iter().flatten().for_each(|v| self.add(v as f64)),
            DataType::Float64 => column.as_primitive::<Float64Type>().iter().flatten().for_each(|v| self.add(v)),
            DataType::Date32 => column.as_primitive::<Date32Type>().iter().flatten().for_each(|v| self.add(v as f64)),
            _ => {}
        }
    }
}

/// The first column of every table: the row's number, from 1 (CKAN
/// DataStore's `_id`, and a stable order for keyset paging).
pub const ROW_ID: &str = "_id";

/// Rewrites the staging file `staging` as the typed, compressed Parquet file
/// `output`, and returns the number of rows written. The file's first column
/// is [`ROW_ID`]; the fields follow in order.
pub fn write_typed(
    staging: &Path,
    output: &Path,
    fields: &[TypedField],
) -> Result<(u64, Vec<Option<Histogram>>), IngestError> {
    let mut histograms: Vec<Option<Histogram>> = fields
        .iter()
        .map(|field| match (field.field_type, field.range) {
            (FieldType::Integer | FieldType::Number | FieldType::Date, Some((min, max))) => {
                Some(Histogram::new(min, max))
            }
            _ => None,
        })
        .collect();
    let schema = Arc::new(Schema::new(
        std::iter::once(Field::new(ROW_ID, DataType::Int64, false))
            .chain(fields.iter().map(|field| Field::new(&field.name, stored_type(field), true)))
            .collect::<Vec<_>>(),
    ));
    let reader =
        arrow::ipc::reader::FileReader::try_new(std::io::BufReader::with_capacity(1 << 20, File::open(staging)?), None)
            .map_err(parquet_error)?;
    let mut properties = WriterProperties::builder();
    for field in fields.iter().filter(|field| field.many_values) {
        properties = properties.set_column_dictionary_enabled(ColumnPath::from(field.name.as_str()), false);
    }
    // A text column stored as a dictionary keeps one in every row group, so
    // queries read it as one: room for all its counted values (at most
    // 10,000 of at most 200 bytes), where the default 1 MB would fall back
    // to plain pages part way.
    for field in fields.iter().filter(|field| matches!(stored_type(field), DataType::Dictionary(..))) {
        let limit = crate::pass::DISTINCT_CAP * crate::pass::DISTINCT_VALUE_MAX * 2;
        properties = properties.set_column_dictionary_page_size_limit(ColumnPath::from(field.name.as_str()), limit);
    }
    // Numbers, dates and row numbers barely compress with Snappy (a
    // dictionary already packs the repetitive ones), and every query would
    // pay to decompress them: they are stored as they are. Text is compressed.
    properties = properties.set_column_compression(ColumnPath::from(ROW_ID), Compression::UNCOMPRESSED);
    for field in fields.iter().filter(|field| field.field_type != FieldType::String) {
        properties =
            properties.set_column_compression(ColumnPath::from(field.name.as_str()), Compression::UNCOMPRESSED);
    }
    let properties = properties
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by("datalab".into())
        .build();
    let file = File::create(output)?;
    let mut writer =
        ArrowWriter::try_new(BufWriter::new(file), schema.clone(), Some(properties)).map_err(parquet_error)?;
    let (sender, receiver) = sync_channel::<RecordBatch>(1);
    let handle = std::thread::Builder::new().name("ingest-parquet".into()).spawn(move || {
        for batch in receiver {
            writer.write(&batch).map_err(parquet_error)?;
        }
        writer.close().map_err(parquet_error)?;
        Ok::<(), IngestError>(())
    })?;
    let mut rows = 0u64;
    let mut outcome = Ok(());
    for batch in reader {
        let batch = match batch {
            Ok(batch) => batch,
            Err(error) => {
                outcome = Err(parquet_error(error));
                break;
            }
        };
        let first = rows as i64 + 1;
        rows += batch.num_rows() as u64;
        let ids: ArrayRef = Arc::new(arrow::array::Int64Array::from_iter_values(first..=rows as i64));
        let columns: Vec<ArrayRef> = std::iter::once(ids)
            .chain(fields.iter().enumerate().map(|(index, field)| convert(batch.column(index), field)))
            .collect();
        for (histogram, column) in histograms.iter_mut().zip(&columns[1..]) {
            if let Some(histogram) = histogram {
                histogram.add_array(column);
            }
        }
        let typed = match RecordBatch::try_new(schema.clone(), columns) {
            Ok(typed) => typed,
            Err(error) => {
                outcome = Err(parquet_error(error));
                break;
            }
        };
        if sender.send(typed).is_err() {
            break;
        }
    }
    drop(sender);
    let written = handle.join().map_err(|_| parquet_error("the Parquet writer panicked"))?;
    outcome?;
    written?;
    Ok((rows, histograms))
}

/// The Arrow type a field is stored as: text with few distinct values (all
/// of them counted by the profile) as a dictionary, which the Parquet file
/// keeps in its schema so that queries read the column as one (see the
/// query crate's `dictionary` module); everything else as its own type.
fn stored_type(field: &TypedField) -> DataType {
    match field.field_type {
        FieldType::String if !field.many_values => {
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
        }
        other => arrow_type(other),
    }
}

fn convert(column: &ArrayRef, field: &TypedField) -> ArrayRef {
    let text = column.as_any().downcast_ref::<StringArray>().expect("staging columns are text");
    macro_rules! build {
        ($builder:expr, $parse:expr) => {{
            let mut builder = $builder;
            for value in text.iter() {
                builder.append_option(value.and_then($parse));
            }
            Arc::new(builder.finish()) as ArrayRef
        }};
    }
    match field.field_type {
        FieldType::String => match stored_type(field) {
            DataType::Utf8 => column.clone(),
            dictionary => arrow::compute::cast(column, &dictionary).expect("text casts to a dictionary of text"),
        },
        FieldType::Integer => build!(Int64Builder::with_capacity(text.len()), parse_integer),
        FieldType::Number => build!(Float64Builder::with_capacity(text.len()), parse_number),
        FieldType::Boolean => build!(BooleanBuilder::with_capacity(text.len()), parse_boolean),
        FieldType::Date => {
            let format = field.date_format.unwrap_or(DateFormat::DayMonthYear);
            build!(Date32Builder::with_capacity(text.len()), |value: &str| {
                parse_date(value, format).map(|(year, month, day)| days_from_civil(year, month, day))
            })
        }
        FieldType::Datetime => build!(TimestampMicrosecondBuilder::with_capacity(text.len()), parse_datetime),
        FieldType::Time => build!(Time64MicrosecondBuilder::with_capacity(text.len()), |value: &str| {
            parse_time(value).map(|(hour, minute, second)| {
                (i64::from(hour) * 3_600 + i64::from(minute) * 60 + i64::from(second)) * 1_000_000
            })
        }),
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
        let column: ArrayRef = Arc::new(StringArray::from(vec![Some("$1,234"), Some("x"), None, Some("7")]));
        let field = TypedField {
            name: "monto".into(),
            field_type: FieldType::Integer,
            date_format: None,
            range: None,
            many_values: false,
        };
        let typed = convert(&column, &field);
        let typed = typed.as_any().downcast_ref::<arrow::array::Int64Array>().unwrap();
        assert_eq!(typed.iter().collect::<Vec<_>>(), vec![Some(1234), None, None, Some(7)]);
    }
}

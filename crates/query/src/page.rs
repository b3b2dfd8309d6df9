//! The row numbers of a filtered or sorted page, and how many rows pass the
//! filters, found in one pass over the table's Parquet file.
//!
//! `datastore_search` asks the same few things over and over: rows where
//! some columns equal some values, sorted by a column or two, 100 at a
//! time, with the count. Through DataFusion that is two scans (the count,
//! then the page), each decoding every filter column's text. Here:
//!
//! - a text column whose pages are dictionary-encoded is read as a
//!   dictionary, so a filter compares its few distinct values once and maps
//!   the answer through the keys, instead of decoding a string per row;
//! - the filters run inside the Parquet reader (a row filter), so the sort
//!   columns are decoded only on the pages that hold a matching row;
//! - the count and the page's top rows come from the same pass.
//!
//! The answer is the same as the SQL it replaces (`WHERE … ORDER BY …, _id
//! LIMIT … OFFSET …`): equality with DataFusion's types and comparison
//! kernels, nulls last whatever the direction, ties in file order. Anything
//! it cannot answer the same way gives `None` and the caller asks DataFusion.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::compute::{SortColumn, SortOptions};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow::error::ArrowError;
use datafusion::scalar::ScalarValue;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowPredicate, ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
    RowFilter,
};

use crate::{MappedTable, QueryError, QueryResult, ROW_ID};

/// What a filter asks of a column.
#[derive(Debug, Clone)]
pub(crate) enum Condition {
    /// Equal to one of these values (typed as the column, see [`crate::values::literal`]).
    AnyOf(Vec<ScalarValue>),
    /// No value.
    Null,
}

/// One sort key: a column and whether it runs from the largest value.
#[derive(Debug, Clone)]
pub(crate) struct SortKey {
    pub column: String,
    pub descending: bool,
}

/// Rows kept before the candidates are cut down to the page again.
const PENDING_ROWS: usize = 65_536;
/// Deepest row (offset plus limit) this path finds: its candidates are held
/// in memory, so a page further in goes to DataFusion, whose sort keeps to
/// the query's memory limit.
const DEEPEST_ROW: usize = 100_000;

/// The row numbers of rows `skip..skip + take` of the rows passing every
/// filter, in the order of `sort` (then `_id`), and how many rows pass.
/// `None` when this table or these conditions are not for this path.
pub(crate) fn page_ids(
    table: &MappedTable,
    filters: &[(String, Condition)],
    sort: &[SortKey],
    skip: usize,
    take: usize,
    time_limit: Duration,
) -> QueryResult<Option<(Vec<i64>, u64)>> {
    let deadline = Instant::now() + time_limit;
    let wanted = skip.saturating_add(take);
    if wanted > DEEPEST_ROW {
        return Ok(None);
    }
    let footer = &table.footer;
    let schema = footer.schema().clone();
    let Ok(id_index) = schema.index_of(ROW_ID) else { return Ok(None) };
    if schema.field(id_index).data_type() != &DataType::Int64 {
        return Ok(None);
    }
    let index = |name: &str| schema.index_of(name).map_err(QueryError::unreadable);
    let sort_indices: Vec<usize> = sort.iter().map(|key| index(&key.column)).collect::<QueryResult<_>>()?;
    let filter_indices: Vec<usize> = filters.iter().map(|(name, _)| index(name)).collect::<QueryResult<_>>()?;

    // Text columns only filtered on, stored with a dictionary, are read as one.
    let metadata = footer.metadata();
    let mut fields: Vec<Field> = schema.fields().iter().map(|field| field.as_ref().clone()).collect();
    let mut hinted = false;
    for &column in &filter_indices {
        let text = matches!(fields[column].data_type(), DataType::Utf8 | DataType::LargeUtf8);
        let dictionary =
            metadata.row_groups().iter().all(|group| group.column(column).dictionary_page_offset().is_some());
        if text && dictionary && !sort_indices.contains(&column) {
            let value = fields[column].data_type().clone();
            fields[column] =
                fields[column].clone().with_data_type(DataType::Dictionary(Box::new(DataType::Int32), Box::new(value)));
            hinted = true;
        }
    }
    let footer = if hinted {
        let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(fields)));
        ArrowReaderMetadata::try_new(metadata.clone(), options).map_err(QueryError::unreadable)?
    } else {
        footer.clone()
    };

    let parquet_schema = footer.parquet_schema().clone();
    let conditions: Vec<(ProjectionMask, Condition)> = filters
        .iter()
        .zip(&filter_indices)
        .map(|((_, condition), column)| (ProjectionMask::roots(&parquet_schema, [*column]), condition.clone()))
        .collect();
    let mut output: Vec<usize> = sort_indices.clone();
    output.push(id_index);
    output.sort_unstable();
    output.dedup();
    let projection = ProjectionMask::roots(&parquet_schema, output.iter().copied());
    // Positions of the sort columns and `_id` in the batches read.
    let position = |column: usize| output.iter().position(|kept| *kept == column).expect("projected");
    let keys: Vec<(usize, SortOptions)> = sort
        .iter()
        .zip(&sort_indices)
        .map(|(key, column)| (position(*column), SortOptions { descending: key.descending, nulls_first: false }))
        .chain(std::iter::once((position(id_index), SortOptions { descending: false, nulls_first: false })))
        .collect();
    let mut count = 0u64;
    let mut best: Option<RecordBatch> = None;
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut pending_rows = 0usize;
    // A row group at a time: the reader runs the filters over all the rows
    // it is given before yielding any, and the time limit is checked between groups.
    for group in 0..footer.metadata().num_row_groups() {
        if Instant::now() > deadline {
            return Err(QueryError::TimedOut(time_limit));
        }
        let predicates: Vec<Box<dyn ArrowPredicate>> = conditions
            .iter()
            .map(|(mask, condition)| {
                let condition = condition.clone();
                Box::new(ArrowPredicateFn::new(mask.clone(), move |batch: RecordBatch| {
                    passes(batch.column(0), &condition)
                })) as Box<dyn ArrowPredicate>
            })
            .collect();
        let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(table.bytes.clone(), footer.clone())
            .with_row_groups(vec![group])
            .with_projection(projection.clone())
            .with_batch_size(8_192);
        if !predicates.is_empty() {
            builder = builder.with_row_filter(RowFilter::new(predicates));
        }
        let reader = match builder.build() {
            Ok(reader) => reader,
            // A literal that cannot take the column's type: DataFusion decides.
            Err(parquet::errors::ParquetError::ArrowError(_)) => return Ok(None),
            Err(error) => return Err(QueryError::unreadable(error)),
        };
        for batch in reader {
            let batch = match batch {
                Ok(batch) => batch,
                Err(ArrowError::ComputeError(_) | ArrowError::CastError(_) | ArrowError::InvalidArgumentError(_)) => {
                    return Ok(None);
                }
                Err(error) => return Err(QueryError::unreadable(error)),
            };
            count += batch.num_rows() as u64;
            if wanted == 0 || batch.num_rows() == 0 {
                continue;
            }
            if sort.is_empty() && best.as_ref().is_some_and(|best| best.num_rows() >= wanted) {
                // In file order, the first rows found are the page; the rest are only counted.
                continue;
            }
            pending_rows += batch.num_rows();
            pending.push(batch);
            if pending_rows >= PENDING_ROWS.max(wanted) {
                best = Some(
                    top(best.take(), std::mem::take(&mut pending), &keys, wanted).map_err(QueryError::unreadable)?,
                );
                pending_rows = 0;
            }
        }
    }
    if !pending.is_empty() {
        best = Some(top(best.take(), pending, &keys, wanted).map_err(QueryError::unreadable)?);
    }
    let ids = match best {
        Some(best) => {
            let ids = best.column(position(id_index)).as_primitive::<Int64Type>();
            ids.iter().skip(skip).take(take).flatten().collect()
        }
        None => Vec::new(),
    };
    Ok(Some((ids, count)))
}

/// The first `wanted` rows, in the order of `keys`, of `best` and `more`.
fn top(
    best: Option<RecordBatch>,
    more: Vec<RecordBatch>,
    keys: &[(usize, SortOptions)],
    wanted: usize,
) -> Result<RecordBatch, ArrowError> {
    let schema = more.first().map(|batch| batch.schema()).expect("at least one batch");
    let batch = arrow::compute::concat_batches(&schema, best.iter().chain(more.iter()))?;
    let columns: Vec<SortColumn> = keys
        .iter()
        .map(|(position, options)| SortColumn { values: batch.column(*position).clone(), options: Some(*options) })
        .collect();
    let order = arrow::compute::lexsort_to_indices(&columns, Some(wanted))?;
    arrow::compute::take_record_batch(&batch, &order)
}

/// Whether each value of `column` meets `condition` (a null never equals).
fn passes(column: &ArrayRef, condition: &Condition) -> Result<BooleanArray, ArrowError> {
    let result = match condition {
        Condition::Null => arrow::compute::is_null(column.as_ref())?,
        Condition::AnyOf(values) => match column.as_any_dictionary_opt() {
            // The few distinct values are compared; the keys say which rows hold them.
            Some(dictionary) => {
                let hits = equals_any(dictionary.values(), values)?;
                let hits = arrow::compute::take(&hits, dictionary.keys(), None)?;
                hits.as_boolean().clone()
            }
            None => equals_any(column, values)?,
        },
    };
    Ok(match result.null_count() {
        0 => result,
        _ => arrow::compute::prep_null_mask_filter(&result),
    })
}

fn equals_any(column: &ArrayRef, values: &[ScalarValue]) -> Result<BooleanArray, ArrowError> {
    let mut result: Option<BooleanArray> = None;
    for value in values {
        let value = value.to_array_of_size(1).map_err(|error| ArrowError::ComputeError(error.to_string()))?;
        let value = arrow::compute::cast(&value, column.data_type())?;
        if value.null_count() > 0 {
            // The literal does not fit the column's type: no row can equal it.
            return Err(ArrowError::CastError("the value does not fit the column".into()));
        }
        let equal = arrow::compute::kernels::cmp::eq(column, &arrow::array::Scalar::new(value))?;
        result = Some(match result {
            Some(before) => arrow::compute::or(&before, &equal)?,
            None => equal,
        });
    }
    Ok(result.unwrap_or_else(|| BooleanArray::from(vec![false; column.len()])))
}

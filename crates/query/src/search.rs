//! CKAN DataStore's `datastore_search` over a resource's table.

use std::sync::Arc;

use arrow::datatypes::{DataType, Schema};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::functions::string::expr_fn::lower;
use datafusion::functions::unicode::expr_fn::translate;
use datafusion::logical_expr::{Expr, SortExpr};
use datafusion::prelude::{DataFrame, ident, lit};
use datafusion::scalar::ScalarValue;
use futures_util::StreamExt;
use serde_json::{Map, Value};

use crate::filters::{batch_rows, field};
use crate::page::{self, Condition, SortKey};
use crate::values::{is_text, json_text, literal};
use crate::{MappedTable, QueryEngine, QueryError, QueryResult, ROW_ID, Table};

/// CKAN's largest `limit`.
pub const MAX_LIMIT: usize = 32_000;

/// Sorted pages up to this many rows are read late: row numbers first,
/// then only those rows (see [`rows_by_id`]).
const LATE_MAX_ROWS: usize = 1_000;

#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// Column → value, or a list of values (any of them).
    pub filters: Map<String, Value>,
    /// Full text: a string over every text column, or an object column → text.
    pub q: Option<Value>,
    pub distinct: bool,
    pub fields: Option<Vec<String>>,
    /// "col", "col desc, other asc".
    pub sort: Option<String>,
    pub limit: usize,
    pub offset: usize,
    pub include_total: bool,
}

impl Default for SearchRequest {
    fn default() -> Self {
        SearchRequest {
            filters: Map::new(),
            q: None,
            distinct: false,
            fields: None,
            sort: None,
            limit: 100,
            offset: 0,
            include_total: true,
        }
    }
}

#[derive(Debug)]
pub struct SearchResult {
    pub fields: Vec<(String, DataType)>,
    pub records: Vec<Vec<Value>>,
    pub total: Option<u64>,
    /// Counts are exact: from the Parquet footer or a count over the filtered rows.
    pub total_was_estimated: bool,
    /// `records` as the answer's JSON, by format, made once per result: a
    /// result served from the cache is not serialized again.
    rendered: std::sync::Mutex<Vec<(&'static str, Arc<str>)>>,
}

impl SearchResult {
    pub fn new(
        fields: Vec<(String, DataType)>,
        records: Vec<Vec<Value>>,
        total: Option<u64>,
        total_was_estimated: bool,
    ) -> SearchResult {
        SearchResult { fields, records, total, total_was_estimated, rendered: Default::default() }
    }

    /// The records rendered in `format` by `render`, rendered on first use
    /// and kept with the result.
    pub fn rendered<E>(
        &self,
        format: &'static str,
        render: impl FnOnce(&SearchResult) -> Result<String, E>,
    ) -> Result<Arc<str>, E> {
        if let Some((_, kept)) = self.rendered.lock().expect("not poisoned").iter().find(|(kind, _)| *kind == format) {
            return Ok(kept.clone());
        }
        let made: Arc<str> = Arc::from(render(self)?);
        self.rendered.lock().expect("not poisoned").push((format, made.clone()));
        Ok(made)
    }
}

/// Lower case without accents (ñ kept), as the search box folds text.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|character| match character {
            'á' | 'à' | 'ä' | 'â' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            other => other,
        })
        .collect()
}

/// The folded text of a column, for LIKE patterns built with [`fold`].
pub(crate) fn text_pattern(column: Expr) -> Expr {
    translate(lower(column), lit("áàäâéèëêíìïîóòöôúùüû"), lit("aaaaeeeeiiiioooouuuu"))
}

/// `text` matched literally inside a LIKE pattern.
pub(crate) fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// Most words a full-text search may have: each is a predicate over every text column.
pub const MAX_SEARCH_WORDS: usize = 32;
/// Most filters one `datastore_search` may give.
pub const MAX_FILTERS: usize = 64;
/// Most values one filter may list.
pub const MAX_FILTER_VALUES: usize = 1_000;
/// Most columns one sort may name.
pub const MAX_SORT_KEYS: usize = 16;
/// Most columns `fields` may list (a table has at most 16,384).
pub const MAX_FIELDS: usize = 16_384;

/// `predicates` joined by `join` as a balanced tree, so that its depth
/// grows with the logarithm of their number, not with the number.
pub(crate) fn balanced(mut predicates: Vec<Expr>, join: fn(Expr, Expr) -> Expr) -> Option<Expr> {
    while predicates.len() > 1 {
        let mut joined = Vec::with_capacity(predicates.len().div_ceil(2));
        let mut pairs = predicates.into_iter();
        while let Some(left) = pairs.next() {
            joined.push(match pairs.next() {
                Some(right) => join(left, right),
                None => left,
            });
        }
        predicates = joined;
    }
    predicates.pop()
}

/// Every word of `text` appears in one of the text columns (or in `only`).
pub(crate) fn full_text(schema: &Schema, text: &str, only: Option<&str>) -> QueryResult<Option<Expr>> {
    let words = text.split_whitespace().count();
    if words > MAX_SEARCH_WORDS {
        return Err(QueryError::invalid("q", format!("search for at most {MAX_SEARCH_WORDS} words (found {words})")));
    }
    let columns: Vec<String> = match only {
        Some(name) => vec![field(schema, name)?.name().clone()],
        None => schema
            .fields()
            .iter()
            .filter(|field| is_text(field.data_type()))
            .map(|field| field.name().clone())
            .collect(),
    };
    if columns.is_empty() {
        return Ok(Some(lit(false)));
    }
    let mut every = Vec::new();
    for word in text.split_whitespace() {
        let pattern = lit(format!("%{}%", escape_like(&fold(word))));
        let any = columns
            .iter()
            .map(|column| {
                let value = if is_text(schema.field_with_name(column).expect("listed").data_type()) {
                    ident(column)
                } else {
                    datafusion::logical_expr::cast(ident(column), DataType::Utf8)
                };
                text_pattern(value).like(pattern.clone())
            })
            .collect();
        every.push(balanced(any, Expr::or).expect("at least one column"));
    }
    Ok(balanced(every, Expr::and))
}

/// Reads a stream into JSON rows, stopping after `cap` rows; an answer
/// past [`DEFAULT_ANSWER_BYTES`] is refused.
pub(crate) async fn collect_rows(
    stream: SendableRecordBatchStream,
    cap: usize,
) -> QueryResult<(Vec<(String, DataType)>, Vec<Vec<Value>>)> {
    let (columns, rows, cut) = collect_rows_within(stream, cap, DEFAULT_ANSWER_BYTES).await?;
    if cut {
        return Err(answer_too_big());
    }
    Ok((columns, rows))
}

fn answer_too_big() -> QueryError {
    QueryError::TooBig(format!(
        "the answer would be larger than {} MB; ask for fewer rows or columns",
        DEFAULT_ANSWER_BYTES >> 20
    ))
}

/// Bytes of rows a JSON answer holds at most, unless the settings say otherwise.
pub const DEFAULT_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// About how many bytes `value` takes once written as JSON.
pub(crate) fn json_bytes(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 12,
        Value::String(text) => text.len() + 3,
        Value::Array(items) => 2 + items.iter().map(json_bytes).sum::<usize>(),
        Value::Object(entries) => {
            2 + entries.iter().map(|(key, value)| key.len() + 4 + json_bytes(value)).sum::<usize>()
        }
    }
}

/// Reads a stream into JSON rows, stopping after `cap` rows or once the
/// rows would take more than `byte_limit` bytes of JSON; the flag says the
/// bytes cut the answer short.
pub(crate) async fn collect_rows_within(
    mut stream: SendableRecordBatchStream,
    cap: usize,
    byte_limit: usize,
) -> QueryResult<(Vec<(String, DataType)>, Vec<Vec<Value>>, bool)> {
    let columns =
        stream.schema().fields().iter().map(|field| (field.name().clone(), field.data_type().clone())).collect();
    let mut rows = Vec::new();
    let mut bytes = 0usize;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let room = cap.saturating_sub(rows.len());
        let batch = if batch.num_rows() > room { batch.slice(0, room) } else { batch };
        for row in batch_rows(&batch) {
            bytes += row.iter().map(json_bytes).sum::<usize>() + 2;
            if bytes > byte_limit {
                return Ok((columns, rows, true));
            }
            rows.push(row);
        }
        if rows.len() >= cap {
            break;
        }
    }
    Ok((columns, rows, false))
}

/// The row numbers (`_id`) a one-column frame gives, in its order.
async fn collect_ids(frame: DataFrame) -> QueryResult<Vec<i64>> {
    use arrow::array::AsArray;
    let mut ids = Vec::new();
    let mut stream = frame.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let column = arrow::compute::cast(batch.column(0), &DataType::Int64)
            .map_err(|error| QueryError::Failed(error.to_string()))?;
        ids.extend(column.as_primitive::<arrow::datatypes::Int64Type>().iter().flatten());
    }
    Ok(ids)
}

/// The rows numbered `ids` (in that order), with the columns `wanted` of
/// the types given, read straight from the table's file: row `n` of a
/// table is its `n`th row (ingestion numbers rows in file order), and only
/// the pages holding one of them are read, by the page index. `None` when
/// the file does not number its rows so (then the caller reads them the
/// usual way).
fn rows_by_id(table: MappedTable, ids: &[i64], wanted: &[(String, DataType)]) -> QueryResult<Option<Vec<Vec<Value>>>> {
    use arrow::array::{AsArray, UInt32Array};
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection, RowSelector};

    if ids.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let MappedTable { footer, bytes } = table;
    let rows = footer.metadata().file_metadata().num_rows();
    let mut positions: Vec<i64> = ids.to_vec();
    positions.sort_unstable();
    positions.dedup();
    if positions.first().is_some_and(|first| *first < 1) || positions.last().is_some_and(|last| *last > rows) {
        return Ok(None);
    }
    let mut selectors = Vec::with_capacity(positions.len() * 2);
    let mut next = 0i64;
    for id in &positions {
        let row = id - 1;
        if row > next {
            selectors.push(RowSelector::skip((row - next) as usize));
        }
        selectors.push(RowSelector::select(1));
        next = row + 1;
    }
    let schema = footer.schema().clone();
    let Ok(id_index) = schema.index_of(ROW_ID) else { return Ok(None) };
    let mut indices = vec![id_index];
    for (name, _) in wanted {
        indices.push(schema.index_of(name).map_err(QueryError::unreadable)?);
    }
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(bytes, footer);
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    let reader = builder
        .with_projection(mask)
        .with_row_selection(RowSelection::from(selectors))
        .with_batch_size(positions.len().max(1))
        .build()
        .map_err(QueryError::unreadable)?;
    // The page's rows are bounded in number, not in size (a cell may hold
    // megabytes): the same byte bound as every other answer, as they are read.
    let mut batches = Vec::new();
    let mut held = 0usize;
    for batch in reader {
        let batch = batch.map_err(QueryError::unreadable)?;
        held += batch.get_array_memory_size();
        if held > DEFAULT_ANSWER_BYTES {
            return Err(answer_too_big());
        }
        batches.push(batch);
    }
    let Some(first) = batches.first() else { return Ok(Some(Vec::new())) };
    let batch = arrow::compute::concat_batches(&first.schema(), &batches).map_err(QueryError::unreadable)?;
    let found = batch.column_by_name(ROW_ID).map(|column| column.as_primitive::<arrow::datatypes::Int64Type>());
    if found.is_none_or(|found| found.len() != positions.len() || found.values().iter().ne(positions.iter())) {
        return Ok(None);
    }
    // Back in the page's order, and in the types and order of `wanted`.
    let order = UInt32Array::from_iter_values(
        ids.iter().map(|id| positions.binary_search(id).expect("every id is among the positions") as u32),
    );
    let mut columns = Vec::with_capacity(wanted.len());
    for (name, data_type) in wanted {
        let column = batch.column_by_name(name).ok_or_else(|| QueryError::unreadable(format!("no column {name}")))?;
        let column = arrow::compute::take(column.as_ref(), &order, None).map_err(QueryError::unreadable)?;
        columns.push(arrow::compute::cast(&column, data_type).map_err(QueryError::unreadable)?);
    }
    let fields: Vec<arrow::datatypes::Field> =
        wanted.iter().map(|(name, data_type)| arrow::datatypes::Field::new(name, data_type.clone(), true)).collect();
    let page = arrow::record_batch::RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(QueryError::unreadable)?;
    Ok(Some(batch_rows(&page)))
}

/// Parses CKAN's `sort`: "col", "col desc", "\"Col name\" asc, other".
pub fn parse_sort(schema: &Schema, sort: &str) -> QueryResult<Vec<SortExpr>> {
    Ok(sort_exprs(&sort_keys(schema, sort)?))
}

/// The sort keys as DataFusion sorts: nulls last in either direction.
fn sort_exprs(keys: &[SortKey]) -> Vec<SortExpr> {
    keys.iter().map(|key| ident(&key.column).sort(!key.descending, false)).collect()
}

/// CKAN's `sort` as the columns (by their names in the table) and directions.
pub(crate) fn sort_keys(schema: &Schema, sort: &str) -> QueryResult<Vec<SortKey>> {
    let mut order = Vec::new();
    if sort.split(',').count() > MAX_SORT_KEYS {
        return Err(QueryError::invalid("sort", format!("sort by at most {MAX_SORT_KEYS} columns")));
    }
    for part in sort.split(',').map(str::trim).filter(|part| !part.is_empty()) {
        let (name, direction) = match part.rsplit_once(char::is_whitespace) {
            Some((name, direction)) if ["asc", "desc"].contains(&direction.to_lowercase().as_str()) => {
                (name.trim(), direction.to_lowercase())
            }
            _ => (part, "asc".to_string()),
        };
        let name = name.trim_matches('"');
        let column = field(schema, name)
            .map_err(|_| QueryError::invalid("sort", format!("field \"{name}\" not in table")))?
            .name()
            .clone();
        order.push(SortKey { column, descending: direction == "desc" });
    }
    Ok(order)
}

impl QueryEngine {
    /// `datastore_search`.
    pub async fn search(&self, table: Table, request: SearchRequest) -> QueryResult<Arc<SearchResult>> {
        if request.limit > MAX_LIMIT {
            return Err(QueryError::invalid("limit", format!("must be at most {MAX_LIMIT}")));
        }
        if request.filters.len() > MAX_FILTERS {
            return Err(QueryError::invalid("filters", format!("at most {MAX_FILTERS} filters are allowed")));
        }
        if let Some(listed) = request.filters.values().filter_map(Value::as_array).map(Vec::len).max()
            && listed > MAX_FILTER_VALUES
        {
            return Err(QueryError::invalid(
                "filters",
                format!("a filter may list at most {MAX_FILTER_VALUES} values"),
            ));
        }
        if request.fields.as_ref().is_some_and(|fields| fields.len() > MAX_FIELDS) {
            return Err(QueryError::invalid("fields", format!("list at most {MAX_FIELDS} fields")));
        }
        if let Some(Value::Object(per_field)) = &request.q
            && per_field.len() > MAX_FILTERS
        {
            return Err(QueryError::invalid("q", format!("search at most {MAX_FILTERS} fields")));
        }
        let info = self.info(&table)?;
        let mut request = request;
        // No page starts past the last row: an offset beyond it is the same
        // empty page, and DataFusion adds offset and limit unchecked.
        request.offset = request.offset.min(info.rows as usize);
        let key = format!("{}|{request:?}", table.path.display());
        let compute = move || async move {
            let context = self.context();
            let footers = self.footers.clone();
            let time_limit = self.settings.time_limit;
            self.run(async move {
                let mut frame = Self::frame(&context, &table).await?;
                let schema = frame.schema().as_arrow().clone();
                let mut filtered = false;
                // The filters again, for the one-pass page (see `page`).
                let mut conditions = Vec::new();
                for (name, value) in &request.filters {
                    let field = field(&schema, name)
                        .map_err(|_| QueryError::invalid("filters", format!("field \"{name}\" not in table")))?;
                    let typed = |value: &Value| -> QueryResult<ScalarValue> {
                        let text = json_text(value)
                            .ok_or_else(|| QueryError::invalid("filters", format!("invalid value for \"{name}\"")))?;
                        literal(field, &text).map_err(|error| QueryError::invalid("filters", error.to_string()))
                    };
                    let (predicate, condition) = match value {
                        Value::Array(values) => {
                            let values = values.iter().map(typed).collect::<QueryResult<Vec<_>>>()?;
                            let listed = values.iter().cloned().map(lit).collect();
                            (ident(field.name()).in_list(listed, false), Condition::AnyOf(values))
                        }
                        Value::Null => (ident(field.name()).is_null(), Condition::Null),
                        value => {
                            let value = typed(value)?;
                            (ident(field.name()).eq(lit(value.clone())), Condition::AnyOf(vec![value]))
                        }
                    };
                    conditions.push((field.name().clone(), condition));
                    frame = frame.filter(predicate)?;
                    filtered = true;
                }
                let mut searched = false;
                match &request.q {
                    Some(Value::String(text)) if !text.trim().is_empty() => {
                        if let Some(predicate) = full_text(&schema, text, None)? {
                            frame = frame.filter(predicate)?;
                            searched = true;
                        }
                    }
                    Some(Value::Object(per_field)) => {
                        for (name, text) in per_field {
                            let text = json_text(text).unwrap_or_default();
                            let predicate = full_text(&schema, &text, Some(name))
                                .map_err(|_| QueryError::invalid("q", format!("field \"{name}\" not in table")))?;
                            if let Some(predicate) = predicate {
                                frame = frame.filter(predicate)?;
                                searched = true;
                            }
                        }
                    }
                    Some(Value::String(_)) | None | Some(Value::Null) => {}
                    Some(_) => return Err(QueryError::invalid("q", "must be text or an object of field → text")),
                }
                filtered |= searched;
                let sort = match &request.sort {
                    Some(sort) => sort_keys(&schema, sort)?,
                    None => Vec::new(),
                };
                let mut order = sort_exprs(&sort);
                let numbered = schema.field_with_name(ROW_ID).is_ok();
                // A sorted or filtered page of a table with row numbers is
                // found by row number first, then read (see below).
                let late = numbered
                    && !request.distinct
                    && request.limit <= LATE_MAX_ROWS
                    && (!order.is_empty() || (filtered && !searched));
                if !request.distinct {
                    // Sorted before the projection: the sort column need not be among `fields`.
                    if numbered {
                        order.push(ident(ROW_ID).sort(true, false));
                    }
                    if !order.is_empty() {
                        frame = frame.sort(std::mem::take(&mut order))?;
                    }
                }
                let ids = if late { Some(frame.clone().select(vec![ident(ROW_ID)])?) } else { None };
                if let Some(fields) = &request.fields {
                    let mut wanted = Vec::new();
                    for name in fields {
                        let field = field(&schema, name)
                            .map_err(|_| QueryError::invalid("fields", format!("field \"{name}\" not in table")))?;
                        wanted.push(ident(field.name()));
                    }
                    frame = frame.select(wanted)?;
                }
                if request.distinct {
                    frame = frame.distinct()?;
                    filtered = true;
                    if !order.is_empty() {
                        frame = frame.sort(order)?;
                    }
                }
                let total = async |frame: &DataFrame, counted: Option<u64>| -> QueryResult<Option<u64>> {
                    Ok(match (request.include_total, filtered, counted) {
                        (false, _, _) => None,
                        (true, false, _) => Some(info.rows),
                        (true, true, Some(counted)) => Some(counted),
                        (true, true, None) => Some(frame.clone().count().await? as u64),
                    })
                };
                if let Some(ids) = ids {
                    // Late materialization: the page's row numbers first,
                    // from the filter and sort columns only (in one pass
                    // with the count, when only filters and sorts are
                    // asked); then only those rows of every column, by
                    // their position.
                    let mapped = footers.get(&table.path)?;
                    let wanted: Vec<(String, DataType)> = frame
                        .schema()
                        .fields()
                        .iter()
                        .map(|field| (field.name().clone(), field.data_type().clone()))
                        .collect();
                    let quick = match searched {
                        false => {
                            page::page_ids(&mapped, &conditions, &sort, request.offset, request.limit, time_limit)?
                        }
                        true => None,
                    };
                    let (ids, counted) = match quick {
                        Some((ids, counted)) => (ids, Some(counted)),
                        None => (collect_ids(ids.limit(request.offset, Some(request.limit))?).await?, None),
                    };
                    if let Some(records) = rows_by_id(mapped, &ids, &wanted)? {
                        return Ok(SearchResult::new(wanted, records, total(&frame, counted).await?, false));
                    }
                }
                let total = total(&frame, None).await?;
                frame = frame.limit(request.offset, Some(request.limit))?;
                let (fields, records) = collect_rows(frame.execute_stream().await?, request.limit).await?;
                Ok(SearchResult::new(fields, records, total, false))
            })
            .await
        };
        self.searches.get_or_compute(key, |result| result.records.len() <= 1_000, compute).await
    }
}

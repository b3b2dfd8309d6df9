//! The native rows API: Datasette-style filters (`col__gt=3`), sort,
//! keyset paging with a `next` token, and facet counts.

use arrow::datatypes::{DataType, Schema};
use base64::Engine as _;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{Expr, SortExpr, cast};
use datafusion::prelude::{DataFrame, ident, lit};
use serde_json::{Value, json};

use crate::search::{collect_rows, escape_like, full_text, text_pattern};
use crate::values::{column_json, json_text, literal};
use crate::{QueryEngine, QueryError, QueryResult, ROW_ID, Table};

/// Largest page of the rows API.
pub const MAX_PAGE: usize = 1_000;
/// Values listed per facet.
pub const FACET_VALUES: usize = 30;
/// Filters and listed values one request may give: the same bounds as
/// `datastore_search`'s.
pub use crate::search::{MAX_FILTER_VALUES, MAX_FILTERS};
/// Facets one request may ask for (each is an aggregation over the rows).
pub const MAX_FACETS: usize = 8;
/// Columns one request may list with `_col`.
pub const MAX_COLUMNS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Exact,
    Not,
    Gt,
    Gte,
    Lt,
    Lte,
    Contains,
    In,
    IsNull,
}

impl FilterOp {
    const SUFFIXES: [(&'static str, FilterOp); 9] = [
        ("exact", FilterOp::Exact),
        ("not", FilterOp::Not),
        ("gt", FilterOp::Gt),
        ("gte", FilterOp::Gte),
        ("lt", FilterOp::Lt),
        ("lte", FilterOp::Lte),
        ("contains", FilterOp::Contains),
        ("in", FilterOp::In),
        ("isnull", FilterOp::IsNull),
    ];

    pub fn suffix(self) -> &'static str {
        Self::SUFFIXES.iter().find(|(_, op)| *op == self).map(|(suffix, _)| *suffix).unwrap_or("exact")
    }
}

/// One `column__op=value` parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub column: String,
    pub op: FilterOp,
    pub value: String,
}

impl Filter {
    /// `municipio__contains` → (`municipio`, contains); a key without a known suffix is an exact match.
    pub fn parse(key: &str, value: &str) -> Filter {
        if let Some((column, suffix)) = key.rsplit_once("__")
            && let Some((_, op)) = FilterOp::SUFFIXES.iter().find(|(known, _)| *known == suffix)
        {
            return Filter { column: column.to_string(), op: *op, value: value.to_string() };
        }
        Filter { column: key.to_string(), op: FilterOp::Exact, value: value.to_string() }
    }
}

#[derive(Debug, Clone, Default)]
pub struct RowsRequest {
    pub filters: Vec<Filter>,
    /// Full text over the text columns (`_search`).
    pub search: Option<String>,
    pub sort: Option<String>,
    pub sort_desc: bool,
    /// Rows per page (`_size`, at most [`MAX_PAGE`]).
    pub size: usize,
    /// The `next` token of the previous page.
    pub next: Option<String>,
    pub facets: Vec<String>,
    /// Only these columns (`_col`, repeatable); all when empty.
    pub columns: Vec<String>,
}

impl RowsRequest {
    /// Reads query-string pairs. Parameters starting with `_` are options;
    /// every other one is a filter.
    pub fn from_pairs(pairs: &[(String, String)]) -> QueryResult<RowsRequest> {
        let mut request = RowsRequest { size: 100, ..Default::default() };
        for (key, value) in pairs {
            match key.as_str() {
                "_size" => {
                    request.size = if value == "max" {
                        MAX_PAGE
                    } else {
                        value.parse().map_err(|_| QueryError::invalid("_size", "must be a whole number or max"))?
                    };
                    if request.size == 0 || request.size > MAX_PAGE {
                        return Err(QueryError::invalid("_size", format!("must be between 1 and {MAX_PAGE}")));
                    }
                }
                "_sort" => request.sort = Some(value.clone()),
                "_sort_desc" => {
                    request.sort = Some(value.clone());
                    request.sort_desc = true;
                }
                "_next" => request.next = Some(value.clone()).filter(|value| !value.is_empty()),
                "_facet" => request.facets.push(value.clone()),
                "_search" => request.search = Some(value.clone()).filter(|value| !value.trim().is_empty()),
                "_col" => request.columns.push(value.clone()),
                // Page-only parameters the HTML table passes through.
                // `_table` picks one of a workbook's tables: the caller resolves it.
                "_format" | "_table" | "lang" | "chart" | "x" | "y" | "agg" => {}
                other if other.starts_with('_') && other != ROW_ID && !other.starts_with("_id__") => {
                    return Err(QueryError::invalid(other, "unknown option"));
                }
                _ => request.filters.push(Filter::parse(key, value)),
            }
        }
        if request.filters.len() > MAX_FILTERS {
            return Err(QueryError::invalid("filters", format!("at most {MAX_FILTERS} filters are allowed")));
        }
        if request.facets.len() > MAX_FACETS {
            return Err(QueryError::invalid("_facet", format!("at most {MAX_FACETS} facets are allowed")));
        }
        if request.columns.len() > MAX_COLUMNS {
            return Err(QueryError::invalid("_col", format!("at most {MAX_COLUMNS} columns are allowed")));
        }
        Ok(request)
    }

    pub fn is_filtered(&self) -> bool {
        !self.filters.is_empty() || self.search.is_some()
    }
}

/// A page of rows.
#[derive(Debug, Clone)]
pub struct RowsPage {
    pub columns: Vec<(String, DataType)>,
    pub rows: Vec<Vec<Value>>,
    pub next: Option<String>,
    /// Matching rows (from the Parquet footer when unfiltered).
    pub total: u64,
    pub facets: Vec<Facet>,
}

#[derive(Debug, Clone)]
pub struct Facet {
    pub column: String,
    pub values: Vec<(Value, u64)>,
}

pub(crate) fn field<'a>(schema: &'a Schema, name: &str) -> QueryResult<&'a arrow::datatypes::Field> {
    schema.field_with_name(name).map_err(|_| QueryError::invalid(name, format!("there is no column \"{name}\"")))
}

/// The predicate of one filter, checked against the table's schema.
pub fn filter_expr(schema: &Schema, filter: &Filter) -> QueryResult<Expr> {
    let field = field(schema, &filter.column)?;
    let column = ident(field.name());
    Ok(match filter.op {
        FilterOp::Exact => column.eq(lit(literal(field, &filter.value)?)),
        FilterOp::Not => column.not_eq(lit(literal(field, &filter.value)?)),
        FilterOp::Gt => column.gt(lit(literal(field, &filter.value)?)),
        FilterOp::Gte => column.gt_eq(lit(literal(field, &filter.value)?)),
        FilterOp::Lt => column.lt(lit(literal(field, &filter.value)?)),
        FilterOp::Lte => column.lt_eq(lit(literal(field, &filter.value)?)),
        FilterOp::Contains => {
            let text = if crate::values::is_text(field.data_type()) { column } else { cast(column, DataType::Utf8) };
            text_pattern(text).like(lit(format!("%{}%", escape_like(&crate::search::fold(&filter.value)))))
        }
        FilterOp::In => {
            if filter.value.split(',').count() > MAX_FILTER_VALUES {
                return Err(QueryError::invalid(
                    &filter.column,
                    format!("__in may list at most {MAX_FILTER_VALUES} values"),
                ));
            }
            let values =
                filter.value.split(',').map(|value| literal(field, value).map(lit)).collect::<QueryResult<Vec<_>>>()?;
            column.in_list(values, false)
        }
        FilterOp::IsNull => match filter.value.to_lowercase().as_str() {
            "" | "1" | "true" | "sí" | "si" => column.is_null(),
            "0" | "false" | "no" => column.is_not_null(),
            _ => return Err(QueryError::invalid(format!("{}__isnull", filter.column), "must be 1 or 0")),
        },
    })
}

/// The keyset token: the last row's sort value and row id.
fn encode_next(value: &Value, id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({"v": value, "id": id}).to_string())
}

fn decode_next(token: &str) -> QueryResult<(Value, i64)> {
    let bad = || QueryError::invalid("_next", "is not a token this API gave");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let id = value["id"].as_i64().ok_or_else(bad)?;
    Ok((value["v"].clone(), id))
}

/// The one predicate of a request's filters and full-text search over a
/// table of `schema` (none when it asks for every row), built balanced:
/// its depth grows with the logarithm of the number of filters.
pub fn row_predicate(schema: &Schema, request: &RowsRequest) -> QueryResult<Option<Expr>> {
    let mut predicates =
        request.filters.iter().map(|filter| filter_expr(schema, filter)).collect::<QueryResult<Vec<_>>>()?;
    if let Some(search) = &request.search
        && let Some(predicate) = full_text(schema, search, None)?
    {
        predicates.push(predicate);
    }
    Ok(crate::search::balanced(predicates, Expr::and))
}

impl QueryEngine {
    /// The filtered, sorted rows of `table` as a DataFrame (no paging).
    pub(crate) async fn rows_frame(
        context: &datafusion::prelude::SessionContext,
        table: &Table,
        request: &RowsRequest,
    ) -> QueryResult<(DataFrame, Vec<SortExpr>)> {
        let mut frame = Self::frame(context, table).await?;
        let schema = frame.schema().as_arrow().clone();
        if let Some(predicate) = row_predicate(&schema, request)? {
            frame = frame.filter(predicate)?;
        }
        let mut order = Vec::new();
        if let Some(sort) = &request.sort {
            let field = field(&schema, sort)?;
            order.push(ident(field.name()).sort(!request.sort_desc, false));
        }
        if schema.field_with_name(ROW_ID).is_ok() && request.sort.as_deref() != Some(ROW_ID) {
            order.push(ident(ROW_ID).sort(true, false));
        }
        if !request.columns.is_empty() {
            let mut wanted = Vec::new();
            for name in &request.columns {
                wanted.push(ident(field(&schema, name)?.name()));
            }
            // The sort column and the row id stay available to the keyset; they are dropped later.
            for extra in request.sort.iter().map(String::as_str).chain([ROW_ID]) {
                if !request.columns.iter().any(|name| name == extra) && schema.field_with_name(extra).is_ok() {
                    wanted.push(ident(extra));
                }
            }
            frame = frame.select(wanted)?;
        }
        Ok((frame, order))
    }

    /// One page of rows, with its `next` token, total and facets.
    pub async fn rows(&self, table: Table, request: RowsRequest) -> QueryResult<std::sync::Arc<RowsPage>> {
        let key = format!("{}|{request:?}", table.path.display());
        let info = self.info(&table)?;
        let compute = move || async move {
            let context = self.context();
            self.run(async move {
                let (frame, order) = Self::rows_frame(&context, &table, &request).await?;
                let schema = frame.schema().as_arrow().clone();
                let total = if request.is_filtered() { frame.clone().count().await? as u64 } else { info.rows };
                let mut facets = Vec::new();
                for name in &request.facets {
                    let column = field(&schema, name).or_else(|_| field(&info.schema, name))?.name().clone();
                    let counted = frame
                        .clone()
                        .aggregate(vec![ident(&column)], vec![count(datafusion::prelude::lit(1)).alias("n")])?
                        .sort(vec![ident("n").sort(false, false), ident(&column).sort(true, false)])?
                        .limit(0, Some(FACET_VALUES))?;
                    let (_, rows) = collect_rows(counted.execute_stream().await?, usize::MAX).await?;
                    let values = rows
                        .into_iter()
                        .map(|mut row| {
                            let n = row.pop().and_then(|n| n.as_u64()).unwrap_or(0);
                            (row.pop().unwrap_or(Value::Null), n)
                        })
                        .collect();
                    facets.push(Facet { column, values });
                }
                let mut paged = frame;
                if let Some(token) = &request.next {
                    let (value, id) = decode_next(token)?;
                    let after_id = ident(ROW_ID).gt(lit(id));
                    let predicate = match &request.sort {
                        Some(sort) if sort != ROW_ID => {
                            let sort_field = field(&schema, sort)?;
                            let column = ident(sort_field.name());
                            match json_text(&value) {
                                None => column.clone().is_null().and(after_id),
                                Some(text) => {
                                    let value = lit(literal(sort_field, &text)?);
                                    let beyond = if request.sort_desc {
                                        column.clone().lt(value.clone())
                                    } else {
                                        column.clone().gt(value.clone())
                                    };
                                    beyond.or(column.clone().is_null()).or(column.eq(value).and(after_id))
                                }
                            }
                        }
                        Some(_) if request.sort_desc => ident(ROW_ID).lt(lit(id)),
                        _ => after_id,
                    };
                    paged = paged.filter(predicate)?;
                }
                let paged = paged.sort(order)?.limit(0, Some(request.size + 1))?;
                let (columns, mut rows) = collect_rows(paged.execute_stream().await?, request.size + 1).await?;
                let more = rows.len() > request.size;
                rows.truncate(request.size);
                let position = |name: &str| columns.iter().position(|(column, _)| column == name);
                let next = match (more, rows.last(), position(ROW_ID)) {
                    (true, Some(last), Some(id_index)) => {
                        let id = last[id_index].as_i64().unwrap_or(0);
                        let value = request.sort.as_deref().and_then(position).map(|index| last[index].clone());
                        Some(encode_next(&value.unwrap_or(Value::Null), id))
                    }
                    _ => None,
                };
                // Drop the helper columns the caller did not ask for.
                let keep: Vec<usize> = (0..columns.len())
                    .filter(|index| request.columns.is_empty() || request.columns.contains(&columns[*index].0))
                    .collect();
                let columns = keep.iter().map(|index| columns[*index].clone()).collect();
                let rows = rows.into_iter().map(|row| keep.iter().map(|index| row[*index].clone()).collect()).collect();
                Ok(RowsPage { columns, rows, next, total, facets })
            })
            .await
        };
        self.pages.get_or_compute(key, |_| true, compute).await
    }
}

/// Cells of a batch as JSON rows.
pub(crate) fn batch_rows(batch: &arrow::record_batch::RecordBatch) -> Vec<Vec<Value>> {
    let columns: Vec<Vec<Value>> = batch.columns().iter().map(column_json).collect();
    (0..batch.num_rows()).map(|row| columns.iter().map(|column| column[row].clone()).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_suffixes() {
        assert_eq!(Filter::parse("vehiculos__gte", "2").op, FilterOp::Gte);
        assert_eq!(Filter::parse("municipio", "Apodaca").op, FilterOp::Exact);
        let odd = Filter::parse("a__b", "x");
        assert_eq!((odd.column.as_str(), odd.op), ("a__b", FilterOp::Exact), "unknown suffix: part of the name");
        let request = RowsRequest::from_pairs(&[("_size".into(), "5000".into())]);
        assert!(matches!(request, Err(QueryError::Invalid { ref field, .. }) if field == "_size"));
    }

    #[test]
    fn next_tokens_round_trip() {
        let token = encode_next(&json!("Apodaca"), 42);
        assert_eq!(decode_next(&token).unwrap(), (json!("Apodaca"), 42));
        assert!(decode_next("no").is_err());
    }
}

//! CKAN DataStore's read actions over the tables ingestion wrote:
//! `datastore_search`, `datastore_search_sql` and `datastore_info`, with
//! CKAN's parameters and answer shapes so existing clients work unchanged.

use datalab_core::FieldErrors;
use datalab_query::SearchRequest;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::input::{Params, text};
use super::{Call, optional_bool, optional_integer, required_text};
use crate::data;
use crate::error::AppError;

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Invalid { field: field.into(), message: message.into() }
}

/// A parameter that may come as JSON or as a JSON string (GET requests).
fn json_param(params: &Params, key: &str) -> Result<Option<Value>, AppError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) if text.trim_start().starts_with(['{', '[']) => serde_json::from_str(text)
            .map(Some)
            .map_err(|error| invalid(key, format!("cannot parse the JSON: {error}"))),
        Some(value) => Ok(Some(value.clone())),
    }
}

/// The resource a call names, and the table: `<resource id>` is its first
/// table (a workbook's first sheet), `<resource id>/<sheet>` another one,
/// as in `datastore_search_sql`.
fn resource_id(params: &Params) -> Result<(Uuid, Option<String>), AppError> {
    let id = match params.get("resource_id").or_else(|| params.get("id")) {
        Some(value) => text(value).unwrap_or_default(),
        None => String::new(),
    };
    if id.trim().is_empty() {
        return Err(AppError::Validation(FieldErrors::single("resource_id", datalab_core::FieldError::Missing)));
    }
    let (id, table) = match id.trim().split_once('/') {
        Some((id, table)) => (id, Some(table.to_string())),
        None => (id.trim(), None),
    };
    Ok((Uuid::parse_str(id).map_err(|_| AppError::NotFound)?, table))
}

/// How a table is named in answers: the resource id, and the sheet after a
/// slash when it is not the first.
fn table_id(id: Uuid, table: Option<&str>) -> String {
    match table {
        Some(table) => format!("{id}/{table}"),
        None => id.to_string(),
    }
}

fn fields_out(fields: &[(String, arrow::datatypes::DataType)]) -> Vec<Value> {
    fields.iter().map(|(name, kind)| json!({"id": name, "type": datalab_query::values::ckan_type(kind)})).collect()
}

fn delimited(records: &[Vec<Value>], delimiter: u8) -> Result<String, AppError> {
    let mut writer = csv::WriterBuilder::new().delimiter(delimiter).from_writer(Vec::new());
    for record in records {
        let cells: Vec<String> = record
            .iter()
            .map(|value| match value {
                Value::Null => String::new(),
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect();
        writer.write_record(&cells).map_err(AppError::internal)?;
    }
    String::from_utf8(writer.into_inner().map_err(AppError::internal)?).map_err(AppError::internal)
}

/// The records of a result in a `records_format`, as JSON text.
fn render_records(result: &datalab_query::search::SearchResult, format: &str) -> Result<String, AppError> {
    match format {
        "objects" => serde_json::to_string(&data::ObjectRows { columns: &result.fields, rows: &result.records }),
        "lists" => serde_json::to_string(&result.records),
        "csv" => serde_json::to_string(&delimited(&result.records, b',')?),
        _ => serde_json::to_string(&delimited(&result.records, b'\t')?),
    }
    .map_err(AppError::internal)
}

/// A `datastore_search` answer: its small parts as a JSON object, and the
/// records already serialized (shared with the cached result).
pub(super) struct SearchAnswer {
    pub answer: Map<String, Value>,
    pub records: std::sync::Arc<str>,
}

impl SearchAnswer {
    /// CKAN's envelope around the answer, as JSON: the records text is
    /// copied in, not serialized again.
    pub(super) fn envelope(&self, help: &str) -> String {
        let head = serde_json::to_string(&json!({"help": help, "success": true})).expect("JSON values serialize");
        let answer = serde_json::to_string(&self.answer).expect("JSON values serialize");
        let mut body = String::with_capacity(head.len() + answer.len() + self.records.len() + 32);
        // `{"help":…,"success":true` + `,"result":` + `{…` + `,"records":` + records + `}}`;
        // the answer object is never empty.
        body.push_str(&head[..head.len() - 1]);
        body.push_str(",\"result\":");
        body.push_str(&answer[..answer.len() - 1]);
        body.push_str(",\"records\":");
        body.push_str(&self.records);
        body.push_str("}}");
        body
    }
}

pub(super) async fn search(call: &mut Call<'_>) -> Result<SearchAnswer, AppError> {
    let (id, table_name) = resource_id(&call.params)?;
    let (_, _, table) = data::queryable(call.state, &call.actor, id, table_name.as_deref()).await?;
    let filters = match json_param(&call.params, "filters")? {
        None => Map::new(),
        Some(Value::Object(filters)) => filters,
        Some(_) => return Err(invalid("filters", "must be an object of field → value or list of values")),
    };
    let q = json_param(&call.params, "q")?;
    let fields = match call.params.get("fields") {
        None | Some(Value::Null) => None,
        Some(Value::Array(names)) => Some(names.iter().filter_map(text).collect::<Vec<_>>()),
        Some(value) => Some(
            text(value)
                .unwrap_or_default()
                .split(',')
                .map(|name| name.trim().to_string())
                .filter(|name| !name.is_empty())
                .collect(),
        ),
    }
    .filter(|fields: &Vec<String>| !fields.is_empty());
    let sort = match call.params.get("sort") {
        None | Some(Value::Null) => None,
        Some(Value::Array(parts)) => Some(parts.iter().filter_map(text).collect::<Vec<_>>().join(",")),
        Some(value) => text(value),
    }
    .filter(|sort| !sort.trim().is_empty());
    let limit = optional_integer(&call.params, "limit", 100)?;
    let offset = optional_integer(&call.params, "offset", 0)?;
    if !(0..=datalab_query::search::MAX_LIMIT as i64).contains(&limit) {
        return Err(invalid("limit", format!("must be between 0 and {}", datalab_query::search::MAX_LIMIT)));
    }
    if offset < 0 {
        return Err(invalid("offset", "must be 0 or more"));
    }
    let records_format = call.params.get("records_format").and_then(text).unwrap_or_else(|| "objects".into());
    let format = ["objects", "lists", "csv", "tsv"]
        .into_iter()
        .find(|format| *format == records_format)
        .ok_or_else(|| invalid("records_format", "must be objects, lists, csv or tsv"))?;
    let include_total = optional_bool(&call.params, "include_total", true)?;
    // CKAN estimates totals above this threshold from table statistics; here
    // unfiltered totals come exact from the Parquet footer, and filtered ones
    // are counted, so every total is exact (`total_was_estimated: false`).
    if optional_integer(&call.params, "total_estimation_threshold", 0)? < 0 {
        return Err(invalid("total_estimation_threshold", "must be 0 or more"));
    }
    let distinct = optional_bool(&call.params, "distinct", false)?;
    // `plain` and `language` pick PostgreSQL full-text modes; the search here is always plain words.
    optional_bool(&call.params, "plain", true)?;
    let request = SearchRequest {
        filters,
        q,
        distinct,
        fields,
        sort: sort.clone(),
        limit: limit as usize,
        offset: offset as usize,
        include_total,
    };
    let result = call.state.app.query.search(table, request).await?;
    let records = result.rendered(format, |result| render_records(result, format))?;
    let start = action_link(call, limit, None);
    let next = action_link(call, limit, Some(offset.saturating_add(limit)));
    let mut answer = json!({
        "include_total": include_total,
        "resource_id": table_id(id, table_name.as_deref()),
        "fields": fields_out(&result.fields),
        "records_format": format,
        "limit": limit,
        "_links": {"start": start, "next": next},
    });
    if offset > 0 {
        answer["offset"] = json!(offset);
    }
    if let Some(sort) = sort {
        answer["sort"] = json!(sort);
    }
    if let Some(total) = result.total {
        answer["total"] = json!(total);
        answer["total_was_estimated"] = json!(result.total_was_estimated);
    }
    for key in ["filters", "q", "distinct", "fields"] {
        if let Some(value) = call.params.get(key) {
            answer[key] = value.clone();
        }
    }
    let Value::Object(answer) = answer else { unreachable!("built as an object") };
    Ok(SearchAnswer { answer, records })
}

/// `/api/3/action/datastore_search?…` with the call's own parameters and `offset` changed.
fn action_link(call: &Call<'_>, limit: i64, offset: Option<i64>) -> String {
    let mut pairs: Vec<(String, String)> = call
        .params
        .iter()
        .filter(|(key, _)| key.as_str() != "offset")
        .map(|(key, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (key.clone(), text)
        })
        .collect();
    if !call.params.contains_key("limit") {
        pairs.push(("limit".into(), limit.to_string()));
    }
    if let Some(offset) = offset {
        pairs.push(("offset".into(), offset.to_string()));
    }
    format!("/api/3/action/datastore_search?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default())
}

pub(super) async fn search_sql(call: &mut Call<'_>) -> Result<Value, AppError> {
    let sql = required_text(&call.params, "sql")?;
    let _slot = crate::throttle::heavy_slot(call.state, call.address)?;
    let tables = data::sql_tables(call.state, &call.actor, &sql).await?;
    let result = call.state.app.query.sql(sql.clone(), tables).await?;
    let mut answer = json!({
        "sql": sql,
        "fields": fields_out(&result.fields),
        "records": data::row_objects(&result.fields, result.records),
    });
    if result.truncated {
        answer["records_truncated"] = json!(true);
    }
    Ok(answer)
}

pub(super) async fn info(call: &mut Call<'_>) -> Result<Value, AppError> {
    let (id, table_name) = resource_id(&call.params)?;
    let (_, resource, table) = data::queryable(call.state, &call.actor, id, table_name.as_deref()).await?;
    let info = call.state.app.query.info(&table)?;
    let schema = match call.state.app.store.analysis(resource.id).await? {
        Some(analysis) => {
            analysis.table(table_name.as_deref()).map(|table| table["schema"]["fields"].clone()).unwrap_or(Value::Null)
        }
        None => Value::Null,
    };
    let described =
        |name: &str| schema.as_array().and_then(|fields| fields.iter().find(|field| field["name"] == name)).cloned();
    let fields: Vec<Value> = info
        .schema
        .fields()
        .iter()
        .filter(|field| field.name() != datalab_query::ROW_ID)
        .map(|field| {
            let described = described(field.name()).unwrap_or(Value::Null);
            json!({
                "id": field.name(),
                "type": datalab_query::values::ckan_type(field.data_type()),
                "schema": {"native_type": datalab_query::values::ckan_type(field.data_type()), "is_index": false, "notnull": false},
                "info": {
                    "label": described.get("title").cloned().unwrap_or(json!("")),
                    "notes": described.get("description").cloned().unwrap_or(json!("")),
                    "type_override": "",
                },
            })
        })
        .collect();
    Ok(json!({
        "meta": {"id": table_id(id, table_name.as_deref()), "count": info.rows, "table_type": "BASE TABLE", "aliases": [], "size": std::fs::metadata(&table.path).map(|meta| meta.len()).unwrap_or(0)},
        "fields": fields,
        // CKAN before 2.10 answered with a `schema` object; some clients still read it.
        "schema": info.schema.fields().iter().filter(|field| field.name() != datalab_query::ROW_ID)
            .map(|field| (field.name().clone(), json!(datalab_query::values::ckan_type(field.data_type())))).collect::<Map<String, Value>>(),
    }))
}

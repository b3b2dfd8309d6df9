//! The data API: rows of every tabular resource (`/api/v1/resources/{id}/rows`
//! and its exports) and guarded SQL (`/api/v1/sql`). The CKAN DataStore
//! actions (`ckan::datastore`) and the resource page share the lookup here:
//! a resource is queried only if its dataset is readable by the caller and
//! its analysis finished with a table.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use datalab_core::{Action, Actor, Resource};
use datalab_query::{ExportFormat, RowsRequest, Table};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::context::api_caller;
use crate::error::AppError;
use crate::error::{ApiError, ErrorBody};
use crate::throttle::ClientAddress;
use datalab_app::catalog;

/// The data API's routes with their operations (merged into the native API's).
pub fn api_router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(rows_json))
        // Documented as `rows.{format}`, which axum cannot route: the file
        // name is one segment, parsed by the handler. ApiDoc lists it.
        .route("/api/v1/resources/{id}/{file}", get(rows_file))
        .routes(routes!(sql_get, sql_post))
}

/// Why a resource has no table to query, in words for the caller.
fn not_queryable(message: &str) -> AppError {
    AppError::Invalid { field: "resource_id".into(), message: message.into() }
}

/// The table of resource `id`, if the caller may read it and it has one.
/// `table` names one of a workbook's tables (its sheet); `None` is the
/// file's default (first) table. SQL names a resource's default table by
/// its id and the others as `<id>/<table>`.
pub async fn queryable(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    table: Option<&str>,
) -> Result<(String, Resource, Table), AppError> {
    // One query for the resource and its dataset's access facts: this runs on every data request.
    let access = state.app.store.resource_access(id).await?;
    actor.authorize(Action::ReadDataset {
        organization: access.owner_org,
        private: access.private,
        state: access.state,
    })?;
    let resource = access.resource;
    let dataset = access.dataset_name;
    if !catalog::is_tabular(&resource) || !resource.is_upload() {
        return Err(not_queryable(
            "this resource is not a table: only uploaded files in a tabular format (CSV, TSV, XLSX, XLS, ODS, JSON, NDJSON, GeoJSON, zipped Shapefile) are queryable",
        ));
    }
    let name = match table {
        Some(table) => format!("{}/{table}", resource.id),
        None => resource.id.to_string(),
    };
    // Only the table's key is read, not the whole analysis: this runs on every data request.
    match state.app.store.table_state(resource.id, table).await? {
        Some(datalab_store::TableState::Ready(key)) => match state.app.query.table(&name, &key) {
            Some(table) => Ok((dataset, resource, table)),
            None => Err(AppError::internal(format!("resource {} has a malformed table key", resource.id))),
        },
        Some(datalab_store::TableState::NoSuchTable) => Err(AppError::Invalid {
            field: "_table".into(),
            message: format!("this file has no table named \"{}\"", table.unwrap_or_default()),
        }),
        Some(datalab_store::TableState::NoTable) => {
            Err(not_queryable("this file was analysed before tables were stored; upload it again"))
        }
        Some(datalab_store::TableState::Failed(error)) => {
            Err(not_queryable(&format!("the file could not be read as a table: {}", error.en)))
        }
        Some(datalab_store::TableState::Running) | None => {
            Err(not_queryable("the file is still being ingested; try again in a moment"))
        }
    }
}

/// The tables a SQL text reads, resolved and checked against the caller's rights.
pub async fn sql_tables(state: &AppState, actor: &Actor, sql: &str) -> Result<Vec<Table>, AppError> {
    let names = datalab_query::sql::referenced_tables(sql)?;
    let mut tables = Vec::new();
    for name in names {
        let unknown =
            || AppError::Invalid { field: "sql".into(), message: format!("\"{name}\" is not a queryable resource id") };
        let (id, table) = match name.split_once('/') {
            Some((id, table)) => (id, Some(table)),
            None => (name.as_str(), None),
        };
        let id = Uuid::parse_str(id).map_err(|_| unknown())?;
        match queryable(state, actor, id, table).await {
            Ok((_, _, table)) => tables.push(table),
            // Whether a private resource exists is not for a stranger to learn.
            Err(AppError::NotFound | AppError::Forbidden | AppError::NotAuthenticated) => return Err(unknown()),
            Err(AppError::Invalid { message, .. }) => {
                return Err(AppError::Invalid { field: "sql".into(), message: format!("{name}: {message}") });
            }
            Err(other) => return Err(other),
        }
    }
    Ok(tables)
}

/// The `_table` parameter: which of a workbook's tables.
pub fn table_param(pairs: &[(String, String)]) -> Option<&str> {
    pairs.iter().find(|(key, _)| key == "_table").map(|(_, value)| value.as_str()).filter(|value| !value.is_empty())
}

fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, AppError> {
    serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|error| AppError::BadRequest(format!("cannot read the query string: {error}")))
}

#[derive(Serialize, ToSchema)]
pub struct ColumnOut {
    pub name: String,
    /// Table Schema type: integer, number, boolean, date, datetime, time, string.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Serialize, ToSchema)]
pub struct FacetValueOut {
    #[schema(value_type = Object)]
    pub value: Value,
    pub count: u64,
}

#[derive(Serialize, ToSchema)]
pub struct RowsOut {
    pub resource_id: Uuid,
    pub columns: Vec<ColumnOut>,
    /// One object per row, keyed by column name; `_id` is the row's number in the file.
    #[schema(value_type = Vec<Object>)]
    pub rows: RowObjects,
    /// Rows matching the filters (all rows when unfiltered: read from the file's metadata).
    pub total: u64,
    /// Token for the next page (`_next=`), absent on the last page.
    pub next: Option<String>,
    pub next_url: Option<String>,
    pub facets: std::collections::BTreeMap<String, Vec<FacetValueOut>>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RowsParams {
    /// Rows per page, 1 to 1000 (default 100), or `max`.
    _size: Option<String>,
    /// Sort ascending by this column (nulls last).
    _sort: Option<String>,
    /// Sort descending by this column (nulls last).
    _sort_desc: Option<String>,
    /// The `next` token of the previous page.
    _next: Option<String>,
    /// Count the values of this column among the matching rows (repeatable).
    _facet: Option<String>,
    /// Words that must all appear in the text columns (accents and case ignored).
    _search: Option<String>,
    /// Only this column (repeatable).
    _col: Option<String>,
    /// Which of the file's tables, for files with several (a workbook's sheet name); the first by default.
    _table: Option<String>,
    /// Any other parameter filters a column: `col=v` (equals), `col__not`, `col__gt`, `col__gte`,
    /// `col__lt`, `col__lte`, `col__contains`, `col__in=a,b`, `col__isnull=1|0`, `col__exact`.
    #[param(rename = "{column}__{op}")]
    filter: Option<String>,
}

pub fn columns_out(columns: &[(String, arrow::datatypes::DataType)]) -> Vec<ColumnOut> {
    columns
        .iter()
        .map(|(name, kind)| ColumnOut { name: name.clone(), kind: datalab_query::values::schema_type(kind).into() })
        .collect()
}

/// Rows written as JSON objects keyed by column, straight from the row
/// vectors: no map is built per row.
pub(crate) struct ObjectRows<'a> {
    pub columns: &'a [(String, arrow::datatypes::DataType)],
    pub rows: &'a [Vec<Value>],
}

impl Serialize for ObjectRows<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        struct Row<'a>(&'a [(String, arrow::datatypes::DataType)], &'a [Value]);
        impl Serialize for Row<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.1.len()))?;
                for ((name, _), value) in self.0.iter().zip(self.1) {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
        }
        let mut seq = serializer.serialize_seq(Some(self.rows.len()))?;
        for row in self.rows {
            seq.serialize_element(&Row(self.columns, row))?;
        }
        seq.end()
    }
}

/// The rows of a (possibly cached, shared) page, written as objects.
pub struct RowObjects(Arc<datalab_query::filters::RowsPage>);

impl Serialize for RowObjects {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ObjectRows { columns: &self.0.columns, rows: &self.0.rows }.serialize(serializer)
    }
}

pub fn row_objects(columns: &[(String, arrow::datatypes::DataType)], rows: Vec<Vec<Value>>) -> Vec<Map<String, Value>> {
    rows.into_iter().map(|row| columns.iter().map(|(name, _)| name.clone()).zip(row).collect()).collect()
}

/// A page of a resource's rows, filtered, sorted and faceted.
#[utoipa::path(get, path = "/api/v1/resources/{id}/rows", tag = "data",
    params(("id" = Uuid, Path), RowsParams),
    responses((status = 200, body = RowsOut), (status = 404, body = ErrorBody),
        (status = 409, description = "an unknown column, a malformed filter value, or a resource with no table", body = ErrorBody)))]
pub(crate) async fn rows_json(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    RawQuery(raw): RawQuery,
) -> Result<Json<RowsOut>, ApiError> {
    rows_page(&state, &headers, id, raw).await
}

async fn rows_page(
    state: &AppState,
    headers: &HeaderMap,
    id: Uuid,
    raw: Option<String>,
) -> Result<Json<RowsOut>, ApiError> {
    let (actor, _) = api_caller(state, headers).await?;
    let pairs = query_pairs(raw.as_deref())?;
    let (_, _, table) = queryable(state, &actor, id, table_param(&pairs)).await?;
    let request = RowsRequest::from_pairs(&pairs).map_err(AppError::from)?;
    let page = state.app.query.rows(table, request).await.map_err(AppError::from)?;
    let next_url = page.next.as_ref().map(|next| {
        let mut pairs: Vec<(String, String)> = pairs.into_iter().filter(|(key, _)| key != "_next").collect();
        pairs.push(("_next".into(), next.clone()));
        format!(
            "{}/api/v1/resources/{id}/rows?{}",
            crate::links::base_url(state, headers),
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    });
    let facets = page
        .facets
        .iter()
        .map(|facet| {
            (
                facet.column.clone(),
                facet
                    .values
                    .iter()
                    .map(|(value, count)| FacetValueOut { value: value.clone(), count: *count })
                    .collect(),
            )
        })
        .collect();
    Ok(Json(RowsOut {
        resource_id: id,
        columns: columns_out(&page.columns),
        rows: RowObjects(page.clone()),
        total: page.total,
        next: page.next.clone(),
        next_url,
        facets,
    }))
}

/// Every matching row, streamed: `rows.csv`, `rows.tsv`, `rows.ndjson`, `rows.parquet`, `rows.xlsx`;
/// `rows.json` is the paged answer of `/rows`.
#[utoipa::path(get, path = "/api/v1/resources/{id}/rows.{format}", tag = "data",
    params(("id" = Uuid, Path), ("format" = String, Path, description = "json (a page), csv, tsv, ndjson, parquet or xlsx (every matching row, streamed)"), RowsParams),
    responses((status = 200, description = "the rows in the format asked for", content_type = "text/csv"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn rows_file(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddress(address): ClientAddress,
    Path((id, file)): Path<(Uuid, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let Some(extension) = file.strip_prefix("rows.") else { return Err(AppError::NotFound.into()) };
    if extension == "json" {
        return Ok(rows_page(&state, &headers, id, raw).await?.into_response());
    }
    let Some(format) = ExportFormat::from_extension(extension) else { return Err(AppError::NotFound.into()) };
    let (actor, _) = api_caller(&state, &headers).await?;
    let pairs = query_pairs(raw.as_deref())?;
    let (dataset, resource, table) = queryable(&state, &actor, id, table_param(&pairs)).await?;
    let request = RowsRequest::from_pairs(&pairs).map_err(AppError::from)?;
    let slot = crate::throttle::heavy_slot(&state, address)?;
    Ok(export_response(&state, &dataset, &resource, table, request, format, slot).await?)
}

/// A streamed download of the rows `request` selects.
pub async fn export_response(
    state: &AppState,
    dataset_name: &str,
    resource: &Resource,
    table: Table,
    request: RowsRequest,
    format: ExportFormat,
    slot: crate::throttle::AddressSlot,
) -> Result<Response, AppError> {
    let receiver = state.app.query.export(table, request, format).await?;
    // Fused: the compression layer polls a body again after its end (for
    // trailers), and an unfused `unfold` panics when polled past its end,
    // which cut every compressed export short (tower-http#732).
    // The client's slot goes with the body: it is given back when the
    // download ends or the client leaves.
    let stream = futures_util::StreamExt::fuse(futures_util::stream::unfold(
        (receiver, slot),
        |(mut receiver, slot)| async move {
            receiver.recv().await.map(|chunk| (chunk.map_err(std::io::Error::other), (receiver, slot)))
        },
    ));
    let stem: String = resource
        .name
        .rsplit_once('.')
        .map(|(stem, _)| stem)
        .unwrap_or(&resource.name)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    let stem = if stem.is_empty() { dataset_name.to_string() } else { stem };
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{stem}.{}\"", format.extension())) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[derive(Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct SqlParams {
    /// One SELECT; tables are resources named by id in double quotes: `SELECT * FROM "<id>"`.
    sql: String,
}

#[derive(Serialize, ToSchema)]
pub struct SqlOut {
    pub columns: Vec<ColumnOut>,
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<Map<String, Value>>,
    /// More rows matched than the row cap (`sql_row_cap`).
    pub truncated: bool,
}

/// One read-only SELECT over resources named by id (joins allowed), under a
/// time limit, a memory limit and a row cap.
#[utoipa::path(get, path = "/api/v1/sql", tag = "data", params(SqlParams),
    responses((status = 200, body = SqlOut),
        (status = 409, description = "not one SELECT, an unknown resource, or over the time or memory limit", body = ErrorBody)))]
pub(crate) async fn sql_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddress(address): ClientAddress,
    axum::extract::Query(params): axum::extract::Query<SqlParams>,
) -> Result<Json<SqlOut>, ApiError> {
    run_sql(&state, &headers, address, params.sql).await
}

/// The same, with the query in a JSON body `{"sql": "…"}` (for long queries).
#[utoipa::path(post, path = "/api/v1/sql", tag = "data", request_body = SqlParams,
    responses((status = 200, body = SqlOut), (status = 409, body = ErrorBody)))]
pub(crate) async fn sql_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddress(address): ClientAddress,
    Json(params): Json<SqlParams>,
) -> Result<Json<SqlOut>, ApiError> {
    run_sql(&state, &headers, address, params.sql).await
}

async fn run_sql(
    state: &AppState,
    headers: &HeaderMap,
    address: Option<std::net::IpAddr>,
    sql: String,
) -> Result<Json<SqlOut>, ApiError> {
    let (actor, _) = api_caller(state, headers).await?;
    let _slot = crate::throttle::heavy_slot(state, address)?;
    let tables = sql_tables(state, &actor, &sql).await?;
    let result = state.app.query.sql(sql, tables).await.map_err(AppError::from)?;
    Ok(Json(SqlOut {
        columns: columns_out(&result.fields),
        rows: row_objects(&result.fields, result.records),
        truncated: result.truncated,
    }))
}

/// Example calls of the data API for one resource, for the resource page.
pub fn examples(base: &str, id: Uuid) -> Value {
    let rows = format!("{base}/api/v1/resources/{id}/rows");
    let search = format!("{base}/api/3/action/datastore_search");
    json!({
        "curl": format!("curl '{rows}?_size=10'\ncurl -o datos.csv '{base}/api/v1/resources/{id}/rows.csv'\ncurl '{search}?resource_id={id}&limit=5'"),
        "python": format!("import requests\n\nrespuesta = requests.get(\"{search}\", params={{\"resource_id\": \"{id}\", \"limit\": 5}})\nregistros = respuesta.json()[\"result\"][\"records\"]\n\n# o con pandas, todas las filas:\nimport pandas as pd\ndf = pd.read_csv(\"{base}/api/v1/resources/{id}/rows.csv\")"),
        "r": format!("library(jsonlite)\nrespuesta <- fromJSON(\"{search}?resource_id={id}&limit=5\")\nregistros <- respuesta$result$records\n\n# todas las filas:\ndatos <- read.csv(\"{base}/api/v1/resources/{id}/rows.csv\")"),
        "javascript": format!("const respuesta = await fetch(\"{rows}?_size=10\");\nconst {{ rows, next }} = await respuesta.json();"),
    })
}

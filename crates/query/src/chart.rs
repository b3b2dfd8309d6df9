//! Aggregates behind the resource page's charts and map: a value (count,
//! sum or average) per category, per ordered x, per histogram bin, or per
//! cell of a latitude/longitude grid. Each answer is small whatever the
//! table's size: categories are capped, bins are fixed, grid cells capped.

use arrow::datatypes::DataType;
use datafusion::functions::math::expr_fn::{floor, round};
use datafusion::functions_aggregate::expr_fn::{avg, count, max, min, sum};
use datafusion::logical_expr::{Expr, cast};
use datafusion::prelude::{ident, lit};
use serde_json::Value;

use crate::filters::field;
use crate::search::collect_rows;
use crate::{QueryEngine, QueryError, QueryResult, RowsRequest, Table};

/// Categories a bar or pie chart shows (the largest).
pub const MAX_CATEGORIES: usize = 25;
/// Points of a line chart.
pub const MAX_LINE_POINTS: usize = 1_000;
/// Bins of a histogram.
pub const HISTOGRAM_BINS: usize = 20;
/// Cells of the map grid.
pub const MAX_MAP_CELLS: usize = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    Bar,
    Line,
    Pie,
    Histogram,
}

impl ChartKind {
    pub fn parse(text: &str) -> Option<ChartKind> {
        Some(match text {
            "bar" => ChartKind::Bar,
            "line" => ChartKind::Line,
            "pie" => ChartKind::Pie,
            "histogram" => ChartKind::Histogram,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    Sum,
    Avg,
}

impl Aggregate {
    pub fn parse(text: &str) -> Option<Aggregate> {
        Some(match text {
            "" | "count" => Aggregate::Count,
            "sum" => Aggregate::Sum,
            "avg" => Aggregate::Avg,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct ChartRequest {
    /// Filters and search of the rows the chart summarises.
    pub rows: RowsRequest,
    pub kind: ChartKind,
    pub x: String,
    /// The column summed or averaged (not needed for counts).
    pub y: Option<String>,
    pub aggregate: Aggregate,
}

/// One bar, slice, point or bin: its label and value.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartPoint {
    pub label: String,
    pub value: f64,
}

#[derive(Debug, Clone)]
pub struct ChartData {
    pub points: Vec<ChartPoint>,
    /// Categories beyond the ones shown (bar and pie charts).
    pub more_categories: bool,
}

/// A cell of the map grid: its centre and how many rows fall in it.
#[derive(Debug, Clone, PartialEq)]
pub struct MapCell {
    pub latitude: f64,
    pub longitude: f64,
    pub count: u64,
}

fn label(value: &Value) -> String {
    match value {
        Value::Null => "—".into(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn is_numeric(data_type: &DataType) -> bool {
    data_type.is_numeric()
}

/// The latitude and longitude columns of a table, found by name among its numeric columns.
pub fn coordinate_columns(schema: &arrow::datatypes::Schema) -> Option<(String, String)> {
    let find = |names: &[&str]| {
        schema
            .fields()
            .iter()
            .find(|field| is_numeric(field.data_type()) && names.contains(&field.name().to_lowercase().as_str()))
            .map(|field| field.name().clone())
    };
    Some((
        find(&["lat", "latitud", "latitude", "y_lat"])?,
        find(&["lon", "lng", "long", "longitud", "longitude", "x_lon"])?,
    ))
}

impl QueryEngine {
    /// The rows a chart or map summarises: the filters and search of `rows`,
    /// every column, in no particular order.
    async fn filtered_frame(
        context: &datafusion::prelude::SessionContext,
        table: &Table,
        mut rows: RowsRequest,
    ) -> QueryResult<datafusion::prelude::DataFrame> {
        rows.columns.clear();
        rows.sort = None;
        Ok(Self::rows_frame(context, table, &rows).await?.0)
    }

    /// The data of one chart over the rows `request.rows` selects.
    pub async fn chart(&self, table: Table, request: ChartRequest) -> QueryResult<ChartData> {
        let context = self.context();
        self.run(async move {
            let frame = Self::filtered_frame(&context, &table, request.rows.clone()).await?;
            let schema = frame.schema().as_arrow().clone();
            let x_field = field(&schema, &request.x)?.clone();
            let x = ident(x_field.name());
            let value: Expr = match (request.aggregate, &request.y) {
                (Aggregate::Count, _) => count(lit(1)),
                (aggregate, Some(y)) => {
                    let y_field = field(&schema, y)?;
                    if !is_numeric(y_field.data_type()) {
                        return Err(QueryError::invalid("y", format!("\"{y}\" is not a numeric column")));
                    }
                    let column = cast(ident(y_field.name()), DataType::Float64);
                    if aggregate == Aggregate::Sum { sum(column) } else { avg(column) }
                }
                (_, None) => return Err(QueryError::invalid("y", "choose the column to sum or average")),
            };
            let value = cast(value, DataType::Float64).alias("value");
            match request.kind {
                ChartKind::Bar | ChartKind::Pie | ChartKind::Line => {
                    let grouped = frame.aggregate(vec![x.clone().alias("x")], vec![value])?;
                    let (limit, ordered) = if request.kind == ChartKind::Line {
                        (MAX_LINE_POINTS, grouped.sort(vec![ident("x").sort(true, false)])?)
                    } else {
                        (
                            MAX_CATEGORIES,
                            grouped.sort(vec![ident("value").sort(false, false), ident("x").sort(true, false)])?,
                        )
                    };
                    let (_, rows) =
                        collect_rows(ordered.limit(0, Some(limit + 1))?.execute_stream().await?, limit + 1).await?;
                    let more_categories = rows.len() > limit;
                    let points = rows
                        .iter()
                        .take(limit)
                        .map(|row| ChartPoint { label: label(&row[0]), value: row[1].as_f64().unwrap_or(0.0) })
                        .collect();
                    Ok(ChartData { points, more_categories })
                }
                ChartKind::Histogram => {
                    if !is_numeric(x_field.data_type()) {
                        return Err(QueryError::invalid("x", format!("\"{}\" is not a numeric column", request.x)));
                    }
                    let x = cast(x, DataType::Float64);
                    let bounds = frame
                        .clone()
                        .aggregate(vec![], vec![min(x.clone()).alias("low"), max(x.clone()).alias("high")])?;
                    let (_, rows) = collect_rows(bounds.execute_stream().await?, 1).await?;
                    let (Some(low), Some(high)) =
                        (rows.first().and_then(|row| row[0].as_f64()), rows.first().and_then(|row| row[1].as_f64()))
                    else {
                        return Ok(ChartData { points: Vec::new(), more_categories: false });
                    };
                    let width = if high > low { (high - low) / HISTOGRAM_BINS as f64 } else { 1.0 };
                    let bin = cast(floor((x.clone() - lit(low)) / lit(width)), DataType::Int64);
                    let bin = datafusion::logical_expr::when(
                        bin.clone().gt_eq(lit(HISTOGRAM_BINS as i64)),
                        lit(HISTOGRAM_BINS as i64 - 1),
                    )
                    .otherwise(bin)?;
                    let grouped = frame
                        .filter(x.is_not_null())?
                        .aggregate(vec![bin.alias("bin")], vec![value])?
                        .sort(vec![ident("bin").sort(true, false)])?;
                    let (_, rows) = collect_rows(grouped.execute_stream().await?, HISTOGRAM_BINS + 1).await?;
                    let mut points: Vec<ChartPoint> = (0..HISTOGRAM_BINS)
                        .map(|index| {
                            let from = low + width * index as f64;
                            ChartPoint { label: format!("{} – {}", short(from), short(from + width)), value: 0.0 }
                        })
                        .collect();
                    for row in rows {
                        if let Some(index) = row[0].as_i64().filter(|index| (0..HISTOGRAM_BINS as i64).contains(index))
                        {
                            points[index as usize].value = row[1].as_f64().unwrap_or(0.0);
                        }
                    }
                    if high <= low {
                        points.truncate(1);
                    }
                    Ok(ChartData { points, more_categories: false })
                }
            }
        })
        .await
    }

    /// Rows counted per cell of a grid of `precision` decimal degrees (2 ≈ 1 km).
    pub async fn map(&self, table: Table, rows: RowsRequest, precision: i64) -> QueryResult<Option<Vec<MapCell>>> {
        let context = self.context();
        self.run(async move {
            let frame = Self::filtered_frame(&context, &table, rows).await?;
            let Some((latitude, longitude)) = coordinate_columns(frame.schema().as_arrow()) else { return Ok(None) };
            let lat = cast(ident(&latitude), DataType::Float64);
            let lon = cast(ident(&longitude), DataType::Float64);
            let grid = frame
                .filter(lat.clone().between(lit(-90.0), lit(90.0)).and(lon.clone().between(lit(-180.0), lit(180.0))))?
                .aggregate(
                    vec![round(vec![lat, lit(precision)]).alias("lat"), round(vec![lon, lit(precision)]).alias("lon")],
                    vec![count(lit(1)).alias("n")],
                )?
                .sort(vec![ident("n").sort(false, false)])?
                .limit(0, Some(MAX_MAP_CELLS))?;
            let (_, rows) = collect_rows(grid.execute_stream().await?, MAX_MAP_CELLS).await?;
            Ok(Some(
                rows.into_iter()
                    .filter_map(|row| {
                        Some(MapCell {
                            latitude: row[0].as_f64()?,
                            longitude: row[1].as_f64()?,
                            count: row[2].as_u64().unwrap_or(0),
                        })
                    })
                    .collect(),
            ))
        })
        .await
    }
}

/// A row's geometry and a label for it (its first text column).
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub label: String,
    pub geometry: Value,
}

/// What the map of a geographic table draws: the shapes themselves when
/// there are few, else the rows counted per grid cell of their centres.
#[derive(Debug, Clone, PartialEq)]
pub enum GeometryMap {
    Shapes(Vec<Feature>),
    Cells { cells: Vec<MapCell>, rows: u64, truncated: bool },
}

/// Rows whose geometries are read to aggregate a map.
pub const MAX_GEOMETRY_ROWS: u64 = 500_000;

/// [min x, min y, max x, max y] of a GeoJSON geometry's positions.
pub fn extent(geometry: &Value) -> Option<[f64; 4]> {
    fn walk(value: &Value, out: &mut Option<[f64; 4]>) {
        if let Value::Array(items) = value {
            if let (Some(x), Some(y)) = (items.first().and_then(Value::as_f64), items.get(1).and_then(Value::as_f64)) {
                let extent = out.get_or_insert([x, y, x, y]);
                extent[0] = extent[0].min(x);
                extent[1] = extent[1].min(y);
                extent[2] = extent[2].max(x);
                extent[3] = extent[3].max(y);
            } else {
                items.iter().for_each(|item| walk(item, out));
            }
        }
    }
    let mut out = None;
    walk(&geometry["coordinates"], &mut out);
    for member in geometry["geometries"].as_array().into_iter().flatten() {
        walk(&member["coordinates"], &mut out);
    }
    out
}

impl QueryEngine {
    /// The map of the geometries (GeoJSON text in `column`) of the rows
    /// `rows` selects: up to `max_shapes` shapes, or, past that, their
    /// centres counted per cell of a grid of `precision` decimal degrees.
    pub async fn geometry_map(
        &self,
        table: Table,
        rows: RowsRequest,
        column: String,
        max_shapes: usize,
        precision: i32,
    ) -> QueryResult<Option<GeometryMap>> {
        let context = self.context();
        self.run(async move {
            let frame = Self::filtered_frame(&context, &table, rows).await?;
            let schema = frame.schema().as_arrow().clone();
            if schema.field_with_name(&column).is_err() {
                return Ok(None);
            }
            let label = schema
                .fields()
                .iter()
                .find(|field| {
                    field.name() != &column
                        && field.name() != crate::ROW_ID
                        && crate::values::is_text(field.data_type())
                })
                .map(|field| field.name().clone());
            let mut selection = vec![ident(&column)];
            selection.extend(label.iter().map(ident));
            let frame = frame.filter(ident(&column).is_not_null())?.select(selection)?;
            let mut stream = frame.execute_stream().await?;
            let mut features = Vec::new();
            let mut cells: std::collections::HashMap<(i64, i64), u64> = std::collections::HashMap::new();
            let mut total: u64 = 0;
            let mut too_many = false;
            let factor = 10f64.powi(precision);
            let text = |array: &arrow::array::ArrayRef| -> QueryResult<arrow::array::StringArray> {
                let cast = arrow::compute::cast(array, &DataType::Utf8)
                    .map_err(|error| QueryError::Failed(error.to_string()))?;
                Ok(cast
                    .as_any()
                    .downcast_ref::<arrow::array::StringArray>()
                    .cloned()
                    .unwrap_or_else(|| arrow::array::StringArray::from(Vec::<Option<&str>>::new())))
            };
            'rows: while let Some(batch) = futures_util::StreamExt::next(&mut stream).await {
                let batch = batch?;
                let geometries = text(batch.column(0))?;
                let labels = if batch.num_columns() > 1 { Some(text(batch.column(1))?) } else { None };
                for row in 0..batch.num_rows() {
                    if total >= MAX_GEOMETRY_ROWS {
                        break 'rows;
                    }
                    let Ok(geometry) = serde_json::from_str::<Value>(geometries.value(row)) else { continue };
                    let Some([west, south, east, north]) = extent(&geometry) else { continue };
                    total += 1;
                    let key = (
                        ((south + north) / 2.0 * factor).round() as i64,
                        ((west + east) / 2.0 * factor).round() as i64,
                    );
                    *cells.entry(key).or_insert(0) += 1;
                    if !too_many {
                        if features.len() < max_shapes {
                            let label = labels.as_ref().map(|labels| labels.value(row).to_string()).unwrap_or_default();
                            features.push(Feature { label, geometry });
                        } else {
                            // Past the cap only the grid is kept.
                            too_many = true;
                            features = Vec::new();
                        }
                    }
                }
            }
            if total == 0 {
                return Ok(None);
            }
            if !too_many {
                return Ok(Some(GeometryMap::Shapes(features)));
            }
            let mut cells: Vec<MapCell> = cells
                .into_iter()
                .map(|((latitude, longitude), count)| MapCell {
                    latitude: latitude as f64 / factor,
                    longitude: longitude as f64 / factor,
                    count,
                })
                .collect();
            cells.sort_by_key(|cell| std::cmp::Reverse(cell.count));
            cells.truncate(MAX_MAP_CELLS);
            Ok(Some(GeometryMap::Cells { cells, rows: total, truncated: total >= MAX_GEOMETRY_ROWS }))
        })
        .await
    }
}

/// A bin edge, short: 1234.5678 → "1,234.57"-like plain text without grouping.
fn short(value: f64) -> String {
    if value.abs() >= 100.0 || value.fract() == 0.0 { format!("{value:.0}") } else { format!("{value:.2}") }
}

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

/// A bin edge, short: 1234.5678 → "1,234.57"-like plain text without grouping.
fn short(value: f64) -> String {
    if value.abs() >= 100.0 || value.fract() == 0.0 { format!("{value:.0}") } else { format!("{value:.2}") }
}

//! Queries over a real Parquet file written by ingestion.

use std::time::Duration;

use datalab_query::{ExportFormat, QueryEngine, QueryError, QuerySettings, RowsRequest, SearchRequest, Table};
use serde_json::{Value, json};

struct Fixture {
    _directory: tempfile::TempDir,
    table: Table,
    other: Table,
}

fn fixture() -> Fixture {
    let directory = tempfile::tempdir().unwrap();
    let mut csv = String::from("folio,fecha,municipio,vehiculos,monto,nota\n");
    let municipios = ["Monterrey", "Apodaca", "San Nicolás de los Garza", "Guadalupe"];
    for folio in 1..=1000 {
        let municipio = municipios[folio % 4];
        let nota = if folio % 10 == 0 { "N/D".to_string() } else { format!("semáforo {folio}") };
        csv.push_str(&format!(
            "{folio},{:02}/01/2024,{municipio},{},\"${},{:03}.50\",{nota}\n",
            folio % 28 + 1,
            folio % 5,
            folio % 7 + 1,
            folio % 1000
        ));
    }
    let path = directory.path().join("incidentes.parquet");
    let options = datalab_ingest::AnalyzeOptions { parquet: Some(path.clone()), ..Default::default() };
    datalab_ingest::analyze(csv.as_bytes(), &options).unwrap();
    let other_path = directory.path().join("municipios.parquet");
    let municipios_csv = "municipio,poblacion\nMonterrey,1142994\nApodaca,656464\nGuadalupe,643143\n";
    let options = datalab_ingest::AnalyzeOptions { parquet: Some(other_path.clone()), ..Default::default() };
    datalab_ingest::analyze(municipios_csv.as_bytes(), &options).unwrap();
    Fixture {
        _directory: directory,
        table: Table { name: "11111111-1111-4111-8111-111111111111".into(), path },
        other: Table { name: "22222222-2222-4222-8222-222222222222".into(), path: other_path },
    }
}

fn engine_with(settings: QuerySettings) -> QueryEngine {
    let root = std::env::temp_dir().join(format!("datalab-query-test-{}", std::process::id()));
    QueryEngine::new(&root, settings).unwrap()
}

fn engine() -> QueryEngine {
    engine_with(QuerySettings { time_limit: Duration::from_secs(3), ..Default::default() })
}

fn column<'a>(
    fields: &[(String, arrow::datatypes::DataType)],
    records: &'a [Vec<Value>],
    name: &str,
) -> Vec<&'a Value> {
    let index = fields.iter().position(|(field, _)| field == name).unwrap();
    records.iter().map(|row| &row[index]).collect()
}

#[tokio::test]
async fn datastore_search_filters_sorts_and_counts() {
    let fixture = fixture();
    let engine = engine();
    let all = engine.search(fixture.table.clone(), SearchRequest::default()).await.unwrap();
    assert_eq!(all.total, Some(1000), "unfiltered count from the footer");
    assert_eq!(all.records.len(), 100, "CKAN's default limit");
    let names: Vec<&str> = all.fields.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["_id", "folio", "fecha", "municipio", "vehiculos", "monto", "nota"]);
    assert_eq!(all.records[0][0], json!(1));
    assert_eq!(all.records[0][2], json!("2024-01-02"), "dates as ISO 8601");
    assert_eq!(all.records[0][5], json!(2001.5), "currency parsed");

    let request = SearchRequest {
        filters: serde_json::from_value(json!({"municipio": "Apodaca", "vehiculos": [1, 2]})).unwrap(),
        sort: Some("monto desc, folio".into()),
        limit: 5,
        ..Default::default()
    };
    let found = engine.search(fixture.table.clone(), request).await.unwrap();
    assert_eq!(found.total, Some(100));
    assert_eq!(found.records.len(), 5);
    let amounts: Vec<f64> =
        column(&found.fields, &found.records, "monto").iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(amounts.windows(2).all(|pair| pair[0] >= pair[1]), "{amounts:?}");
    assert!(column(&found.fields, &found.records, "municipio").iter().all(|value| *value == "Apodaca"));

    // Full text folds accents and case; per-field full text too.
    let request = SearchRequest { q: Some(json!("SAN nicolas")), limit: 1000, ..Default::default() };
    assert_eq!(engine.search(fixture.table.clone(), request).await.unwrap().total, Some(250));
    let request = SearchRequest { q: Some(json!({"nota": "semaforo 99"})), ..Default::default() };
    let found = engine.search(fixture.table.clone(), request).await.unwrap();
    assert_eq!(found.total, Some(18), "x99 (9) and 990…999 (10), less 990, which is N/D");

    let request = SearchRequest {
        fields: Some(vec!["municipio".into()]),
        distinct: true,
        sort: Some("municipio".into()),
        ..Default::default()
    };
    let found = engine.search(fixture.table.clone(), request).await.unwrap();
    assert_eq!(found.records.len(), 4);
    assert_eq!(found.records[0], vec![json!("Apodaca")]);

    for (request, field) in [
        (
            SearchRequest { filters: serde_json::from_value(json!({"nope": 1})).unwrap(), ..Default::default() },
            "filters",
        ),
        (
            SearchRequest { filters: serde_json::from_value(json!({"vehiculos": "x"})).unwrap(), ..Default::default() },
            "filters",
        ),
        (SearchRequest { sort: Some("nope desc".into()), ..Default::default() }, "sort"),
        (SearchRequest { fields: Some(vec!["nope".into()]), ..Default::default() }, "fields"),
        (SearchRequest { limit: 32_001, ..Default::default() }, "limit"),
    ] {
        let error = engine.search(fixture.table.clone(), request).await.unwrap_err();
        assert!(matches!(&error, QueryError::Invalid { field: named, .. } if named == field), "{error:?}");
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
}

#[tokio::test]
async fn rows_page_with_keyset_paging_and_facets() {
    let fixture = fixture();
    let engine = engine();
    let request = RowsRequest::from_pairs(&pairs(&[
        ("vehiculos__gte", "3"),
        ("municipio__contains", "nicolas"),
        ("_sort_desc", "monto"),
        ("_size", "7"),
        ("_facet", "vehiculos"),
    ]))
    .unwrap();
    let mut seen = Vec::new();
    let mut page = engine.rows(fixture.table.clone(), request.clone()).await.unwrap();
    assert_eq!(page.total, 100);
    assert_eq!(page.facets[0].values.iter().map(|(_, n)| n).sum::<u64>(), 100);
    let mut previous = f64::INFINITY;
    loop {
        let monto = page.columns.iter().position(|(name, _)| name == "monto").unwrap();
        let id = page.columns.iter().position(|(name, _)| name == "_id").unwrap();
        for row in &page.rows {
            let amount = row[monto].as_f64().unwrap();
            assert!(amount <= previous, "sorted across pages");
            previous = amount;
            seen.push(row[id].as_i64().unwrap());
        }
        match page.next.clone() {
            Some(next) => {
                let mut request = request.clone();
                request.next = Some(next);
                page = engine.rows(fixture.table.clone(), request).await.unwrap();
            }
            None => break,
        }
    }
    let count = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!((count, seen.len()), (100, 100), "every row once, none twice");

    let error = engine
        .rows(fixture.table.clone(), RowsRequest::from_pairs(&pairs(&[("nope__gt", "1")])).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(&error, QueryError::Invalid { field, .. } if field == "nope"), "{error:?}");
    let nulls = RowsRequest::from_pairs(&pairs(&[("nota__isnull", "1")])).unwrap();
    assert_eq!(engine.rows(fixture.table.clone(), nulls).await.unwrap().total, 100);
}

#[tokio::test]
async fn guarded_sql_joins_resources_and_refuses_the_rest() {
    let fixture = fixture();
    let engine = engine();
    let sql = format!(
        "SELECT i.municipio, count(*) AS n, sum(i.monto) AS total, m.poblacion FROM \"{}\" i \
         JOIN \"{}\" m ON m.municipio = i.municipio GROUP BY i.municipio, m.poblacion ORDER BY i.municipio",
        fixture.table.name, fixture.other.name
    );
    let result = engine.sql(sql, vec![fixture.table.clone(), fixture.other.clone()]).await.unwrap();
    assert_eq!(result.records.len(), 3);
    assert_eq!(result.records[0][0], json!("Apodaca"));
    assert_eq!(result.records[0][1], json!(250));

    // Years, months and days of a date column (a fast path of `date_part`), by every spelling.
    let sql = format!(
        "SELECT date_part('year', fecha) AS y, extract(month FROM fecha) AS m, datepart('day', fecha) AS d, \
         date_part('dow', fecha) AS w, count(*) AS n FROM \"{}\" GROUP BY 1, 2, 3, 4 ORDER BY d DESC LIMIT 1",
        fixture.table.name
    );
    let result = engine.sql(sql, vec![fixture.table.clone()]).await.unwrap();
    assert_eq!(result.records, vec![vec![json!(2024), json!(1), json!(28), json!(0), json!(35)]]);

    let sql = format!("SELECT * FROM \"{}\"", fixture.other.name);
    let error = engine.sql(sql, vec![fixture.table.clone()]).await.unwrap_err();
    assert!(matches!(error, QueryError::Refused(_)), "an unresolved table is refused");

    let capped = engine_with(QuerySettings { sql_row_cap: 10, ..Default::default() });
    let result =
        capped.sql(format!("SELECT * FROM \"{}\"", fixture.table.name), vec![fixture.table.clone()]).await.unwrap();
    assert_eq!((result.records.len(), result.truncated), (10, true));

    // A cartesian product too big to finish is stopped by the time limit.
    let slow = engine_with(QuerySettings { time_limit: Duration::from_millis(300), ..Default::default() });
    let name = &fixture.table.name;
    let bomb = format!(
        "SELECT count(*) FROM \"{name}\" a, \"{name}\" b, \"{name}\" c, \"{name}\" d WHERE a.nota || b.nota || c.nota || d.nota LIKE '%zz%'"
    );
    let started = std::time::Instant::now();
    let error = slow.sql(bomb, vec![fixture.table.clone()]).await.unwrap_err();
    assert!(matches!(error, QueryError::Refused(_) | QueryError::TimedOut(_) | QueryError::TooBig(_)), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let series = slow.sql("SELECT count(*) FROM generate_series(1, 100000000000)".into(), vec![]).await.unwrap_err();
    assert!(matches!(series, QueryError::TimedOut(_) | QueryError::Refused(_)), "{series:?}");
    // The aborted query let go of the query threads: the next one answers within the same short limit.
    for _ in 0..3 {
        let answer = slow.search(fixture.table.clone(), SearchRequest { limit: 5, ..Default::default() }).await;
        assert_eq!(answer.unwrap().records.len(), 5);
    }
}

#[tokio::test]
async fn exports_stream_every_matching_row() {
    let fixture = fixture();
    let engine = engine();
    let request = RowsRequest::from_pairs(&pairs(&[("municipio", "Guadalupe"), ("_sort", "folio")])).unwrap();
    let mut stream = engine.export(fixture.table.clone(), request.clone(), ExportFormat::Csv).await.unwrap();
    let mut text = Vec::new();
    while let Some(chunk) = stream.recv().await {
        text.extend_from_slice(&chunk.unwrap());
    }
    let text = String::from_utf8(text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "folio,fecha,municipio,vehiculos,monto,nota", "no internal row id");
    assert_eq!(lines.len(), 251);
    assert!(
        lines[1].starts_with("3,04/01/2024,Guadalupe") || lines[1].starts_with("3,2024-01-04,Guadalupe"),
        "{}",
        lines[1]
    );

    let mut stream = engine.export(fixture.table.clone(), request, ExportFormat::Parquet).await.unwrap();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.recv().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .unwrap()
        .build()
        .unwrap();
    let rows: usize = reader.map(|batch| batch.unwrap().num_rows()).sum();
    assert_eq!(rows, 250);

    let request = RowsRequest::from_pairs(&pairs(&[("municipio", "Guadalupe"), ("_sort", "folio")])).unwrap();
    let mut stream = engine.export(fixture.table.clone(), request, ExportFormat::Xlsx).await.unwrap();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.recv().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    use calamine::{DataType as _, Reader};
    let mut workbook = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let sheet = workbook.worksheet_range_at(0).unwrap().unwrap();
    assert_eq!(sheet.height(), 251, "a header and every row");
    assert_eq!(sheet.get((0, 0)).unwrap().to_string(), "folio");
    assert_eq!(sheet.get((1, 0)).unwrap().get_float(), Some(3.0), "numbers stay numbers");
    assert_eq!(sheet.get((1, 2)).unwrap().to_string(), "Guadalupe");
}

#[tokio::test]
async fn charts_and_maps_summarise_the_filtered_rows() {
    use datalab_query::chart::{Aggregate, ChartKind, ChartRequest};
    let fixture = fixture();
    let engine = engine();
    let bars = ChartRequest {
        rows: RowsRequest::default(),
        kind: ChartKind::Bar,
        x: "municipio".into(),
        y: None,
        aggregate: Aggregate::Count,
    };
    let data = engine.chart(fixture.table.clone(), bars.clone()).await.unwrap();
    assert_eq!(data.points.len(), 4);
    assert_eq!(data.points.iter().map(|point| point.value).sum::<f64>(), 1000.0);

    let filtered = ChartRequest {
        rows: RowsRequest::from_pairs(&pairs(&[("vehiculos__gte", "3")])).unwrap(),
        aggregate: Aggregate::Sum,
        y: Some("vehiculos".into()),
        ..bars.clone()
    };
    let data = engine.chart(fixture.table.clone(), filtered).await.unwrap();
    assert_eq!(data.points.iter().map(|point| point.value).sum::<f64>(), 200.0 * 3.0 + 200.0 * 4.0);

    let histogram = ChartRequest { kind: ChartKind::Histogram, x: "monto".into(), ..bars.clone() };
    let data = engine.chart(fixture.table.clone(), histogram).await.unwrap();
    assert_eq!(data.points.len(), datalab_query::chart::HISTOGRAM_BINS);
    assert_eq!(data.points.iter().map(|point| point.value).sum::<f64>(), 1000.0);

    let not_numeric = ChartRequest { kind: ChartKind::Histogram, ..bars.clone() };
    let error = engine.chart(fixture.table.clone(), not_numeric).await.unwrap_err();
    assert!(matches!(&error, QueryError::Invalid { field, .. } if field == "x"), "{error:?}");
    let unknown = ChartRequest { x: "nope".into(), ..bars };
    assert!(engine.chart(fixture.table.clone(), unknown).await.is_err());

    assert!(engine.map(fixture.table.clone(), RowsRequest::default(), 2).await.unwrap().is_none(), "no coordinates");
}

/// A sorted or filtered page is read late (row numbers first, then only
/// those rows; with filters and sorts only, the row numbers and the count
/// come from one pass over the file): it must give exactly the rows,
/// values, types, order and count the whole query gives. Pages over 1,000
/// rows take the whole query, so the two compare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorted_pages_read_late_match_the_whole_query() {
    let fixture = fixture();
    let engine = engine();
    let fields = |names: &[&str]| Some(names.iter().map(|name| name.to_string()).collect::<Vec<_>>());
    let cases = [
        (json!({}), Some("monto desc"), None, 0, 40),
        (json!({}), Some("municipio desc, nota"), None, 37, 40),
        (json!({"municipio": "Apodaca"}), Some("nota desc"), fields(&["nota", "monto"]), 5, 40),
        (json!({"vehiculos": [1, 2]}), Some("fecha, monto desc"), fields(&["fecha", "_id"]), 0, 40),
        (json!({}), Some("folio desc"), None, 990, 10),
        // Filters alone: the page in file order.
        (json!({"municipio": "Apodaca"}), None, None, 0, 40),
        (json!({"municipio": ["Guadalupe", "San Nicolás de los Garza"]}), None, fields(&["folio"]), 230, 40),
        // No value, a date, a number, a filtered column also sorted on.
        (json!({"nota": null}), Some("monto desc"), None, 3, 40),
        (json!({"fecha": "2024-01-05", "municipio": "Monterrey"}), Some("vehiculos desc"), None, 0, 36),
        (json!({"vehiculos": 3}), Some("monto"), None, 0, 40),
        (json!({"municipio": ["Apodaca", "Monterrey"]}), Some("municipio desc, monto desc"), None, 240, 40),
        // Nothing matches; a page past the end.
        (json!({"municipio": "Linares"}), Some("monto"), None, 0, 0),
        (json!({"municipio": "Apodaca"}), Some("monto"), None, 245, 5),
        (json!({"municipio": "Apodaca"}), Some("monto"), None, 400, 0),
    ];
    for (filters, sort, fields, offset, length) in cases {
        let request = |limit: usize| SearchRequest {
            filters: serde_json::from_value(filters.clone()).unwrap(),
            sort: sort.map(str::to_string),
            fields: fields.clone(),
            limit,
            offset,
            ..Default::default()
        };
        let case = format!("{filters} sorted by {sort:?} from {offset}");
        let late = engine.search(fixture.table.clone(), request(40)).await.unwrap();
        let whole = engine.search(fixture.table.clone(), request(1_001)).await.unwrap();
        assert_eq!(late.fields, whole.fields, "{case}");
        assert_eq!(late.total, whole.total, "{case}");
        let expected: Vec<_> = whole.records.iter().take(40).cloned().collect();
        assert_eq!(late.records, expected, "{case}");
        assert_eq!(late.records.len(), length, "{case}");
    }
}

/// The one-pass page over a table of many row groups and pages, where
/// matches run into the tens of thousands: the same rows, order and count
/// as the whole query, with nulls, ties and a dictionary-encoded filter
/// column.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pass_pages_match_the_whole_query_across_row_groups() {
    use std::sync::Arc;

    use arrow::array::{Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("grande.parquet");
    let rows = 150_000i64;
    let schema = Arc::new(Schema::new(vec![
        Field::new("_id", DataType::Int64, false),
        Field::new("grupo", DataType::Utf8, true),
        Field::new("valor", DataType::Float64, true),
        Field::new("fecha", DataType::Date32, true),
    ]));
    let grupos = ["norte", "sur", "centro", "oriente", "poniente"];
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(1..=rows)),
            Arc::new(StringArray::from_iter((1..=rows).map(|id| (id % 97 != 0).then(|| grupos[(id % 5) as usize])))),
            Arc::new(Float64Array::from_iter((1..=rows).map(|id| (id % 13 != 0).then_some((id * 7919 % 1000) as f64)))),
            Arc::new(Date32Array::from_iter((1..=rows).map(|id| Some(19_000 + (id % 400) as i32)))),
        ],
    )
    .unwrap();
    let properties = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(16_384))
        .set_data_page_row_count_limit(1_024)
        .build();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let table = Table { name: "33333333-3333-4333-8333-333333333333".into(), path };

    let engine = engine();
    let cases = [
        (json!({"grupo": "sur"}), Some("valor desc"), 0),
        (json!({"grupo": ["norte", "centro", "oriente", "poniente"]}), Some("valor, fecha desc"), 700),
        (json!({"grupo": null}), Some("fecha"), 10),
        (json!({}), Some("valor desc, grupo"), 960),
        (json!({"grupo": ["sur", "norte"]}), None, 900),
        (json!({"valor": 500}), Some("fecha desc, grupo"), 0),
        // Deeper than the one-pass page goes: DataFusion answers.
        (json!({"grupo": ["norte", "sur"]}), Some("valor desc"), 50_000),
        (json!({}), Some("fecha"), 120_000),
    ];
    for (filters, sort, offset) in cases {
        let request = |limit: usize| SearchRequest {
            filters: serde_json::from_value(filters.clone()).unwrap(),
            sort: sort.map(str::to_string),
            limit,
            offset,
            ..Default::default()
        };
        let case = format!("{filters} sorted by {sort:?} from {offset}");
        let page = engine.search(table.clone(), request(40)).await.unwrap();
        let whole = engine.search(table.clone(), request(1_001)).await.unwrap();
        assert_eq!(page.fields, whole.fields, "{case}");
        assert_eq!(page.total, whole.total, "{case}");
        assert!(page.total.unwrap() > 40, "{case}");
        let expected: Vec<_> = whole.records.iter().take(40).cloned().collect();
        assert_eq!(page.records, expected, "{case}");
        assert_eq!(page.records.len(), 40, "{case}");
    }
}

/// Ingestion stores text with few values as a dictionary, and queries group
/// it by number (the query crate's `dictionary` module): the answers are the
/// ones the same text gives as plain text.
#[tokio::test]
async fn group_bys_over_text_with_few_values_match_plain_text() {
    let fixture = fixture();
    let engine = engine();
    let info = engine.info(&fixture.table).unwrap();
    let municipio = info.schema.field_with_name("municipio").unwrap();
    assert!(matches!(municipio.data_type(), arrow::datatypes::DataType::Dictionary(..)), "{municipio:?}");
    let name = &fixture.table.name;
    let plain = format!(
        "(SELECT CAST(municipio AS VARCHAR) AS municipio, CAST(nota AS VARCHAR) AS nota, fecha, vehiculos, monto FROM \"{name}\")"
    );
    for query in [
        "SELECT municipio, date_part('year', fecha) AS anio, count(*) AS n, sum(monto) AS total FROM T GROUP BY municipio, anio ORDER BY municipio, anio",
        "SELECT municipio, nota, count(*) AS n FROM T GROUP BY municipio, nota ORDER BY n DESC, municipio, nota LIMIT 20",
        "SELECT DISTINCT municipio FROM T ORDER BY municipio",
        "SELECT vehiculos, count(DISTINCT municipio) AS m FROM T GROUP BY vehiculos ORDER BY vehiculos",
    ] {
        let coded = engine.sql(query.replace("FROM T", &format!("FROM \"{name}\"")), vec![fixture.table.clone()]);
        let coded = coded.await.unwrap();
        let expected = engine.sql(query.replace("FROM T", &format!("FROM {plain}")), vec![fixture.table.clone()]);
        let expected = expected.await.unwrap();
        assert!(!coded.records.is_empty());
        assert_eq!(coded.records, expected.records, "{query}");
        let types = |fields: &[(String, arrow::datatypes::DataType)]| {
            fields
                .iter()
                .map(|(name, data_type)| (name.clone(), datalab_query::values::ckan_type(data_type)))
                .collect::<Vec<_>>()
        };
        assert_eq!(types(&coded.fields), types(&expected.fields), "{query}");
    }
}

/// Functions, operators and clauses over text stored as a dictionary give
/// what they give over the same text stored plainly.
#[tokio::test]
async fn sql_over_text_with_few_values_matches_plain_text() {
    let fixture = fixture();
    let engine = engine();
    let name = &fixture.table.name;
    let plain = format!(
        "(SELECT _id, CAST(municipio AS VARCHAR) AS municipio, CAST(nota AS VARCHAR) AS nota, fecha, vehiculos, monto FROM \"{name}\")"
    );
    let mut failures = Vec::new();
    for query in [
        "SELECT approx_distinct(municipio) AS a FROM T",
        "SELECT count(DISTINCT municipio) AS a, min(municipio) AS b, max(municipio) AS c FROM T",
        "SELECT string_agg(DISTINCT municipio, ',' ORDER BY municipio) AS a FROM T",
        "SELECT first_value(municipio ORDER BY _id) AS a, last_value(municipio ORDER BY _id) AS b FROM T",
        "SELECT array_length(array_agg(DISTINCT municipio), 1) AS a FROM T",
        "SELECT length(municipio) AS a, upper(municipio) AS b, lower(nota) AS c, substr(municipio, 2, 3) AS d, replace(municipio, 'a', 'o') AS e, concat(municipio, '-', nota) AS f, trim(municipio) AS g, strpos(municipio, 'a') AS h, starts_with(municipio, 'M') AS i FROM T ORDER BY _id LIMIT 20",
        "SELECT municipio || '/' || nota AS a, coalesce(nota, municipio) AS b, CASE WHEN municipio = 'Apodaca' THEN nota ELSE municipio END AS c FROM T ORDER BY _id LIMIT 20",
        "SELECT count(*) AS a FROM T WHERE municipio LIKE '%a%' AND nota ILIKE '%SEM%' AND municipio IN ('Apodaca', 'Guadalupe') AND municipio < 'H'",
        "SELECT count(*) AS a FROM T WHERE regexp_like(municipio, '^A') OR municipio = nota",
        "SELECT municipio, row_number() OVER (PARTITION BY municipio ORDER BY _id) AS r, lag(nota) OVER (ORDER BY _id) AS l FROM T ORDER BY _id LIMIT 20",
        "SELECT municipio, count(*) AS n FROM T GROUP BY ROLLUP (municipio) ORDER BY municipio NULLS FIRST",
        "SELECT a.municipio, count(*) AS n FROM T a JOIN (SELECT DISTINCT municipio FROM T) b ON a.municipio = b.municipio GROUP BY a.municipio ORDER BY 1",
        "SELECT municipio FROM T WHERE _id < 3 UNION SELECT nota FROM T WHERE _id < 3 ORDER BY 1",
        "SELECT municipio, nota FROM T ORDER BY municipio DESC, nota, _id LIMIT 30",
        "SELECT DISTINCT ON (municipio) municipio, nota FROM T ORDER BY municipio, _id",
    ] {
        let tables = vec![fixture.table.clone()];
        let stored = engine.sql(query.replace("FROM T", &format!("FROM \"{name}\"")), tables.clone()).await;
        let expected = engine.sql(query.replace("FROM T", &format!("FROM {plain}")), tables).await;
        match (stored, expected) {
            (Ok(stored), Ok(expected)) if stored.records == expected.records => {}
            (stored, expected) => failures.push(format!(
                "{query}\n  stored: {:?}\n  plain: {:?}",
                stored.map(|result| result.records),
                expected.map(|result| result.records)
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A page is bounded in rows, and its rows in bytes as every answer is: a
/// sorted page read late (by row number) of cells of megabytes is refused
/// past the answer bound, not built.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_page_of_huge_cells_is_refused_past_the_answer_bound() {
    let directory = tempfile::tempdir().unwrap();
    let mut csv = String::from("folio,texto\n");
    let cell = "x".repeat(6 << 20);
    for folio in 1..=7 {
        csv.push_str(&format!("{folio},{cell}\n"));
    }
    let path = directory.path().join("enorme.parquet");
    let options = datalab_ingest::AnalyzeOptions { parquet: Some(path.clone()), ..Default::default() };
    datalab_ingest::analyze(csv.as_bytes(), &options).unwrap();
    let table = Table { name: "33333333-3333-4333-8333-333333333333".into(), path };
    let engine = engine();
    let request = |limit: usize| SearchRequest { sort: Some("folio desc".into()), limit, ..Default::default() };
    let error = engine.search(table.clone(), request(7)).await.unwrap_err();
    assert!(matches!(&error, QueryError::TooBig(message) if message.contains("32 MB")), "{error:?}");
    // A page within the bound is served.
    let page = engine.search(table, request(2)).await.unwrap();
    assert_eq!(page.records.len(), 2);
}

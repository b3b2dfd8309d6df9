//! Every reader, through the one entry point `analyze_file`, on real files
//! written here: workbooks by rust_xlsxwriter and by hand (ODS is a zip of
//! XML), JSON, NDJSON and GeoJSON text; and the bad inputs the issue lists.

use std::io::Write;

use arrow::array::Array;
use datalab_ingest::{AnalyzeOptions, FileAnalysis, IngestError, analyze_file};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

fn options(dir: &std::path::Path, name: &str) -> AnalyzeOptions {
    AnalyzeOptions { name: name.into(), parquet: Some(dir.join("table.parquet")), ..Default::default() }
}

fn run(bytes: &[u8], name: &str) -> (tempfile::TempDir, Result<FileAnalysis, IngestError>) {
    let dir = tempfile::tempdir().unwrap();
    let result = analyze_file(bytes, &options(dir.path(), name));
    (dir, result)
}

fn field_types(table: &datalab_ingest::Analysis) -> Vec<(String, String)> {
    table.schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| (field["name"].as_str().unwrap().to_string(), field["type"].as_str().unwrap().to_string()))
        .collect()
}

fn error_types(table: &datalab_ingest::Analysis) -> Vec<String> {
    table.report["tasks"][0]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["type"].as_str().unwrap().to_string())
        .collect()
}

/// The typed table a reader wrote, as one batch.
fn parquet_rows(table: &datalab_ingest::Analysis) -> arrow::record_batch::RecordBatch {
    let path = &table.parquet.as_ref().expect("a Parquet table").path;
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap().build().unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn text(batch: &arrow::record_batch::RecordBatch, column: &str, row: usize) -> Option<String> {
    let array = batch.column_by_name(column).unwrap();
    if array.is_null(row) {
        return None;
    }
    Some(arrow::util::display::array_value_to_string(array, row).unwrap())
}

fn workbook() -> Vec<u8> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
    let mut workbook = Workbook::new();
    let date = Format::new().set_num_format("dd/mm/yyyy");
    let sheet = workbook.add_worksheet();
    sheet.set_name("Incidentes").unwrap();
    // A title and a blank row above the table, as agencies publish them.
    sheet.write_string(0, 0, "Reporte de incidentes 2024 — Secretaría").unwrap();
    for (column, label) in ["folio", "fecha", "municipio", "monto", "doble", "atendido"].iter().enumerate() {
        sheet.write_string(2, column as u16, *label).unwrap();
    }
    let rows = [
        (1, (2024, 3, 31), "Monterrey", 1250.5, true),
        (2, (2024, 4, 1), "Apodaca", 300.0, false),
        (3, (2024, 4, 2), "García", 10.25, true),
    ];
    for (index, (folio, (year, month, day), municipio, monto, atendido)) in rows.iter().enumerate() {
        let row = 3 + index as u32;
        sheet.write_number(row, 0, *folio as f64).unwrap();
        sheet.write_datetime_with_format(row, 1, ExcelDateTime::from_ymd(*year, *month, *day).unwrap(), &date).unwrap();
        sheet.write_string(row, 2, *municipio).unwrap();
        sheet.write_number(row, 3, *monto).unwrap();
        // A formula with the value the spreadsheet saved; it is never evaluated.
        sheet
            .write_formula(row, 4, Formula::new(format!("=D{}*2", row + 1)).set_result(format!("{}", monto * 2.0)))
            .unwrap();
        sheet.write_boolean(row, 5, *atendido).unwrap();
    }
    let second = workbook.add_worksheet();
    second.set_name("Municipios").unwrap();
    second.write_string(0, 0, "clave").unwrap();
    second.write_string(0, 1, "nombre").unwrap();
    second.write_number(1, 0, 39.0).unwrap();
    second.write_string(1, 1, "Monterrey").unwrap();
    second.write_number(2, 0, 6.0).unwrap();
    second.write_string(2, 1, "Apodaca").unwrap();
    // An empty sheet is not a table.
    workbook.add_worksheet().set_name("Notas").unwrap();
    workbook.save_to_buffer().unwrap()
}

/// A workbook's sheets each take their own schema: the schema's own fields
/// are the first sheet's, `sheets` names the others (or the first).
#[test]
fn each_sheet_of_a_workbook_takes_its_own_schema() {
    use datalab_ingest::constraints::GivenSchema;
    let types = |schema: serde_json::Value| {
        let dir = tempfile::tempdir().unwrap();
        let options = AnalyzeOptions { schema: Some(schema), ..options(dir.path(), "incidentes.xlsx") };
        let file = analyze_file(workbook().as_slice(), &options).unwrap();
        file.tables.iter().map(field_types).collect::<Vec<_>>()
    };
    let both = serde_json::json!({
        "fields": [{"name": "folio", "type": "string"}],
        "sheets": {"Municipios": {"fields": [{"name": "clave", "type": "string", "constraints": {"pattern": "[0-9]{2}"}}]}}
    });
    assert!(GivenSchema::check(&both).is_ok());
    let found = types(both);
    assert_eq!(found[0][0], ("folio".to_string(), "string".to_string()), "the schema's own fields: the first sheet");
    assert_eq!(found[1][0], ("clave".to_string(), "string".to_string()), "the second sheet's own schema");
    // Only the second sheet's: the first is still inferred.
    let found = types(serde_json::json!({"sheets": {"Municipios": {"fields": [{"name": "clave", "type": "string"}]}}}));
    assert_eq!(found[0][0], ("folio".to_string(), "integer".to_string()));
    assert_eq!(found[1][0], ("clave".to_string(), "string".to_string()));
    // A sheet named in `sheets` takes that schema, the first one too.
    let found = types(serde_json::json!({"sheets": {"Incidentes": {"fields": [{"name": "folio", "type": "number"}]}}}));
    assert_eq!(found[0][0], ("folio".to_string(), "number".to_string()));
    assert_eq!(found[1][0], ("clave".to_string(), "integer".to_string()));
    // A wrong sheet schema is refused before any analysis, naming the sheet.
    let wrong = serde_json::json!({"sheets": {"Municipios": {"fields": [{"name": "clave", "type": "texto"}]}}});
    assert_eq!(
        GivenSchema::check(&wrong).unwrap_err(),
        "sheet \"Municipios\": field \"clave\": unknown type \"texto\""
    );
    assert!(GivenSchema::check(&serde_json::json!({"sheets": []})).is_err());
    assert!(GivenSchema::check(&serde_json::json!({"sheets": {"Municipios": 3}})).is_err());
}

#[test]
fn every_sheet_of_a_workbook_is_a_table() {
    let (_dir, result) = run(&workbook(), "incidentes.xlsx");
    let file = result.unwrap();
    assert_eq!(file.format, "xlsx");
    let names: Vec<&str> = file.tables.iter().map(|table| table.name.as_str()).collect();
    assert_eq!(names, ["Incidentes", "Municipios"]);
    let incidents = &file.tables[0];
    assert_eq!(incidents.rows, 3);
    assert_eq!(
        field_types(incidents),
        [
            ("folio".to_string(), "integer".to_string()),
            ("fecha".into(), "date".into()),
            ("municipio".into(), "string".into()),
            ("monto".into(), "number".into()),
            ("doble".into(), "number".into()),
            ("atendido".into(), "boolean".into()),
        ]
    );
    assert!(incidents.report["valid"].as_bool().unwrap(), "{}", incidents.report);
    let batch = parquet_rows(incidents);
    assert_eq!(text(&batch, "fecha", 0).as_deref(), Some("2024-03-31"));
    assert_eq!(text(&batch, "municipio", 2).as_deref(), Some("García"));
    // The formula's saved result.
    assert_eq!(text(&batch, "doble", 0).as_deref(), Some("2501.0"));
    assert_eq!(text(&batch, "atendido", 1).as_deref(), Some("false"));
    // Each table has its own Parquet file.
    let municipalities = &file.tables[1];
    assert_eq!(municipalities.rows, 2);
    assert_ne!(municipalities.parquet.as_ref().unwrap().path, incidents.parquet.as_ref().unwrap().path);
    assert_eq!(text(&parquet_rows(municipalities), "nombre", 1).as_deref(), Some("Apodaca"));
}

/// A legacy Excel workbook (BIFF8, the OLE container), written by xlwt
/// with `fixtures/make_xls.py`.
#[test]
fn a_legacy_xls_workbook_gives_a_table_per_sheet() {
    let bytes = include_bytes!("fixtures/incidentes.xls");
    let (_dir, result) = run(bytes, "incidentes.xls");
    let file = result.unwrap();
    assert_eq!(file.format, "xls");
    let names: Vec<&str> = file.tables.iter().map(|table| table.name.as_str()).collect();
    assert_eq!(names, ["Incidentes", "Municipios"]);
    let incidents = &file.tables[0];
    assert_eq!(incidents.rows, 3, "the title row above the header is skipped");
    assert_eq!(
        field_types(incidents),
        [
            ("folio".to_string(), "integer".to_string()),
            ("fecha".into(), "date".into()),
            ("municipio".into(), "string".into()),
            ("monto".into(), "number".into()),
            ("atendido".into(), "boolean".into()),
        ]
    );
    assert!(incidents.report["valid"].as_bool().unwrap(), "{}", incidents.report);
    let batch = parquet_rows(incidents);
    assert_eq!(text(&batch, "fecha", 0).as_deref(), Some("2024-03-31"));
    assert_eq!(text(&batch, "municipio", 2).as_deref(), Some("García"), "text decoded from the workbook's UTF-16");
    assert_eq!(text(&batch, "monto", 2).as_deref(), Some("10.25"));
    assert_eq!(text(&batch, "atendido", 1).as_deref(), Some("false"));
    assert_eq!(text(&parquet_rows(&file.tables[1]), "nombre", 2).as_deref(), Some("García"));
    // Named as something else, the container's signature still decides.
    let (_dir, renamed) = run(bytes, "incidentes.csv");
    assert_eq!(renamed.unwrap().format, "xls");
}

#[test]
fn a_workbook_with_the_wrong_name_is_still_read_as_one() {
    let (_dir, result) = run(&workbook(), "incidentes.csv");
    assert_eq!(result.unwrap().format, "xlsx");
}

fn zip_file(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buffer);
        for (name, content, compressed) in entries {
            let method = if *compressed { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
            let options = zip::write::SimpleFileOptions::default().compression_method(method);
            zip.start_file(*name, options).unwrap();
            zip.write_all(content).unwrap();
        }
        zip.finish().unwrap();
    }
    buffer.into_inner()
}

const MANIFEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
 <manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>
 <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>"#;

fn ods() -> Vec<u8> {
    let content = r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
  xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
  xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">
<office:body><office:spreadsheet>
<table:table table:name="Escuelas">
<table:table-row><table:table-cell office:value-type="string"><text:p>escuela</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>alumnos</text:p></table:table-cell></table:table-row>
<table:table-row><table:table-cell office:value-type="string"><text:p>Benito Juárez</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="320"><text:p>320</text:p></table:table-cell></table:table-row>
<table:table-row><table:table-cell office:value-type="string"><text:p>Niños Héroes</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="215"><text:p>215</text:p></table:table-cell></table:table-row>
</table:table>
<table:table table:name="Fuentes">
<table:table-row><table:table-cell office:value-type="string"><text:p>fuente</text:p></table:table-cell></table:table-row>
<table:table-row><table:table-cell office:value-type="string"><text:p>SEP</text:p></table:table-cell></table:table-row>
</table:table>
</office:spreadsheet></office:body></office:document-content>"#;
    zip_file(&[
        ("mimetype", b"application/vnd.oasis.opendocument.spreadsheet", false),
        ("content.xml", content.as_bytes(), true),
        ("META-INF/manifest.xml", MANIFEST.as_bytes(), true),
    ])
}

#[test]
fn an_ods_workbook_gives_a_table_per_sheet() {
    let (_dir, result) = run(&ods(), "escuelas.ods");
    let file = result.unwrap();
    assert_eq!(file.format, "ods");
    assert_eq!(file.tables.iter().map(|table| table.name.as_str()).collect::<Vec<_>>(), ["Escuelas", "Fuentes"]);
    assert_eq!(field_types(&file.tables[0])[1], ("alumnos".to_string(), "integer".to_string()));
    assert_eq!(text(&parquet_rows(&file.tables[0]), "escuela", 1).as_deref(), Some("Niños Héroes"));
    // Named .zip, it is still recognised by its mimetype entry.
    let (_dir, result) = run(&ods(), "escuelas");
    assert_eq!(result.unwrap().format, "ods");
}

#[test]
fn a_zip_bomb_in_a_workbook_is_refused_before_it_expands() {
    let zeros = vec![0u8; 20 << 20];
    let bomb = zip_file(&[("[Content_Types].xml", b"<Types/>", true), ("xl/sharedStrings.xml", &zeros, true)]);
    assert!(bomb.len() < 1 << 20, "the bomb compresses ({} bytes)", bomb.len());
    let dir = tempfile::tempdir().unwrap();
    let options = AnalyzeOptions { max_uncompressed_bytes: 10 << 20, ..options(dir.path(), "bomba.xlsx") };
    match analyze_file(bomb.as_slice(), &options) {
        Err(IngestError::TooLarge { limit }) => assert_eq!(limit, 10 << 20),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Nothing is left in the output folder.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn broken_workbooks_get_clear_errors() {
    let mut garbage = b"PK\x03\x04".to_vec();
    garbage.extend((0..5000u32).map(|i| (i * 7919 % 251) as u8));
    let (dir, result) = run(&garbage, "roto.xlsx");
    let error = result.unwrap_err();
    assert!(matches!(error, IngestError::Container(_) | IngestError::Workbook(_)), "{error}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no spool or table file is left");
    // A workbook with only empty sheets holds no table.
    let mut empty = rust_xlsxwriter::Workbook::new();
    empty.add_worksheet();
    let (_dir, result) = run(&empty.save_to_buffer().unwrap(), "vacio.xlsx");
    assert!(matches!(result, Err(IngestError::NoTable)), "{result:?}");
}

#[test]
fn json_records_are_flattened_with_dotted_names() {
    let json = r#"[
        {"folio": 1, "fecha": "31/03/2024", "lugar": {"municipio": "Monterrey", "cp": "64000"}, "etiquetas": ["agua", "luz"], "monto": "$1,250.50", "activo": true},
        {"folio": 2, "fecha": "01/04/2024", "lugar": {"municipio": "Apodaca"}, "etiquetas": [], "monto": null, "activo": false, "nota": "nueva columna"}
    ]"#;
    let (_dir, result) = run(json.as_bytes(), "incidentes.json");
    let file = result.unwrap();
    assert_eq!(file.format, "json");
    let table = &file.tables[0];
    assert_eq!(table.rows, 2);
    let types = field_types(table);
    let names: Vec<&str> = types.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["folio", "fecha", "lugar.municipio", "lugar.cp", "etiquetas", "monto", "activo", "nota"]);
    assert_eq!(types[0].1, "integer");
    assert_eq!(types[1].1, "date");
    assert_eq!(types[5].1, "number");
    assert_eq!(types[6].1, "boolean");
    let batch = parquet_rows(table);
    assert_eq!(text(&batch, "etiquetas", 0).as_deref(), Some(r#"["agua","luz"]"#));
    assert_eq!(text(&batch, "lugar.cp", 1), None);
    assert_eq!(text(&batch, "fecha", 1).as_deref(), Some("2024-04-01"));
    // An API answer that wraps its records.
    let wrapped = r#"{"total": 2, "data": [{"a": 1}, {"a": 2}], "pagina": 1}"#;
    let (_dir, result) = run(wrapped.as_bytes(), "api.json");
    assert_eq!(result.unwrap().tables[0].rows, 2);
    // A report whose records are under a name of its own: the first member
    // that is an array of objects, past arrays of plain values.
    let report = r#"{"codigo": "MXNLE0001", "etiquetas": ["agua", "luz"], "vacio": [],
        "hitos": [{"numero": 1, "titulo": "Diagnóstico"}, {"numero": 2}], "instituciones": [{"nombre": "SE"}]}"#;
    let (_dir, result) = run(report.as_bytes(), "compromiso.json");
    let table = &result.unwrap().tables[0];
    assert_eq!(table.rows, 2);
    let names: Vec<String> = field_types(table).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["numero", "titulo"]);
    // A usual name wins wherever it is: a saved `datastore_search` answer
    // lists its fields (objects) before its records.
    let datastore = r#"{"help": "…", "result": 1, "fields": [{"id": "_id", "type": "int"}, {"id": "nombre", "type": "text"}],
        "records": [{"_id": 1, "nombre": "Ana", "edad": 30}, {"_id": 2, "nombre": "Luis", "edad": 41}, {"_id": 3, "nombre": "Sofía", "edad": 25}]}"#;
    let (_dir, result) = run(datastore.as_bytes(), "respuesta.json");
    let table = &result.unwrap().tables[0];
    assert_eq!(table.rows, 3);
    let names: Vec<String> = field_types(table).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["_id", "nombre", "edad"]);
}

#[test]
fn ndjson_loads_every_good_line_and_reports_the_bad_one() {
    let ndjson = "{\"id\": 1, \"nombre\": \"Ana\"}\n{\"id\": 2, \"nombre\": \"Luis\"}\nesto no es json\n\n{\"id\": 3, \"nombre\": \"Sofía\"}\n";
    let (_dir, result) = run(ndjson.as_bytes(), "personas.ndjson");
    let file = result.unwrap();
    assert_eq!(file.format, "ndjson");
    let table = &file.tables[0];
    assert_eq!(table.rows, 3);
    assert_eq!(error_types(table), ["source-error"]);
    let error = &table.report["tasks"][0]["errors"][0];
    assert_eq!(error["rowNumber"], 3);
    assert!(error["messageEs"].as_str().unwrap().contains("línea 3"));
    // A line longer than the bound is refused before it is held whole.
    let mut endless = b"{\"id\": 1}\n{\"texto\": \"".to_vec();
    endless.resize(endless.len() + (70 << 20), b'x');
    let (_dir, result) = run(&endless, "sin-fin.ndjson");
    assert!(matches!(result, Err(IngestError::RecordTooLong(_))), "{:?}", result.map(|file| file.format));
    // Recognised without its extension.
    let (_dir, result) = run(ndjson.as_bytes(), "personas");
    assert_eq!(result.unwrap().format, "ndjson");
}

#[test]
fn geojson_keeps_geometry_and_reports_its_extent() {
    let geojson = r#"{"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"nombre": "Parque Fundidora", "area_ha": 142}, "geometry": {"type": "Polygon", "coordinates": [[[-100.29, 25.67], [-100.28, 25.67], [-100.28, 25.68], [-100.29, 25.67]]]}},
        {"type": "Feature", "properties": {"nombre": "Macroplaza", "area_ha": 40}, "geometry": {"type": "Point", "coordinates": [-100.309, 25.669]}},
        {"type": "Feature", "properties": {"nombre": "Sin lugar", "area_ha": null}, "geometry": null}
    ]}"#;
    let (_dir, result) = run(geojson.as_bytes(), "parques.geojson");
    let file = result.unwrap();
    assert_eq!(file.format, "geojson");
    let table = &file.tables[0];
    assert_eq!(table.rows, 3);
    assert_eq!(
        field_types(table),
        [
            ("nombre".to_string(), "string".to_string()),
            ("area_ha".into(), "integer".into()),
            ("geometry".into(), "geojson".into())
        ]
    );
    let geo = table.geo.as_ref().unwrap();
    assert_eq!(geo.bbox, Some([-100.309, 25.669, -100.28, 25.68]));
    assert_eq!(geo.geometry_types.get("Polygon"), Some(&1));
    assert_eq!(geo.geometry_types.get("Point"), Some(&1));
    let batch = parquet_rows(table);
    let point: Value = serde_json::from_str(&text(&batch, "geometry", 1).unwrap()).unwrap();
    assert_eq!(point["coordinates"][0], -100.309);
    assert_eq!(text(&batch, "geometry", 2), None);
    // Named .json, the signature still says GeoJSON.
    let (_dir, result) = run(geojson.as_bytes(), "parques.json");
    assert_eq!(result.unwrap().format, "geojson");
    // A publisher's schema titles the geometry; its type stays the reader's.
    let dir = tempfile::tempdir().unwrap();
    let schema = serde_json::json!({"fields": [
        {"name": "geometry", "type": "string", "title": "Forma del parque"},
        {"name": "area_ha", "type": "number", "description": "Hectáreas"}
    ]});
    let options = AnalyzeOptions { schema: Some(schema), ..options(dir.path(), "parques.geojson") };
    let file = analyze_file(geojson.as_bytes(), &options).unwrap();
    let fields = &file.tables[0].schema["fields"];
    assert_eq!(fields[2], serde_json::json!({"name": "geometry", "type": "geojson", "title": "Forma del parque"}));
    assert_eq!(fields[1], serde_json::json!({"name": "area_ha", "type": "number", "description": "Hectáreas"}));
}

#[test]
fn hostile_json_gets_a_clear_error() {
    // Nested 10,000 deep: refused by the parser's depth limit, not by the stack.
    let deep = format!("[{}{}]", "[".repeat(10_000), "]".repeat(10_000));
    let (_dir, result) = run(deep.as_bytes(), "profundo.json");
    match result {
        Err(IngestError::Json(message)) => assert!(message.contains("recursion limit"), "{message}"),
        other => panic!("expected a JSON error, got {other:?}"),
    }
    let deep_object = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let (_dir, result) = run(format!("[{deep_object}]").as_bytes(), "profundo.json");
    assert!(matches!(result, Err(IngestError::Json(_))), "{result:?}");
    // Cut short.
    let (_dir, result) = run(br#"[{"a": 1}, {"a": "#, "cortado.json");
    assert!(matches!(result, Err(IngestError::Json(_))), "{result:?}");
    // No records.
    let (_dir, result) = run(b"[]", "vacio.json");
    assert!(matches!(result, Err(IngestError::NoTable)), "{result:?}");
    let (_dir, result) = run(br#"{"mensaje": "sin datos"}"#, "objeto.json");
    assert!(matches!(result, Err(IngestError::Json(_))), "{result:?}");
    // Too many columns.
    let wide: String = (0..2_100).map(|i| format!("\"c{i}\": {i}")).collect::<Vec<_>>().join(",");
    let (_dir, result) = run(format!("[{{{wide}}}]").as_bytes(), "ancho.json");
    assert!(matches!(result, Err(IngestError::TooManyColumns(_))), "{result:?}");
}

#[test]
fn long_values_do_not_fill_the_profile() {
    // 300 distinct 100 KB texts: the profile does not keep them.
    let mut csv = String::from("id,texto\n");
    for row in 0..300 {
        csv.push_str(&format!("{row},{}\n", format!("{row:05}").repeat(20_000)));
    }
    let (_dir, result) = run(csv.as_bytes(), "largo.csv");
    let table = &result.unwrap().tables[0];
    let column = &table.profile[1];
    assert!(column.distinct_is_estimate);
    assert!((285..=315).contains(&column.distinct), "300 values, estimated: {}", column.distinct);
    assert!(column.top.is_empty());
}

/// `.prj` files as ArcGIS and QGIS write them (ESRI WKT).
const WGS84_PRJ: &str = r#"GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]"#;
const UTM_14N_PRJ: &str = r#"PROJCS["WGS_1984_UTM_Zone_14N",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",-99.0],PARAMETER["Scale_Factor",0.9996],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]"#;
/// INEGI's projection for national maps (EPSG:6372).
const INEGI_LCC_PRJ: &str = r#"PROJCS["Mexico_ITRF2008_LCC",GEOGCS["GCS_Mexico_ITRF2008",DATUM["D_Mexico_ITRF2008",SPHEROID["GRS_1980",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Lambert_Conformal_Conic"],PARAMETER["False_Easting",2500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",-102.0],PARAMETER["Standard_Parallel_1",17.5],PARAMETER["Standard_Parallel_2",29.5],PARAMETER["Latitude_Of_Origin",12.0],UNIT["Meter",1.0]]"#;

/// A zipped Shapefile of named points in the system `prj` describes.
fn zipped_points(prj: &str, points: &[(&str, f64, f64)]) -> Vec<u8> {
    use shapefile::Point;
    use shapefile::dbase::{self, FieldValue, TableWriterBuilder};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sitios.shp");
    let table = TableWriterBuilder::new().add_character_field("nombre".try_into().unwrap(), 40);
    {
        let mut writer = shapefile::Writer::from_path(&path, table).unwrap();
        for (name, x, y) in points {
            let mut record = dbase::Record::default();
            record.insert("nombre".into(), FieldValue::Character(Some(name.to_string())));
            writer.write_shape_and_record(&Point::new(*x, *y), &record).unwrap();
        }
    }
    let read = |extension: &str| std::fs::read(path.with_extension(extension)).unwrap();
    let (shp, shx, dbf) = (read("shp"), read("shx"), read("dbf"));
    zip_file(&[
        ("sitios.shp", &shp, true),
        ("sitios.shx", &shx, true),
        ("sitios.dbf", &dbf, true),
        ("sitios.prj", prj.as_bytes(), true),
    ])
}

/// Projected layers (UTM, INEGI's Lambert) come out in longitude and
/// latitude, within 10 cm of PROJ's own answer (pyproj 3, same points); a
/// system that cannot be converted keeps its coordinates and says why.
#[test]
fn shapefile_coordinates_become_longitude_and_latitude() {
    // (name, longitude, latitude, x and y in UTM 14N, x and y in EPSG:6372), from pyproj.
    let places = [
        (
            "Macroplaza",
            -100.3097,
            25.6714,
            368558.58066403685,
            2839945.168374839,
            2668884.5539286574,
            1514602.2565226234,
        ),
        ("Zócalo", -99.1332, 19.4326, 486017.33091978834, 2148700.219840337, 2800163.325798929, 829057.5193839237),
    ];
    for (prj, system) in [(UTM_14N_PRJ, "WGS_1984_UTM_Zone_14N"), (INEGI_LCC_PRJ, "Mexico_ITRF2008_LCC")] {
        let points: Vec<(&str, f64, f64)> =
            places.iter().map(|p| if prj == UTM_14N_PRJ { (p.0, p.3, p.4) } else { (p.0, p.5, p.6) }).collect();
        let (_dir, result) = run(&zipped_points(prj, &points), "sitios.zip");
        let table = &result.unwrap().tables[0];
        let geo = table.geo.as_ref().unwrap();
        assert_eq!((geo.crs.as_deref(), geo.reprojected, &geo.crs_problem), (Some(system), true, &None));
        let batch = parquet_rows(table);
        for (row, place) in places.iter().enumerate() {
            let point: Value = serde_json::from_str(&text(&batch, "geometry", row).unwrap()).unwrap();
            let (longitude, latitude) =
                (point["coordinates"][0].as_f64().unwrap(), point["coordinates"][1].as_f64().unwrap());
            assert!((longitude - place.1).abs() < 1e-6 && (latitude - place.2).abs() < 1e-6, "{system} {point}");
        }
        let [west, south, east, north] = geo.bbox.unwrap();
        assert!((west + 100.3097).abs() < 1e-6 && (south - 19.4326).abs() < 1e-6, "the box is in degrees too");
        assert!((east + 99.1332).abs() < 1e-6 && (north - 25.6714).abs() < 1e-6);
    }
    // A system PROJ cannot read: the coordinates stay, the reason is given.
    let unknown = r#"PROJCS["Mystery",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Nobody_Knows"],UNIT["Meter",1.0]]"#;
    let (_dir, result) = run(&zipped_points(unknown, &[("a", 368558.5, 2839945.1)]), "sitios.zip");
    let table = &result.unwrap().tables[0];
    let geo = table.geo.as_ref().unwrap();
    assert!(!geo.reprojected && geo.crs_problem.is_some(), "{geo:?}");
    let point: Value = serde_json::from_str(&text(&parquet_rows(table), "geometry", 0).unwrap()).unwrap();
    assert_eq!(point["coordinates"], serde_json::json!([368558.5, 2839945.1]));
}

/// A zipped Shapefile of two polygons, its .dbf in Windows-1252 as its .cpg says.
fn zipped_shapefile(with_cpg: bool) -> Vec<u8> {
    tampered_shapefile(with_cpg, |_, _| {})
}

/// [`zipped_shapefile`], its `.shp` and `.dbf` bytes changed by `tamper` before they are zipped.
fn tampered_shapefile(with_cpg: bool, tamper: impl Fn(&mut Vec<u8>, &mut Vec<u8>)) -> Vec<u8> {
    use shapefile::dbase::{self, FieldValue, TableWriterBuilder};
    use shapefile::{Point, Polygon, PolygonRing};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("colonias.shp");
    let table = TableWriterBuilder::with_encoding(dbase::encoding::EncodingRs::from(encoding_rs::WINDOWS_1252))
        .add_character_field("nombre".try_into().unwrap(), 40)
        .add_numeric_field("poblacion".try_into().unwrap(), 10, 0);
    {
        let mut writer = shapefile::Writer::from_path(&path, table).unwrap();
        for (index, (name, people)) in [("Niños Héroes", 1200.0), ("Obispado", 800.0)].iter().enumerate() {
            let x = -100.3 + index as f64 * 0.1;
            let ring = vec![
                Point::new(x, 25.6),
                Point::new(x, 25.7),
                Point::new(x + 0.05, 25.7),
                Point::new(x + 0.05, 25.6),
                Point::new(x, 25.6),
            ];
            let polygon = Polygon::with_rings(vec![PolygonRing::Outer(ring)]);
            let mut record = dbase::Record::default();
            record.insert("nombre".into(), FieldValue::Character(Some(name.to_string())));
            record.insert("poblacion".into(), FieldValue::Numeric(Some(*people)));
            writer.write_shape_and_record(&polygon, &record).unwrap();
        }
    }
    let read = |extension: &str| std::fs::read(path.with_extension(extension)).unwrap();
    let (mut shp, shx, mut dbf) = (read("shp"), read("shx"), read("dbf"));
    tamper(&mut shp, &mut dbf);
    let mut entries: Vec<(&str, &[u8], bool)> = vec![
        ("colonias/colonias.shp", &shp, true),
        ("colonias/colonias.shx", &shx, true),
        ("colonias/colonias.dbf", &dbf, true),
    ];
    entries.push(("colonias/colonias.prj", WGS84_PRJ.as_bytes(), true));
    if with_cpg {
        entries.push(("colonias/colonias.cpg", b"1252", true));
    }
    zip_file(&entries)
}

#[test]
fn a_zipped_shapefile_is_a_table_with_its_geometry() {
    for with_cpg in [true, false] {
        let (_dir, result) = run(&zipped_shapefile(with_cpg), "colonias.zip");
        let file = result.unwrap();
        assert_eq!(file.format, "shapefile");
        let table = &file.tables[0];
        assert_eq!(table.rows, 2);
        assert_eq!(table.encoding, "windows-1252", "from the .cpg, or detected without it");
        assert_eq!(
            field_types(table),
            [
                ("nombre".to_string(), "string".to_string()),
                ("poblacion".into(), "integer".into()),
                ("geometry".into(), "geojson".into())
            ]
        );
        let batch = parquet_rows(table);
        assert_eq!(text(&batch, "nombre", 0).as_deref(), Some("Niños Héroes"));
        let polygon: Value = serde_json::from_str(&text(&batch, "geometry", 1).unwrap()).unwrap();
        assert_eq!(polygon["type"], "Polygon");
        let geo = table.geo.as_ref().unwrap();
        assert_eq!(geo.geometry_types.get("Polygon"), Some(&2));
        assert_eq!(geo.crs.as_deref(), Some("GCS_WGS_1984"));
        assert!(!geo.reprojected && geo.crs_problem.is_none(), "already longitude and latitude: kept as written");
        let [west, south, east, north] = geo.bbox.unwrap();
        assert!((west + 100.3).abs() < 1e-9 && (south - 25.6).abs() < 1e-9);
        assert!((east + 100.15).abs() < 1e-9 && (north - 25.7).abs() < 1e-9);
    }
    // A record declaring two billion points, or a header declaring none of
    // its own length: refused before the readers reserve room or subtract.
    let huge =
        tampered_shapefile(true, |shp, _| shp[100 + 8 + 40..100 + 8 + 44].copy_from_slice(&i32::MAX.to_le_bytes()));
    let (_dir, result) = run(&huge, "colonias.zip");
    assert!(
        matches!(&result, Err(IngestError::Container(message)) if message.contains("2147483647 points")),
        "{result:?}"
    );
    let negative =
        tampered_shapefile(true, |shp, _| shp[100 + 8 + 36..100 + 8 + 40].copy_from_slice(&(-1i32).to_le_bytes()));
    assert!(matches!(run(&negative, "colonias.zip").1, Err(IngestError::Container(_))));
    // Parts that start past the record's points (the crate would size a part by them).
    let far_part =
        tampered_shapefile(true, |shp, _| shp[100 + 8 + 44..100 + 8 + 48].copy_from_slice(&i32::MAX.to_le_bytes()));
    let (_dir, result) = run(&far_part, "colonias.zip");
    assert!(matches!(&result, Err(IngestError::Container(message)) if message.contains("starts part")), "{result:?}");
    let past_end = tampered_shapefile(true, |shp, _| shp[100 + 4..100 + 8].copy_from_slice(&u32::MAX.to_be_bytes()));
    assert!(
        matches!(run(&past_end, "colonias.zip").1, Err(IngestError::Container(message)) if message.contains("past the end"))
    );
    let short_header = tampered_shapefile(true, |_, dbf| dbf[8..10].copy_from_slice(&10u16.to_le_bytes()));
    let (_dir, result) = run(&short_header, "colonias.zip");
    assert!(matches!(&result, Err(IngestError::Container(message)) if message.contains(".dbf")), "{result:?}");
    // A zip without a .shp is not a Shapefile; one with a .shp but no .dbf says so.
    let (_dir, result) = run(&zip_file(&[("capa.shp", b"not really", true)]), "capa.zip");
    assert!(matches!(&result, Err(IngestError::Container(message)) if message.contains(".dbf")), "{result:?}");
}

/// The XLS fixture with its Workbook stream's records changed by `change`
/// (given each record's type and its bytes, header included), analysed.
fn crafted_xls(name: &str, mut change: impl FnMut(u16, &mut [u8]) -> bool) -> Result<FileAnalysis, IngestError> {
    use std::io::{Read, Seek, SeekFrom};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, include_bytes!("fixtures/incidentes.xls")).unwrap();
    let mut workbook = Vec::new();
    cfb::open(&path).unwrap().open_stream("Workbook").unwrap().read_to_end(&mut workbook).unwrap();
    let (mut at, mut changed) = (0, 0);
    while at + 4 <= workbook.len() {
        let kind = u16::from_le_bytes([workbook[at], workbook[at + 1]]);
        let size = u16::from_le_bytes([workbook[at + 2], workbook[at + 3]]) as usize;
        if change(kind, &mut workbook[at..at + 4 + size]) {
            changed += 1;
        }
        at += 4 + size;
    }
    assert!(changed > 0, "the fixture has the records to change");
    let mut file = cfb::open_rw(&path).unwrap();
    let mut stream = file.open_stream("Workbook").unwrap();
    stream.seek(SeekFrom::Start(0)).unwrap();
    stream.write_all(&workbook).unwrap();
    stream.flush().unwrap();
    drop(stream);
    drop(file);
    run(&std::fs::read(&path).unwrap(), name).1
}

/// A workbook whose sheets declare 2³² rows (their DIMENSIONS records) is
/// refused before calamine reserves room for them (without the scan the
/// process aborts on an 858 GB allocation); the real one reads.
#[test]
fn an_xls_declaring_billions_of_cells_is_refused_before_it_is_read() {
    let result = crafted_xls("enorme.xls", |kind, record| {
        let dimensions = kind == 0x0200 && record.len() >= 18;
        if dimensions {
            record[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        }
        dimensions
    });
    assert!(
        matches!(result, Err(IngestError::ExpandsTooMuch { what: "cells", limit: 20_000_000 })),
        "{:?}",
        result.map(|file| file.tables.len())
    );
}

/// Two cells of a sheet far apart (row and column 65,534) would make a
/// dense box of four billion cells (137 GB, an abort without the scan):
/// refused before it is made.
#[test]
fn an_xls_with_cells_far_apart_is_refused_before_it_is_read() {
    let mut moved = false;
    let result = crafted_xls("lejos.xls", |kind, record| {
        let move_it = !moved && matches!(kind, 0x0203 | 0x027E | 0x00FD);
        if move_it {
            record[4..8].copy_from_slice(&[0xFE, 0xFF, 0xFE, 0xFF]);
            moved = true;
        }
        move_it
    });
    assert!(
        matches!(result, Err(IngestError::ExpandsTooMuch { what: "cells", .. })),
        "{:?}",
        result.map(|file| file.tables.len())
    );
}

//! A publisher's Table Schema: given types win over inference, and the
//! constraints are checked row by row, reported in frictionless's error types.

use datalab_ingest::{AnalyzeOptions, IngestError, analyze_file};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};

const CSV: &str = "folio,clave,municipio,monto,fecha\n\
1,001,Monterrey,100.5,31/03/2024\n\
2,002,Apodaca,-5,01/04/2024\n\
2,003,Gotham,20,15/12/2023\n\
4,04,Monterrey,N/D,02/04/2024\n\
,005,García,3000,03/04/2024\n";

fn schema() -> Value {
    json!({
        "fields": [
            {"name": "folio", "type": "integer", "title": "Folio del reporte", "constraints": {"unique": true}},
            {"name": "clave", "type": "string", "description": "Clave de tres dígitos", "constraints": {"pattern": "[0-9]{3}"}},
            {"name": "municipio", "constraints": {"enum": ["Monterrey", "Apodaca", "García"], "required": true}},
            {"name": "monto", "type": "number", "constraints": {"minimum": 0, "maximum": 1000}},
            {"name": "fecha", "type": "date", "format": "%d/%m/%Y", "constraints": {"minimum": "2024-01-01"}}
        ],
        "missingValues": ["", "N/D"],
        "primaryKey": ["folio"]
    })
}

fn errors(report: &Value) -> Vec<(String, Option<u64>, String)> {
    report["tasks"][0]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| {
            (
                error["type"].as_str().unwrap().to_string(),
                error["rowNumber"].as_u64(),
                error["fieldName"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn given_types_and_constraints_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let options = AnalyzeOptions {
        name: "incidentes.csv".into(),
        parquet: Some(dir.path().join("t.parquet")),
        schema: Some(schema()),
        ..Default::default()
    };
    let file = analyze_file(CSV.as_bytes(), &options).unwrap();
    let table = &file.tables[0];
    let found = errors(&table.report);
    let expected = [
        ("constraint-error", Some(3), "monto"),     // -5 < 0
        ("unique-error", Some(4), "folio"),         // 2 again
        ("primary-key", Some(4), ""),               // the key 2 again
        ("constraint-error", Some(4), "municipio"), // not in the list
        ("constraint-error", Some(4), "fecha"),     // before 2024
        ("constraint-error", Some(5), "clave"),     // "04" is not three digits
        ("constraint-error", Some(6), "folio"),     // the key has no value
        ("constraint-error", Some(6), "monto"),     // 3000 > 1000
    ];
    for (kind, row, field) in expected {
        assert!(
            found.iter().any(|(k, r, f)| k == kind && *r == row && f == field),
            "{kind} at row {row:?} in {field}: {found:?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:?}");
    assert_eq!(table.report["valid"], false);
    let messages: Vec<&str> = table.report["tasks"][0]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["messageEs"].as_str().unwrap())
        .collect();
    assert!(messages.iter().any(|message| message.contains("«-5» es menor que 0")), "{messages:?}");
    assert!(messages.iter().any(|message| message.contains("no es uno de los valores permitidos")), "{messages:?}");

    // The schema keeps the publisher's words; "clave" stays text, so "001" keeps its zeros.
    let fields = table.schema["fields"].as_array().unwrap();
    assert_eq!(fields[0]["title"], "Folio del reporte");
    assert_eq!(fields[1]["type"], "string");
    assert_eq!(fields[1]["description"], "Clave de tres dígitos");
    assert_eq!(fields[2]["type"], "string", "inferred where the publisher gave no type");
    assert_eq!(fields[4]["format"], "%d/%m/%Y");
    assert_eq!(table.schema["missingValues"], json!(["", "N/D"]));
    assert_eq!(table.schema["primaryKey"], json!(["folio"]));
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(dir.path().join("t.parquet")).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batch = reader.map(Result::unwrap).next().unwrap();
    let clave = batch.column_by_name("clave").unwrap();
    assert_eq!(arrow::util::display::array_value_to_string(clave, 0).unwrap(), "001");
    // "N/D" is missing, by the publisher's list.
    assert!(arrow::array::Array::is_null(batch.column_by_name("monto").unwrap(), 3));
}

#[test]
fn a_schema_that_cannot_apply_says_why() {
    let cases = [
        (json!({"fields": [{"name": "folio", "type": "entero"}]}), "unknown type \"entero\""),
        (json!({"fields": [{"name": "clave", "constraints": {"pattern": "[0-9"}}]}), "pattern"),
        (json!({"fields": [{"name": "monto", "type": "number", "constraints": {"minimum": "mucho"}}]}), "not a number"),
        (
            json!({"fields": [{"name": "municipio", "type": "string", "constraints": {"minimum": 1}}]}),
            "integer, number and date",
        ),
        (json!({"fields": [], "primaryKey": ["id"]}), "\"id\", which is not a field"),
    ];
    for (schema, expected) in cases {
        let options = AnalyzeOptions { schema: Some(schema), ..Default::default() };
        match analyze_file(CSV.as_bytes(), &options) {
            Err(IngestError::Schema(message)) => assert!(message.contains(expected), "{message}"),
            other => panic!("expected a schema error for {expected}, got {other:?}"),
        }
    }
}

//! The analysis of real and hostile files.

use datalab_ingest::infer::FieldType;
use datalab_ingest::{AnalyzeOptions, IngestError, analyze};

fn run(bytes: &[u8]) -> datalab_ingest::Analysis {
    analyze(bytes, &AnalyzeOptions::default()).unwrap()
}

fn field(analysis: &datalab_ingest::Analysis, name: &str) -> (String, Option<String>) {
    let field = analysis.schema["fields"].as_array().unwrap().iter().find(|field| field["name"] == name).unwrap();
    (field["type"].as_str().unwrap().to_string(), field["format"].as_str().map(String::from))
}

fn error_types(analysis: &datalab_ingest::Analysis) -> Vec<String> {
    analysis.report["tasks"][0]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["type"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_government_csv_in_windows_1252() {
    let bytes = include_bytes!("../../datalab/demo/incidentes_viales_ejemplo.csv");
    let analysis = run(bytes);
    assert_eq!(analysis.encoding, "windows-1252");
    assert_eq!(analysis.dialect.as_ref().unwrap().delimiter, ',');
    assert!(analysis.dialect.as_ref().unwrap().header);
    assert_eq!(analysis.rows, 300);
    assert_eq!(field(&analysis, "folio").0, "integer");
    assert_eq!(field(&analysis, "fecha"), ("date".into(), Some("%d/%m/%Y".into())));
    assert_eq!(field(&analysis, "hora").0, "time");
    assert_eq!(field(&analysis, "municipio").0, "string");
    assert_eq!(field(&analysis, "latitud").0, "number");
    assert_eq!(field(&analysis, "monto_danios").0, "number");
    let municipio = analysis.profile.iter().find(|column| column.name == "municipio").unwrap();
    assert!(municipio.top.iter().any(|top| top.value == "Monterrey"), "accents decoded: {:?}", municipio.top);
    let colonia_values: Vec<&str> = analysis
        .profile
        .iter()
        .find(|column| column.name == "observaciones")
        .unwrap()
        .top
        .iter()
        .map(|top| top.value.as_str())
        .collect();
    assert!(colonia_values.iter().any(|value| value.contains("Protección Civil")), "{colonia_values:?}");
    let fecha = analysis.profile.iter().find(|column| column.name == "fecha").unwrap();
    assert!(fecha.min.as_deref().unwrap().starts_with("2015-") && fecha.max.as_deref().unwrap().starts_with("2024-"));
    let folio = analysis.profile.iter().find(|column| column.name == "folio").unwrap();
    assert_eq!(folio.nulls, 0);
    assert!(folio.mean.is_some() && folio.stddev.is_some());
    // The generator repeats about 0.2 % of rows exactly.
    let types = error_types(&analysis);
    assert!(types.iter().all(|kind| kind == "duplicate-row"), "{types:?}");
    assert_eq!(analysis.report["valid"], types.is_empty());
}

#[test]
fn types_with_missing_markers_and_type_errors() {
    let analysis = run("id;monto;activo;fecha\n1;$1,200.50;sí;31/01/2024\n2;N/D;no;01/02/2024\n3;300;Sí;S/D\n4;abc;no;05/02/2024\n5;12;sí;06/02/2024\n6;13;no;07/02/2024\n7;14;no;08/02/2024\n8;15;no;09/02/2024\n9;16;no;10/02/2024\n10;17;no;11/02/2024\n11;18;no;12/02/2024\n12;19;no;13/02/2024\n".as_bytes());
    assert_eq!(analysis.dialect.as_ref().unwrap().delimiter, ';');
    assert_eq!(field(&analysis, "monto").0, "number");
    assert_eq!(field(&analysis, "activo").0, "boolean");
    assert_eq!(field(&analysis, "fecha").0, "date");
    let monto = analysis.profile.iter().find(|column| column.name == "monto").unwrap();
    assert_eq!(monto.nulls, 1);
    let errors = analysis.report["tasks"][0]["errors"].as_array().unwrap();
    let type_error = errors.iter().find(|error| error["type"] == "type-error").unwrap();
    assert_eq!(type_error["rowNumber"], 5);
    assert_eq!(type_error["fieldName"], "monto");
    assert_eq!(type_error["cell"], "abc");
    assert!(type_error["messageEs"].as_str().unwrap().contains("fila 5, columna «monto»"));
    assert_eq!(analysis.report["valid"], false);
}

#[test]
fn structural_problems_are_reported_not_fatal() {
    let analysis = run(b"a,,a\n1,2,3\n4,5\n,,\n6,7,8,9\n1,2,3\n");
    let types = error_types(&analysis);
    assert_eq!(
        types,
        vec!["blank-header", "duplicate-label", "missing-cell", "blank-row", "extra-cell", "duplicate-row"]
    );
    assert_eq!(analysis.rows, 4, "the blank row is not a row");
}

#[test]
fn hostile_and_empty_files_get_clear_errors() {
    assert!(matches!(analyze(&b""[..], &AnalyzeOptions::default()), Err(IngestError::Empty)));
    let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00not a csv at all";
    assert!(matches!(analyze(&zip[..], &AnalyzeOptions::default()), Err(IngestError::Binary)));
    let header_only = run(b"folio,fecha\n");
    assert_eq!(header_only.rows, 0);
    assert_eq!(header_only.schema["fields"].as_array().unwrap().len(), 2);
    // A 10 MB single line: one enormous header, read without trouble.
    let long_line = "x".repeat(10 * 1024 * 1024);
    let analysis = run(long_line.as_bytes());
    assert_eq!(analysis.rows, 0);
}

/// 4 KiB of noise from a fixed seed: what a person would call "not a text table".
fn noise(length: usize) -> Vec<u8> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// One record longer than the bound (a quoted field that never closes, an
/// NDJSON line without end) is refused before it is held whole.
#[test]
fn a_record_longer_than_the_bound_is_refused() {
    let mut unclosed = b"nombre,nota\nAna,\"".to_vec();
    unclosed.resize(unclosed.len() + (70 << 20), b'x');
    let result = analyze(&unclosed[..], &AnalyzeOptions::default());
    assert!(matches!(result, Err(IngestError::RecordTooLong(_))), "{:?}", result.map(|analysis| analysis.rows));
    assert!(IngestError::RecordTooLong(1).message_es().starts_with("un registro (fila) ocupa más de 1 bytes"));
    // Long records under the bound still read.
    let mut long = b"nombre,nota\nAna,\"".to_vec();
    long.resize(long.len() + (8 << 20), b'x');
    long.extend_from_slice(b"\"\nLuis,corta\n");
    assert_eq!(run(&long).rows, 2);
}

#[test]
fn binary_files_are_not_text_tables_and_rare_encodings_are() {
    let refused = analyze(&noise(4096)[..], &AnalyzeOptions::default());
    assert!(matches!(refused, Err(IngestError::Binary)), "{:?}", refused.map(|analysis| analysis.rows));
    // Noise without a single NUL byte is still noise.
    let no_nul: Vec<u8> = noise(4096).into_iter().map(|byte| byte.max(1)).collect();
    assert!(matches!(analyze(&no_nul[..], &AnalyzeOptions::default()), Err(IngestError::Binary)));
    let message = IngestError::Binary.message_es();
    assert!(message.starts_with("esto no es una tabla de texto"), "{message}");
    // A real table in an encoding seldom seen here is read.
    let mut japanese = String::from("都道府県,市区町村,人口\n");
    for (number, city) in
        ["東京都,新宿区", "大阪府,大阪市", "北海道,札幌市", "福岡県,福岡市", "愛知県,名古屋市"].iter().enumerate()
    {
        for repeat in 0..20 {
            japanese.push_str(&format!("{city},{}\n", 1000 + number * 100 + repeat));
        }
    }
    let (shift_jis, _, _) = encoding_rs::SHIFT_JIS.encode(&japanese);
    let analysis = run(&shift_jis);
    assert_eq!(analysis.encoding, "Shift_JIS");
    assert_eq!(analysis.rows, 100);
    assert_eq!(analysis.profile[0].name, "都道府県");
    assert_eq!(field(&analysis, "人口").0, "integer");
}

#[test]
fn mixed_encodings_are_read_line_by_line_and_reported() {
    // Two exports concatenated by hand: UTF-8 first, then Windows-1252.
    let mut mixed = "municipio,población,año\n".as_bytes().to_vec();
    for number in 0..5 {
        mixed.extend_from_slice(format!("García,{number},2024\n").as_bytes());
    }
    for number in 0..3 {
        let text = format!("Anáhuac,{number},2023\n");
        let (line, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
        mixed.extend_from_slice(&line);
    }
    let analysis = run(&mixed);
    assert_eq!(analysis.profile[1].name, "población", "the UTF-8 header reads as written");
    let names: Vec<&str> = analysis.profile[0].top.iter().map(|top| top.value.as_str()).collect();
    assert_eq!(names, ["García", "Anáhuac"], "every row reads as written, in either encoding");
    assert_eq!(analysis.encoding, "UTF-8", "most lines are UTF-8");
    let mixed_encoding = analysis.mixed_encoding.as_ref().expect("the mix is reported");
    assert_eq!(mixed_encoding.encoding, "windows-1252");
    assert_eq!(mixed_encoding.lines, 3);
    assert_eq!(mixed_encoding.first_lines, [7, 8, 9]);
    let warnings = analysis.report["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|warning| warning.as_str().unwrap().contains("3 lines are in windows-1252")),
        "{warnings:?}"
    );
    assert_eq!(analysis.report["valid"], true);

    // UTF-8 with one Windows-1252 line far past the sample.
    let mut late = "municipio,valor\n".to_string().into_bytes();
    for number in 0..8000 {
        late.extend_from_slice(format!("García,{number}\n").as_bytes());
    }
    late.extend_from_slice(b"Anah\xfaac,2\n");
    let analysis = run(&late);
    assert_eq!(analysis.encoding, "UTF-8");
    assert_eq!(analysis.rows, 8001);
    assert_eq!(analysis.report["tasks"][0]["errorCounts"].get("encoding-error"), None, "no byte is lost");
    assert_eq!(analysis.mixed_encoding.as_ref().unwrap().first_lines, [8002]);
    assert!(analysis.profile[0].top.iter().any(|top| top.value == "Anahúac"));

    // Mostly Windows-1252 with a UTF-8 line: the UTF-8 one is named.
    let (mut legacy, _, _) =
        encoding_rs::WINDOWS_1252.encode("municipio,valor\nSabinas Hidalgo,1\nAnáhuac,2\nGarcía,3\n");
    legacy.to_mut().extend_from_slice("Peñuelas,4\n".as_bytes());
    let analysis = run(&legacy);
    assert_eq!(analysis.encoding, "windows-1252");
    assert_eq!(analysis.mixed_encoding.as_ref().unwrap().encoding, "UTF-8");
    assert_eq!(analysis.mixed_encoding.as_ref().unwrap().first_lines, [5]);
    assert!(analysis.profile[0].top.iter().any(|top| top.value == "Peñuelas"));
    // A single-encoding file says nothing of the kind.
    assert!(run(include_bytes!("../../datalab/demo/incidentes_viales_ejemplo.csv")).mixed_encoding.is_none());
}

#[test]
fn an_encoding_can_be_given() {
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode("nombre\nAño\n");
    let options = AnalyzeOptions { encoding: Some("iso-8859-1".into()), ..AnalyzeOptions::default() };
    let analysis = analyze(&bytes[..], &options).unwrap();
    assert_eq!(analysis.encoding, "windows-1252", "WHATWG maps ISO-8859-1 to Windows-1252");
    assert_eq!(analysis.profile[0].top[0].value, "Año");
    let _ = FieldType::String;
}

#[test]
fn rows_are_written_to_typed_parquet() {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};

    let directory = tempfile::tempdir().unwrap();
    let output = directory.path().join("table.parquet");
    let mut csv = "folio,fecha,monto,activo,nota,nombre,nombre\n\
                   1,31/01/2024,\"$1,234.50\",sí,N/D,Ana,a\n\
                   2,01/02/2024,99,no,hola,Beto,b\n\
                   \n\
                   3,x,12%,no,,Ñoño,c\n"
        .to_string();
    // Enough good dates for one bad value to stay under the confidence threshold.
    for folio in 4..=20 {
        csv.push_str(&format!("{folio},02/02/2024,1,no,,Eva,d\n"));
    }
    let options = AnalyzeOptions { parquet: Some(output.clone()), ..Default::default() };
    let analysis = analyze(csv.as_bytes(), &options).unwrap();
    assert_eq!(analysis.parquet.as_ref().unwrap().rows, 20);
    let monto = analysis.profile.iter().find(|column| column.name == "monto").unwrap();
    let histogram = monto.histogram.as_ref().expect("numbers get a histogram");
    assert_eq!((histogram.min, histogram.max), (1.0, 1234.5));
    assert_eq!(histogram.counts.iter().sum::<u64>(), 20);
    assert_eq!(histogram.counts[19], 1, "the maximum is in the last bin");
    let fecha = analysis.profile.iter().find(|column| column.name == "fecha").unwrap();
    assert_eq!(fecha.histogram.as_ref().unwrap().counts.iter().sum::<u64>(), 19, "dates too; the bad one is null");
    assert!(analysis.profile.iter().find(|column| column.name == "nota").unwrap().histogram.is_none());
    let remaining: Vec<_> =
        std::fs::read_dir(directory.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert_eq!(remaining, vec![std::ffi::OsString::from("table.parquet")], "the staging file is removed");

    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&output).unwrap())
            .unwrap()
            .build()
            .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().values()[..3].to_vec(), vec![1, 2, 3], "row ids");
    let batch = &batches[0];
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|field| field.name().as_str()).collect();
    assert_eq!(names, ["_id", "folio", "fecha", "monto", "activo", "nota", "nombre", "nombre_2"], "labels made unique");
    assert_eq!(schema.field(1).data_type(), &DataType::Int64);
    assert_eq!(schema.field(2).data_type(), &DataType::Date32);
    assert_eq!(schema.field(3).data_type(), &DataType::Float64);
    assert_eq!(schema.field(4).data_type(), &DataType::Boolean);
    let dates = batch.column(2).as_primitive::<Date32Type>();
    assert_eq!(dates.value(0), 19_753, "31/01/2024");
    assert!(dates.is_null(2), "a value that is not a date becomes null");
    let amounts = batch.column(3).as_primitive::<Float64Type>();
    assert_eq!(amounts.values()[..3].to_vec(), vec![1234.5, 99.0, 12.0]);
    assert_eq!(batch.column(1).as_primitive::<Int64Type>().values()[..3].to_vec(), vec![1, 2, 3]);
    // Text with few distinct values is stored as a dictionary of text.
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    assert_eq!(schema.field(5).data_type(), &dictionary);
    let text = |index: usize| arrow::compute::cast(batch.column(index), &DataType::Utf8).unwrap();
    let notes = text(5);
    let notes = notes.as_string::<i32>();
    assert!(notes.is_null(0) && notes.value(1) == "hola" && notes.is_null(2), "missing markers are null");
    assert_eq!(text(6).as_string::<i32>().value(2), "Ñoño");
}

/// Files longer than a batch of the column pass (analysed on two threads)
/// give the profile and the report a single pass in file order would.
#[test]
fn large_files_are_profiled_exactly_across_batches() {
    let mut text = String::from("id,nombre,monto,fecha,ciudad\n");
    let rows = 10_000;
    for row in 1..=rows {
        let monto = match row {
            7_000 => "mucho".to_string(),
            _ if row % 100 == 0 => "N/D".to_string(),
            _ => format!("{}.5", row),
        };
        let ciudad = if row == 9_999 {
            "Álamo"
        } else if row % 2 == 0 {
            "Monterrey"
        } else {
            "Apodaca"
        };
        text.push_str(&format!("{row},persona {row:05},{monto},{:02}/03/2024,{ciudad}\n", row % 28 + 1));
    }
    let analysis = run(text.as_bytes());
    assert_eq!(analysis.rows, rows);
    assert_eq!(field(&analysis, "id").0, "integer");
    assert_eq!(field(&analysis, "monto").0, "number");
    assert_eq!(field(&analysis, "fecha"), ("date".into(), Some("%d/%m/%Y".into())));
    let profile = |name: &str| analysis.profile.iter().find(|column| column.name == name).unwrap().clone();
    let id = profile("id");
    assert_eq!((id.count, id.nulls, id.min.as_deref(), id.max.as_deref()), (rows, 0, Some("1"), Some("10000")));
    assert_eq!(id.distinct, rows);
    let monto = profile("monto");
    assert_eq!((monto.count, monto.nulls), (rows - 99, 99), "row 7000 holds a word, not N/D");
    assert_eq!(monto.max.as_deref(), Some("9999.5"));
    let nombre = profile("nombre");
    assert_eq!((nombre.min.as_deref(), nombre.max.as_deref()), (Some("persona 00001"), Some("persona 10000")));
    let ciudad = profile("ciudad");
    assert_eq!(ciudad.distinct, 3);
    assert_eq!((ciudad.min.as_deref(), ciudad.max.as_deref()), (Some("Apodaca"), Some("Álamo")));
    assert_eq!(ciudad.top[0].value, "Monterrey");
    assert_eq!(ciudad.top[0].count, 5_000);
    let errors = analysis.report["tasks"][0]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["type"], "type-error");
    assert_eq!(errors[0]["rowNumber"], 7_001, "the header is row 1");
    assert_eq!(errors[0]["fieldName"], "monto");
}

/// Files of several row groups (encoded column by column on several
/// threads) keep every row, in file order, with row numbers that run on
/// from group to group.
#[test]
fn parquet_row_groups_keep_every_row_in_order() {
    use arrow::array::ArrayAccessor;
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type};

    let directory = tempfile::tempdir().unwrap();
    let output = directory.path().join("table.parquet");
    let rows: i64 = 300_000;
    let mut csv = String::from("n,mitad,texto,clave\n");
    for row in 1..=rows {
        csv.push_str(&format!("{row},{}.5,t{},c{row}\n", row / 2, row % 7));
    }
    let options = AnalyzeOptions { parquet: Some(output.clone()), ..Default::default() };
    let analysis = analyze(csv.as_bytes(), &options).unwrap();
    assert_eq!(analysis.parquet.as_ref().unwrap().rows, rows as u64);
    let n = analysis.profile.iter().find(|column| column.name == "n").unwrap();
    assert_eq!(n.histogram.as_ref().unwrap().counts.iter().sum::<u64>(), rows as u64, "every row counted once");
    // Row groups are binned on separate threads: each bin holds its share.
    let mut bins = vec![0u64; 20];
    for row in 1..=rows {
        bins[((((row - 1) as f64 / (rows - 1) as f64) * 20.0) as usize).min(19)] += 1;
    }
    assert_eq!(n.histogram.as_ref().unwrap().counts, bins);
    // Distinct values beyond the 10,000 counted one by one are estimated
    // (about 1.6% standard error); few are counted exactly.
    for (name, distinct) in [("n", 300_000.0), ("mitad", 150_001.0), ("clave", 300_000.0)] {
        let column = analysis.profile.iter().find(|column| column.name == name).unwrap();
        assert!(column.distinct_is_estimate, "{name}");
        let error = (column.distinct as f64 - distinct).abs() / distinct;
        assert!(error < 0.05, "{name}: {} distinct estimated for {distinct}", column.distinct);
    }
    let texto = analysis.profile.iter().find(|column| column.name == "texto").unwrap();
    assert_eq!((texto.distinct, texto.distinct_is_estimate), (7, false));
    assert_eq!(texto.top.iter().map(|top| top.count).sum::<u64>(), rows as u64, "counted to the end");
    assert!(n.top.is_empty(), "values all different: none is frequent");

    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&output).unwrap())
            .unwrap();
    assert!(builder.metadata().num_row_groups() >= 2, "a file this long gets several row groups");
    let (mut ids, mut values, mut halves) = (Vec::new(), Vec::new(), Vec::new());
    for batch in builder.build().unwrap() {
        let batch = batch.unwrap();
        ids.extend_from_slice(batch.column(0).as_primitive::<Int64Type>().values());
        values.extend_from_slice(batch.column(1).as_primitive::<Int64Type>().values());
        halves.extend_from_slice(batch.column(2).as_primitive::<Float64Type>().values());
        // Seven values: a dictionary. A value per row: plain text.
        let texts = batch.column(3).as_dictionary::<Int32Type>().downcast_dict::<arrow::array::StringArray>().unwrap();
        let first = batch.column(1).as_primitive::<Int64Type>().value(0);
        assert_eq!(texts.value(0), format!("t{}", first % 7));
        assert_eq!(batch.column(4).data_type(), &DataType::Utf8);
        assert_eq!(batch.column(4).as_string::<i32>().value(0), format!("c{first}"));
    }
    assert_eq!(ids, (1..=rows).collect::<Vec<_>>(), "row numbers run on across groups");
    assert_eq!(values, (1..=rows).collect::<Vec<_>>(), "rows stay in file order");
    assert_eq!(halves[299_998], 149_999.5);
}

/// A disk that fills up while the table is written stops the analysis
/// with the disk's own error, and leaves no table behind.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_while_writing_gives_its_own_error() {
    let directory = tempfile::tempdir().unwrap();
    let output = directory.path().join("table.parquet");
    // Every write to /dev/full fails as a full disk does.
    std::os::unix::fs::symlink("/dev/full", &output).unwrap();
    let mut csv = String::from("n,texto\n");
    for row in 0..200_000 {
        csv.push_str(&format!("{row},un texto de relleno para la fila {row}\n"));
    }
    let options = AnalyzeOptions { parquet: Some(output.clone()), ..Default::default() };
    let error = analyze(csv.as_bytes(), &options).unwrap_err();
    assert!(error.to_string().contains("No space left on device"), "{error}");
    assert!(!output.exists(), "no table is written");
}

/// Columns are written as the types their first batch of rows suggests;
/// when later rows decide other types, the file is read again and written
/// with those, losing nothing: codes keep their leading zeros, numbers their
/// decimals, dates their order. Nothing else is left in the folder.
#[test]
fn types_decided_by_later_rows_are_the_ones_written() {
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Date32Type, Float64Type};

    let directory = tempfile::tempdir().unwrap();
    let output = directory.path().join("table.parquet");
    let rows = 40_000;
    let mut csv = String::from("clave,monto,fecha,n\n");
    for row in 0..rows {
        // After 20,000 integers, codes with letters (a quarter of the
        // column: text), an amount with cents, and a date whose day is
        // past 12 (day-month-year, where the first rows fit both orders).
        let clave = if row < 20_000 { format!("{row:05}") } else { format!("A{row}") };
        let monto = if row == 30_000 { "12.75".to_string() } else { row.to_string() };
        let (day, month) = if row < 30_000 { (1 + row % 12, 1 + (row / 12) % 12) } else { (20, 3) };
        csv.push_str(&format!("{clave},{monto},{month:02}/{day:02}/2024,{row}\n"));
    }
    let progress = std::sync::Arc::new(datalab_ingest::Progress::default());
    let options =
        AnalyzeOptions { parquet: Some(output.clone()), progress: Some(progress.clone()), ..Default::default() };
    let analysis = analyze(csv.as_bytes(), &options).unwrap();
    assert_eq!(field(&analysis, "clave").0, "string");
    assert_eq!(field(&analysis, "monto").0, "number");
    assert_eq!(field(&analysis, "fecha"), ("date".to_string(), Some("%m/%d/%Y".to_string())));
    assert_eq!(field(&analysis, "n").0, "integer");
    assert_eq!(progress.rows.load(std::sync::atomic::Ordering::Relaxed), rows as u64, "rows of the last pass");

    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&output).unwrap())
            .unwrap()
            .build()
            .unwrap();
    let (mut claves, mut montos, mut fechas) = (Vec::new(), Vec::new(), Vec::new());
    for batch in reader {
        let batch = batch.unwrap();
        assert_eq!(batch.column(1).data_type(), &DataType::Utf8, "a code per row is plain text");
        claves.extend(batch.column(1).as_string::<i32>().iter().map(|value| value.unwrap().to_string()));
        montos.extend(batch.column(2).as_primitive::<Float64Type>().values().iter().copied());
        fechas.extend(batch.column(3).as_primitive::<Date32Type>().iter());
    }
    assert_eq!(claves.len(), rows);
    assert_eq!((claves[7].as_str(), claves[39_999].as_str()), ("00007", "A39999"));
    assert_eq!((montos[30_000], montos[29_999]), (12.75, 29_999.0));
    // 2024-01-01 and 2024-03-20, in days since 1970-01-01.
    assert_eq!((fechas[0], fechas[39_999]), (Some(19_723), Some(19_802)));
    let left: Vec<_> = std::fs::read_dir(directory.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("table.parquet")], "no spool or stale table is left");
}

//! Any bytes under any supported name, through the reader the platform
//! would choose (workbooks, JSON, NDJSON, GeoJSON, zipped Shapefiles, CSV),
//! with Parquet output: an analysis or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 8] =
    ["datos.csv", "libro.xlsx", "libro.ods", "libro.xls", "datos.json", "datos.ndjson", "capa.geojson", "capa.zip"];

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else { return };
    let dir = std::env::temp_dir().join(format!("datalab-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let options = datalab_ingest::AnalyzeOptions {
        name: NAMES[*first as usize % NAMES.len()].into(),
        parquet: Some(dir.join("table.parquet")),
        max_uncompressed_bytes: 64 << 20,
        max_listed_errors: 20,
        ..Default::default()
    };
    let _ = datalab_ingest::analyze_file(rest, &options);
    let _ = std::fs::remove_dir_all(&dir);
});

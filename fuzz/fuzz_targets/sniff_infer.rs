//! Any bytes as delimited text: encoding detection, dialect sniffing, type
//! inference over every value, profiling and validation must end with an
//! analysis or an error, never a panic, a hang or unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = datalab_ingest::AnalyzeOptions { max_listed_errors: 20, ..Default::default() };
    if let Ok(analysis) = datalab_ingest::analyze(data, &options) {
        assert_eq!(analysis.profile.len(), analysis.schema["fields"].as_array().map_or(0, Vec::len));
    }
    // The value parsers on their own, over the text however it decodes.
    let text = String::from_utf8_lossy(data);
    for cell in text.split([',', '\n']) {
        let _ = datalab_ingest::infer::candidates(cell);
        let _ = datalab_ingest::infer::parse_number(cell);
        let _ = datalab_ingest::infer::parse_datetime(cell);
        for format in datalab_ingest::infer::DateFormat::ALL {
            let _ = datalab_ingest::infer::parse_date(cell, format);
        }
    }
    let _ = datalab_ingest::sniff::sniff(&text);
});

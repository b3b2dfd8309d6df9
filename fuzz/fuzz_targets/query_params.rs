//! Any query string through the rows API's parameter parser and filter
//! builder over a table of every column type, any text through the SQL
//! guard, and any CKAN sort: an answer or an error, never a panic, and the
//! bounds hold (at most so many filters, each predicate built balanced).
#![no_main]

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let schema = Arc::new(Schema::new(vec![
        Field::new("_id", DataType::Int64, false),
        Field::new("municipio", DataType::Utf8, true),
        Field::new("categoria", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), true),
        Field::new("monto", DataType::Float64, true),
        Field::new("vehiculos", DataType::Int64, true),
        Field::new("fecha", DataType::Date32, true),
        Field::new("hora", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("activo", DataType::Boolean, true),
    ]));
    let text = String::from_utf8_lossy(data);
    if let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(&text)
        && let Ok(request) = datalab_query::RowsRequest::from_pairs(&pairs)
    {
        assert!(request.filters.len() <= datalab_query::filters::MAX_FILTERS);
        let _ = datalab_query::filters::row_predicate(&schema, &request);
        if let Some(sort) = &request.sort {
            let _ = datalab_query::search::parse_sort(&schema, sort);
        }
    }
    let _ = datalab_query::sql::referenced_tables(&text);
});

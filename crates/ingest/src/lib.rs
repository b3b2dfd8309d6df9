//! Bytes to clean tables.
//!
//! This first slice reads delimited text (CSV, TSV and other delimiters) in
//! one streaming pass over the whole file: it detects the encoding (BOM,
//! then UTF-8 validity, then `chardetng`), sniffs the dialect (delimiter,
//! header, preamble lines), infers each column's type from **all** its
//! values, profiles the columns, and validates the rows, producing a
//! Frictionless Table Schema and a report in the JSON shape of
//! frictionless-py. A bad cell never stops the read: it is counted and
//! listed (up to a cap) and the rest goes on. Memory stays bounded: per
//! column a few counters, a capped set of distinct values and capped error
//! samples; per row an 8-byte hash for duplicate detection.

pub mod columnar;
pub mod encoding;
pub mod infer;
pub mod sniff;
pub mod table;

pub use table::{Analysis, AnalyzeOptions, ParquetSummary, analyze};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the file is empty")]
    Empty,
    #[error("the file does not look like text (binary data in the first bytes)")]
    Binary,
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot parse the file as delimited text: {0}")]
    Csv(String),
    #[error("cannot write the Parquet file: {0}")]
    Parquet(String),
}

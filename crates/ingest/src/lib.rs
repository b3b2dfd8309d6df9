//! Bytes to clean tables.
//!
//! Every format is read through one trait ([`reader::Reader`]): delimited
//! text, workbooks (XLSX, XLS, ODS; one table per sheet), JSON, NDJSON and
//! GeoJSON. Delimited text is read in one streaming pass over the whole
//! file: it detects the encoding (BOM,
//! then UTF-8 validity, then `chardetng`), sniffs the dialect (delimiter,
//! header, preamble lines), infers each column's type from **all** its
//! values, profiles the columns, and validates the rows, producing a
//! Frictionless Table Schema and a report in the JSON shape of
//! frictionless-py. A bad cell never stops the read: it is counted and
//! listed (up to a cap) and the rest goes on. Memory stays bounded: per
//! column a few counters, a capped set of distinct values and capped error
//! samples; per row an 8-byte hash for duplicate detection.

pub mod columnar;
pub mod constraints;
pub(crate) mod distinct;
pub mod encoding;
pub mod infer;
pub mod json;
pub(crate) mod pass;
pub mod reader;
pub(crate) mod seen;
pub mod shapefile_zip;
pub mod sniff;
pub mod spreadsheet;
pub mod table;

pub use reader::{FileAnalysis, Reader, analyze_file, analyze_source, is_readable};
pub use table::{Analysis, AnalyzeOptions, GeoSummary, ParquetSummary, Progress, analyze};

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
    #[error("the file holds no table (no sheet or record with data)")]
    NoTable,
    #[error("cannot read the compressed container: {0}")]
    Container(String),
    #[error("the file would expand to more than {limit} bytes once decompressed; it is refused")]
    TooLarge { limit: u64 },
    #[error("cannot read the workbook: {0}")]
    Workbook(String),
    #[error("cannot read the JSON: {0}")]
    Json(String),
    #[error("the schema cannot be applied: {0}")]
    Schema(String),
    #[error("the records spread into more than {0} columns")]
    TooManyColumns(usize),
    /// The file would expand past one of the bounds of [`AnalyzeOptions`]
    /// (`what` names it: "cells", "columns"); refused before it is made.
    #[error("the file would expand to more than {limit} {what}; it is refused")]
    ExpandsTooMuch { what: &'static str, limit: u64 },
    /// A table's columns were written as other types than the ones its
    /// values decide: the file is read again with these (see
    /// [`reader::analyze_source`]; never returned by it).
    #[error("table {table} must be written again with the types its values decide")]
    TypesChanged { table: usize, types: Vec<columnar::Written> },
}

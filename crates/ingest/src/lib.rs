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
pub use table::{Analysis, AnalyzeOptions, GeoSummary, MixedEncoding, ParquetSummary, Progress, analyze};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the file is empty")]
    Empty,
    #[error(
        "this is not a text table: its first bytes are binary data (control characters), not delimited text; \
         a spreadsheet or another format is read when its file name ends in its extension (.xlsx, .ods, .zip…)"
    )]
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
    /// One record (a row of delimited text, a line of NDJSON) is longer than
    /// [`table::MAX_RECORD_BYTES`]: refused before it fills memory.
    #[error("a record (row) is longer than {0} bytes; the file is refused")]
    RecordTooLong(u64),
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

impl IngestError {
    /// The same reason in Spanish, for the pages (the details a parser gives stay as it gave them).
    pub fn message_es(&self) -> String {
        match self {
            IngestError::Empty => "el archivo está vacío".into(),
            IngestError::Binary => {
                "esto no es una tabla de texto: sus primeros bytes son datos binarios (caracteres de \
                                    control), no texto delimitado; una hoja de cálculo u otro formato se lee cuando el \
                                    nombre del archivo termina en su extensión (.xlsx, .ods, .zip…)"
                    .into()
            }
            IngestError::Io(error) => format!("no se pudo leer el archivo: {error}"),
            IngestError::Csv(detail) => format!("no se pudo leer el archivo como texto delimitado: {detail}"),
            IngestError::Parquet(detail) => format!("no se pudo escribir la tabla Parquet: {detail}"),
            IngestError::NoTable => "el archivo no contiene ninguna tabla (ni hojas ni registros con datos)".into(),
            IngestError::Container(detail) => format!("no se pudo leer el contenedor comprimido: {detail}"),
            IngestError::TooLarge { limit } => {
                format!("el archivo pasaría de {limit} bytes al descomprimirse; no se acepta")
            }
            IngestError::Workbook(detail) => format!("no se pudo leer el libro de cálculo: {detail}"),
            IngestError::Json(detail) => format!("no se pudo leer el JSON: {detail}"),
            IngestError::Schema(detail) => format!("no se puede aplicar el esquema: {detail}"),
            IngestError::TooManyColumns(limit) => format!("los registros se reparten en más de {limit} columnas"),
            IngestError::RecordTooLong(limit) => {
                format!("un registro (fila) ocupa más de {limit} bytes; el archivo no se acepta")
            }
            IngestError::ExpandsTooMuch { what, limit } => {
                let what = match *what {
                    "cells" => "celdas",
                    "columns" => "columnas",
                    other => other,
                };
                format!("el archivo se expandiría a más de {limit} {what}; no se acepta")
            }
            IngestError::TypesChanged { table, .. } => {
                format!("la tabla {table} debe escribirse de nuevo con los tipos que deciden sus valores")
            }
        }
    }
}

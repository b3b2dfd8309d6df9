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
//!
//! ## How the pieces fit
//!
//! Every format goes through one trait, `reader::Reader`, registered in `reader::READERS` and
//! chosen by `reader::choose` (extension or declared format when the first bytes agree, else the
//! bytes' signature): delimited text (`table.rs`, streamed), XLSX/XLS/ODS (`spreadsheet.rs`,
//! calamine; one table per sheet, header found below title rows), JSON/NDJSON/GeoJSON (`json.rs`,
//! where an object keeps its records decided first by a read that keeps nothing (`layout`: a usual
//! member name such as `records` or `features`, else the first array of objects), records streamed
//! by a serde visitor in two passes, flattened with dotted names, geometry kept as GeoJSON text
//! with a bounding box), zipped Shapefiles (`shapefile_zip.rs`, the shapefile crate; `.dbf` decoded
//! per its `.cpg` or detected; shapes converted to GeoJSON; coordinates converted from the `.prj`'s
//! system to longitude and latitude on WGS 84 with proj4wkt and proj4rs, or kept with the reason
//! when the system cannot be converted). Workbooks are bounded before they expand
//! (`AnalyzeOptions::max_cells`, `max_columns`: an ODS file's `content.xml` is scanned for its
//! repeated rows and cells before calamine makes them, an XLS file's records (through `cfb`) for
//! the sheet sizes calamine would reserve, XLSX and XLSB stream and count each row). Every reader
//! feeds `table::TableBuilder`, which does the rest the same way for all formats: encoding
//! detection (BOM, UTF-8, chardetng; a sample with NUL bytes or over 1% control characters is not
//! text), UTF-8 and single-byte text decoded line by line (`encoding::LineDecoder`: each line in
//! the one it is valid in, the mix reported with its lines), dialect sniffing, type inference over
//! every value, column profiles, a frictionless-shaped validation report; one streaming pass,
//! bounded memory (row checks and duplicate rows on the reading thread, `seen.rs`: one 64-bit hash
//! per row in an open-addressed table whose slot is fetched from memory one row ahead, so a
//! duplicate is told one row late; the column pass, `pass.rs`: nulls, type votes, profile (distinct
//! values counted one by one up to 10,000 in `distinct.rs`, values of up to 16 bytes kept in the
//! table's entries with each value's type checks, so a repeated value is not examined again, and
//! its type votes, number and dates tallied once with its count when the pass ends; past 10,000 the
//! number of distinct values is estimated by a HyperLogLog sketch seeded with them, and a column
//! whose values are then nearly all new over a batch stops looking them up, listing no frequent
//! values but keeping every tally exact) and each column's typed values, on persistent workers, one
//! per core, each owning a share of the columns, fed shared batches of 16,384 rows through a
//! channel, each column still in file order); Parquet output written during the pass
//! (`columnar.rs`: each column is written as the type its first batch suggests, or the publisher's
//! or a reader's type; the workers build the typed arrays from the values the type checks parsed
//! and a writer thread encodes them; the Arrow schema in the footer is written last, once the table
//! knows which text to read as a dictionary; when the types decided from every value differ from
//! the ones written, `reader::analyze_source` drops the table and reads the file again with the
//! types known, so callers give a way to reopen the file; no Parquet dictionary for columns whose
//! first batch is mostly distinct values, and text whose values it counts in full (at most 10,000)
//! stored as an Arrow `Dictionary(Int32, Utf8)`, a type the file's schema keeps so queries read it
//! as one; Snappy for text only (numbers, dates and row numbers barely compress and every query
//! would pay to decompress them); data pages of at most 4,096 rows; first column `_id`, the row
//! number, which a sorted page uses to read only its rows, never dictionary-encoded; histograms
//! read back from the written file on every core while the file is synced to disk)

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

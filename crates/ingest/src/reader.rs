//! Every file format a resource can hold is read through one trait,
//! [`Reader`], and registered in [`READERS`]. A reader turns a file into one
//! or more tables (a workbook's sheets) and hands every row to a
//! [`TableBuilder`](crate::table::TableBuilder), which does the rest the
//! same way for all formats: type inference, profile, validation, Parquet.
//!
//! The reader is chosen from the file's first bytes, its name and the
//! format its publisher declared ([`choose`]). Delimited text streams
//! straight from its source; formats that need random access (workbooks are
//! zip or OLE containers) or two passes (JSON's columns are known only once
//! every record has been seen) are first copied to a temporary file.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::IngestError;
use crate::table::{Analysis, AnalyzeOptions};

/// A file to read: a stream whose first bytes were already taken, or a file
/// on disk for readers that need one ([`Reader::needs_file`]).
pub enum Input<'a> {
    Stream { head: Vec<u8>, rest: Box<dyn Read + 'a> },
    File(&'a Path),
}

impl Input<'_> {
    /// The file on disk; readers that ask for one always get one.
    pub fn path(&self) -> Result<&Path, IngestError> {
        match self {
            Input::File(path) => Ok(path),
            Input::Stream { .. } => Err(IngestError::Io(std::io::Error::other("this reader needs a file"))),
        }
    }
}

/// A file format read into tables.
pub trait Reader: Sync {
    /// Short lower-case name, reported as each table's `format`.
    fn format(&self) -> &'static str;
    /// File name extensions (lower case, no dot) and declared format names
    /// that mean this format.
    fn extensions(&self) -> &'static [&'static str];
    /// Whether the file's first bytes look like this format.
    fn sniff(&self, head: &[u8]) -> bool;
    /// Whether the signature is binary (a zip or OLE container): such a file
    /// cannot be text, whatever its name says.
    fn binary_signature(&self) -> bool {
        false
    }
    /// Formats this one is a special case of (GeoJSON and NDJSON of JSON):
    /// a file named as the general format that carries this signature is
    /// read as this one.
    fn refines(&self) -> &'static [&'static str] {
        &[]
    }
    /// Whether the reader needs the whole file on disk.
    fn needs_file(&self) -> bool {
        true
    }
    /// Reads every table of the file. The first table's Parquet file goes to
    /// `options.parquet`, the next ones beside it
    /// ([`AnalyzeOptions::parquet_path`]).
    fn read(&self, input: Input<'_>, options: &AnalyzeOptions) -> Result<Vec<Analysis>, IngestError>;
}

/// Every reader, in the order their signatures are tried.
pub static READERS: &[&dyn Reader] = &[
    &crate::shapefile_zip::ZippedShapefile,
    &crate::spreadsheet::Workbook::ODS,
    &crate::spreadsheet::Workbook::XLSX,
    &crate::spreadsheet::Workbook::XLS,
    &crate::json::GEOJSON,
    &crate::json::NDJSON,
    &crate::json::JSON,
    &Delimited,
];

/// Whether a declared format or a file name's extension is one a reader takes.
pub fn is_readable(format_or_extension: &str) -> bool {
    let wanted = format_or_extension.trim().trim_start_matches('.').to_ascii_lowercase();
    READERS.iter().any(|reader| reader.extensions().contains(&wanted.as_str()))
}

fn by_name(wanted: &str) -> Option<&'static dyn Reader> {
    let wanted = wanted.trim().trim_start_matches('.').to_ascii_lowercase();
    READERS.iter().copied().find(|reader| reader.extensions().contains(&wanted.as_str()))
}

/// Picks the reader for a file: the one its name's extension (or else its
/// declared format) names, when the first bytes agree; otherwise the first
/// reader whose signature the bytes carry (a workbook uploaded as ".csv" is
/// still read as a workbook); delimited text when nothing else fits.
pub fn choose(name: &str, declared: Option<&str>, head: &[u8]) -> &'static dyn Reader {
    let extension = Path::new(name).extension().map(|extension| extension.to_string_lossy().to_string());
    let named = extension.as_deref().and_then(by_name).or_else(|| declared.and_then(by_name));
    if let Some(reader) = READERS.iter().copied().find(|reader| reader.binary_signature() && reader.sniff(head)) {
        return reader;
    }
    if let Some(reader) = named
        && reader.sniff(head)
    {
        let special =
            READERS.iter().copied().find(|special| special.refines().contains(&reader.format()) && special.sniff(head));
        return special.unwrap_or(reader);
    }
    if let Some(reader) = READERS.iter().copied().find(|reader| reader.format() != "csv" && reader.sniff(head)) {
        return reader;
    }
    named.unwrap_or(&Delimited)
}

/// Every table of a file.
#[derive(Debug, Clone, Serialize)]
pub struct FileAnalysis {
    pub format: String,
    pub bytes: u64,
    pub tables: Vec<Analysis>,
}

/// Reads a whole file of any supported format and analyses its tables.
/// When Parquet files are written, the input is kept in a spool file
/// first, to be read again if need be (see [`analyze_source`]).
pub fn analyze_file(input: impl Read, options: &AnalyzeOptions) -> Result<FileAnalysis, IngestError> {
    if options.parquet.is_none() {
        return analyze_once(input, options);
    }
    let spooled = spool(input, options)?;
    analyze_source(|| std::fs::File::open(spooled.path()), options)
}

/// Passes over a file before its types settle, at most: each pass after
/// the first settles at least one more table.
const MAX_PASSES: usize = 8;

/// Reads the file `open` gives (from its start, each time it is called)
/// and analyses its tables.
///
/// Each table is written to Parquet as it is read, each column as the type
/// its first rows suggest; the types are decided from every value. In the
/// rare file whose later rows change a column's type (a code column whose
/// first 16,384 values are numbers), the table's file is dropped and the
/// whole file is read again, its columns written as the types found.
pub fn analyze_source<R: Read>(
    open: impl FnMut() -> std::io::Result<R>,
    options: &AnalyzeOptions,
) -> Result<FileAnalysis, IngestError> {
    with_settled_types(open, options, analyze_once)
}

/// Runs `read` over what `open` gives until no table's types change (see
/// [`analyze_source`]).
pub(crate) fn with_settled_types<R: Read, T>(
    mut open: impl FnMut() -> std::io::Result<R>,
    options: &AnalyzeOptions,
    mut read: impl FnMut(R, &AnalyzeOptions) -> Result<T, IngestError>,
) -> Result<T, IngestError> {
    let mut options = std::borrow::Cow::Borrowed(options);
    for _ in 0..MAX_PASSES {
        match read(open()?, &options) {
            Err(IngestError::TypesChanged { table, types }) => {
                let options = options.to_mut();
                options.known_types.insert(table, types);
                if let Some(progress) = &options.progress {
                    progress.rows.store(0, std::sync::atomic::Ordering::Relaxed);
                }
            }
            outcome => return outcome,
        }
    }
    Err(IngestError::Parquet("the column types did not settle".into()))
}

/// Keeps a stream in a temporary file in the spool folder, to read it again.
pub(crate) fn spool(input: impl Read, options: &AnalyzeOptions) -> Result<tempfile::NamedTempFile, IngestError> {
    let folder = spool_folder(options);
    std::fs::create_dir_all(&folder)?;
    let mut spooled = tempfile::Builder::new().prefix("spool-").suffix(".tmp").tempfile_in(&folder)?;
    // Read in large pieces, whatever the caller's reader does.
    std::io::copy(&mut std::io::BufReader::with_capacity(256 * 1024, input), &mut spooled)?;
    std::io::Write::flush(&mut spooled)?;
    Ok(spooled)
}

/// [`analyze_file`], in one pass whatever the types written.
fn analyze_once(mut input: impl Read, options: &AnalyzeOptions) -> Result<FileAnalysis, IngestError> {
    let mut head = Vec::with_capacity(64 * 1024);
    (&mut input).take(64 * 1024).read_to_end(&mut head)?;
    if head.is_empty() {
        return Err(IngestError::Empty);
    }
    let reader = choose(&options.name, options.format.as_deref(), &head);
    if !reader.needs_file() {
        let tables = reader.read(Input::Stream { head, rest: Box::new(input) }, options)?;
        let bytes = tables.iter().map(|table| table.bytes).max().unwrap_or(0);
        return Ok(FileAnalysis { format: reader.format().to_string(), bytes, tables });
    }
    let spooled = spool(std::io::Cursor::new(head).chain(input), options)?;
    let bytes = spooled.as_file().metadata()?.len();
    let tables = match reader.read(Input::File(spooled.path()), options) {
        Ok(tables) => tables,
        Err(error) => {
            // Tables finished before the failure are not left behind.
            for index in 0.. {
                match options.parquet_path(index) {
                    Some(path) if path.exists() => {
                        let _ = std::fs::remove_file(path);
                    }
                    _ => break,
                }
            }
            return Err(error);
        }
    };
    if tables.is_empty() {
        return Err(IngestError::NoTable);
    }
    Ok(FileAnalysis { format: reader.format().to_string(), bytes, tables })
}

fn spool_folder(options: &AnalyzeOptions) -> PathBuf {
    options
        .spool_dir
        .clone()
        .or_else(|| options.parquet.as_ref().and_then(|path| path.parent().map(Path::to_path_buf)))
        .unwrap_or_else(std::env::temp_dir)
}

/// CSV, TSV and other delimited text, streamed.
pub struct Delimited;

impl Reader for Delimited {
    fn format(&self) -> &'static str {
        "csv"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["csv", "tsv", "txt", "tab", "psv", "dat"]
    }

    fn sniff(&self, _head: &[u8]) -> bool {
        true
    }

    fn needs_file(&self) -> bool {
        false
    }

    fn read(&self, input: Input<'_>, options: &AnalyzeOptions) -> Result<Vec<Analysis>, IngestError> {
        match input {
            Input::Stream { head, rest } => Ok(vec![crate::table::analyze_delimited(head, rest, options)?]),
            Input::File(path) => Ok(vec![crate::table::analyze_once(std::fs::File::open(path)?, options)?]),
        }
    }
}

/// Refuses a zip container whose entries would expand past `limit` bytes,
/// before anything is decompressed. Entries whose size is only known after
/// reading them (streamed zips) count at the largest ratio deflate allows.
pub fn check_zip(path: &Path, limit: u64) -> Result<(), IngestError> {
    let file = std::fs::File::open(path)?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|error| IngestError::Container(error.to_string()))?;
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(|error| IngestError::Container(error.to_string()))?;
        // Deflate cannot expand more than 1032 to 1.
        let size = entry.size().max(entry.compressed_size().saturating_mul(if entry.size() == 0 { 1032 } else { 1 }));
        total = total.saturating_add(size);
        if total > limit {
            return Err(IngestError::TooLarge { limit });
        }
    }
    Ok(())
}

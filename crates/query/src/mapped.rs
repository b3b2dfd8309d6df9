//! The table files as DataFusion reads them: the local file system, with
//! the byte ranges a scan asks for served from the file's memory mapping.
//! Page reads (`Footers`) take their mappings from here too, so a file is
//! mapped once whichever reads it.
//!
//! DataFusion reads a Parquet file's column chunks through an object store.
//! The local one reads each range into a freshly zeroed buffer: on a
//! group-by over a million rows, zeroing and copying were a tenth of the
//! query. A published table file is never written again (it is written
//! under `tmp/`, renamed into place, and old versions are only unlinked),
//! so [`MappedFiles`] maps it once and answers each range with a slice of
//! the mapping, without a copy. Everything else (other files, writes,
//! listings, conditional reads) is the local file system's.
//!
//! The pages of a mapping a query touched count in the server's resident
//! memory (they are the file's page cache, which `read()` fills just the
//! same, and the kernel drops them as it needs); files larger than
//! [`MAPPED_MAX_BYTES`] are read as before, so an export of a very large
//! table keeps the server's resident memory flat.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, Result,
};
use futures_util::stream::BoxStream;

/// Table files kept mapped at once.
const MAPPED_KEPT: usize = 64;

/// The largest table file read through a mapping.
pub(crate) const MAPPED_MAX_BYTES: u64 = 512 << 20;

#[derive(Debug)]
pub(crate) struct MappedFiles {
    local: LocalFileSystem,
    /// Only files under this folder, and not in its `tmp/`, are mapped.
    root: PathBuf,
    pub(crate) mapped: Mutex<HashMap<PathBuf, Bytes>>,
}

impl std::fmt::Display for MappedFiles {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "MappedFiles({})", self.root.display())
    }
}

impl MappedFiles {
    pub(crate) fn new(root: &Path) -> MappedFiles {
        MappedFiles { local: LocalFileSystem::new(), root: absolute(root), mapped: Mutex::default() }
    }

    /// Lets go of the mapping of `path` (the file was deleted).
    pub(crate) fn forget(&self, path: &Path) {
        self.mapped.lock().expect("not poisoned").remove(&absolute(path));
    }

    /// The mapping of the published table file at `path`, made on first
    /// use; the last [`MAPPED_KEPT`] are kept. Page reads (`Footers`) map
    /// a file of any size: they touch only the pages they read.
    pub(crate) fn map(&self, path: &Path) -> std::io::Result<Bytes> {
        let path = absolute(path);
        if let Some(bytes) = self.mapped.lock().expect("not poisoned").get(&path) {
            return Ok(bytes.clone());
        }
        let file = std::fs::File::open(&path)?;
        // SAFETY: a published table file is never written again: ingestion
        // writes it under `tmp/` (never mapped) and renames it into place,
        // and an old version is only ever unlinked, which leaves a mapping intact.
        let map = unsafe { memmap2::Mmap::map(&file) }?;
        let bytes = Bytes::from_owner(map);
        let mut mapped = self.mapped.lock().expect("not poisoned");
        if mapped.len() >= MAPPED_KEPT {
            mapped.clear();
        }
        mapped.insert(path, bytes.clone());
        Ok(bytes)
    }

    /// What a scan reads of a published table file of at most
    /// [`MAPPED_MAX_BYTES`], or `None` for any other file.
    fn mapping(&self, location: &ObjectPath) -> Option<Bytes> {
        let path = self.local.path_to_filesystem(location).ok()?;
        if path.strip_prefix(&self.root).ok()?.starts_with("tmp") {
            return None;
        }
        let cached = self.mapped.lock().expect("not poisoned").get(&path).cloned();
        let size = match &cached {
            Some(bytes) => bytes.len() as u64,
            None => std::fs::metadata(&path).ok()?.len(),
        };
        if size > MAPPED_MAX_BYTES {
            return None;
        }
        cached.or_else(|| self.map(&path).ok())
    }
}

/// `path` as DataFusion names a local file: joined to the working folder
/// when relative, `.` and `..` resolved as written (as a `file://` URL
/// resolves them), symbolic links left as they are.
pub(crate) fn absolute(path: &Path) -> PathBuf {
    let joined = match path.is_absolute() {
        true => path.to_path_buf(),
        false => std::env::current_dir().map(|current| current.join(path)).unwrap_or_else(|_| path.to_path_buf()),
    };
    let mut resolved = PathBuf::new();
    for component in joined.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                resolved.pop();
            }
            other => resolved.push(other),
        }
    }
    resolved
}

#[async_trait::async_trait]
impl ObjectStore for MappedFiles {
    async fn put_opts(&self, location: &ObjectPath, payload: PutPayload, options: PutOptions) -> Result<PutResult> {
        self.local.put_opts(location, payload, options).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        options: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.local.put_multipart_opts(location, options).await
    }

    async fn get_opts(&self, location: &ObjectPath, options: GetOptions) -> Result<GetResult> {
        self.local.get_opts(location, options).await
    }

    /// The ranges a Parquet scan reads, as slices of the mapping.
    async fn get_ranges(&self, location: &ObjectPath, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        if let Some(bytes) = self.mapping(location) {
            let length = bytes.len() as u64;
            if ranges.iter().all(|range| range.start <= range.end && range.end <= length) {
                return Ok(ranges.iter().map(|range| bytes.slice(range.start as usize..range.end as usize)).collect());
            }
        }
        self.local.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<ObjectPath>>,
    ) -> BoxStream<'static, Result<ObjectPath>> {
        self.local.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&ObjectPath>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.local.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&ObjectPath>) -> Result<ListResult> {
        self.local.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &ObjectPath, to: &ObjectPath, options: CopyOptions) -> Result<()> {
        self.local.copy_opts(from, to, options).await
    }
}

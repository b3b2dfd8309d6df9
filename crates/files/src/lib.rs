//! Blob storage of datalab through `object_store`: a local directory by
//! default, any S3-compatible store for scale-out.
//!
//! Uploads are streamed: each chunk is hashed (SHA-256) and written as it
//! arrives, never the whole file in memory, and the size cap is enforced on
//! the way. A blob is first written under `tmp/` and only moved to its final,
//! content-addressed key (`blobs/ab/abcdef…`) once complete, so a failed or
//! interrupted upload leaves nothing that a resource could point to; stale
//! `tmp/` objects are swept by [`FileStore::sweep_temporary`].

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("no such file")]
    NotFound,
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    #[error("requested range is not satisfiable")]
    RangeNotSatisfiable,
    #[error("file storage error: {0}")]
    Storage(#[from] object_store::Error),
}

/// A blob written to storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub key: String,
    pub size: u64,
    pub sha256: String,
}

/// A blob being read: a stream of its bytes in `range` of `total_size`.
pub struct BlobReader {
    pub stream: BoxStream<'static, Result<Bytes, FilesError>>,
    pub range: Range<u64>,
    pub total_size: u64,
}

#[derive(Clone)]
pub struct FileStore {
    store: Arc<dyn ObjectStore>,
    max_upload_bytes: u64,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("FileStore")
            .field("store", &self.store.to_string())
            .field("max_upload_bytes", &self.max_upload_bytes)
            .finish()
    }
}

/// Part size of multipart writes, and how many parts may be in flight: this
/// bounds the memory an upload uses to about 2 × 5 MiB whatever its size.
const PART_SIZE: usize = 5 * 1024 * 1024;
const PARTS_IN_FLIGHT: usize = 2;

impl FileStore {
    /// A store in a local directory, created if missing.
    pub fn local(directory: &Path, max_upload_bytes: u64) -> Result<FileStore, FilesError> {
        std::fs::create_dir_all(directory)
            .map_err(|error| FilesError::Interrupted(format!("cannot create {}: {error}", directory.display())))?;
        let store = LocalFileSystem::new_with_prefix(directory)?;
        Ok(FileStore { store: Arc::new(store), max_upload_bytes })
    }

    pub fn with_store(store: Arc<dyn ObjectStore>, max_upload_bytes: u64) -> FileStore {
        FileStore { store, max_upload_bytes }
    }

    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_bytes
    }

    /// Streams `chunks` into storage. On any error (the source failed, the
    /// size cap was passed) the partial write is removed and nothing is left.
    pub async fn put_stream<S, E>(&self, chunks: S) -> Result<StoredBlob, FilesError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let temporary = ObjectPath::from(format!("tmp/{}", uuid::Uuid::new_v4()));
        let upload = self.store.put_multipart(&temporary).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut chunks = std::pin::pin!(chunks);
        let failure = loop {
            let chunk = match chunks.next().await {
                None => break None,
                Some(Err(error)) => break Some(FilesError::Interrupted(error.to_string())),
                Some(Ok(chunk)) => chunk,
            };
            size += chunk.len() as u64;
            if size > self.max_upload_bytes {
                break Some(FilesError::TooLarge { limit: self.max_upload_bytes });
            }
            hasher.update(&chunk);
            if let Err(error) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                break Some(error.into());
            }
            writer.put(chunk);
        };
        if let Some(error) = failure {
            let _ = writer.abort().await;
            let _ = self.store.delete(&temporary).await;
            return Err(error);
        }
        writer.finish().await?;
        let sha256 = hex::encode(hasher.finalize());
        let key = format!("blobs/{}/{}", &sha256[..2], sha256);
        let final_path = ObjectPath::from(key.as_str());
        // Content-addressed: the same bytes uploaded twice are stored once.
        // The new copy replaces an existing one (the same bytes, atomically),
        // which also makes the blob new again for `sweep_unreferenced`: a
        // blob that a resource being saved is about to refer to is never
        // old enough to be swept.
        if let Err(error) = self.store.rename(&temporary, &final_path).await {
            let _ = self.store.delete(&temporary).await;
            return Err(error.into());
        }
        Ok(StoredBlob { key, size, sha256 })
    }

    /// Opens a blob for reading, optionally a byte range of it (inclusive
    /// start, exclusive end, clamped to the blob's size).
    pub async fn open(&self, key: &str, range: Option<Range<u64>>) -> Result<BlobReader, FilesError> {
        let path = ObjectPath::from(key);
        let meta = self.store.head(&path).await.map_err(not_found)?;
        let total_size = meta.size;
        let range = match range {
            None => 0..total_size,
            Some(range) if range.start >= total_size || range.start >= range.end => {
                return Err(FilesError::RangeNotSatisfiable);
            }
            Some(range) => range.start..range.end.min(total_size),
        };
        if range.is_empty() {
            return Ok(BlobReader { stream: futures_util::stream::empty().boxed(), range, total_size });
        }
        let options = GetOptions { range: Some(GetRange::Bounded(range.clone())), ..GetOptions::default() };
        let result = self.store.get_opts(&path, options).await.map_err(not_found)?;
        let stream = result.into_stream().map_err(FilesError::from).boxed();
        Ok(BlobReader { stream, range, total_size })
    }

    pub async fn exists(&self, key: &str) -> Result<bool, FilesError> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), FilesError> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Removes temporary objects left by uploads a crash interrupted: those
    /// last written more than `grace` ago (an upload in flight, of this
    /// process or another sharing the folder, writes all the time).
    pub async fn sweep_temporary(&self, grace: std::time::Duration) -> Result<usize, FilesError> {
        let prefix = ObjectPath::from("tmp");
        let cutoff = std::time::SystemTime::now() - grace;
        let temporaries: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        let mut removed = 0;
        for meta in &temporaries {
            if std::time::SystemTime::from(meta.last_modified) < cutoff {
                self.delete(meta.location.as_ref()).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

impl FileStore {
    /// Deletes the blobs that are not in `referenced` and were last
    /// written more than `grace` ago (an upload whose resource is still
    /// being saved is younger). Returns how many went.
    pub async fn sweep_unreferenced(
        &self,
        referenced: &std::collections::HashSet<String>,
        grace: std::time::Duration,
    ) -> Result<usize, FilesError> {
        let prefix = ObjectPath::from("blobs");
        let blobs: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        let cutoff = std::time::SystemTime::now() - grace;
        let mut removed = 0;
        for meta in blobs {
            let key = meta.location.as_ref().to_string();
            let written: std::time::SystemTime = meta.last_modified.into();
            if written < cutoff && !referenced.contains(&key) {
                self.delete(&key).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn not_found(error: object_store::Error) -> FilesError {
    match error {
        object_store::Error::NotFound { .. } => FilesError::NotFound,
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: Vec<&'static [u8]>) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
        futures_util::stream::iter(parts.into_iter().map(|part| Ok(Bytes::from_static(part))))
    }

    async fn read_all(reader: BlobReader) -> Vec<u8> {
        let parts: Vec<Bytes> = reader.stream.try_collect().await.unwrap();
        parts.concat()
    }

    #[tokio::test]
    async fn upload_is_hashed_content_addressed_and_readable_by_range() {
        let directory = tempfile::tempdir().unwrap();
        let files = FileStore::local(directory.path(), 1024).unwrap();
        let blob = files.put_stream(chunks(vec![b"hola ", b"mundo"])).await.unwrap();
        assert_eq!(blob.size, 10);
        assert_eq!(blob.sha256, hex::encode(Sha256::digest(b"hola mundo")));
        assert_eq!(blob.key, format!("blobs/{}/{}", &blob.sha256[..2], blob.sha256));
        assert_eq!(read_all(files.open(&blob.key, None).await.unwrap()).await, b"hola mundo");
        let reader = files.open(&blob.key, Some(5..100)).await.unwrap();
        assert_eq!(reader.range, 5..10);
        assert_eq!(read_all(reader).await, b"mundo");
        assert!(matches!(files.open(&blob.key, Some(10..20)).await, Err(FilesError::RangeNotSatisfiable)));
        // The same bytes again: one stored object, same key.
        let again = files.put_stream(chunks(vec![b"hola mundo"])).await.unwrap();
        assert_eq!(again, blob);
        assert_eq!(files.sweep_temporary(std::time::Duration::ZERO).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn oversized_and_interrupted_uploads_leave_nothing() {
        let directory = tempfile::tempdir().unwrap();
        let files = FileStore::local(directory.path(), 8).unwrap();
        let too_big = files.put_stream(chunks(vec![b"12345", b"67890"])).await;
        assert!(matches!(too_big, Err(FilesError::TooLarge { limit: 8 })));
        let broken = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"1234")),
            Err(std::io::Error::other("connection reset")),
        ]);
        assert!(matches!(files.put_stream(broken).await, Err(FilesError::Interrupted(_))));
        let mut left = Vec::new();
        for entry in walk(directory.path()) {
            left.push(entry);
        }
        assert!(left.is_empty(), "files left behind: {left:?}");
    }

    fn walk(directory: &Path) -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                found.extend(walk(&path));
            } else {
                found.push(path);
            }
        }
        found
    }
}

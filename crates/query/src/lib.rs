//! Row-level access to every tabular resource.
//!
//! Ingestion writes each table of a resource version to a Parquet file
//! (`datalab-ingest`); this crate queries those files with Apache
//! DataFusion:
//!
//! - [`QueryEngine::search`]: CKAN DataStore's `datastore_search` (filters,
//!   full text, distinct, fields, sort, limit, offset, total);
//! - [`QueryEngine::rows`]: the native API's Datasette-style filters, keyset
//!   paging and facets;
//! - [`QueryEngine::sql`]: one guarded, read-only `SELECT` over resources
//!   named by id;
//! - [`QueryEngine::export`]: every matching row, encoded as CSV, TSV,
//!   NDJSON or Parquet while it streams, in constant memory.
//!
//! Queries run on a runtime of their own, never on the web server's worker
//! threads, under a time limit and a memory limit, and at most
//! `max_heavy_queries` SQL queries and exports run at once: a big export
//! does not slow down page loads. Unfiltered counts come from the Parquet
//! footer, never from a scan.
//!
//! ## How the pieces fit
//!
//! DataFusion over each resource's Parquet: CKAN `datastore_search` (`search.rs`; a cached result
//! keeps its records serialized per format, so a repeated search is answered by copying text; a
//! sorted or filtered page of up to 1,000 rows is read late: its row numbers first, then only those
//! rows by a Parquet row selection over the page index; with filters and sorts only, the row
//! numbers and the count come from one pass with the parquet crate's row filter (`page.rs`: a text
//! column only filtered on and stored with a dictionary is read as one, so a filter compares its
//! distinct values once), else from DataFusion; the files read so are memory-mapped with their
//! footer and page index, the last 64 kept (`Footers`); a table file is never written once
//! published, only unlinked, which is what makes mapping it safe), Datasette-style filters, keyset
//! paging and facets (`filters.rs`), guarded read-only SQL (`sql.rs`; `functions.rs`: DataFusion's
//! `date_part` with the year, month and day of a date column computed from the day number;
//! `dictionary.rs`: an optimizer rule that groups a dictionary text column by codes shared by the
//! query, not by its text, and gives the texts back above the aggregate), DataFusion's object store
//! for `file://` (`mapped.rs`: the byte ranges a scan reads from a published table file up to 512
//! MB are slices of its memory mapping, not copies into zeroed buffers; `Footers` takes its
//! mappings from the same cache, so a file is mapped once), streamed exports (`export.rs`), JSON
//! cells and typed literals (`values.rs`); its own tokio runtime (16 MiB thread stacks), a time
//! limit kept by the caller's clock whose work stops with it (`coop.rs`: every operator yields to
//! the scheduler, so an aborted query stops within milliseconds), a memory pool, generating
//! functions and `||` on text bounded before they allocate (`functions.rs`: `Bounded`;
//! `BoundedConcat` turns `||` into a bounded function after type coercion), pools for SQL, exports
//! and pages whose waits have a deadline, answers bounded in bytes, request bounds (filters, words,
//! listed values, SQL operators) checked before any expression is built, and predicates built
//! balanced; the table files (`tables/<resource>/<uuid>.parquet`, written under `tmp/`, renamed
//! into place, swept at start and hourly once an hour old)

pub mod chart;
mod coop;
mod dictionary;
pub mod export;
pub mod filters;
mod functions;
mod mapped;
mod page;
pub mod search;
pub mod sql;
pub mod values;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use tokio::sync::Semaphore;

pub use export::ExportFormat;
pub use filters::{Filter, FilterOp, RowsPage, RowsRequest};
pub use search::{SearchRequest, SearchResult};
pub use sql::SqlResult;

/// The column every table has: the row's number in the file, from 1. It is
/// CKAN DataStore's `_id` and the tie-breaker of keyset paging.
pub const ROW_ID: &str = "_id";

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A parameter is wrong: `field` names it (a column, `sort`, `filters`…).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The SQL is not one read-only SELECT, or names something it may not read.
    #[error("{0}")]
    Refused(String),
    #[error("the query took longer than the limit of {0:?}")]
    TimedOut(Duration),
    #[error("the query needs more memory than it is allowed: {0}")]
    TooBig(String),
    /// The query ran into an error of its own making (a regular expression
    /// too big to compile, a failed cast, a division by zero): the caller's
    /// to fix, not the server's.
    #[error("{0}")]
    Rejected(String),
    /// Every slot for this kind of work stayed taken for `0`: try again later.
    #[error("the server is busy with other queries; try again in a few seconds")]
    Busy(Duration),
    #[error("query failed: {0}")]
    Failed(String),
}

impl QueryError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> QueryError {
        QueryError::Invalid { field: field.into(), message: message.into() }
    }

    /// A table file that cannot be read.
    pub(crate) fn unreadable(error: impl std::fmt::Display) -> QueryError {
        QueryError::Failed(format!("cannot read the table: {error}"))
    }
}

impl From<datafusion::error::DataFusionError> for QueryError {
    fn from(error: datafusion::error::DataFusionError) -> Self {
        use arrow::error::ArrowError;
        use datafusion::error::DataFusionError;
        match error.find_root() {
            DataFusionError::ResourcesExhausted(message) => QueryError::TooBig(message.clone()),
            DataFusionError::SQL(..) | DataFusionError::Plan(..) | DataFusionError::SchemaError(..) => {
                QueryError::Refused(error.strip_backtrace())
            }
            DataFusionError::Execution(_) | DataFusionError::NotImplemented(_) => {
                QueryError::Rejected(error.strip_backtrace())
            }
            DataFusionError::ArrowError(arrow, _)
                if matches!(
                    arrow.as_ref(),
                    ArrowError::ComputeError(_)
                        | ArrowError::CastError(_)
                        | ArrowError::DivideByZero
                        | ArrowError::ArithmeticOverflow(_)
                        | ArrowError::InvalidArgumentError(_)
                        | ArrowError::ParseError(_)
                ) =>
            {
                QueryError::Rejected(error.strip_backtrace())
            }
            DataFusionError::External(inner) if inner.downcast_ref::<regex::Error>().is_some() => {
                QueryError::Rejected(error.strip_backtrace())
            }
            _ => QueryError::Failed(error.strip_backtrace()),
        }
    }
}

pub type QueryResult<T> = Result<T, QueryError>;

#[derive(Debug, Clone)]
pub struct QuerySettings {
    /// Longest a SQL query or a page may run (an export's time is not capped: it streams).
    pub time_limit: Duration,
    /// Memory the queries running at once may hold together for sorts, joins and aggregations (one pool).
    pub memory_limit_bytes: usize,
    /// Most rows `datastore_search_sql` returns.
    pub sql_row_cap: usize,
    /// SQL queries running at once; more wait their turn, for at most `time_limit`.
    pub max_heavy_queries: usize,
    /// Exports streaming at once; more wait their turn, for at most `time_limit`.
    /// A pool apart from SQL's, so slow downloads cannot hold up queries.
    pub max_exports: usize,
    /// An export whose client reads nothing for this long is cut.
    pub export_idle_timeout: Duration,
    /// Longest an export may stream, however steadily it is read.
    pub export_time_limit: Duration,
    /// Most bytes of rows one JSON answer (SQL, `datastore_search`) may hold.
    pub answer_byte_limit: usize,
    /// Threads of the query runtime (0: one per core).
    pub threads: usize,
    /// Answers of `datastore_search` and of the rows API kept in memory (0: none).
    /// A table file never changes, so a kept answer is never stale.
    pub result_cache_entries: usize,
}

impl Default for QuerySettings {
    fn default() -> Self {
        QuerySettings {
            time_limit: Duration::from_secs(5),
            memory_limit_bytes: 256 * 1024 * 1024,
            sql_row_cap: 32_000,
            max_heavy_queries: 2,
            max_exports: 2,
            export_idle_timeout: Duration::from_secs(30),
            export_time_limit: Duration::from_secs(30 * 60),
            answer_byte_limit: 32 * 1024 * 1024,
            threads: 0,
            result_cache_entries: 1024,
        }
    }
}

/// The table providers made so far, by file (see [`QueryEngine::provider`]).
#[derive(Default)]
pub(crate) struct Providers(Mutex<HashMap<PathBuf, Arc<dyn datafusion::catalog::TableProvider>>>);

/// A queryable table: the Parquet file of one resource version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Table {
    /// What SQL calls it: the resource id.
    pub name: String,
    pub path: PathBuf,
}

/// What the Parquet footer says of a table.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub schema: SchemaRef,
    pub rows: u64,
}

/// The stack of every query thread.
pub const QUERY_STACK_BYTES: usize = 16 * 1024 * 1024;

/// Footers with a page index kept in memory at most (see [`Footers`]).
const FOOTERS_KEPT: usize = 64;

/// A table file read for chosen pages: its footer with the page index
/// (which grows with the table: a few hundred kilobytes for a million
/// rows), and the file mapped into memory, so a page is read where it lies
/// instead of copied into a fresh buffer by a system call.
#[derive(Clone)]
pub(crate) struct MappedTable {
    pub footer: parquet::arrow::arrow_reader::ArrowReaderMetadata,
    pub bytes: bytes::Bytes,
}

/// The tables read for chosen pages; the last [`FOOTERS_KEPT`] are kept.
/// Their files are mapped by the engine's [`mapped::MappedFiles`], which
/// DataFusion's scans read through too.
pub(crate) struct Footers {
    kept: Mutex<HashMap<PathBuf, MappedTable>>,
    files: Arc<mapped::MappedFiles>,
}

impl Footers {
    /// Lets go of the file at `path` (it is being deleted): its footer and
    /// its mapping, which scans share.
    pub(crate) fn forget(&self, path: &Path) {
        self.kept.lock().expect("not poisoned").remove(path);
        self.files.forget(path);
    }

    /// The table file at `path`, mapped and its footer read on first use.
    /// Called on the query runtime: a burst of first requests does not
    /// hold up the web server's threads.
    pub(crate) fn get(&self, path: &Path) -> QueryResult<MappedTable> {
        if let Some(mapped) = self.kept.lock().expect("not poisoned").get(path) {
            return Ok(mapped.clone());
        }
        let bytes = self.files.map(path).map_err(QueryError::unreadable)?;
        let options = parquet::arrow::arrow_reader::ArrowReaderOptions::new()
            .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Optional);
        let footer =
            parquet::arrow::arrow_reader::ArrowReaderMetadata::load(&bytes, options).map_err(QueryError::unreadable)?;
        let mapped = MappedTable { footer, bytes };
        let mut footers = self.kept.lock().expect("not poisoned");
        if footers.len() >= FOOTERS_KEPT {
            footers.clear();
        }
        footers.insert(path.to_path_buf(), mapped.clone());
        Ok(mapped)
    }
}

pub struct QueryEngine {
    /// Where the tables' Parquet files live: `<resource id>/<version>.parquet`, and `tmp/` while written.
    root: PathBuf,
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    datafusion: Arc<RuntimeEnv>,
    heavy: Arc<Semaphore>,
    exports: Arc<Semaphore>,
    /// Pages, searches and charts running at once: a burst of them queues
    /// instead of sharing the cores (and memory) among dozens of scans.
    light: Arc<Semaphore>,
    settings: QuerySettings,
    infos: Mutex<HashMap<PathBuf, TableInfo>>,
    /// Footers and mappings of table files; the mappings are also the
    /// object store DataFusion reads table files through.
    footers: Arc<Footers>,
    providers: Arc<Providers>,
    searches: ResultCache<SearchResult>,
    pages: ResultCache<RowsPage>,
}

/// Answers by table file and request. Small answers only; emptied when full.
/// Identical requests that arrive while the first is computed wait for its
/// answer instead of computing it again (a burst of the same page costs one
/// query).
pub(crate) struct ResultCache<T> {
    entries: Mutex<HashMap<String, Arc<T>>>,
    inflight: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Arc<T>>>>>,
    capacity: usize,
}

impl<T> ResultCache<T> {
    fn new(capacity: usize) -> Self {
        ResultCache { entries: Mutex::new(HashMap::new()), inflight: Mutex::new(HashMap::new()), capacity }
    }

    /// The kept answer to `key`, or the one `compute` gives, computed once
    /// for all the callers asking at the same time, and kept when `keep`
    /// says so. Errors are not kept: a caller that waited computes again.
    pub(crate) async fn get_or_compute<F, Fut>(
        &self,
        key: String,
        keep: impl Fn(&T) -> bool,
        compute: F,
    ) -> QueryResult<Arc<T>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = QueryResult<T>>,
    {
        if self.capacity == 0 {
            return compute().await.map(Arc::new);
        }
        if let Some(kept) = self.get(&key) {
            return Ok(kept);
        }
        let cell = self.inflight.lock().expect("not poisoned").entry(key.clone()).or_default().clone();
        let result = cell.get_or_try_init(|| async { compute().await.map(Arc::new) }).await.cloned();
        {
            let mut inflight = self.inflight.lock().expect("not poisoned");
            if inflight.get(&key).is_some_and(|current| Arc::ptr_eq(current, &cell)) {
                inflight.remove(&key);
            }
        }
        if let Ok(answer) = &result
            && keep(answer)
        {
            self.put(key, answer.clone());
        }
        result
    }

    pub(crate) fn get(&self, key: &str) -> Option<Arc<T>> {
        if self.capacity == 0 {
            return None;
        }
        self.entries.lock().expect("not poisoned").get(key).cloned()
    }

    pub(crate) fn put(&self, key: String, value: Arc<T>) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().expect("not poisoned");
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, value);
    }
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("QueryEngine").field("settings", &self.settings).finish()
    }
}

impl Drop for QueryEngine {
    fn drop(&mut self) {
        // Dropping a runtime from async code would panic; let it wind down on its own.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl QueryEngine {
    /// An engine whose table files live under `root` (created if missing).
    pub fn new(root: &Path, settings: QuerySettings) -> QueryResult<QueryEngine> {
        std::fs::create_dir_all(root.join("tmp"))
            .map_err(|error| QueryError::Failed(format!("cannot create {}: {error}", root.display())))?;
        let threads = if settings.threads == 0 {
            std::thread::available_parallelism().map(|count| count.get()).unwrap_or(2)
        } else {
            settings.threads
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("datalab-query")
            // DataFusion's planner and optimizer recurse over expressions;
            // the request bounds keep their depth to a few hundred levels,
            // which this stack holds with room to spare.
            .thread_stack_size(QUERY_STACK_BYTES)
            .enable_all()
            .build()
            .map_err(|error| QueryError::Failed(format!("cannot start the query runtime: {error}")))?;
        let datafusion = RuntimeEnvBuilder::new().with_memory_limit(settings.memory_limit_bytes, 1.0).build_arc()?;
        // Scans read published table files through their mappings.
        let mapped = Arc::new(mapped::MappedFiles::new(root));
        let local = datafusion::execution::object_store::ObjectStoreUrl::local_filesystem();
        datafusion.register_object_store(local.as_ref(), mapped.clone());
        Ok(QueryEngine {
            root: root.to_path_buf(),
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            datafusion,
            heavy: Arc::new(Semaphore::new(settings.max_heavy_queries.max(1))),
            exports: Arc::new(Semaphore::new(settings.max_exports.max(1))),
            light: Arc::new(Semaphore::new(threads * 2)),
            searches: ResultCache::new(settings.result_cache_entries),
            pages: ResultCache::new(settings.result_cache_entries),
            settings,
            infos: Mutex::new(HashMap::new()),
            footers: Arc::new(Footers { kept: Mutex::default(), files: mapped }),
            providers: Arc::new(Providers::default()),
        })
    }

    pub fn settings(&self) -> &QuerySettings {
        &self.settings
    }

    /// A fresh path under `tmp/` for ingestion to write a table to.
    pub fn new_table_path(&self) -> PathBuf {
        self.root.join("tmp").join(format!("{}.parquet", uuid::Uuid::new_v4()))
    }

    /// Moves a complete table file from `tmp/` to its place among the
    /// resource's versions and returns its key. The rename is atomic: a
    /// reader sees the whole file or none.
    pub fn publish(&self, written: &Path, resource: uuid::Uuid) -> std::io::Result<String> {
        let key = format!("{resource}/{}.parquet", uuid::Uuid::new_v4());
        let destination = self.root.join(&key);
        std::fs::create_dir_all(destination.parent().expect("a key has a folder"))?;
        std::fs::File::open(written)?.sync_all()?;
        std::fs::rename(written, &destination)?;
        Ok(key)
    }

    /// The table stored under `key`, queried by SQL as `name`. `None` for a
    /// key that is not one [`QueryEngine::publish`] could have made.
    pub fn table(&self, name: &str, key: &str) -> Option<Table> {
        let mut parts = key.split('/');
        let (Some(folder), Some(file), None) = (parts.next(), parts.next(), parts.next()) else { return None };
        let safe = |part: &str| {
            !part.is_empty()
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                && !part.starts_with('.')
        };
        (safe(folder) && safe(file) && file.ends_with(".parquet"))
            .then(|| Table { name: name.to_string(), path: self.root.join(folder).join(file) })
    }

    /// Deletes the resource's other table versions, once `current` (one key
    /// per table of the file) is what is recorded.
    pub fn remove_other_versions(&self, resource: uuid::Uuid, current: &[&str]) {
        let Ok(entries) = std::fs::read_dir(self.root.join(resource.to_string())) else { return };
        for entry in entries.flatten() {
            let key = format!("{resource}/{}", entry.file_name().to_string_lossy());
            if !current.contains(&key.as_str()) {
                // A mapped file's disk space is freed only once its mapping
                // goes. Unlinked first: a query starting now cannot map it again.
                let _ = std::fs::remove_file(entry.path());
                self.footers.forget(&entry.path());
            }
        }
    }

    /// Removes what a crash left behind: files in `tmp/` and table files no
    /// analysis refers to, last written more than `grace` ago (an analysis
    /// under way, here or in another process sharing the folder, writes its
    /// table and publishes it before it is referred to). Returns how many files went.
    pub fn sweep(&self, referenced: &std::collections::HashSet<String>, grace: std::time::Duration) -> usize {
        let mut removed = 0;
        let cutoff = std::time::SystemTime::now() - grace;
        let Ok(folders) = std::fs::read_dir(&self.root) else { return 0 };
        for folder in folders.flatten() {
            let name = folder.file_name().to_string_lossy().to_string();
            let Ok(files) = std::fs::read_dir(folder.path()) else { continue };
            for file in files.flatten() {
                let key = format!("{name}/{}", file.file_name().to_string_lossy());
                let old = file.metadata().and_then(|meta| meta.modified()).is_ok_and(|written| written < cutoff);
                if old && (name == "tmp" || !referenced.contains(&key)) && std::fs::remove_file(file.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        removed
    }

    /// A fresh DataFusion session: read-only, no recursive CTEs, bounded memory.
    fn context(&self) -> SessionContext {
        let mut config = SessionConfig::new().with_information_schema(false);
        let options = config.options_mut();
        options.execution.enable_recursive_ctes = false;
        options.execution.parquet.pushdown_filters = true;
        options.execution.parquet.reorder_filters = true;
        let config = config.with_extension(self.providers.clone());
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(self.datafusion.clone())
            .with_default_features()
            .with_physical_optimizer_rules(coop::rules())
            .build();
        let context = SessionContext::new_with_state(state);
        context.register_udf(functions::DatePart::udf());
        for name in functions::GENERATORS {
            if let Ok(generator) = datafusion::execution::FunctionRegistry::udf(&context, name) {
                context.register_udf(functions::Bounded::udf(&generator));
            }
        }
        context.add_optimizer_rule(Arc::new(dictionary::GroupByCodes));
        context.add_analyzer_rule(Arc::new(dictionary::PlainAggregateArguments));
        context.add_analyzer_rule(Arc::new(functions::BoundedConcat::new()));
        context
    }

    async fn frame(context: &SessionContext, table: &Table) -> QueryResult<DataFrame> {
        Ok(context.read_table(Self::provider(context, table).await?)?)
    }

    /// The table as DataFusion reads it, made once per file and kept (a
    /// table file never changes): its schema is not inferred again on every
    /// query, and its rows are declared sorted by `_id`, as ingestion writes
    /// them, so a page in file order needs no sort.
    pub(crate) async fn provider(
        context: &SessionContext,
        table: &Table,
    ) -> QueryResult<Arc<dyn datafusion::catalog::TableProvider>> {
        use datafusion::datasource::file_format::parquet::ParquetFormat;
        use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
        let state = context.state();
        let cache = state.config().get_extension::<Providers>();
        if let Some(cache) = &cache
            && let Some(found) = cache.0.lock().expect("not poisoned").get(&table.path)
        {
            return Ok(found.clone());
        }
        let url = ListingTableUrl::parse(path_text(&table.path)?)?;
        let format = ParquetFormat::default().with_options(state.default_table_options().parquet.clone());
        let options = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
        let schema = options.infer_schema(&state, &url).await?;
        let options = if schema.field_with_name(ROW_ID).is_ok() {
            options.with_file_sort_order(vec![vec![datafusion::prelude::ident(ROW_ID).sort(true, false)]])
        } else {
            options
        };
        let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(schema);
        let provider: Arc<dyn datafusion::catalog::TableProvider> = Arc::new(ListingTable::try_new(config)?);
        if let Some(cache) = cache {
            let mut providers = cache.0.lock().expect("not poisoned");
            if providers.len() > 10_000 {
                providers.clear();
            }
            providers.insert(table.path.clone(), provider.clone());
        }
        Ok(provider)
    }

    /// Schema and row count from the Parquet footer (cached: a table's file never changes).
    pub fn info(&self, table: &Table) -> QueryResult<TableInfo> {
        if let Some(info) = self.infos.lock().expect("not poisoned").get(&table.path) {
            return Ok(info.clone());
        }
        let file = std::fs::File::open(&table.path)
            .map_err(|error| QueryError::Failed(format!("cannot open the table: {error}")))?;
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(QueryError::unreadable)?;
        let info = TableInfo {
            schema: builder.schema().clone(),
            rows: builder.metadata().file_metadata().num_rows().max(0) as u64,
        };
        let mut infos = self.infos.lock().expect("not poisoned");
        if infos.len() > 10_000 {
            infos.clear();
        }
        infos.insert(table.path.clone(), info.clone());
        Ok(info)
    }

    /// A slot of `pool`, waited for at most the time limit: past it the
    /// caller is told the server is busy instead of queuing without end.
    pub(crate) async fn slot(&self, pool: &Arc<Semaphore>) -> QueryResult<tokio::sync::OwnedSemaphorePermit> {
        let limit = self.settings.time_limit;
        match tokio::time::timeout(limit, pool.clone().acquire_owned()).await {
            Ok(permit) => Ok(permit.expect("the semaphore is never closed")),
            Err(_elapsed) => Err(QueryError::Busy(limit)),
        }
    }

    /// Runs `work` on the query runtime under the time limit.
    async fn run<T, F>(&self, work: F) -> QueryResult<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = QueryResult<T>> + Send + 'static,
    {
        let permit = self.slot(&self.light).await?;
        self.run_holding(permit, work).await
    }

    /// Runs `work` on the query runtime under the time limit, holding
    /// `permit` until the work has really ended: an aborted query gives its
    /// slot back only when it stops, so abandoned work cannot pile up
    /// beyond the pool's size.
    async fn run_holding<T, F>(&self, permit: tokio::sync::OwnedSemaphorePermit, work: F) -> QueryResult<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = QueryResult<T>> + Send + 'static,
    {
        let limit = self.settings.time_limit;
        let task = self.handle.spawn(async move {
            let _permit = permit;
            work.await
        });
        // On timeout, or if the caller goes away (the client disconnected),
        // the query is aborted: DataFusion stops at its next yield point.
        let _guard = AbortOnDrop(task.abort_handle());
        // The limit is kept by the caller's clock, which a busy query thread cannot hold up.
        match tokio::time::timeout(limit, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(error)) => Err(QueryError::Failed(error.to_string())),
            Err(_elapsed) => Err(QueryError::TimedOut(limit)),
        }
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn path_text(path: &Path) -> QueryResult<&str> {
    path.to_str().ok_or_else(|| QueryError::Failed("the table's path is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Publishes a table of one `_id` column with rows 1, 2 and 3 as a
    /// version of `resource`; its key.
    fn publish_three_rows(engine: &QueryEngine, resource: uuid::Uuid) -> String {
        use arrow::array::{Int64Array, RecordBatch};
        use arrow::datatypes::{DataType, Field, Schema};
        let written = engine.new_table_path();
        let schema = Arc::new(Schema::new(vec![Field::new(ROW_ID, DataType::Int64, false)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1, 2, 3]))]).unwrap();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&written).unwrap(), schema, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        engine.publish(&written, resource).unwrap()
    }

    /// A version that is replaced lets go of its mapping before it is
    /// deleted: a mapped file's disk space is not freed while mapped.
    #[test]
    fn replaced_versions_are_unmapped() {
        let directory = tempfile::tempdir().unwrap();
        let engine = QueryEngine::new(directory.path(), QuerySettings::default()).unwrap();
        let resource = uuid::Uuid::new_v4();
        let keys = [publish_three_rows(&engine, resource), publish_three_rows(&engine, resource)];
        let old = engine.table("t", &keys[0]).unwrap();
        let new = engine.table("t", &keys[1]).unwrap();
        assert_eq!(engine.footers.get(&old.path).unwrap().footer.metadata().file_metadata().num_rows(), 3);
        engine.footers.get(&new.path).unwrap();

        engine.remove_other_versions(resource, &[keys[1].as_str()]);
        let kept = engine.footers.kept.lock().unwrap();
        assert!(!kept.contains_key(&old.path) && !old.path.exists(), "the old version is unmapped and deleted");
        assert!(kept.contains_key(&new.path) && new.path.exists());
    }

    /// DataFusion's scans read a published table through its mapping, which
    /// goes with the file; also when the data folder is reached through a
    /// symbolic link and written with `.` in it.
    #[tokio::test]
    async fn scans_read_published_files_through_their_mapping() {
        let directory = tempfile::tempdir().unwrap();
        std::fs::create_dir(directory.path().join("disk")).unwrap();
        std::os::unix::fs::symlink(directory.path().join("disk"), directory.path().join("link")).unwrap();
        let root = directory.path().join("link").join(".").join("tables");
        let engine = QueryEngine::new(&root, QuerySettings::default()).unwrap();
        let resource = uuid::Uuid::new_v4();
        let key = publish_three_rows(&engine, resource);
        let table = engine.table("t", &key).unwrap();
        let result = engine.sql("SELECT sum(_id) AS s FROM t".into(), vec![table.clone()]).await.unwrap();
        assert_eq!(result.records, vec![vec![serde_json::json!(6)]]);
        let absolute = mapped::absolute(&table.path);
        assert!(engine.footers.files.mapped.lock().unwrap().contains_key(&absolute), "the scan mapped the file");

        engine.remove_other_versions(resource, &[]);
        assert!(!engine.footers.files.mapped.lock().unwrap().contains_key(&absolute) && !table.path.exists());
    }
}

//! Persistence of datalab: the SQL database is the source of truth.
//!
//! One writer connection serializes writes (SQLite allows one writer at a
//! time; queuing in the pool beats busy-retry loops), a pool of readers serves
//! everything else. Every write that changes a public object records an entry
//! in the activity log in the same transaction. Migrations are embedded and
//! applied by [`Store::open`].
//!
//! The SQL is kept portable (see `migrations/README.md`) so that PostgreSQL
//! can be added behind the same functions.

mod accountability;
mod activity;
mod analyses;
mod datasets;
mod events;
mod inventory;
mod jobs;
mod organizations;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use datalab_core::FieldErrors;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

pub use accountability::EvidenceFlag;
pub use activity::ActivityScope;
pub use analyses::{AnalysisState, TableState};
pub use datasets::{DatasetSummary, ResourceAccess, TagCount};
pub use events::LoggedEvent;
pub use jobs::{ANALYSE_RESOURCE, Claim, Job, JobStatus, NewJob};
pub use organizations::Member;
pub use users::{NewUser, TokenSecret};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("invalid input: {0}")]
    Validation(FieldErrors),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl From<FieldErrors> for StoreError {
    fn from(errors: FieldErrors) -> Self {
        StoreError::Validation(errors)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    reader: SqlitePool,
    writer: SqlitePool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and applies
    /// pending migrations.
    pub async fn open(path: &Path) -> StoreResult<Store> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        sqlx::migrate!("./migrations").run(&writer).await?;
        let reader = SqlitePoolOptions::new().max_connections(8).connect_with(options.read_only(true)).await?;
        Ok(Store { reader, writer })
    }

    /// A write transaction holding SQLite's write lock from its start
    /// (`BEGIN IMMEDIATE`). Another process may write to the same database
    /// (an `admin` or `import` command beside `serve`): a deferred
    /// transaction that read before that process's write would fail at its
    /// first write with SQLITE_BUSY at once; this one waits for the lock up
    /// to the busy timeout instead.
    pub(crate) async fn write_transaction(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Whether [`Store::close`] was called (the process is shutting down).
    pub fn is_closed(&self) -> bool {
        self.writer.is_closed()
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// The one timestamp format of the database: UTC, microseconds, so that
/// comparing text compares time.
pub(crate) fn format_time(moment: OffsetDateTime) -> String {
    let utc = moment.to_offset(time::UtcOffset::UTC);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    utc.format(&format).expect("timestamps always format")
}

pub(crate) fn parse_time(text: &str) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|error| StoreError::Corrupt(format!("timestamp {text:?}: {error}")))
}

/// A nullable id column of a row.
pub(crate) fn optional_uuid(row: &sqlx::sqlite::SqliteRow, column: &str) -> StoreResult<Option<Uuid>> {
    use sqlx::Row;
    row.try_get::<Option<String>, _>(column)?.as_deref().map(parse_uuid).transpose()
}

pub(crate) fn parse_uuid(text: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(text).map_err(|error| StoreError::Corrupt(format!("uuid {text:?}: {error}")))
}

/// Now, truncated to the database's microsecond precision so that what is
/// returned equals what is read back.
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000).expect("valid nanosecond")
}

/// Tells whether a unique constraint failed, to report a taken name instead
/// of a database error.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(database_error) if database_error.is_unique_violation())
}

/// Turns a unique-constraint failure on a write into the "name taken" field
/// error every object with a URL name reports.
pub(crate) fn name_taken_on_conflict<T>(result: Result<T, sqlx::Error>) -> StoreResult<T> {
    match result {
        Err(error) if is_unique_violation(&error) => {
            Err(FieldErrors::single("name", datalab_core::FieldError::NameTaken).into())
        }
        other => Ok(other?),
    }
}

/// Looks a row up by id when the text parses as a UUID, else by name: CKAN
/// accepts both everywhere.
pub(crate) fn id_or_name(text: &str) -> (Option<String>, String) {
    match Uuid::parse_str(text) {
        Ok(id) => (Some(id.to_string()), text.to_string()),
        Err(_) => (None, text.to_string()),
    }
}

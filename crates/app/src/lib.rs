//! datalab's use cases, below every door: the pages, the native API, the
//! CKAN adapter and the command line all call these, so a rule holds the
//! same whichever door is used.
//!
//! Each command asks `datalab_core::policy` first, validates, then writes
//! through `datalab_store`, stores files through `datalab_files` and keeps
//! `datalab_search` in step. This crate knows nothing of HTTP, sessions or
//! the APIs' wire shapes; its one error type, [`Error`], is mapped to HTTP
//! by the web crate.
//!
//! - [`catalog`]: datasets and resources: create, update, delete, read,
//!   search, activity, uploads.
//! - [`analysis`]: the ingestion jobs that turn an uploaded file into
//!   tables, a profile and a report, and resume after a stop.
//! - [`index`]: the search index as derived data: one dataset, or all.
//! - [`inventory`]: the data inventory of each organization.
//! - [`jobs`]: the job queue's kinds and the worker that runs them.
//! - [`organizations`]: organizations, their members, themes.
//! - [`users`]: people's API tokens.
//! - [`events`]: what follows the event log (search, the tracker's copy).
//! - [`sweeps`]: files nothing refers to and leftovers of interruptions.
//! - [`accountability`]: the tracker's rules, its open-data documents and
//!   their catalog copy, bulk updates from CSV, commitments from JSON.

pub mod accountability;
pub mod analysis;
pub mod catalog;
mod error;
pub mod events;
pub mod index;
pub mod inventory;
pub mod jobs;
pub mod organizations;
pub mod sweeps;
pub mod users;

use std::sync::Arc;

use datalab_files::FileStore;
use datalab_search::SearchIndex;
use datalab_store::Store;

pub use error::Error;

/// What the use cases work with: the three stores, the query engine and
/// the settings. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub files: FileStore,
    pub search: Arc<SearchIndex>,
    /// Row-level queries over the tables ingestion wrote.
    pub query: Arc<datalab_query::QueryEngine>,
    pub settings: Arc<Settings>,
    /// What "today" is for the rules that depend on it (overdue
    /// milestones, a dataset's freshness).
    pub clock: Clock,
    /// Ingestion jobs run one at a time: each is bounded in memory, and
    /// they would only share the same cores.
    pub ingest_slots: Arc<tokio::sync::Semaphore>,
    /// Wakes this process's job worker when a job is queued.
    pub jobs_waker: Arc<tokio::sync::Notify>,
    /// One catch-up with the event log at a time in this process.
    pub follow_lock: Arc<tokio::sync::Mutex<()>>,
}

impl App {
    pub fn new(
        store: Store,
        files: FileStore,
        search: Arc<SearchIndex>,
        query: Arc<datalab_query::QueryEngine>,
        settings: Settings,
    ) -> App {
        App {
            store,
            files,
            search,
            query,
            settings: Arc::new(settings),
            clock: Clock::System,
            ingest_slots: Arc::new(tokio::sync::Semaphore::new(1)),
            jobs_waker: Arc::new(tokio::sync::Notify::new()),
            follow_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The same application reading `clock` for today's date.
    pub fn with_clock(mut self, clock: Clock) -> App {
        self.clock = clock;
        self
    }
}

/// Settings of the use cases, filled from the binary's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Analyse uploaded tables in the background. Off for `datalab import`,
    /// which analyses in the foreground with a progress bar.
    pub background_analysis: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { background_analysis: true }
    }
}

/// Where the date rules read today from: the system's clock, or a fixed
/// moment (tests, so that a milestone due in 2030 is not overdue the day
/// the suite runs in 2031).
#[derive(Debug, Clone, Copy, Default)]
pub enum Clock {
    #[default]
    System,
    Fixed(time::OffsetDateTime),
}

impl Clock {
    pub fn now(&self) -> time::OffsetDateTime {
        match self {
            Clock::System => time::OffsetDateTime::now_utc(),
            Clock::Fixed(moment) => *moment,
        }
    }

    pub fn today(&self) -> time::Date {
        self.now().date()
    }
}

/// The actor of the platform's own writes (the tracker's catalog copy, the
/// command line's imports): allowed everything, on behalf of no user.
pub fn system_actor() -> datalab_core::Actor {
    datalab_core::Actor { user_id: None, sysadmin: true, memberships: Default::default() }
}

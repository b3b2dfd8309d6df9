//! The followers of the event log. Every change is recorded in the log in
//! the transaction that makes it (the store does this); what is derived
//! from changes follows the log from a cursor of its own, instead of being
//! called by hand after each write:
//!
//! - **search** ([`SEARCH`]): a dataset's event (or a finished analysis,
//!   which changes its quality score) indexes that dataset again; an
//!   organization's event indexes its datasets again.
//! - **the tracker's catalog copy** ([`TRACKER_COPY`]): a milestone's event
//!   refreshes its commitment's copy (whose own writes are catalog events,
//!   which search then follows).
//!
//! A command catches up before it returns ([`catch_up`]), so a reader sees
//! its own write in search at once; `serve` also follows the log every
//! second ([`run_follower`]), which picks up what other processes wrote.
//! Following is idempotent: two processes that handle the same events
//! index the same datasets twice, nothing worse.

use std::collections::BTreeSet;

use datalab_store::LoggedEvent;
use uuid::Uuid;

use crate::{App, Error};

/// The search index's cursor.
pub const SEARCH: &str = "search";
/// The tracker's catalog copy's cursor.
pub const TRACKER_COPY: &str = "tracker-copy";

/// Events read at a time.
const BATCH: i64 = 500;

/// How often `serve` looks for events other processes recorded.
pub const FOLLOW_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Brings every follower up to the end of the log; returns how many events
/// were handled. One catch-up at a time per process.
pub async fn follow(app: &App) -> Result<usize, Error> {
    let _one_at_a_time = app.follow_lock.lock().await;
    let mut handled = 0;
    loop {
        // The copy first: its writes are events that search follows next.
        let copies = follow_with(app, TRACKER_COPY, refresh_tracker_copies).await?;
        let indexed = follow_with(app, SEARCH, index_changed_datasets).await?;
        handled += copies + indexed;
        if copies == 0 && indexed == 0 {
            return Ok(handled);
        }
    }
}

/// [`follow`] after a command's write: a failure is logged, not returned,
/// because the write happened (what follows the log catches up at the next
/// write or within [`FOLLOW_INTERVAL`] in `serve`; `datalab admin reindex`
/// rebuilds the index).
pub async fn catch_up(app: &App) {
    if let Err(error) = follow(app).await {
        tracing::error!(%error, "cannot follow the event log after a write; search and copies catch up later");
    }
}

/// Follows the log every [`FOLLOW_INTERVAL`] until the process ends.
pub async fn run_follower(app: App) {
    loop {
        tokio::time::sleep(FOLLOW_INTERVAL).await;
        match follow(&app).await {
            Ok(_) => {}
            Err(_) if app.store.is_closed() => return,
            Err(error) => tracing::warn!(%error, "cannot follow the event log"),
        }
    }
}

/// Reads `subscriber`'s events in batches, hands each batch to `handle`,
/// and moves its cursor past it; returns how many events there were.
async fn follow_with<F>(app: &App, subscriber: &str, handle: F) -> Result<usize, Error>
where
    F: AsyncFn(&App, &[LoggedEvent]) -> Result<(), Error>,
{
    let mut count = 0;
    loop {
        let position = app.store.event_cursor(subscriber).await?;
        let events = app.store.events_after(position, BATCH).await?;
        let Some(last) = events.last().map(|event| event.id) else { return Ok(count) };
        handle(app, &events).await?;
        app.store.advance_event_cursor(subscriber, last).await?;
        count += events.len();
    }
}

/// The datasets whose search entry the events change.
async fn changed_datasets(app: &App, events: &[LoggedEvent]) -> Result<BTreeSet<Uuid>, Error> {
    let mut datasets = BTreeSet::new();
    for event in events.iter().filter(|event| event.stream != "tracker") {
        match (event.dataset_id, event.organization_id) {
            (Some(dataset), _) => {
                datasets.insert(dataset);
            }
            // An organization's own change (its name and title are in its datasets' entries).
            (None, Some(organization)) if event.subject_id == organization.to_string() => {
                datasets.extend(app.store.organization_dataset_ids(organization).await?);
            }
            _ => {}
        }
    }
    Ok(datasets)
}

async fn index_changed_datasets(app: &App, events: &[LoggedEvent]) -> Result<(), Error> {
    for id in changed_datasets(app, events).await? {
        match app.store.dataset(&id.to_string()).await {
            Ok(dataset) => crate::index::reindex_dataset(app, &dataset).await?,
            Err(datalab_store::StoreError::NotFound) => {
                let search = app.search.clone();
                let removed = tokio::task::spawn_blocking(move || search.remove(id)).await.map_err(Error::internal)?;
                if let Err(error) = removed {
                    tracing::error!(%error, dataset_id = %id, "cannot remove a dataset from the search index");
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

async fn refresh_tracker_copies(app: &App, events: &[LoggedEvent]) -> Result<(), Error> {
    let commitments: BTreeSet<Uuid> = events.iter().filter_map(|event| event.commitment_id).collect();
    for id in commitments {
        let commitment = match app.store.commitment_by_id(id).await {
            Ok(commitment) => commitment,
            Err(datalab_store::StoreError::NotFound) => continue,
            Err(error) => return Err(error.into()),
        };
        // A copy that cannot be written now is written at the commitment's next change.
        if let Err(error) = crate::accountability::sync_catalog_copy(app, &commitment).await {
            tracing::error!(%error, code = commitment.code, "cannot refresh the tracker's catalog copy");
        }
    }
    Ok(())
}

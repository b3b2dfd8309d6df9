//! Files nothing refers to, and what interruptions left, are removed once
//! they are old enough that no process can still be writing them.

use crate::{App, Error};

/// Uploads younger than this are never swept: their resource may still be
/// being saved.
pub const BLOB_SWEEP_GRACE: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// Deletes the stored files no resource or evidence refers to (an upload
/// sent to an action that failed, or whose resource was replaced by a
/// crash's timing), older than [`BLOB_SWEEP_GRACE`], and what interruptions
/// left ([`sweep_leftovers`]).
pub async fn sweep_blobs(app: &App) -> Result<usize, Error> {
    let referenced = app.store.referenced_storage_keys().await?;
    let blobs = app.files.sweep_unreferenced(&referenced, BLOB_SWEEP_GRACE).await?;
    Ok(blobs + sweep_leftovers(app).await?)
}

/// Removes what an interrupted upload or analysis left (temporary files,
/// table files no analysis refers to) once it is older than
/// [`BLOB_SWEEP_GRACE`]: anything younger may be another process's work in
/// progress (`datalab import` beside `serve`). Returns how many files went.
pub async fn sweep_leftovers(app: &App) -> Result<usize, Error> {
    let temporaries = app.files.sweep_temporary(BLOB_SWEEP_GRACE).await?;
    let referenced = app.store.table_keys().await?;
    let query = app.query.clone();
    let tables = tokio::task::spawn_blocking(move || query.sweep(&referenced, BLOB_SWEEP_GRACE))
        .await
        .map_err(Error::internal)?;
    Ok(temporaries + tables)
}

/// Sweeps unreferenced files and leftovers ([`sweep_blobs`]) now and every hour.
pub fn spawn_blob_sweeps(app: App) {
    tokio::spawn(async move {
        loop {
            match sweep_blobs(&app).await {
                Ok(0) => {}
                Ok(count) => {
                    tracing::info!(count, "removed stored files nothing refers to and leftovers of interruptions")
                }
                Err(error) => tracing::warn!(%error, "cannot sweep stored files"),
            }
            tokio::time::sleep(BLOB_SWEEP_GRACE).await;
        }
    });
}

//! The analysis of uploaded files as jobs: a new file, a changed
//! publisher schema or the re-analyse button queues one; jobs run one at a
//! time with their progress written every half second; a finished
//! analysis and its tables are published together, in one write; a job
//! a stop interrupted is taken again once its lease runs out.

use std::sync::Arc;

use datalab_core::{Bilingual, Dataset, Resource, ResourceLocation};
use uuid::Uuid;

use crate::catalog::is_tabular;
use crate::jobs::{JobFailure, MAX_JOB_ATTEMPTS};
use crate::{App, Error};

/// Queues the analysis (encoding, dialect, types, profile, validation) of
/// every tabular upload of `after` whose file or schema is new or changed
/// since `before`. It runs in the background as a job with progress; the
/// last finished analysis stays served until the new one is complete, and a
/// worker takes again what a stop interrupted (see [`crate::jobs`]). The file
/// streams from storage; memory stays bounded.
pub async fn schedule_analyses(app: &App, before: Option<&Dataset>, after: &Dataset) {
    if !app.settings.background_analysis {
        return;
    }
    for resource in after.resources.iter().filter(|resource| is_tabular(resource)) {
        if !resource.is_upload() {
            continue;
        }
        let unchanged = before
            .and_then(|before| before.resources.iter().find(|old| old.id == resource.id))
            .is_some_and(|old| old.sha256 == resource.sha256 && old.schema == resource.schema && is_tabular(old));
        if unchanged {
            continue;
        }
        enqueue(app, resource).await;
    }
}

/// Analyses a resource's file again (after a schema change the analysis
/// reruns by itself; this is for anything else).
pub async fn reingest(app: &App, resource: &Resource) -> Result<(), Error> {
    if !resource.is_upload() {
        return Err(Error::Invalid { field: "resource".into(), message: "only uploaded files are analysed".into() });
    }
    if !is_tabular(resource) {
        return Err(Error::Invalid { field: "format".into(), message: "this format is not read as a table".into() });
    }
    enqueue(app, resource).await;
    Ok(())
}

/// Queues the analysis of a resource's current file; a failure to queue
/// is logged (the start-up pass queues what has neither an analysis nor a
/// job).
async fn enqueue(app: &App, resource: &Resource) {
    let task = crate::jobs::Task::AnalyseResource { resource_id: resource.id, sha256: resource.sha256.clone() };
    if let Err(error) = crate::jobs::enqueue(app, &task, resource.size).await {
        tracing::error!(%error, resource_id = %resource.id, "cannot queue an analysis");
    }
}

/// Runs attempt number `job.attempts` (from 1) at analysing a resource's
/// file `sha256`: its progress (bytes read, rows) is written every half
/// second, which renews the job's lease.
pub(crate) async fn run(
    app: &App,
    job: &datalab_store::Job,
    resource_id: Uuid,
    sha256: &str,
) -> Result<(), JobFailure> {
    let resource = match app.store.resource(resource_id).await {
        Ok(resource) => resource,
        Err(datalab_store::StoreError::NotFound) => {
            return Err(JobFailure::lasting("the resource was deleted", "el recurso se eliminó"));
        }
        Err(error) => return Err(JobFailure::transient(error)),
    };
    if resource.sha256 != sha256 {
        return Err(JobFailure::lasting(
            "a newer file replaced this one before it was analysed",
            "un archivo más reciente reemplazó a este antes de analizarlo",
        ));
    }
    let ResourceLocation::Upload { storage_key, filename } = &resource.location else {
        return Err(JobFailure::lasting(
            "the resource is no longer an uploaded file",
            "el recurso ya no es un archivo subido",
        ));
    };
    let first = app.files.open(storage_key, None).await.map_err(JobFailure::transient)?;
    let bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    // The stored file, from its start, each time the analysis reads it
    // (twice when its first rows suggest other types than the rest).
    let open = {
        let (files, key, bytes) = (app.files.clone(), storage_key.clone(), bytes.clone());
        let handle = tokio::runtime::Handle::current();
        let mut first = Some(first);
        move || -> std::io::Result<_> {
            use futures_util::TryStreamExt;
            let reader = match first.take() {
                Some(reader) => reader,
                None => handle.block_on(files.open(&key, None)).map_err(std::io::Error::other)?,
            };
            bytes.store(0, std::sync::atomic::Ordering::Relaxed);
            let bytes = bytes.clone();
            let counted = reader.stream.map_err(std::io::Error::other).inspect_ok(move |chunk| {
                bytes.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
            });
            Ok(tokio_util::io::SyncIoBridge::new_with_handle(
                tokio_util::io::StreamReader::new(counted),
                handle.clone(),
            ))
        }
    };
    let progress = Arc::new(datalab_ingest::Progress::default());
    let options = datalab_ingest::AnalyzeOptions {
        name: filename.clone(),
        format: Some(resource.format.clone()),
        schema: resource.schema.clone(),
        progress: Some(progress.clone()),
        ..Default::default()
    };
    let report = |app: App,
                  id: Uuid,
                  bytes: Arc<std::sync::atomic::AtomicU64>,
                  progress: Arc<datalab_ingest::Progress>| async move {
        let read = |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed) as i64;
        let lease = app.clock.now() + crate::jobs::LEASE;
        let _ = app.store.job_progress(id, read(&bytes), read(&progress.rows), lease).await;
    };
    let ticker = {
        let (app, id, bytes, progress) = (app.clone(), job.id, bytes.clone(), progress.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                report(app.clone(), id, bytes.clone(), progress.clone()).await;
            }
        })
    };
    let last_attempt = job.attempts >= MAX_JOB_ATTEMPTS;
    let outcome = analyse_attempt(app, resource.id, &resource.sha256, open, options, last_attempt).await;
    ticker.abort();
    report(app.clone(), job.id, bytes, progress).await;
    outcome.map(|_| ())
}

/// A file analysed into table files that are not published yet (see
/// [`record_analysis`]); dropped unrecorded, it removes them.
pub struct PendingAnalysis {
    written: std::path::PathBuf,
    outcome: Option<Result<datalab_ingest::FileAnalysis, JobFailure>>,
}

impl Drop for PendingAnalysis {
    fn drop(&mut self) {
        if let Some(Ok(analysis)) = &self.outcome {
            for table in &analysis.tables {
                if let Some(parquet) = &table.parquet {
                    let _ = std::fs::remove_file(&parquet.path);
                }
            }
        }
        let _ = std::fs::remove_file(&self.written);
    }
}

/// Analyses a file, which `open` gives from its start each time it is
/// called (see [`datalab_ingest::analyze_source`]), whatever its format:
/// decode, find its tables (a workbook's sheets), infer, profile, validate,
/// and write a Parquet table for each, not yet published.
pub async fn analyse_file<R, O>(app: &App, open: O, mut options: datalab_ingest::AnalyzeOptions) -> PendingAnalysis
where
    R: std::io::Read,
    O: FnMut() -> std::io::Result<R> + Send + 'static,
{
    let written = app.query.new_table_path();
    options.parquet = Some(written.clone());
    let outcome = tokio::task::spawn_blocking(move || datalab_ingest::analyze_source(open, &options))
        .await
        .map_err(|error| {
            JobFailure::lasting(error.to_string(), format!("el análisis se detuvo por un error interno: {error}"))
        })
        .and_then(|result| {
            // Reading the stored file or writing the tables failed (`Io`):
            // the file itself may be fine, and the job tries again.
            result.map_err(|error| JobFailure::refused(&error))
        });
    PendingAnalysis { written, outcome: Some(outcome) }
}

/// Publishes an analysis of resource `resource_id`'s file (whose hash is
/// `sha256`) and its tables: the analysis and the tables become visible
/// together, in one write, only once every table file is complete and in
/// its place; then older table versions are removed. A failure is recorded
/// with its error (a finished analysis of the resource stays served); a
/// crash leaves table files nothing refers to, which the start-up sweep
/// removes.
pub async fn record_analysis(
    app: &App,
    resource_id: Uuid,
    sha256: &str,
    pending: PendingAnalysis,
) -> Result<datalab_ingest::FileAnalysis, Bilingual> {
    record_attempt(app, resource_id, sha256, pending, true).await.map_err(|failure| failure.message)
}

/// [`analyse_file`] then [`record_analysis`], saying whether a failure may
/// pass; a failure that may is recorded as the resource's analysis only
/// when `record_any_failure` (the last attempt), so a passing storage error
/// does not replace a good analysis's place on the page while the job tries
/// again. A crash leaves a `running` job whose lease runs out; a worker takes it again.
async fn analyse_attempt<R, O>(
    app: &App,
    resource_id: Uuid,
    sha256: &str,
    open: O,
    options: datalab_ingest::AnalyzeOptions,
    record_any_failure: bool,
) -> Result<datalab_ingest::FileAnalysis, JobFailure>
where
    R: std::io::Read,
    O: FnMut() -> std::io::Result<R> + Send + 'static,
{
    let pending = analyse_file(app, open, options).await;
    record_attempt(app, resource_id, sha256, pending, record_any_failure).await
}

async fn record_attempt(
    app: &App,
    resource_id: Uuid,
    sha256: &str,
    mut pending: PendingAnalysis,
    record_any_failure: bool,
) -> Result<datalab_ingest::FileAnalysis, JobFailure> {
    let outcome = pending.outcome.take().expect("an analysis is recorded once");
    let published = outcome.and_then(|analysis| {
        let mut keys = Vec::new();
        for table in &analysis.tables {
            match &table.parquet {
                Some(parquet) => {
                    keys.push(Some(app.query.publish(&parquet.path, resource_id).map_err(JobFailure::transient)?))
                }
                None => keys.push(None),
            }
        }
        Ok((analysis, keys))
    });
    drop(pending);
    let (record, result) = match published {
        Ok((analysis, keys)) => {
            let mut value = serde_json::to_value(&analysis).expect("analyses serialize");
            for (table, key) in value["tables"].as_array_mut().into_iter().flatten().zip(&keys) {
                if let Some(key) = key {
                    table["parquet"]["key"] = serde_json::json!(key);
                }
            }
            (datalab_store::AnalysisState::Done(value), Ok((analysis, keys)))
        }
        Err(failure) if failure.transient && !record_any_failure => return Err(failure),
        Err(failure) => (datalab_store::AnalysisState::Failed(failure.message.clone()), Err(failure)),
    };
    app.store.set_analysis(resource_id, sha256, &record).await.map_err(JobFailure::transient)?;
    let (analysis, keys) = result?;
    let current: Vec<&str> = keys.iter().flatten().map(String::as_str).collect();
    app.query.remove_other_versions(resource_id, &current);
    // The analysis changes the dataset's quality score, which search sorts
    // and filters by: the recorded analysis is in the event log.
    crate::events::catch_up(app).await;
    Ok(analysis)
}

/// The queryable table of a resource's current file, if its analysis is
/// done: the table named `name` (a workbook's sheet), or the default one.
pub fn table_of(
    app: &App,
    resource: &Resource,
    analysis: &datalab_store::AnalysisState,
    name: Option<&str>,
) -> Option<datalab_query::Table> {
    let key = analysis.table(name)?["parquet"]["key"].as_str()?;
    let query_name = match name {
        Some(name) => format!("{}/{name}", resource.id),
        None => resource.id.to_string(),
    };
    app.query.table(&query_name, key)
}

/// Queues the analysis of uploads with neither an analysis nor a job (what
/// a stop between saving a resource and queueing its job leaves), found by
/// one query, not a walk over every dataset. Jobs a stop interrupted need
/// nothing: their lease runs out and a worker takes them again.
pub async fn queue_missing_analyses(app: &App) -> Result<usize, Error> {
    let mut queued = 0;
    for resource in app.store.resources_without_analysis().await? {
        if is_tabular(&resource) {
            enqueue(app, &resource).await;
            queued += 1;
        }
    }
    Ok(queued)
}

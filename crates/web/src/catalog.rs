//! The catalog's operations as the web layer runs them: ask the policy, write
//! to the store, keep the search index in step. Both the APIs and the pages
//! call these, so a rule is enforced the same way whichever door is used.

use std::sync::Arc;

use bytes::Bytes;
use datalab_core::{
    Action, Actor, Bilingual, Dataset, DcatFields, Organization, Resource, ResourceLocation, State, User,
};
use datalab_files::StoredBlob;
use datalab_search::{IndexedDataset, SearchRequest, SearchResults, Visibility};
use futures_util::Stream;
use uuid::Uuid;

use crate::AppState;
use crate::error::AppError;

/// A fresh dataset with the platform's defaults, to be filled in by a form or an API call.
pub fn new_dataset(owner_org: Uuid, creator: Option<Uuid>) -> Dataset {
    let now = datalab_store::now();
    Dataset {
        id: Uuid::new_v4(),
        name: String::new(),
        title: String::new(),
        notes: String::new(),
        owner_org,
        license_id: datalab_core::licenses::DEFAULT_LICENSE_ID.to_string(),
        author: String::new(),
        author_email: String::new(),
        maintainer: String::new(),
        maintainer_email: String::new(),
        url: String::new(),
        version: String::new(),
        state: State::Active,
        private: false,
        tags: Vec::new(),
        groups: Vec::new(),
        extras: Vec::new(),
        dcat: DcatFields { language: "es".into(), ..DcatFields::default() },
        creator_user_id: creator,
        metadata_created: now,
        metadata_modified: now,
        resources: Vec::new(),
    }
}

pub fn new_resource(dataset_id: Uuid, location: ResourceLocation) -> Resource {
    let now = datalab_store::now();
    Resource {
        id: Uuid::new_v4(),
        dataset_id,
        position: 0,
        name: String::new(),
        description: String::new(),
        format: String::new(),
        location,
        size: None,
        mimetype: String::new(),
        sha256: String::new(),
        created: now,
        last_modified: now,
        schema: None,
    }
}

pub fn read_action(dataset: &Dataset) -> Action {
    Action::ReadDataset { organization: dataset.owner_org, private: dataset.private, state: dataset.state }
}

/// A dataset the actor may read; `Forbidden` or `NotAuthenticated` when it
/// exists but is not theirs to see.
pub async fn readable_dataset(state: &AppState, actor: &Actor, id_or_name: &str) -> Result<Dataset, AppError> {
    let dataset = state.store.dataset(id_or_name).await?;
    actor.authorize(read_action(&dataset))?;
    Ok(dataset)
}

pub async fn create_dataset(
    state: &AppState,
    actor: &Actor,
    user: Option<&User>,
    mut dataset: Dataset,
) -> Result<Dataset, AppError> {
    actor.authorize(Action::CreateDataset { organization: dataset.owner_org })?;
    check_schemas(&dataset)?;
    let now = datalab_store::now();
    dataset.metadata_created = now;
    dataset.metadata_modified = now;
    dataset.creator_user_id = user.map(|user| user.id);
    state.store.create_dataset(user.map(|user| user.id), &dataset).await?;
    let saved = state.store.dataset(&dataset.id.to_string()).await?;
    reindex_dataset(state, &saved).await?;
    schedule_analyses(state, None, &saved);
    Ok(saved)
}

/// Keeps the `sheets` of the `old` schema in a `new` one that does not say
/// anything of them (sending `"sheets": {}` or null removes them).
fn carry_sheets(old: Option<&serde_json::Value>, new: &mut Option<serde_json::Value>) {
    use datalab_ingest::constraints::SHEETS;
    let Some(sheets) = old.and_then(|old| old.get(SHEETS)) else { return };
    match new {
        Some(serde_json::Value::Object(schema)) if !schema.contains_key(SHEETS) => {
            schema.insert(SHEETS.into(), sheets.clone());
        }
        _ => {}
    }
}

/// Refuses a resource schema ingestion could not apply, saying why.
fn check_schemas(dataset: &Dataset) -> Result<(), AppError> {
    for resource in &dataset.resources {
        if let Some(schema) = &resource.schema {
            datalab_ingest::constraints::GivenSchema::check(schema)
                .map_err(|message| AppError::Invalid { field: "schema".into(), message })?;
        }
    }
    Ok(())
}

/// Saves a new version of a dataset. Moving it to another organization
/// needs the right to create datasets there too.
pub async fn update_dataset(
    state: &AppState,
    actor: &Actor,
    user: Option<&User>,
    before: &Dataset,
    mut after: Dataset,
) -> Result<Dataset, AppError> {
    actor.authorize(Action::UpdateDataset { organization: before.owner_org })?;
    if after.owner_org != before.owner_org {
        actor.authorize(Action::CreateDataset { organization: after.owner_org })?;
    }
    if after.state == State::Deleted && before.state != State::Deleted {
        actor.authorize(Action::DeleteDataset { organization: before.owner_org })?;
    }
    // A client that sends back the `schema` resource_show gave (the analysed
    // one) does not mean to fix every inferred type: that is no change.
    for resource in &mut after.resources {
        let Some(old) = before.resources.iter().find(|old| old.id == resource.id) else { continue };
        if resource.schema != old.schema
            && resource.schema.is_some()
            && let Some(analysis) = state.store.analysis(old.id).await?
            && analysis.table(None).map(|table| &table["schema"]) == resource.schema.as_ref()
        {
            resource.schema = old.schema.clone();
        }
        // A schema sent without the workbook's `sheets` (`resource_show`
        // gives the first sheet's) keeps the other sheets' as they were.
        carry_sheets(old.schema.as_ref(), &mut resource.schema);
    }
    check_schemas(&after)?;
    after.id = before.id;
    after.metadata_created = before.metadata_created;
    after.creator_user_id = before.creator_user_id;
    after.metadata_modified = datalab_store::now();
    state.store.update_dataset(user.map(|user| user.id), &after).await?;
    let saved = state.store.dataset(&after.id.to_string()).await?;
    reindex_dataset(state, &saved).await?;
    schedule_analyses(state, Some(before), &saved);
    remove_orphan_blobs(state, before, &saved).await;
    Ok(saved)
}

pub async fn delete_dataset(
    state: &AppState,
    actor: &Actor,
    user: Option<&User>,
    dataset: &Dataset,
) -> Result<(), AppError> {
    actor.authorize(Action::DeleteDataset { organization: dataset.owner_org })?;
    let mut deleted = dataset.clone();
    deleted.state = State::Deleted;
    update_dataset(state, actor, user, dataset, deleted).await?;
    Ok(())
}

/// Deletes files no resource refers to any more after an update replaced or
/// removed resources. Best effort: a failure leaves an unreferenced blob,
/// which is never served.
async fn remove_orphan_blobs(state: &AppState, before: &Dataset, after: &Dataset) {
    let keys_after: Vec<&String> = after.resources.iter().filter_map(storage_key).collect();
    let dropped: Vec<String> =
        before.resources.iter().filter_map(storage_key).filter(|key| !keys_after.contains(key)).cloned().collect();
    if dropped.is_empty() {
        return;
    }
    match state.store.unreferenced_storage_keys(&dropped).await {
        Ok(orphans) => {
            for key in orphans {
                if let Err(error) = state.files.delete(&key).await {
                    tracing::warn!(%error, key, "could not delete an unreferenced file");
                }
            }
        }
        Err(error) => tracing::warn!(%error, "could not check unreferenced files"),
    }
}

fn storage_key(resource: &Resource) -> Option<&String> {
    match &resource.location {
        ResourceLocation::Upload { storage_key, .. } => Some(storage_key),
        ResourceLocation::Link { .. } => None,
    }
}

/// Streams an upload into file storage (hashed, size-capped).
pub async fn store_upload<S, E>(state: &AppState, chunks: S) -> Result<StoredBlob, AppError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    Ok(state.files.put_stream(chunks).await?)
}

/// Deletes an uploaded blob that ended up unused (the request that carried
/// it failed validation), unless another resource has the same bytes.
pub async fn discard_upload(state: &AppState, blob: &StoredBlob) {
    if let Ok(orphans) = state.store.unreferenced_storage_keys(std::slice::from_ref(&blob.key)).await {
        for key in orphans {
            let _ = state.files.delete(&key).await;
        }
    }
}

/// What the analysis of one table says, for its dataset's quality score.
fn table_facts(analysis: &serde_json::Value) -> datalab_core::quality::TableFacts {
    let profile = analysis["profile"].as_array().map(Vec::as_slice).unwrap_or_default();
    let number = |value: &serde_json::Value| value.as_u64().unwrap_or(0);
    datalab_core::quality::TableFacts {
        rows: number(&analysis["rows"]),
        cells: profile.iter().map(|column| number(&column["count"]) + number(&column["nulls"])).sum(),
        missing_cells: profile.iter().map(|column| number(&column["nulls"])).sum(),
        errors: number(&analysis["report"]["stats"]["errors"]),
        duplicate_rows: number(&analysis["report"]["tasks"][0]["errorCounts"]["duplicate-row"]),
    }
}

/// The quality report of a dataset as of today, from its metadata and the
/// analyses of its tables.
pub async fn quality_report(
    store: &datalab_store::Store,
    dataset: &Dataset,
) -> Result<datalab_core::quality::QualityReport, datalab_store::StoreError> {
    let mut facts = Vec::new();
    for resource in &dataset.resources {
        if let Some(analysis) = store.analysis(resource.id).await? {
            facts.extend(analysis.tables().into_iter().map(table_facts));
        }
    }
    Ok(datalab_core::quality::score(dataset, &facts, time::OffsetDateTime::now_utc().date()))
}

/// Indexes one dataset with its organization and its quality score as of
/// now. The outer error is the store's; the inner one the index's.
async fn index_dataset(
    store: &datalab_store::Store,
    search: &Arc<datalab_search::SearchIndex>,
    dataset: Dataset,
) -> Result<Result<(), datalab_search::SearchError>, AppError> {
    let organization = store.organization(&dataset.owner_org.to_string()).await?;
    let quality = quality_report(store, &dataset).await?.score;
    let search = search.clone();
    tokio::task::spawn_blocking(move || {
        search.index(&[IndexedDataset { dataset: &dataset, organization: &organization, quality }])
    })
    .await
    .map_err(AppError::internal)
}

/// Indexes a dataset again, with its quality score as of now.
pub async fn reindex_dataset(state: &AppState, dataset: &Dataset) -> Result<(), AppError> {
    // The change is committed: failing the request now would tell the
    // client it was not (and a retry would collide with it). The index is
    // derived data; the daily re-index (or `datalab admin reindex`) mends it.
    if let Err(error) = index_dataset(&state.store, &state.search, dataset.clone()).await? {
        tracing::error!(%error, dataset_id = %dataset.id, "cannot re-index a dataset after saving it; search shows it as it was");
    }
    Ok(())
}

/// Rebuilds the whole search index from the database; returns how many
/// datasets were indexed.
pub async fn reindex_all(state: &AppState) -> Result<usize, AppError> {
    rebuild_index(&state.store, &state.search).await.map_err(AppError::internal)
}

pub async fn rebuild_index(
    store: &datalab_store::Store,
    search: &std::sync::Arc<datalab_search::SearchIndex>,
) -> anyhow::Result<usize> {
    let datasets = store.all_datasets().await?;
    let organizations: Vec<Organization> = {
        let mut all = Vec::new();
        for id in datasets.iter().map(|dataset| dataset.owner_org).collect::<std::collections::BTreeSet<_>>() {
            all.push(store.organization(&id.to_string()).await?);
        }
        all
    };
    let mut quality = Vec::with_capacity(datasets.len());
    for dataset in &datasets {
        quality.push(quality_report(store, dataset).await?.score);
    }
    let before: std::collections::HashMap<Uuid, time::OffsetDateTime> =
        datasets.iter().map(|dataset| (dataset.id, dataset.metadata_modified)).collect();
    let rebuilding = search.clone();
    let count = datasets.len();
    tokio::task::spawn_blocking(move || {
        let items: Vec<IndexedDataset<'_>> = datasets
            .iter()
            .zip(quality)
            .filter_map(|(dataset, quality)| {
                organizations
                    .iter()
                    .find(|organization| organization.id == dataset.owner_org)
                    .map(|organization| IndexedDataset { dataset, organization, quality })
            })
            .collect();
        rebuilding.rebuild(&items)
    })
    .await??;
    // A write while the snapshot was indexed (by this process or another
    // sharing the folder) was undone by the rebuild: what changed since the
    // snapshot is indexed again, what went is removed.
    let after = store.all_datasets().await?;
    let now: std::collections::HashSet<Uuid> = after.iter().map(|dataset| dataset.id).collect();
    for dataset in after.into_iter().filter(|dataset| before.get(&dataset.id) != Some(&dataset.metadata_modified)) {
        index_dataset(store, search, dataset).await??;
    }
    for id in before.into_keys().filter(|id| !now.contains(id)) {
        let search = search.clone();
        tokio::task::spawn_blocking(move || search.remove(id)).await??;
    }
    Ok(count)
}

/// What the actor may see in search results.
pub fn visibility(actor: &Actor, include_private: bool) -> Visibility {
    if !include_private || !actor.is_authenticated() {
        return Visibility::Public;
    }
    match actor.readable_private_organizations() {
        None => Visibility::AllActive,
        Some(organizations) => Visibility::PublicAnd(organizations),
    }
}

/// Runs a search and loads the datasets it found, in result order.
pub async fn search(
    state: &AppState,
    actor: &Actor,
    request: &SearchRequest,
    include_private: bool,
) -> Result<(SearchResults, Vec<Dataset>), AppError> {
    let results = state.search.search(request, &visibility(actor, include_private))?;
    // Re-check: the index is derived data and may lag a moment behind.
    let datasets = state
        .store
        .datasets_by_ids(&results.ids)
        .await?
        .into_iter()
        .filter(|dataset| actor.can(read_action(dataset)))
        .collect();
    Ok((results, datasets))
}

/// The activity entries of `scope` the actor may see: entries about a
/// dataset they cannot read are left out, newest first.
pub async fn visible_activities(
    state: &AppState,
    actor: &Actor,
    scope: datalab_store::ActivityScope,
    limit: i64,
    offset: i64,
) -> Result<Vec<datalab_core::Activity>, AppError> {
    let activities = state.store.activities(scope, limit, offset).await?;
    let mut readable: std::collections::HashMap<Uuid, bool> = std::collections::HashMap::new();
    let mut visible = Vec::with_capacity(activities.len());
    for activity in activities {
        if let Some(dataset_id) = activity.dataset_id {
            let allowed = match readable.get(&dataset_id) {
                Some(allowed) => *allowed,
                None => {
                    let allowed = match state.store.dataset(&dataset_id.to_string()).await {
                        Ok(dataset) => actor.can(read_action(&dataset)),
                        Err(datalab_store::StoreError::NotFound) => false,
                        Err(error) => return Err(error.into()),
                    };
                    readable.insert(dataset_id, allowed);
                    allowed
                }
            };
            if !allowed {
                continue;
            }
        }
        visible.push(activity);
    }
    Ok(visible)
}

/// Points a resource at an uploaded blob (file name kept for display only).
pub fn attach_upload(resource: &mut Resource, upload: &(StoredBlob, String)) {
    let (blob, client_filename) = upload;
    let filename = safe_filename(client_filename);
    resource.mimetype = mime_guess::from_path(&filename).first_or_octet_stream().essence_str().to_string();
    resource.location = ResourceLocation::Upload { storage_key: blob.key.clone(), filename };
    resource.size = Some(blob.size as i64);
    resource.sha256 = blob.sha256.clone();
    resource.last_modified = datalab_store::now();
    if resource.name.is_empty() {
        resource.name = safe_filename(&upload.1);
    }
    if resource.format.is_empty() {
        resource.format = guess_format(resource);
    }
}

/// Keeps only the last path component of a client-given file name and
/// drops control characters: file names are shown and used in URLs, never
/// as paths (storage keys are content hashes).
pub fn safe_filename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last.chars().filter(|character| !character.is_control()).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    if cleaned.is_empty() { "archivo".into() } else { cleaned.chars().take(200).collect() }
}

/// A resource's format from its file name or URL extension ("datos.csv" → "CSV").
pub fn guess_format(resource: &Resource) -> String {
    let name = match &resource.location {
        ResourceLocation::Upload { filename, .. } => filename.as_str(),
        ResourceLocation::Link { url } => url.split(['?', '#']).next().unwrap_or(""),
    };
    let last = name.rsplit('/').next().unwrap_or("");
    match last.rsplit_once('.') {
        Some((_, extension))
            if !extension.is_empty()
                && extension.len() <= 8
                && extension.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            extension.to_uppercase()
        }
        _ => String::new(),
    }
}

/// Whether a resource's file is read into tables: its declared format, or
/// its file's extension, is one an ingestion reader takes (delimited text,
/// workbooks, JSON, NDJSON, GeoJSON).
pub fn is_tabular(resource: &Resource) -> bool {
    datalab_ingest::is_readable(&resource.format)
        || matches!(&resource.location, ResourceLocation::Upload { filename, .. }
            if std::path::Path::new(filename).extension().is_some_and(|extension| datalab_ingest::is_readable(&extension.to_string_lossy())))
}

/// Queues the analysis (encoding, dialect, types, profile, validation) of
/// every tabular upload of `after` whose file or schema is new or changed
/// since `before`. It runs in the background as a job with progress; the
/// last finished analysis stays served until the new one is complete, and a
/// restart resumes what was not finished ([`resume_analyses`]). The file
/// streams from storage; memory stays bounded.
pub fn schedule_analyses(state: &AppState, before: Option<&Dataset>, after: &Dataset) {
    if !state.settings.background_analysis {
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
        enqueue(state.clone(), resource.clone());
    }
}

/// Analyses a resource's file again (after a schema change the analysis
/// reruns by itself; this is for anything else).
pub fn reingest(state: &AppState, resource: &Resource) -> Result<(), AppError> {
    if !resource.is_upload() {
        return Err(AppError::Invalid { field: "resource".into(), message: "only uploaded files are analysed".into() });
    }
    if !is_tabular(resource) {
        return Err(AppError::Invalid { field: "format".into(), message: "this format is not read as a table".into() });
    }
    enqueue(state.clone(), resource.clone());
    Ok(())
}

/// Times a job that keeps being interrupted (the server stops or crashes
/// while it runs), or that keeps failing to read or store its files, is
/// tried before it is stopped with its error shown.
pub const MAX_JOB_ATTEMPTS: i64 = 3;

/// The wait before the second attempt of a job whose storage failed; it
/// doubles before each next one.
pub const JOB_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// Why an attempt at a job failed, and whether trying again may help: a
/// file that could not be read or written (storage, disk, database) may be
/// there next time; a file that is not a table will not change.
struct JobFailure {
    /// Why, in English and (where a reason was written for people) Spanish.
    message: Bilingual,
    transient: bool,
}

impl JobFailure {
    fn lasting(en: impl Into<String>, es: impl Into<String>) -> JobFailure {
        JobFailure { message: Bilingual { en: en.into(), es: es.into() }, transient: false }
    }

    /// Reading or storing the file or its tables failed: the file itself may be fine.
    fn transient(message: impl std::fmt::Display) -> JobFailure {
        let es = format!("no se pudo leer o guardar el archivo o sus tablas: {message}");
        JobFailure { message: Bilingual { en: message.to_string(), es }, transient: true }
    }

    /// A file ingestion refused (or, for `Io`, could not read), with its reason in both languages.
    fn refused(error: &datalab_ingest::IngestError) -> JobFailure {
        let transient = matches!(error, datalab_ingest::IngestError::Io(_));
        JobFailure { message: Bilingual { en: error.to_string(), es: error.message_es() }, transient }
    }

    /// The message with `prefix` before it (`en`, `es`).
    fn prefixed(&self, en: &str, es: &str) -> Bilingual {
        let spanish = if self.message.es.is_empty() { &self.message.en } else { &self.message.es };
        Bilingual { en: format!("{en}{}", self.message.en), es: format!("{es}{spanish}") }
    }
}

fn enqueue(state: AppState, resource: Resource) {
    tokio::spawn(async move {
        match state.store.queue_job(resource.id, &resource.sha256, resource.size).await {
            Ok(Some(job)) => run_job(state, job).await,
            // The resource was deleted meanwhile.
            Ok(None) => {}
            Err(error) => tracing::error!(%error, resource_id = %resource.id, "cannot queue an analysis"),
        }
    });
}

/// Runs a queued job: one at a time per server (bounded memory), with its
/// progress (bytes read, rows) written every half second.
/// A failure to read or store a file is tried again, after
/// [`JOB_RETRY_DELAY`] and then twice as long each time, up to
/// [`MAX_JOB_ATTEMPTS`] attempts in all (a restart's count too); meanwhile
/// the job is queued again with the failure as its note.
async fn run_job(state: AppState, job: datalab_store::Job) {
    let resource_id = job.resource_id;
    let mut attempts = job.attempts;
    let mut delay = JOB_RETRY_DELAY;
    let outcome = loop {
        attempts += 1;
        // The slot is held for one attempt: while a failed job waits to try
        // again, the next queued analysis runs.
        let slot = state.ingest_slots.clone().acquire_owned().await.expect("the semaphore is never closed");
        let attempt = run_job_inner(&state, &job, attempts).await;
        drop(slot);
        if attempt.is_err() && state.store.is_closed() {
            // Shutting down: the job stays `running` and the next start resumes it.
            tracing::info!(%resource_id, "analysis stopped by the shutdown; it resumes at the next start");
            return;
        }
        match attempt {
            Ok(()) => break Ok(()),
            Err(failure) if failure.transient && attempts < MAX_JOB_ATTEMPTS => {
                tracing::warn!(error = %failure.message.en, %resource_id, attempts, "analysis failed; trying again");
                let note = failure.prefixed(
                    &format!("attempt {attempts} failed, trying again: "),
                    &format!("falló el intento {attempts}; se intentará de nuevo: "),
                );
                if let Err(error) = state.store.requeue_job(job.id, Some(&note)).await {
                    tracing::error!(%error, %resource_id, "cannot record a failed attempt");
                }
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(failure) if failure.transient => {
                break Err(failure.prefixed(
                    &format!("stopped after {attempts} attempts: "),
                    &format!("se detuvo tras {attempts} intentos: "),
                ));
            }
            Err(failure) => break Err(failure.message),
        }
    };
    if let Err(error) = &outcome {
        tracing::warn!(error = %error.en, %resource_id, "analysis failed");
    }
    if let Err(error) = state.store.finish_job(job.id, outcome.as_ref().map(|_| ())).await {
        tracing::error!(%error, %resource_id, "cannot record the end of an analysis");
    }
}

/// Attempt number `attempt` (from 1) at a job.
async fn run_job_inner(state: &AppState, job: &datalab_store::Job, attempt: i64) -> Result<(), JobFailure> {
    // Counted first, so the stored attempts are the ones made, whatever stops this one.
    state.store.start_job(job.id).await.map_err(JobFailure::transient)?;
    let resource = match state.store.resource(job.resource_id).await {
        Ok(resource) => resource,
        Err(datalab_store::StoreError::NotFound) => {
            return Err(JobFailure::lasting("the resource was deleted", "el recurso se eliminó"));
        }
        Err(error) => return Err(JobFailure::transient(error)),
    };
    if resource.sha256 != job.sha256 {
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
    let first = state.files.open(storage_key, None).await.map_err(JobFailure::transient)?;
    let bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    // The stored file, from its start, each time the analysis reads it
    // (twice when its first rows suggest other types than the rest).
    let open = {
        let (files, key, bytes) = (state.files.clone(), storage_key.clone(), bytes.clone());
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
    let report = |state: AppState,
                  id: Uuid,
                  bytes: Arc<std::sync::atomic::AtomicU64>,
                  progress: Arc<datalab_ingest::Progress>| async move {
        let read = |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed) as i64;
        let _ = state.store.job_progress(id, read(&bytes), read(&progress.rows)).await;
    };
    let ticker = {
        let (state, id, bytes, progress) = (state.clone(), job.id, bytes.clone(), progress.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                report(state.clone(), id, bytes.clone(), progress.clone()).await;
            }
        })
    };
    let last_attempt = attempt >= MAX_JOB_ATTEMPTS;
    let outcome = analyse_attempt(state, resource.id, &resource.sha256, open, options, last_attempt).await;
    ticker.abort();
    report(state.clone(), job.id, bytes, progress).await;
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
pub async fn analyse_file<R, O>(
    state: &AppState,
    open: O,
    mut options: datalab_ingest::AnalyzeOptions,
) -> PendingAnalysis
where
    R: std::io::Read,
    O: FnMut() -> std::io::Result<R> + Send + 'static,
{
    let written = state.query.new_table_path();
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
    state: &AppState,
    resource_id: Uuid,
    sha256: &str,
    pending: PendingAnalysis,
) -> Result<datalab_ingest::FileAnalysis, Bilingual> {
    record_attempt(state, resource_id, sha256, pending, true).await.map_err(|failure| failure.message)
}

/// [`analyse_file`] then [`record_analysis`], saying whether a failure may
/// pass; a failure that may is recorded as the resource's analysis only
/// when `record_any_failure` (the last attempt), so a passing storage error
/// does not replace a good analysis's place on the page while the job tries
/// again. A crash leaves a `running` job that [`resume_analyses`] retries.
async fn analyse_attempt<R, O>(
    state: &AppState,
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
    let pending = analyse_file(state, open, options).await;
    record_attempt(state, resource_id, sha256, pending, record_any_failure).await
}

async fn record_attempt(
    state: &AppState,
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
                    keys.push(Some(state.query.publish(&parquet.path, resource_id).map_err(JobFailure::transient)?))
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
    state.store.set_analysis(resource_id, sha256, &record).await.map_err(JobFailure::transient)?;
    let (analysis, keys) = result?;
    let current: Vec<&str> = keys.iter().flatten().map(String::as_str).collect();
    state.query.remove_other_versions(resource_id, &current);
    // The analysis changes the dataset's quality score, which search sorts and filters by.
    if let Err(error) = reindex_resource_dataset(state, resource_id).await {
        tracing::warn!(%error, %resource_id, "cannot index the dataset's new quality score");
    }
    Ok(analysis)
}

async fn reindex_resource_dataset(state: &AppState, resource_id: Uuid) -> Result<(), AppError> {
    let resource = state.store.resource(resource_id).await?;
    let dataset = state.store.dataset(&resource.dataset_id.to_string()).await?;
    reindex_dataset(state, &dataset).await
}

/// Indexes every dataset again once a day, so the quality scores in search
/// follow freshness (a dataset becomes outdated without anyone touching it).
pub fn spawn_daily_reindex(state: AppState) {
    tokio::spawn(async move {
        let day = std::time::Duration::from_secs(24 * 60 * 60);
        loop {
            tokio::time::sleep(day).await;
            match reindex_all(&state).await {
                Ok(count) => tracing::info!(count, "search index refreshed"),
                Err(error) => tracing::warn!(%error, "cannot refresh the search index"),
            }
        }
    });
}

/// Uploads younger than this are never swept: their resource may still be
/// being saved.
pub const BLOB_SWEEP_GRACE: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// Deletes the stored files no resource or evidence refers to (an upload
/// sent to an action that failed, or whose resource was replaced by a
/// crash's timing), older than [`BLOB_SWEEP_GRACE`], and what interruptions
/// left ([`sweep_leftovers`]).
pub async fn sweep_blobs(state: &AppState) -> Result<usize, AppError> {
    let referenced = state.store.referenced_storage_keys().await?;
    let blobs = state.files.sweep_unreferenced(&referenced, BLOB_SWEEP_GRACE).await?;
    Ok(blobs + sweep_leftovers(state).await?)
}

/// Removes what an interrupted upload or analysis left (temporary files,
/// table files no analysis refers to) once it is older than
/// [`BLOB_SWEEP_GRACE`]: anything younger may be another process's work in
/// progress (`datalab import` beside `serve`). Returns how many files went.
pub async fn sweep_leftovers(state: &AppState) -> Result<usize, AppError> {
    let temporaries = state.files.sweep_temporary(BLOB_SWEEP_GRACE).await?;
    let referenced = state.store.table_keys().await?;
    let query = state.query.clone();
    let tables = tokio::task::spawn_blocking(move || query.sweep(&referenced, BLOB_SWEEP_GRACE))
        .await
        .map_err(AppError::internal)?;
    Ok(temporaries + tables)
}

/// Sweeps unreferenced files and leftovers ([`sweep_blobs`]) now and every hour.
pub fn spawn_blob_sweeps(state: AppState) {
    tokio::spawn(async move {
        loop {
            match sweep_blobs(&state).await {
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

/// The queryable table of a resource's current file, if its analysis is
/// done: the table named `name` (a workbook's sheet), or the default one.
pub fn table_of(
    state: &AppState,
    resource: &Resource,
    analysis: &datalab_store::AnalysisState,
    name: Option<&str>,
) -> Option<datalab_query::Table> {
    let key = analysis.table(name)?["parquet"]["key"].as_str()?;
    let query_name = match name {
        Some(name) => format!("{}/{name}", resource.id),
        None => resource.id.to_string(),
    };
    state.query.table(&query_name, key)
}

/// Resumes what a stop interrupted: queued jobs run, running ones are
/// retried up to [`MAX_JOB_ATTEMPTS`] and then stopped with their error, and
/// uploads with neither an analysis nor a job (a stop between saving and
/// queueing) are queued. One query finds those, not a walk over every dataset.
pub async fn resume_analyses(state: &AppState) -> Result<usize, AppError> {
    let mut started = 0;
    for job in state.store.unfinished_jobs().await? {
        if job.status == datalab_store::JobStatus::Running && job.attempts >= MAX_JOB_ATTEMPTS {
            let error = Bilingual {
                en: format!("stopped after {} attempts: the analysis was interrupted each time", job.attempts),
                es: format!("se detuvo tras {} intentos: el análisis se interrumpió cada vez", job.attempts),
            };
            state.store.finish_job(job.id, Err(&error)).await?;
            continue;
        }
        state.store.requeue_job(job.id, None).await?;
        tokio::spawn(run_job(state.clone(), job));
        started += 1;
    }
    for resource in state.store.resources_without_analysis().await? {
        if is_tabular(&resource) {
            enqueue(state.clone(), resource);
            started += 1;
        }
    }
    Ok(started)
}

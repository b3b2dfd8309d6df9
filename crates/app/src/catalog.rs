//! Datasets and their resources: create, update and delete them (each
//! asks the policy first and re-indexes after the commit), read one the
//! actor may see, search, the activity the actor may see, and the uploads
//! resources point at.

use bytes::Bytes;
use datalab_core::{Action, Actor, Dataset, DcatFields, Resource, ResourceLocation, State, User};
use datalab_files::StoredBlob;
use datalab_search::{SearchRequest, SearchResults, Visibility};
use futures_util::Stream;
use uuid::Uuid;

use crate::analysis::schedule_analyses;
use crate::{App, Error};

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
pub async fn readable_dataset(app: &App, actor: &Actor, id_or_name: &str) -> Result<Dataset, Error> {
    let dataset = app.store.dataset(id_or_name).await?;
    actor.authorize(read_action(&dataset))?;
    Ok(dataset)
}

/// Creates a dataset; what follows the event log (search) has caught up
/// with it when this returns.
pub async fn create_dataset(app: &App, actor: &Actor, user: Option<&User>, dataset: Dataset) -> Result<Dataset, Error> {
    let saved = save_new_dataset(app, actor, user, dataset).await?;
    crate::events::catch_up(app).await;
    Ok(saved)
}

/// [`create_dataset`] without catching up with the log: for the log's own
/// followers (the tracker's catalog copy), which run inside it.
pub(crate) async fn save_new_dataset(
    app: &App,
    actor: &Actor,
    user: Option<&User>,
    mut dataset: Dataset,
) -> Result<Dataset, Error> {
    actor.authorize(Action::CreateDataset { organization: dataset.owner_org })?;
    check_schemas(&dataset)?;
    let now = datalab_store::now();
    dataset.metadata_created = now;
    dataset.metadata_modified = now;
    dataset.creator_user_id = user.map(|user| user.id);
    app.store.create_dataset(user.map(|user| user.id), &dataset).await?;
    let saved = app.store.dataset(&dataset.id.to_string()).await?;
    schedule_analyses(app, None, &saved).await;
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
fn check_schemas(dataset: &Dataset) -> Result<(), Error> {
    for resource in &dataset.resources {
        if let Some(schema) = &resource.schema {
            datalab_ingest::constraints::GivenSchema::check(schema)
                .map_err(|message| Error::Invalid { field: "schema".into(), message })?;
        }
    }
    Ok(())
}

/// Saves a new version of a dataset. Moving it to another organization
/// needs the right to create datasets there too. What follows the event
/// log (search) has caught up with it when this returns.
pub async fn update_dataset(
    app: &App,
    actor: &Actor,
    user: Option<&User>,
    before: &Dataset,
    after: Dataset,
) -> Result<Dataset, Error> {
    let saved = save_dataset(app, actor, user, before, after).await?;
    crate::events::catch_up(app).await;
    Ok(saved)
}

/// [`update_dataset`] without catching up with the log (see [`save_new_dataset`]).
pub(crate) async fn save_dataset(
    app: &App,
    actor: &Actor,
    user: Option<&User>,
    before: &Dataset,
    mut after: Dataset,
) -> Result<Dataset, Error> {
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
            && let Some(analysis) = app.store.analysis(old.id).await?
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
    app.store.update_dataset(user.map(|user| user.id), &after).await?;
    let saved = app.store.dataset(&after.id.to_string()).await?;
    schedule_analyses(app, Some(before), &saved).await;
    remove_orphan_blobs(app, before, &saved).await;
    Ok(saved)
}

pub async fn delete_dataset(app: &App, actor: &Actor, user: Option<&User>, dataset: &Dataset) -> Result<(), Error> {
    actor.authorize(Action::DeleteDataset { organization: dataset.owner_org })?;
    let mut deleted = dataset.clone();
    deleted.state = State::Deleted;
    update_dataset(app, actor, user, dataset, deleted).await?;
    Ok(())
}

/// Deletes files no resource refers to any more after an update replaced or
/// removed resources. Best effort: a failure leaves an unreferenced blob,
/// which is never served.
async fn remove_orphan_blobs(app: &App, before: &Dataset, after: &Dataset) {
    let keys_after: Vec<&String> = after.resources.iter().filter_map(storage_key).collect();
    let dropped: Vec<String> =
        before.resources.iter().filter_map(storage_key).filter(|key| !keys_after.contains(key)).cloned().collect();
    if dropped.is_empty() {
        return;
    }
    match app.store.unreferenced_storage_keys(&dropped).await {
        Ok(orphans) => {
            for key in orphans {
                if let Err(error) = app.files.delete(&key).await {
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
pub async fn store_upload<S, E>(app: &App, chunks: S) -> Result<StoredBlob, Error>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    Ok(app.files.put_stream(chunks).await?)
}

/// Deletes an uploaded blob that ended up unused (the request that carried
/// it failed validation), unless another resource has the same bytes.
pub async fn discard_upload(app: &App, blob: &StoredBlob) {
    if let Ok(orphans) = app.store.unreferenced_storage_keys(std::slice::from_ref(&blob.key)).await {
        for key in orphans {
            let _ = app.files.delete(&key).await;
        }
    }
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

/// How many datasets the actor may see carry each value of `facet` (each
/// organization, theme…), from the index.
pub fn facet_counts(
    app: &App,
    actor: &Actor,
    facet: datalab_search::FacetName,
    include_private: bool,
) -> Result<std::collections::HashMap<String, u64>, Error> {
    let request = SearchRequest { rows: 1, facets: vec![facet], facet_limit: usize::MAX, ..SearchRequest::default() };
    let results = app.search.search(&request, &visibility(actor, include_private))?;
    Ok(results.facets.into_iter().flat_map(|(_, values)| values).collect())
}

/// Runs a search and loads the datasets it found, in result order.
pub async fn search(
    app: &App,
    actor: &Actor,
    request: &SearchRequest,
    include_private: bool,
) -> Result<(SearchResults, Vec<Dataset>), Error> {
    let results = app.search.search(request, &visibility(actor, include_private))?;
    // Re-check: the index is derived data and may lag a moment behind.
    let datasets = app
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
    app: &App,
    actor: &Actor,
    scope: datalab_store::ActivityScope,
    limit: i64,
    offset: i64,
) -> Result<Vec<datalab_core::Activity>, Error> {
    let activities = app.store.activities(scope, limit, offset).await?;
    let mut readable: std::collections::HashMap<Uuid, bool> = std::collections::HashMap::new();
    let mut visible = Vec::with_capacity(activities.len());
    for activity in activities {
        if let Some(dataset_id) = activity.dataset_id {
            let allowed = match readable.get(&dataset_id) {
                Some(allowed) => *allowed,
                None => {
                    let allowed = match app.store.dataset(&dataset_id.to_string()).await {
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

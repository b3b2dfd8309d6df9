//! Datasets and their resources, tags and groups, saved as one aggregate.
//!
//! Every write loads the current version, lets the caller change it in
//! memory, validates the whole, and saves it with its activity entry in one
//! transaction: CKAN's create, update, patch and resource actions all become
//! the same path.

use datalab_core::{
    Dataset, DcatFields, FieldError, FieldErrors, Resource, ResourceLocation, State, diff_snapshots,
    validation::{validate_dataset, validate_resource},
};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::activity::{NewActivity, record};
use crate::{Store, StoreError, StoreResult, format_time, name_taken_on_conflict, parse_time, parse_uuid};

/// Tags, group names and resources of one dataset, gathered from their tables.
type DatasetParts = (Vec<String>, Vec<String>, Vec<Resource>);

/// A dataset's name and visibility, for listings that need no full aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetSummary {
    pub id: Uuid,
    pub name: String,
    pub owner_org: Uuid,
    pub private: bool,
    pub state: State,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TagCount {
    pub tag: String,
    pub count: i64,
}

/// A resource and its dataset's name, owner, privacy and state.
#[derive(Debug, Clone)]
pub struct ResourceAccess {
    pub resource: Resource,
    pub dataset_name: String,
    pub owner_org: Uuid,
    pub private: bool,
    pub state: State,
}

pub(crate) fn resource_from_row(row: &SqliteRow) -> StoreResult<Resource> {
    let storage_key: Option<String> = row.try_get("storage_key")?;
    let location = match storage_key {
        Some(storage_key) => ResourceLocation::Upload { storage_key, filename: row.try_get("filename")? },
        None => ResourceLocation::Link { url: row.try_get("url")? },
    };
    Ok(Resource {
        id: parse_uuid(row.try_get("id")?)?,
        dataset_id: parse_uuid(row.try_get("dataset_id")?)?,
        position: row.try_get("position")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        format: row.try_get("format")?,
        location,
        size: row.try_get("size")?,
        mimetype: row.try_get("mimetype")?,
        sha256: row.try_get("sha256")?,
        created: parse_time(row.try_get("created")?)?,
        last_modified: parse_time(row.try_get("last_modified")?)?,
        schema: row.try_get::<Option<String>, _>("schema")?.and_then(|text| serde_json::from_str(&text).ok()),
    })
}

async fn load_dataset(connection: &mut SqliteConnection, row: &SqliteRow) -> StoreResult<Dataset> {
    let id: String = row.try_get("id")?;
    let tags: Vec<String> = sqlx::query_scalar("SELECT tag FROM dataset_tags WHERE dataset_id = $1 ORDER BY tag")
        .bind(&id)
        .fetch_all(&mut *connection)
        .await?;
    let groups: Vec<String> = sqlx::query_scalar(
        "SELECT catalog_groups.name FROM dataset_groups JOIN catalog_groups ON catalog_groups.id = dataset_groups.group_id \
         WHERE dataset_groups.dataset_id = $1 ORDER BY catalog_groups.name",
    )
    .bind(&id)
    .fetch_all(&mut *connection)
    .await?;
    let resource_rows = sqlx::query("SELECT * FROM resources WHERE dataset_id = $1 ORDER BY position")
        .bind(&id)
        .fetch_all(&mut *connection)
        .await?;
    let resources = resource_rows.iter().map(resource_from_row).collect::<StoreResult<Vec<_>>>()?;
    dataset_from_row(row, tags, groups, resources)
}

fn dataset_from_row(
    row: &SqliteRow,
    tags: Vec<String>,
    groups: Vec<String>,
    resources: Vec<Resource>,
) -> StoreResult<Dataset> {
    let id: String = row.try_get("id")?;
    let extras: String = row.try_get("extras")?;
    let dcat: String = row.try_get("dcat")?;
    let state: String = row.try_get("state")?;
    Ok(Dataset {
        id: parse_uuid(&id)?,
        name: row.try_get("name")?,
        title: row.try_get("title")?,
        notes: row.try_get("notes")?,
        owner_org: parse_uuid(row.try_get("owner_org")?)?,
        license_id: row.try_get("license_id")?,
        author: row.try_get("author")?,
        author_email: row.try_get("author_email")?,
        maintainer: row.try_get("maintainer")?,
        maintainer_email: row.try_get("maintainer_email")?,
        url: row.try_get("url")?,
        version: row.try_get("version")?,
        state: State::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("dataset state {state:?}")))?,
        private: row.try_get::<i64, _>("private")? != 0,
        tags,
        groups,
        extras: serde_json::from_str(&extras).map_err(|error| StoreError::Corrupt(format!("extras: {error}")))?,
        dcat: serde_json::from_str::<DcatFields>(&dcat)
            .map_err(|error| StoreError::Corrupt(format!("dcat: {error}")))?,
        creator_user_id: row.try_get::<Option<String>, _>("creator_user_id")?.as_deref().map(parse_uuid).transpose()?,
        metadata_created: parse_time(row.try_get("metadata_created")?)?,
        metadata_modified: parse_time(row.try_get("metadata_modified")?)?,
        resources,
    })
}

/// Checks that need the database: the organization and groups exist.
async fn validate_references(
    connection: &mut SqliteConnection,
    dataset: &Dataset,
) -> StoreResult<(FieldErrors, Vec<String>)> {
    let mut errors = FieldErrors::new();
    let organization_exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM organizations WHERE id = $1 AND state = 'active'")
            .bind(dataset.owner_org.to_string())
            .fetch_optional(&mut *connection)
            .await?;
    if organization_exists.is_none() {
        errors.add("owner_org", FieldError::OrganizationUnknown);
    }
    let mut group_ids = Vec::new();
    for group in &dataset.groups {
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM catalog_groups WHERE name = $1 OR id = $1")
            .bind(group)
            .fetch_optional(&mut *connection)
            .await?;
        match id {
            Some(id) => group_ids.push(id),
            None => {
                errors.add("groups", FieldError::GroupUnknown);
                break;
            }
        }
    }
    Ok((errors, group_ids))
}

fn snapshot(dataset: &Dataset) -> serde_json::Value {
    serde_json::to_value(dataset).expect("datasets serialize")
}

impl Store {
    pub async fn dataset(&self, id_or_name: &str) -> StoreResult<Dataset> {
        let mut connection = self.reader.acquire().await?;
        let (id, name) = crate::id_or_name(id_or_name);
        let row = sqlx::query("SELECT * FROM datasets WHERE id = $1 OR name = $2")
            .bind(id.unwrap_or_default())
            .bind(name)
            .fetch_optional(&mut *connection)
            .await?
            .ok_or(StoreError::NotFound)?;
        load_dataset(&mut connection, &row).await
    }

    /// Several datasets by id, in the order given (missing ids are skipped),
    /// in four queries whatever their number: what search results load.
    pub async fn datasets_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<Dataset>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut connection = self.reader.acquire().await?;
        let placeholders: Vec<String> = (1..=ids.len()).map(|index| format!("${index}")).collect();
        let list = placeholders.join(", ");
        fn bind_ids<'q>(
            sql: &'q str,
            ids: &[Uuid],
        ) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
            ids.iter().fold(sqlx::query(sql), |query, id| query.bind(id.to_string()))
        }
        let datasets_sql = format!("SELECT * FROM datasets WHERE id IN ({list})");
        let tags_sql = format!("SELECT dataset_id, tag FROM dataset_tags WHERE dataset_id IN ({list}) ORDER BY tag");
        let groups_sql = format!(
            "SELECT dataset_groups.dataset_id AS dataset_id, catalog_groups.name AS name FROM dataset_groups \
             JOIN catalog_groups ON catalog_groups.id = dataset_groups.group_id WHERE dataset_groups.dataset_id IN ({list}) \
             ORDER BY catalog_groups.name"
        );
        let resources_sql = format!("SELECT * FROM resources WHERE dataset_id IN ({list}) ORDER BY position");
        let rows = bind_ids(&datasets_sql, ids).fetch_all(&mut *connection).await?;
        let tag_rows = bind_ids(&tags_sql, ids).fetch_all(&mut *connection).await?;
        let group_rows = bind_ids(&groups_sql, ids).fetch_all(&mut *connection).await?;
        let resource_rows = bind_ids(&resources_sql, ids).fetch_all(&mut *connection).await?;
        let mut parts: std::collections::HashMap<String, DatasetParts> = std::collections::HashMap::new();
        for row in &tag_rows {
            parts.entry(row.try_get("dataset_id")?).or_default().0.push(row.try_get("tag")?);
        }
        for row in &group_rows {
            parts.entry(row.try_get("dataset_id")?).or_default().1.push(row.try_get("name")?);
        }
        for row in &resource_rows {
            parts.entry(row.try_get("dataset_id")?).or_default().2.push(resource_from_row(row)?);
        }
        let mut by_id = std::collections::HashMap::new();
        for row in &rows {
            let id: String = row.try_get("id")?;
            let (tags, groups, resources) = parts.remove(&id).unwrap_or_default();
            let dataset = dataset_from_row(row, tags, groups, resources)?;
            by_id.insert(dataset.id, dataset);
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// Every dataset, in any state: what the search index is rebuilt from.
    pub async fn all_datasets(&self) -> StoreResult<Vec<Dataset>> {
        let mut connection = self.reader.acquire().await?;
        let rows = sqlx::query("SELECT * FROM datasets ORDER BY name").fetch_all(&mut *connection).await?;
        let mut datasets = Vec::with_capacity(rows.len());
        for row in &rows {
            datasets.push(load_dataset(&mut connection, row).await?);
        }
        Ok(datasets)
    }

    pub async fn dataset_summaries(&self) -> StoreResult<Vec<DatasetSummary>> {
        let rows = sqlx::query("SELECT id, name, owner_org, private, state FROM datasets ORDER BY name")
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|row| {
                let state: String = row.try_get("state")?;
                Ok(DatasetSummary {
                    id: parse_uuid(row.try_get("id")?)?,
                    name: row.try_get("name")?,
                    owner_org: parse_uuid(row.try_get("owner_org")?)?,
                    private: row.try_get::<i64, _>("private")? != 0,
                    state: State::parse(&state).unwrap_or(State::Active),
                })
            })
            .collect()
    }

    /// Tags of active public datasets with how many datasets carry each.
    pub async fn tag_counts(&self) -> StoreResult<Vec<TagCount>> {
        let rows = sqlx::query(
            "SELECT dataset_tags.tag AS tag, COUNT(*) AS count FROM dataset_tags JOIN datasets ON datasets.id = dataset_tags.dataset_id \
             WHERE datasets.state = 'active' AND datasets.private = 0 GROUP BY dataset_tags.tag ORDER BY dataset_tags.tag",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(|row| Ok(TagCount { tag: row.try_get("tag")?, count: row.try_get("count")? })).collect()
    }

    /// A resource with what deciding who may read it needs of its dataset,
    /// in one query (the data API asks on every request).
    pub async fn resource_access(&self, id: Uuid) -> StoreResult<ResourceAccess> {
        let row = sqlx::query(
            "SELECT r.*, d.name AS dataset_name, d.owner_org AS dataset_owner, d.private AS dataset_private, \
             d.state AS dataset_state FROM resources r JOIN datasets d ON d.id = r.dataset_id WHERE r.id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await?
        .ok_or(StoreError::NotFound)?;
        let state: String = row.try_get("dataset_state")?;
        Ok(ResourceAccess {
            resource: resource_from_row(&row)?,
            dataset_name: row.try_get("dataset_name")?,
            owner_org: parse_uuid(row.try_get("dataset_owner")?)?,
            private: row.try_get("dataset_private")?,
            state: State::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("dataset state {state:?}")))?,
        })
    }

    pub async fn resource(&self, id: Uuid) -> StoreResult<Resource> {
        let row = sqlx::query("SELECT * FROM resources WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await?
            .ok_or(StoreError::NotFound)?;
        resource_from_row(&row)
    }

    /// Stores a new dataset. Fails with field errors (nothing written) when
    /// the dataset is invalid or its name is taken.
    pub async fn create_dataset(&self, by_user: Option<Uuid>, dataset: &Dataset) -> StoreResult<()> {
        self.save_dataset(by_user, None, dataset).await
    }

    /// Replaces a stored dataset by a new version of it (same id).
    pub async fn update_dataset(&self, by_user: Option<Uuid>, dataset: &Dataset) -> StoreResult<()> {
        let before = self.dataset(&dataset.id.to_string()).await?;
        self.save_dataset(by_user, Some(&before), dataset).await
    }

    async fn save_dataset(
        &self,
        by_user: Option<Uuid>,
        before: Option<&Dataset>,
        dataset: &Dataset,
    ) -> StoreResult<()> {
        let mut errors = validate_dataset(dataset);
        for resource in &dataset.resources {
            for (field, field_errors) in validate_resource(resource).0 {
                for error in field_errors {
                    errors.add(&format!("resources.{field}"), error);
                }
            }
        }
        let mut transaction = self.write_transaction().await?;
        let (reference_errors, group_ids) = validate_references(&mut transaction, dataset).await?;
        errors.merge(reference_errors);
        errors.into_result()?;

        let id = dataset.id.to_string();
        let columns = [
            dataset.name.as_str(),
            &dataset.title,
            &dataset.notes,
            &dataset.license_id,
            &dataset.author,
            &dataset.author_email,
            &dataset.maintainer,
            &dataset.maintainer_email,
            &dataset.url,
            &dataset.version,
        ];
        let sql = if before.is_some() {
            "UPDATE datasets SET name = $2, title = $3, notes = $4, license_id = $5, author = $6, author_email = $7, \
             maintainer = $8, maintainer_email = $9, url = $10, version = $11, owner_org = $12, state = $13, private = $14, \
             extras = $15, dcat = $16, creator_user_id = $17, metadata_created = $18, metadata_modified = $19 WHERE id = $1"
        } else {
            "INSERT INTO datasets (id, name, title, notes, license_id, author, author_email, maintainer, maintainer_email, url, \
             version, owner_org, state, private, extras, dcat, creator_user_id, metadata_created, metadata_modified) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        };
        let mut query = sqlx::query(sql).bind(&id);
        for column in columns {
            query = query.bind(column);
        }
        let saved = query
            .bind(dataset.owner_org.to_string())
            .bind(dataset.state.as_str())
            .bind(dataset.private as i64)
            .bind(serde_json::to_string(&dataset.extras).expect("extras serialize"))
            .bind(serde_json::to_string(&dataset.dcat).expect("dcat serializes"))
            .bind(dataset.creator_user_id.map(|id| id.to_string()))
            .bind(format_time(dataset.metadata_created))
            .bind(format_time(dataset.metadata_modified))
            .execute(&mut *transaction)
            .await;
        if name_taken_on_conflict(saved)?.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }

        sqlx::query("DELETE FROM dataset_tags WHERE dataset_id = $1").bind(&id).execute(&mut *transaction).await?;
        let mut tags = dataset.tags.clone();
        tags.sort();
        tags.dedup();
        for tag in &tags {
            sqlx::query("INSERT INTO dataset_tags (dataset_id, tag) VALUES ($1, $2)")
                .bind(&id)
                .bind(tag)
                .execute(&mut *transaction)
                .await?;
        }
        sqlx::query("DELETE FROM dataset_groups WHERE dataset_id = $1").bind(&id).execute(&mut *transaction).await?;
        let mut group_ids = group_ids;
        group_ids.sort();
        group_ids.dedup();
        for group_id in &group_ids {
            sqlx::query("INSERT INTO dataset_groups (dataset_id, group_id) VALUES ($1, $2)")
                .bind(&id)
                .bind(group_id)
                .execute(&mut *transaction)
                .await?;
        }

        // Resources are updated in place, not deleted and re-inserted: what
        // hangs off a resource (its analysis and table) survives an edit of
        // the dataset. Only resources that are gone are deleted.
        let existing: Vec<String> = sqlx::query_scalar("SELECT id FROM resources WHERE dataset_id = $1")
            .bind(&id)
            .fetch_all(&mut *transaction)
            .await?;
        for gone in existing.iter().filter(|old| !dataset.resources.iter().any(|kept| &kept.id.to_string() == *old)) {
            sqlx::query("DELETE FROM resources WHERE id = $1").bind(gone).execute(&mut *transaction).await?;
        }
        for (position, resource) in dataset.resources.iter().enumerate() {
            let (url, storage_key, filename) = match &resource.location {
                ResourceLocation::Upload { storage_key, filename } => {
                    (String::new(), Some(storage_key.clone()), filename.clone())
                }
                ResourceLocation::Link { url } => (url.clone(), None, String::new()),
            };
            sqlx::query(
                "INSERT INTO resources (id, dataset_id, position, name, description, format, url, storage_key, filename, size, \
                 mimetype, sha256, created, last_modified, schema) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                 ON CONFLICT (id) DO UPDATE SET dataset_id = excluded.dataset_id, position = excluded.position, \
                 name = excluded.name, description = excluded.description, format = excluded.format, url = excluded.url, \
                 storage_key = excluded.storage_key, filename = excluded.filename, size = excluded.size, \
                 mimetype = excluded.mimetype, sha256 = excluded.sha256, created = excluded.created, \
                 last_modified = excluded.last_modified, schema = excluded.schema",
            )
            .bind(resource.id.to_string())
            .bind(&id)
            .bind(position as i64)
            .bind(&resource.name)
            .bind(&resource.description)
            .bind(&resource.format)
            .bind(url)
            .bind(storage_key)
            .bind(filename)
            .bind(resource.size)
            .bind(&resource.mimetype)
            .bind(&resource.sha256)
            .bind(format_time(resource.created))
            .bind(format_time(resource.last_modified))
            .bind(resource.schema.as_ref().map(|schema| schema.to_string()))
            .execute(&mut *transaction)
            .await?;
        }

        let activity_type = match (before, dataset.state) {
            (None, _) => "new package",
            (Some(previous), State::Deleted) if previous.state != State::Deleted => "deleted package",
            _ => "changed package",
        };
        let before_snapshot = before.map(snapshot).unwrap_or_else(|| serde_json::json!({}));
        record(
            &mut transaction,
            NewActivity {
                user_id: by_user,
                activity_type,
                object_id: dataset.id,
                object_name: &dataset.name,
                organization_id: Some(dataset.owner_org),
                dataset_id: Some(dataset.id),
                changes: diff_snapshots(&before_snapshot, &snapshot(dataset)),
            },
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Every storage key a resource or an evidence document refers to.
    pub async fn referenced_storage_keys(&self) -> StoreResult<std::collections::HashSet<String>> {
        let keys: Vec<String> = sqlx::query_scalar(
            "SELECT storage_key FROM resources WHERE storage_key IS NOT NULL \
             UNION SELECT json_extract(target, '$.storage_key') FROM milestone_evidence \
             WHERE json_extract(target, '$.kind') = 'document'",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(keys.into_iter().collect())
    }

    /// Storage keys no resource or evidence refers to any more, among
    /// `candidates`: what may be deleted from file storage after a
    /// resource was replaced or an upload went unused.
    pub async fn unreferenced_storage_keys(&self, candidates: &[String]) -> StoreResult<Vec<String>> {
        let mut unreferenced = Vec::new();
        for key in candidates {
            // Blobs are named by their content: a resource and an evidence
            // document with the same bytes share one.
            let used: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM resources WHERE storage_key = $1 \
                 UNION ALL SELECT 1 FROM milestone_evidence \
                 WHERE json_extract(target, '$.kind') = 'document' AND json_extract(target, '$.storage_key') = $1 \
                 LIMIT 1",
            )
            .bind(key)
            .fetch_optional(&self.reader)
            .await?;
            if used.is_none() {
                unreferenced.push(key.clone());
            }
        }
        Ok(unreferenced)
    }
}

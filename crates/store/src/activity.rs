//! The catalog's activity: one event per change to a public object in the
//! event log (stream `catalog`), written in the same transaction as the
//! change, with the field-level diff; read through the `activities` view.

use datalab_core::{Activity, FieldChange};
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::{Store, StoreResult, format_time, now, parse_time, parse_uuid};

/// Whose activity stream to read.
#[derive(Debug, Clone, Copy)]
pub enum ActivityScope {
    Dataset(Uuid),
    Organization(Uuid),
    User(Uuid),
    /// Everything, newest first (the site-wide stream).
    All,
}

pub(crate) struct NewActivity<'a> {
    pub user_id: Option<Uuid>,
    pub activity_type: &'a str,
    pub object_id: Uuid,
    pub object_name: &'a str,
    pub organization_id: Option<Uuid>,
    pub dataset_id: Option<Uuid>,
    pub changes: Vec<FieldChange>,
}

pub(crate) async fn record(connection: &mut SqliteConnection, activity: NewActivity<'_>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO events (at, user_id, stream, kind, subject_id, subject_name, organization_id, dataset_id, changes) \
         VALUES ($1, $2, 'catalog', $3, $4, $5, $6, $7, $8)",
    )
    .bind(format_time(now()))
    .bind(activity.user_id.map(|id| id.to_string()))
    .bind(activity.activity_type)
    .bind(activity.object_id.to_string())
    .bind(activity.object_name)
    .bind(activity.organization_id.map(|id| id.to_string()))
    .bind(activity.dataset_id.map(|id| id.to_string()))
    .bind(serde_json::to_string(&activity.changes).expect("changes serialize"))
    .execute(connection)
    .await?;
    Ok(())
}

impl Store {
    /// Newest first. Activities on private datasets are included; callers
    /// filter what the reader may not see.
    pub async fn activities(&self, scope: ActivityScope, limit: i64, offset: i64) -> StoreResult<Vec<Activity>> {
        let (condition, value) = match scope {
            ActivityScope::Dataset(id) => ("a.dataset_id = $1", id.to_string()),
            ActivityScope::Organization(id) => ("a.organization_id = $1", id.to_string()),
            ActivityScope::User(id) => ("a.user_id = $1", id.to_string()),
            ActivityScope::All => ("$1 = $1", String::new()),
        };
        let rows = sqlx::query(&format!(
            "SELECT a.id, a.timestamp, a.user_id, users.name AS user_name, a.activity_type, a.object_id, a.object_name, \
                    a.organization_id, a.dataset_id, a.changes \
             FROM activities a LEFT JOIN users ON users.id = a.user_id \
             WHERE {condition} ORDER BY a.id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(value)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let optional_uuid = |column: &str| crate::optional_uuid(row, column);
                let changes: String = row.try_get("changes")?;
                Ok(Activity {
                    id: row.try_get("id")?,
                    timestamp: parse_time(row.try_get("timestamp")?)?,
                    user_id: optional_uuid("user_id")?,
                    user_name: row.try_get("user_name")?,
                    activity_type: row.try_get("activity_type")?,
                    object_id: parse_uuid(row.try_get("object_id")?)?,
                    object_name: row.try_get("object_name")?,
                    organization_id: optional_uuid("organization_id")?,
                    dataset_id: optional_uuid("dataset_id")?,
                    changes: serde_json::from_str(&changes).unwrap_or_default(),
                })
            })
            .collect()
    }
}

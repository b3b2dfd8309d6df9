//! The data inventory, with each change in the activity log.

use datalab_core::inventory::{InventoryItem, InventoryStatus};
use datalab_core::{FieldChange, diff_snapshots};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::activity::{NewActivity, record};
use crate::{Store, StoreError, StoreResult, format_time, now, parse_time, parse_uuid};

fn item_from_row(row: &SqliteRow) -> StoreResult<InventoryItem> {
    let status: String = row.try_get("status")?;
    Ok(InventoryItem {
        id: parse_uuid(row.try_get("id")?)?,
        organization_id: parse_uuid(row.try_get("organization_id")?)?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        expected: row.try_get("expected")?,
        status: InventoryStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("inventory status {status:?}")))?,
        reason: row.try_get("reason")?,
        dataset_id: row.try_get::<Option<String>, _>("dataset_id")?.as_deref().map(parse_uuid).transpose()?,
        updated: parse_time(row.try_get("updated")?)?,
    })
}

impl Store {
    /// Adds or changes an inventory item (validated), recording the change.
    pub async fn save_inventory_item(&self, by_user: Option<Uuid>, item: &InventoryItem) -> StoreResult<()> {
        item.validate().into_result()?;
        let before = self.inventory_item(item.id).await.ok();
        let mut transaction = self.write_transaction().await?;
        sqlx::query(
            "INSERT INTO inventory_items (id, organization_id, title, description, expected, status, reason, dataset_id, updated) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET title = excluded.title, \
             description = excluded.description, expected = excluded.expected, status = excluded.status, reason = excluded.reason, \
             dataset_id = excluded.dataset_id, updated = excluded.updated",
        )
        .bind(item.id.to_string())
        .bind(item.organization_id.to_string())
        .bind(item.title.trim())
        .bind(item.description.trim())
        .bind(&item.expected)
        .bind(item.status.as_str())
        .bind(item.reason.trim())
        .bind(item.dataset_id.map(|id| id.to_string()))
        .bind(format_time(now()))
        .execute(&mut *transaction)
        .await?;
        let snapshot = |item: &InventoryItem| {
            serde_json::json!({"title": item.title, "description": item.description, "expected": item.expected,
                "status": item.status, "reason": item.reason, "dataset_id": item.dataset_id})
        };
        let changes: Vec<FieldChange> =
            diff_snapshots(&before.as_ref().map(snapshot).unwrap_or_else(|| serde_json::json!({})), &snapshot(item));
        let organization: String = sqlx::query_scalar("SELECT name FROM organizations WHERE id = $1")
            .bind(item.organization_id.to_string())
            .fetch_one(&mut *transaction)
            .await?;
        record(
            &mut transaction,
            NewActivity {
                user_id: by_user,
                activity_type: if before.is_some() { "changed inventory item" } else { "new inventory item" },
                object_id: item.id,
                object_name: &format!("{organization}: {}", item.title.trim()),
                organization_id: Some(item.organization_id),
                dataset_id: None,
                changes,
            },
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    pub async fn inventory_item(&self, id: Uuid) -> StoreResult<InventoryItem> {
        let row = sqlx::query("SELECT * FROM inventory_items WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await?
            .ok_or(StoreError::NotFound)?;
        item_from_row(&row)
    }

    /// One organization's inventory, or everyone's, by organization and title.
    pub async fn inventory(&self, organization_id: Option<Uuid>) -> StoreResult<Vec<InventoryItem>> {
        let rows = match organization_id {
            Some(id) => {
                sqlx::query("SELECT * FROM inventory_items WHERE organization_id = $1 ORDER BY title")
                    .bind(id.to_string())
                    .fetch_all(&self.reader)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM inventory_items ORDER BY organization_id, title")
                    .fetch_all(&self.reader)
                    .await?
            }
        };
        rows.iter().map(item_from_row).collect()
    }
}

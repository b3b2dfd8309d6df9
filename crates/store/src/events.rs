//! The event log as its followers read it: what was recorded after a
//! position, and each follower's cursor. Writing happens where each change
//! is written, in its transaction (`activity::record`, the tracker's
//! timeline, a finished analysis).

use sqlx::Row;
use uuid::Uuid;

use crate::{Store, StoreResult, parse_uuid};

/// One recorded change, with what a follower needs to act on it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    /// The log's order.
    pub id: i64,
    /// `catalog`, `tracker` or `system`.
    pub stream: String,
    pub kind: String,
    pub subject_id: String,
    pub organization_id: Option<Uuid>,
    pub dataset_id: Option<Uuid>,
    /// For a tracker event: the commitment of its milestone.
    pub commitment_id: Option<Uuid>,
}

impl Store {
    /// The events after `position`, oldest first, at most `limit`.
    pub async fn events_after(&self, position: i64, limit: i64) -> StoreResult<Vec<LoggedEvent>> {
        let rows = sqlx::query(
            "SELECT e.id, e.stream, e.kind, e.subject_id, e.organization_id, e.dataset_id, m.commitment_id \
             FROM events e LEFT JOIN milestones m ON m.id = e.milestone_id \
             WHERE e.id > $1 ORDER BY e.id LIMIT $2",
        )
        .bind(position)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let optional_uuid = |column: &str| crate::optional_uuid(row, column);
                Ok(LoggedEvent {
                    id: row.try_get("id")?,
                    stream: row.try_get("stream")?,
                    kind: row.try_get("kind")?,
                    subject_id: row.try_get("subject_id")?,
                    organization_id: optional_uuid("organization_id")?,
                    dataset_id: optional_uuid("dataset_id")?,
                    commitment_id: optional_uuid("commitment_id")?,
                })
            })
            .collect()
    }

    /// How far `subscriber` has read the log (0: from its start).
    pub async fn event_cursor(&self, subscriber: &str) -> StoreResult<i64> {
        let position: Option<i64> = sqlx::query_scalar("SELECT position FROM event_cursors WHERE subscriber = $1")
            .bind(subscriber)
            .fetch_optional(&self.reader)
            .await?;
        Ok(position.unwrap_or(0))
    }

    /// Moves `subscriber`'s cursor forward to `position` (never back: two
    /// processes following at once both handled what is before it).
    pub async fn advance_event_cursor(&self, subscriber: &str, position: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO event_cursors (subscriber, position) VALUES ($1, $2) \
             ON CONFLICT (subscriber) DO UPDATE SET position = MAX(event_cursors.position, excluded.position)",
        )
        .bind(subscriber)
        .bind(position)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The ids of an organization's datasets.
    pub async fn organization_dataset_ids(&self, organization: Uuid) -> StoreResult<Vec<Uuid>> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM datasets WHERE owner_org = $1 ORDER BY id")
            .bind(organization.to_string())
            .fetch_all(&self.reader)
            .await?;
        ids.iter().map(|id| parse_uuid(id)).collect()
    }
}

//! What ingestion learned about each resource's file. Keyed by the file's
//! hash: a new file makes the old analysis stale, and it is not served.

use sqlx::Row;
use uuid::Uuid;

use crate::{Store, StoreResult, format_time, now};

/// Whether a resource's current file has a table to query.
#[derive(Debug, Clone, PartialEq)]
pub enum TableState {
    Running,
    /// Analysed; the table's key.
    Ready(String),
    /// Analysed, but no table was written.
    NoTable,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum AnalysisState {
    Running,
    Done(serde_json::Value),
    Failed(String),
}

impl AnalysisState {
    /// The key of the table a finished analysis wrote (`parquet.key`), if any.
    pub fn table_key(&self) -> Option<&str> {
        match self {
            AnalysisState::Done(value) => value["parquet"]["key"].as_str(),
            _ => None,
        }
    }
}

impl Store {
    /// Records the state of the analysis of `resource_id`'s file `sha256`.
    pub async fn set_analysis(&self, resource_id: Uuid, sha256: &str, state: &AnalysisState) -> StoreResult<()> {
        let (status, analysis, error) = match state {
            AnalysisState::Running => ("running", None, String::new()),
            AnalysisState::Done(value) => ("done", Some(value.to_string()), String::new()),
            AnalysisState::Failed(error) => ("failed", None, error.clone()),
        };
        let table_key = state.table_key();
        // The resource may be gone (deleted while analysed): then there is nothing to record.
        sqlx::query(
            "INSERT INTO resource_analyses (resource_id, sha256, status, analysis, error, updated, table_key) \
             SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM resources WHERE id = $1) \
             ON CONFLICT (resource_id) DO UPDATE SET sha256 = excluded.sha256, status = excluded.status, \
             analysis = excluded.analysis, error = excluded.error, updated = excluded.updated, \
             table_key = excluded.table_key",
        )
        .bind(resource_id.to_string())
        .bind(sha256)
        .bind(status)
        .bind(analysis)
        .bind(error)
        .bind(format_time(now()))
        .bind(table_key)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The table files finished analyses refer to (`parquet.key`), to tell
    /// them from what an interrupted analysis left behind.
    pub async fn table_keys(&self) -> StoreResult<std::collections::HashSet<String>> {
        // Only rows from before the `table_key` column carry their analysis here.
        let rows = sqlx::query(
            "SELECT table_key, CASE WHEN table_key IS NULL THEN analysis END AS analysis \
             FROM resource_analyses WHERE status = 'done'",
        )
        .fetch_all(&self.reader)
        .await?;
        let mut keys = std::collections::HashSet::new();
        for row in rows {
            let key: Option<String> = row.try_get("table_key")?;
            let key = match key {
                Some(key) => Some(key),
                None => {
                    let text: Option<String> = row.try_get("analysis")?;
                    text.and_then(|text| serde_json::from_str(&text).ok())
                        .and_then(|value| AnalysisState::Done(value).table_key().map(str::to_string))
                }
            };
            keys.extend(key);
        }
        Ok(keys)
    }

    /// The state of the analysis of the resource's current file and the key of
    /// its table, without reading the analysis itself (what the data API needs
    /// on every request).
    pub async fn table_state(&self, resource_id: Uuid, sha256: &str) -> StoreResult<Option<TableState>> {
        let row = sqlx::query(
            "SELECT status, error, table_key FROM resource_analyses WHERE resource_id = $1 AND sha256 = $2",
        )
        .bind(resource_id.to_string())
        .bind(sha256)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.try_get("status")?;
        Ok(Some(match status.as_str() {
            "done" => {
                let key: Option<String> = row.try_get("table_key")?;
                match key {
                    Some(key) => TableState::Ready(key),
                    // Analysed before the column existed: the key is in the analysis.
                    None => match self.analysis(resource_id, sha256).await? {
                        Some(analysis) => match analysis.table_key() {
                            Some(key) => TableState::Ready(key.to_string()),
                            None => TableState::NoTable,
                        },
                        None => TableState::NoTable,
                    },
                }
            }
            "failed" => TableState::Failed(row.try_get("error")?),
            _ => TableState::Running,
        }))
    }

    /// The analysis of the resource's current file, if any.
    pub async fn analysis(&self, resource_id: Uuid, sha256: &str) -> StoreResult<Option<AnalysisState>> {
        let row =
            sqlx::query("SELECT status, analysis, error FROM resource_analyses WHERE resource_id = $1 AND sha256 = $2")
                .bind(resource_id.to_string())
                .bind(sha256)
                .fetch_optional(&self.reader)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.try_get("status")?;
        Ok(Some(match status.as_str() {
            "done" => {
                let text: Option<String> = row.try_get("analysis")?;
                AnalysisState::Done(text.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default())
            }
            "failed" => AnalysisState::Failed(row.try_get("error")?),
            _ => AnalysisState::Running,
        }))
    }
}

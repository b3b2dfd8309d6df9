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
    /// Analysed, but the file has no table of that name.
    NoSuchTable,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AnalysisState {
    Running,
    Done(serde_json::Value),
    Failed(String),
}

impl AnalysisState {
    /// Every table of a finished analysis (a workbook has one per sheet),
    /// the file's default table first. An analysis is stored as
    /// `{"format", "bytes", "tables": [...]}`; one stored before files could
    /// hold several tables is itself the only table.
    pub fn tables(&self) -> Vec<&serde_json::Value> {
        match self {
            AnalysisState::Done(value) => match value["tables"].as_array() {
                Some(tables) => tables.iter().collect(),
                None => vec![value],
            },
            _ => Vec::new(),
        }
    }

    /// The table named `name`, or the default table.
    pub fn table(&self, name: Option<&str>) -> Option<&serde_json::Value> {
        let tables = self.tables();
        match name {
            None => tables.first().copied(),
            Some(name) => tables.into_iter().find(|table| table["name"].as_str() == Some(name)),
        }
    }

    /// The key of the default table's Parquet file (`parquet.key`), if one was written.
    pub fn table_key(&self) -> Option<&str> {
        self.table(None)?["parquet"]["key"].as_str()
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
        // Every table of a workbook, the single table of older analyses, and
        // the key column; the JSON is read by SQLite, not parsed here.
        let rows = sqlx::query(
            "SELECT json_extract(t.value, '$.parquet.key') AS key FROM resource_analyses a, \
             json_each(a.analysis, '$.tables') t WHERE a.status = 'done' \
             UNION SELECT table_key FROM resource_analyses WHERE status = 'done' AND table_key IS NOT NULL \
             UNION SELECT json_extract(analysis, '$.parquet.key') FROM resource_analyses \
             WHERE status = 'done' AND table_key IS NULL",
        )
        .fetch_all(&self.reader)
        .await?;
        let mut keys = std::collections::HashSet::new();
        for row in rows {
            let key: Option<String> = row.try_get("key")?;
            keys.extend(key);
        }
        Ok(keys)
    }

    /// The state of the analysis of the resource's current file and the key of
    /// its table, without reading the analysis itself (what the data API needs
    /// on every request).
    /// `table` names one of a workbook's tables; `None` is the default table.
    pub async fn table_state(
        &self,
        resource_id: Uuid,
        sha256: &str,
        table: Option<&str>,
    ) -> StoreResult<Option<TableState>> {
        if let Some(name) = table {
            let row = sqlx::query(
                "SELECT a.status, a.error, (SELECT json_extract(t.value, '$.parquet.key') \
                 FROM json_each(a.analysis, '$.tables') t WHERE json_extract(t.value, '$.name') = $3) AS table_key \
                 FROM resource_analyses a WHERE a.resource_id = $1 AND a.sha256 = $2",
            )
            .bind(resource_id.to_string())
            .bind(sha256)
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let status: String = row.try_get("status")?;
            return Ok(Some(match status.as_str() {
                "done" => match row.try_get::<Option<String>, _>("table_key")? {
                    Some(key) => TableState::Ready(key),
                    None => TableState::NoSuchTable,
                },
                "failed" => TableState::Failed(row.try_get("error")?),
                _ => TableState::Running,
            }));
        }
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

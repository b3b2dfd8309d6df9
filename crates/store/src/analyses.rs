//! What ingestion learned about each resource's file. Keyed by the file's
//! hash: a new file makes the old analysis stale, and it is not served.

use sqlx::Row;
use uuid::Uuid;

use datalab_core::Bilingual;

use crate::{Store, StoreResult, format_time, now};

/// Whether a resource's current file has a table to query.
#[derive(Debug, Clone, PartialEq)]
pub enum TableState {
    Running,
    /// Analysed; the table's key.
    Ready(String),
    /// Analysed, but no table was written.
    NoTable,
    /// Why, in English and Spanish.
    Failed(Bilingual),
    /// Analysed, but the file has no table of that name.
    NoSuchTable,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AnalysisState {
    Running,
    Done(serde_json::Value),
    /// Why, in English and Spanish.
    Failed(Bilingual),
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
    /// Records a finished analysis of `resource_id`'s file `sha256`. A
    /// failure never replaces a finished analysis (of an earlier file, or of
    /// the same file before a schema change): that one stays served, and the
    /// job says what failed.
    pub async fn set_analysis(&self, resource_id: Uuid, sha256: &str, state: &AnalysisState) -> StoreResult<()> {
        let none = Bilingual::default();
        let (status, analysis, error) = match state {
            AnalysisState::Running => return Ok(()),
            AnalysisState::Done(value) => ("done", Some(value.to_string()), &none),
            AnalysisState::Failed(error) => ("failed", None, error),
        };
        let table_key = state.table_key();
        // The resource may be gone (deleted while analysed): then there is nothing to record.
        let mut transaction = self.write_transaction().await?;
        let recorded = sqlx::query(
            "INSERT INTO resource_analyses (resource_id, sha256, status, analysis, error, updated, table_key, error_es) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM resources WHERE id = $1) \
             ON CONFLICT (resource_id) DO UPDATE SET sha256 = excluded.sha256, status = excluded.status, \
             analysis = excluded.analysis, error = excluded.error, updated = excluded.updated, \
             table_key = excluded.table_key, error_es = excluded.error_es \
             WHERE resource_analyses.status <> 'done' OR excluded.status = 'done'",
        )
        .bind(resource_id.to_string())
        .bind(sha256)
        .bind(status)
        .bind(analysis)
        .bind(&error.en)
        .bind(format_time(now()))
        .bind(table_key)
        .bind(&error.es)
        .execute(&mut *transaction)
        .await?;
        if recorded.rows_affected() > 0 {
            // The dataset's quality score changed: what follows the log (search) hears of it.
            sqlx::query(
                "INSERT INTO events (at, stream, kind, subject_id, organization_id, dataset_id) \
                 SELECT $2, 'system', 'analysed resource', r.id, d.owner_org, d.id \
                 FROM resources r JOIN datasets d ON d.id = r.dataset_id WHERE r.id = $1",
            )
            .bind(resource_id.to_string())
            .bind(format_time(now()))
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
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

    /// Whether the resource has a table to query, and its key, without
    /// reading the analysis itself (what the data API needs on every
    /// request). The last finished analysis is served even while a newer
    /// file is analysed, or after its analysis failed. `table` names one of
    /// a workbook's tables; `None` is the default table.
    pub async fn table_state(&self, resource_id: Uuid, table: Option<&str>) -> StoreResult<Option<TableState>> {
        // The analysis JSON is large (profiles, histograms): it is read only
        // for a workbook's other tables, never for the default one.
        let row = match table {
            None => {
                sqlx::query(
                    "SELECT a.status, a.error, a.error_es, a.table_key, NULL AS named_key, \
                     CASE WHEN a.table_key IS NULL AND a.status = 'done' \
                     THEN json_extract(a.analysis, '$.parquet.key') END AS old_key \
                     FROM resource_analyses a WHERE a.resource_id = $1",
                )
                .bind(resource_id.to_string())
                .fetch_optional(&self.reader)
                .await?
            }
            Some(name) => {
                sqlx::query(
                    "SELECT a.status, a.error, a.error_es, a.table_key, \
                     (SELECT json_extract(t.value, '$.parquet.key') FROM json_each(a.analysis, '$.tables') t \
                      WHERE json_extract(t.value, '$.name') = $2) AS named_key, NULL AS old_key \
                     FROM resource_analyses a WHERE a.resource_id = $1",
                )
                .bind(resource_id.to_string())
                .bind(name)
                .fetch_optional(&self.reader)
                .await?
            }
        };
        if let Some(row) = &row {
            let status: String = row.try_get("status")?;
            if status == "done" {
                let key: Option<String> = match table {
                    Some(_) => row.try_get("named_key")?,
                    None => row.try_get::<Option<String>, _>("table_key")?.or(row.try_get("old_key")?),
                };
                return Ok(Some(match (key, table) {
                    (Some(key), _) => TableState::Ready(key),
                    (None, Some(_)) => TableState::NoSuchTable,
                    // Analysed before tables were stored.
                    (None, None) => TableState::NoTable,
                }));
            }
        }
        Ok(match self.latest_job(resource_id).await? {
            Some(job) if !job.status.is_finished() => Some(TableState::Running),
            Some(job) if job.status == crate::JobStatus::Failed => Some(TableState::Failed(job.failure())),
            _ => match row {
                Some(row) if row.try_get::<String, _>("status")? == "failed" => {
                    Some(TableState::Failed(Bilingual { en: row.try_get("error")?, es: row.try_get("error_es")? }))
                }
                _ => None,
            },
        })
    }

    /// The last finished analysis of the resource's file, and the hash of
    /// the file it describes (an earlier file's while a new one is analysed).
    pub async fn analysis_of(&self, resource_id: Uuid) -> StoreResult<Option<(String, AnalysisState)>> {
        let row = sqlx::query(
            "SELECT sha256, status, analysis, error, error_es FROM resource_analyses WHERE resource_id = $1",
        )
        .bind(resource_id.to_string())
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.try_get("status")?;
        let state = match status.as_str() {
            "done" => {
                let text: Option<String> = row.try_get("analysis")?;
                AnalysisState::Done(text.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default())
            }
            "failed" => AnalysisState::Failed(Bilingual { en: row.try_get("error")?, es: row.try_get("error_es")? }),
            // Written by versions before jobs: the job queue has it now.
            _ => return Ok(None),
        };
        Ok(Some((row.try_get("sha256")?, state)))
    }

    /// The analysis to show for a resource: the last finished one, or the
    /// running state while its first analysis is under way.
    pub async fn analysis(&self, resource_id: Uuid) -> StoreResult<Option<AnalysisState>> {
        if let Some((_, state)) = self.analysis_of(resource_id).await? {
            return Ok(Some(state));
        }
        Ok(match self.latest_job(resource_id).await? {
            Some(job) if !job.status.is_finished() => Some(AnalysisState::Running),
            Some(job) if job.status == crate::JobStatus::Failed => Some(AnalysisState::Failed(job.failure())),
            _ => None,
        })
    }
}

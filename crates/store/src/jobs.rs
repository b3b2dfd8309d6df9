//! Ingestion jobs: what is being analysed, how far it got, and what failed.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use datalab_core::Bilingual;

use crate::{Store, StoreResult, format_time, now, parse_time, parse_uuid};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobStatus {
    fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> JobStatus {
        match text {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "done" => JobStatus::Done,
            _ => JobStatus::Failed,
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Done | JobStatus::Failed)
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Job {
    pub id: Uuid,
    pub resource_id: Uuid,
    pub sha256: String,
    pub status: JobStatus,
    pub attempts: i64,
    pub bytes_total: Option<i64>,
    pub bytes_read: i64,
    pub rows_read: i64,
    /// Why it failed (or, while queued again, why the last attempt did), in English.
    pub error: String,
    /// The same in Spanish; empty where there is none (the English is shown).
    pub error_es: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated: time::OffsetDateTime,
}

impl Job {
    /// Why it failed, in both languages.
    pub fn failure(&self) -> Bilingual {
        Bilingual { en: self.error.clone(), es: self.error_es.clone() }
    }
}

fn job_from_row(row: &SqliteRow) -> StoreResult<Job> {
    Ok(Job {
        id: parse_uuid(row.try_get("id")?)?,
        resource_id: parse_uuid(row.try_get("resource_id")?)?,
        sha256: row.try_get("sha256")?,
        status: JobStatus::parse(row.try_get("status")?),
        attempts: row.try_get("attempts")?,
        bytes_total: row.try_get("bytes_total")?,
        bytes_read: row.try_get("bytes_read")?,
        rows_read: row.try_get("rows_read")?,
        error: row.try_get("error")?,
        error_es: row.try_get("error_es")?,
        created: parse_time(row.try_get("created")?)?,
        updated: parse_time(row.try_get("updated")?)?,
    })
}

impl Store {
    /// Queues the analysis of `resource_id`'s file `sha256`. `None` when the
    /// resource is gone.
    pub async fn queue_job(
        &self,
        resource_id: Uuid,
        sha256: &str,
        bytes_total: Option<i64>,
    ) -> StoreResult<Option<Job>> {
        let id = Uuid::new_v4();
        let stamp = format_time(now());
        let inserted = sqlx::query(
            "INSERT INTO ingest_jobs (id, resource_id, sha256, status, bytes_total, created, updated) \
             SELECT $1, $2, $3, 'queued', $4, $5, $5 WHERE EXISTS (SELECT 1 FROM resources WHERE id = $2)",
        )
        .bind(id.to_string())
        .bind(resource_id.to_string())
        .bind(sha256)
        .bind(bytes_total)
        .bind(&stamp)
        .execute(&self.writer)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(None);
        }
        self.job(id).await
    }

    pub async fn job(&self, id: Uuid) -> StoreResult<Option<Job>> {
        let row = sqlx::query("SELECT * FROM ingest_jobs WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// The most recent job of a resource.
    pub async fn latest_job(&self, resource_id: Uuid) -> StoreResult<Option<Job>> {
        let row =
            sqlx::query("SELECT * FROM ingest_jobs WHERE resource_id = $1 ORDER BY created DESC, rowid DESC LIMIT 1")
                .bind(resource_id.to_string())
                .fetch_optional(&self.reader)
                .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Jobs that were queued or running when the server stopped, oldest first.
    pub async fn unfinished_jobs(&self) -> StoreResult<Vec<Job>> {
        let rows =
            sqlx::query("SELECT * FROM ingest_jobs WHERE status IN ('queued', 'running') ORDER BY created, rowid")
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Marks a job running and counts the attempt.
    pub async fn start_job(&self, id: Uuid) -> StoreResult<()> {
        sqlx::query(
            "UPDATE ingest_jobs SET status = 'running', attempts = attempts + 1, bytes_read = 0, rows_read = 0, \
             updated = $2 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(format_time(now()))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn job_progress(&self, id: Uuid, bytes_read: i64, rows_read: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE ingest_jobs SET bytes_read = $2, rows_read = $3, updated = $4 WHERE id = $1 AND status = 'running'",
        )
        .bind(id.to_string())
        .bind(bytes_read)
        .bind(rows_read)
        .bind(format_time(now()))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Ends a job: done, or failed with its error.
    pub async fn finish_job(&self, id: Uuid, outcome: Result<(), &Bilingual>) -> StoreResult<()> {
        let none = Bilingual::default();
        let (status, error) = match outcome {
            Ok(()) => (JobStatus::Done, &none),
            Err(error) => (JobStatus::Failed, error),
        };
        sqlx::query("UPDATE ingest_jobs SET status = $2, error = $3, error_es = $5, updated = $4 WHERE id = $1")
            .bind(id.to_string())
            .bind(status.as_str())
            .bind(&error.en)
            .bind(format_time(now()))
            .bind(&error.es)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Uploaded files of live datasets that have neither a finished analysis
    /// of their current content nor a job for it (what a stop between saving
    /// and queueing leaves), in one query.
    pub async fn resources_without_analysis(&self) -> StoreResult<Vec<datalab_core::Resource>> {
        let rows = sqlx::query(
            "SELECT r.* FROM resources r JOIN datasets d ON d.id = r.dataset_id \
             WHERE r.storage_key IS NOT NULL AND d.state <> 'deleted' \
             AND NOT EXISTS (SELECT 1 FROM resource_analyses a WHERE a.resource_id = r.id AND a.sha256 = r.sha256 \
                             AND a.status IN ('done', 'failed')) \
             AND NOT EXISTS (SELECT 1 FROM ingest_jobs j WHERE j.resource_id = r.id AND j.sha256 = r.sha256)",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(crate::datasets::resource_from_row).collect()
    }

    /// Puts a job back in the queue: one a stop interrupted, or one whose
    /// attempt failed and will be tried again, with `note` (the failure)
    /// shown meanwhile.
    pub async fn requeue_job(&self, id: Uuid, note: Option<&Bilingual>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE ingest_jobs SET status = 'queued', error = COALESCE($2, error), \
             error_es = COALESCE($4, error_es), updated = $3 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(note.map(|note| &note.en))
        .bind(format_time(now()))
        .bind(note.map(|note| &note.es))
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

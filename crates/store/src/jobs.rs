//! The job queue: background work of every kind, with its progress and
//! what failed. A worker claims the next due job with a lease it renews as
//! it writes progress; a job whose lease ran out (its worker stopped or
//! died) is queued again, or stopped once it has used its attempts. The
//! kinds and their payloads are the application's; this module stores them.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use datalab_core::Bilingual;

use crate::{Store, StoreResult, format_time, now, parse_time, parse_uuid};

/// The kind of the ingestion jobs, which the store also reads (a resource's
/// latest analysis job, uploads with none).
pub const ANALYSE_RESOURCE: &str = "analyse-resource";

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
    /// What to do (for example `analyse-resource`), and with what.
    pub kind: String,
    pub payload: serde_json::Value,
    /// The resource the job works on, if any (nil for other jobs).
    pub resource_id: Uuid,
    pub sha256: String,
    pub status: JobStatus,
    /// When it is due (a retry waits).
    #[serde(with = "time::serde::rfc3339")]
    pub run_at: time::OffsetDateTime,
    pub attempts: i64,
    /// The worker that claimed it last, and until when it is that worker's.
    pub worker: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub lease_until: Option<time::OffsetDateTime>,
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
        kind: row.try_get("kind")?,
        payload: serde_json::from_str(row.try_get("payload")?)
            .map_err(|error| crate::StoreError::Corrupt(format!("job payload: {error}")))?,
        resource_id: row.try_get::<Option<&str>, _>("resource_id")?.map(parse_uuid).transpose()?.unwrap_or_default(),
        sha256: row.try_get("sha256")?,
        status: JobStatus::parse(row.try_get("status")?),
        run_at: parse_time(row.try_get("run_at")?)?,
        attempts: row.try_get("attempts")?,
        worker: row.try_get("worker")?,
        lease_until: row.try_get::<Option<&str>, _>("lease_until")?.map(parse_time).transpose()?,
        bytes_total: row.try_get("bytes_total")?,
        bytes_read: row.try_get("bytes_read")?,
        rows_read: row.try_get("rows_read")?,
        error: row.try_get("error")?,
        error_es: row.try_get("error_es")?,
        created: parse_time(row.try_get("created")?)?,
        updated: parse_time(row.try_get("updated")?)?,
    })
}

/// A job to queue.
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub payload: serde_json::Value,
    /// While a job of the same kind and key is queued (not yet running),
    /// queueing another returns that one instead.
    pub dedup_key: Option<String>,
    pub resource_id: Option<Uuid>,
    pub sha256: &'a str,
    pub bytes_total: Option<i64>,
    pub run_at: time::OffsetDateTime,
}

/// How a worker claims jobs (see [`Store::claim_job`]).
pub struct Claim<'a> {
    /// The worker's name, recorded on the job.
    pub worker: &'a str,
    /// Leases that ended before this have lapsed.
    pub now: time::OffsetDateTime,
    /// Jobs whose `run_at` is not after this are due.
    pub due_by: time::OffsetDateTime,
    /// The claimed job is the worker's until this.
    pub lease_until: time::OffsetDateTime,
    /// A lapsed job that already had this many attempts is stopped with
    /// `exhausted` as its error instead of being queued again.
    pub max_attempts: i64,
    pub exhausted: &'a Bilingual,
}

impl Store {
    /// Queues a job. `None` when its resource is gone.
    pub async fn enqueue_job(&self, job: &NewJob<'_>) -> StoreResult<Option<Job>> {
        let mut transaction = self.write_transaction().await?;
        if let Some(key) = &job.dedup_key {
            let queued = sqlx::query("SELECT * FROM jobs WHERE kind = $1 AND dedup_key = $2 AND status = 'queued'")
                .bind(job.kind)
                .bind(key)
                .fetch_optional(&mut *transaction)
                .await?;
            if let Some(queued) = queued {
                transaction.commit().await?;
                return job_from_row(&queued).map(Some);
            }
        }
        let id = Uuid::new_v4();
        let stamp = format_time(now());
        let inserted = sqlx::query(
            "INSERT INTO jobs (id, kind, payload, dedup_key, resource_id, sha256, status, run_at, bytes_total, \
             created, updated) \
             SELECT $1, $2, $3, $4, $5, $6, 'queued', $7, $8, $9, $9 \
             WHERE $5 IS NULL OR EXISTS (SELECT 1 FROM resources WHERE id = $5)",
        )
        .bind(id.to_string())
        .bind(job.kind)
        .bind(job.payload.to_string())
        .bind(&job.dedup_key)
        .bind(job.resource_id.map(|id| id.to_string()))
        .bind(job.sha256)
        .bind(format_time(job.run_at))
        .bind(job.bytes_total)
        .bind(&stamp)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        if inserted.rows_affected() == 0 {
            return Ok(None);
        }
        self.job(id).await
    }

    /// Takes the next due job for a worker, in one transaction: first every
    /// running job whose lease lapsed is queued again (or stopped, once it
    /// has had `max_attempts`), then the oldest due job is marked running,
    /// its attempt counted and its progress reset. `None` when nothing is due.
    pub async fn claim_job(&self, claim: &Claim<'_>) -> StoreResult<Option<Job>> {
        // An idle worker asks every second: it reads first, and takes the
        // write lock only when a job is due or a lease has lapsed.
        let anything: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM jobs WHERE (status = 'queued' AND run_at <= $1) \
             OR (status = 'running' AND (lease_until IS NULL OR lease_until < $2)) LIMIT 1",
        )
        .bind(format_time(claim.due_by))
        .bind(format_time(claim.now))
        .fetch_optional(&self.reader)
        .await?;
        if anything.is_none() {
            return Ok(None);
        }
        let mut transaction = self.write_transaction().await?;
        let stamp = format_time(now());
        sqlx::query(
            "UPDATE jobs SET \
               status = CASE WHEN attempts >= $2 THEN 'failed' ELSE 'queued' END, \
               error = CASE WHEN attempts >= $2 THEN $3 ELSE error END, \
               error_es = CASE WHEN attempts >= $2 THEN $4 ELSE error_es END, \
               lease_until = NULL, updated = $5 \
             WHERE status = 'running' AND (lease_until IS NULL OR lease_until < $1)",
        )
        .bind(format_time(claim.now))
        .bind(claim.max_attempts)
        .bind(&claim.exhausted.en)
        .bind(&claim.exhausted.es)
        .bind(&stamp)
        .execute(&mut *transaction)
        .await?;
        let row = sqlx::query(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, bytes_read = 0, rows_read = 0, \
               worker = $2, lease_until = $3, updated = $4 \
             WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND run_at <= $1 \
                         ORDER BY run_at, created, rowid LIMIT 1) \
             RETURNING *",
        )
        .bind(format_time(claim.due_by))
        .bind(claim.worker)
        .bind(format_time(claim.lease_until))
        .bind(&stamp)
        .fetch_optional(&mut *transaction)
        .await?;
        let job = row.as_ref().map(job_from_row).transpose()?;
        transaction.commit().await?;
        Ok(job)
    }

    pub async fn job(&self, id: Uuid) -> StoreResult<Option<Job>> {
        let row =
            sqlx::query("SELECT * FROM jobs WHERE id = $1").bind(id.to_string()).fetch_optional(&self.reader).await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// The most recent analysis job of a resource.
    pub async fn latest_job(&self, resource_id: Uuid) -> StoreResult<Option<Job>> {
        let row = sqlx::query(
            "SELECT * FROM jobs WHERE resource_id = $1 AND kind = $2 ORDER BY created DESC, rowid DESC LIMIT 1",
        )
        .bind(resource_id.to_string())
        .bind(ANALYSE_RESOURCE)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Jobs queued or running, oldest first.
    pub async fn unfinished_jobs(&self) -> StoreResult<Vec<Job>> {
        let rows = sqlx::query("SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY created, rowid")
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Writes a running job's progress and renews its lease.
    pub async fn job_progress(
        &self,
        id: Uuid,
        bytes_read: i64,
        rows_read: i64,
        lease_until: time::OffsetDateTime,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET bytes_read = $2, rows_read = $3, lease_until = $5, updated = $4 \
             WHERE id = $1 AND status = 'running'",
        )
        .bind(id.to_string())
        .bind(bytes_read)
        .bind(rows_read)
        .bind(format_time(now()))
        .bind(format_time(lease_until))
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
        sqlx::query(
            "UPDATE jobs SET status = $2, error = $3, error_es = $5, lease_until = NULL, updated = $4 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(status.as_str())
        .bind(&error.en)
        .bind(format_time(now()))
        .bind(&error.es)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Queues a job again, to run at `run_at`: one whose attempt failed and
    /// will be tried again, with `note` (the failure) shown meanwhile.
    pub async fn retry_job(&self, id: Uuid, note: &Bilingual, run_at: time::OffsetDateTime) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET status = 'queued', error = $2, error_es = $4, run_at = $5, lease_until = NULL, \
             updated = $3 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(&note.en)
        .bind(format_time(now()))
        .bind(&note.es)
        .bind(format_time(run_at))
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
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.resource_id = r.id AND j.sha256 = r.sha256 AND j.kind = $1)",
        )
        .bind(ANALYSE_RESOURCE)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(crate::datasets::resource_from_row).collect()
    }
}

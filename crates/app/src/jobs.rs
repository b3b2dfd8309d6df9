//! The job queue's side in the application: what each kind of job does
//! ([`Task`]), queueing one, and the worker that runs them.
//!
//! Jobs live in the database (`datalab_store::Job`), so any process may
//! run them: `datalab serve` runs a worker in-process unless told not to,
//! `datalab worker` runs one alone. A worker claims the next due job with a
//! lease ([`LEASE`]) that the job renews as it writes its progress; a job
//! whose worker stopped or died is taken again once its lease has run out,
//! up to [`MAX_JOB_ATTEMPTS`] attempts. A failure that may pass (storage,
//! disk, database) is tried again after [`JOB_RETRY_DELAY`], then twice as
//! long each time, within the same attempts; meanwhile the job is queued
//! with the failure as its note. Tests run what is pending with
//! [`run_pending`], deterministically.

use datalab_core::Bilingual;
use datalab_store::{Claim, Job, NewJob};
use uuid::Uuid;

use crate::{App, Error};

/// Times a job that keeps being interrupted (the server stops or crashes
/// while it runs), or that keeps failing to read or store its files, is
/// tried before it is stopped with its error shown.
pub const MAX_JOB_ATTEMPTS: i64 = 3;

/// The wait before the second attempt of a job whose storage failed; it
/// doubles before each next one.
pub const JOB_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a claimed job stays its worker's without a sign of life (each
/// progress write renews it). A job interrupted by a stop is taken again
/// this long after it last wrote its progress.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// How often an idle worker looks for due jobs that another process
/// queued (jobs queued by its own process wake it at once).
pub const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// What a job does: one variant per kind, with its payload.
/// What a job does: one variant per kind, with its payload. The kind
/// stored with a job is the variant's name in kebab case and the payload
/// its fields, both from serde (`{"kind": …, "payload": {…}}`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "kebab-case")]
pub enum Task {
    /// Analyse a resource's file (the one with this hash): tables, profile,
    /// report, quality, published together.
    AnalyseResource { resource_id: Uuid, sha256: String },
}

impl Task {
    /// The kind stored with the job.
    pub fn kind(&self) -> &'static str {
        match self {
            Task::AnalyseResource { .. } => datalab_store::ANALYSE_RESOURCE,
        }
    }

    /// The task a stored job describes.
    pub fn of(job: &Job) -> Result<Task, String> {
        if job.kind != datalab_store::ANALYSE_RESOURCE {
            return Err(format!("no worker knows jobs of kind {:?}", job.kind));
        }
        serde_json::from_value(serde_json::json!({"kind": job.kind, "payload": job.payload}))
            .map_err(|error| format!("a job of kind {} has a payload it cannot read: {error}", job.kind))
    }

    fn payload(&self) -> serde_json::Value {
        let mut tagged = serde_json::to_value(self).expect("tasks serialize");
        tagged["payload"].take()
    }

    /// While a job with the same key is queued, another is not added.
    fn dedup_key(&self) -> String {
        match self {
            Task::AnalyseResource { resource_id, sha256 } => format!("{resource_id}:{sha256}"),
        }
    }
}

/// Why an attempt at a job failed, and whether trying again may help: a
/// file that could not be read or written (storage, disk, database) may be
/// there next time; a file that is not a table will not change.
pub(crate) struct JobFailure {
    /// Why, in English and (where a reason was written for people) Spanish.
    pub(crate) message: Bilingual,
    pub(crate) transient: bool,
}

impl JobFailure {
    pub(crate) fn lasting(en: impl Into<String>, es: impl Into<String>) -> JobFailure {
        JobFailure { message: Bilingual { en: en.into(), es: es.into() }, transient: false }
    }

    /// Reading or storing the file or its tables failed: the file itself may be fine.
    pub(crate) fn transient(message: impl std::fmt::Display) -> JobFailure {
        let es = format!("no se pudo leer o guardar el archivo o sus tablas: {message}");
        JobFailure { message: Bilingual { en: message.to_string(), es }, transient: true }
    }

    /// A file ingestion refused (or, for `Io`, could not read), with its reason in both languages.
    pub(crate) fn refused(error: &datalab_ingest::IngestError) -> JobFailure {
        let transient = matches!(error, datalab_ingest::IngestError::Io(_));
        JobFailure { message: Bilingual { en: error.to_string(), es: error.message_es() }, transient }
    }

    /// The message with `prefix` before it (`en`, `es`).
    pub(crate) fn prefixed(&self, en: &str, es: &str) -> Bilingual {
        let spanish = if self.message.es.is_empty() { &self.message.en } else { &self.message.es };
        Bilingual { en: format!("{en}{}", self.message.en), es: format!("{es}{spanish}") }
    }
}

/// Queues `task` to run now (`bytes_total`: its size, when it reads a
/// file) and wakes this process's worker. `None` when the resource it is
/// about is gone. A task already queued is not queued twice.
pub async fn enqueue(app: &App, task: &Task, bytes_total: Option<i64>) -> Result<Option<Job>, Error> {
    let (resource_id, sha256) = match task {
        Task::AnalyseResource { resource_id, sha256 } => (Some(*resource_id), sha256.as_str()),
    };
    let job = app
        .store
        .enqueue_job(&NewJob {
            kind: task.kind(),
            payload: task.payload(),
            dedup_key: Some(task.dedup_key()),
            resource_id,
            sha256,
            bytes_total,
            run_at: app.clock.now(),
        })
        .await?;
    app.jobs_waker.notify_one();
    Ok(job)
}

/// Claims the next job due by `due_by` and runs it. `false` when none was due.
pub async fn run_next(app: &App, worker: &str, due_by: time::OffsetDateTime) -> Result<bool, Error> {
    let now = app.clock.now();
    let exhausted = Bilingual {
        en: format!("stopped after {MAX_JOB_ATTEMPTS} attempts: the job was interrupted each time"),
        es: format!("se detuvo tras {MAX_JOB_ATTEMPTS} intentos: el trabajo se interrumpió cada vez"),
    };
    let claim =
        Claim { worker, now, due_by, lease_until: now + LEASE, max_attempts: MAX_JOB_ATTEMPTS, exhausted: &exhausted };
    let Some(job) = app.store.claim_job(&claim).await? else { return Ok(false) };
    run(app, job).await;
    Ok(true)
}

/// Runs every queued job, retries included (their waits are not waited),
/// until none is left; returns how many attempts ran. What tests and
/// `datalab worker --once` use: no polling, no timing.
pub async fn run_pending(app: &App) -> Result<usize, Error> {
    let mut ran = 0;
    let everything = time::OffsetDateTime::new_utc(time::macros::date!(9999 - 12 - 31), time::Time::MIDNIGHT);
    while run_next(app, "run-pending", everything).await? {
        ran += 1;
    }
    Ok(ran)
}

/// Runs due jobs until the process ends: one at a time, each as soon as it
/// is due; an idle worker wakes when its process queues a job, and every
/// [`POLL_INTERVAL`] for jobs other processes queued.
pub async fn run_worker(app: App) {
    let worker = format!("worker-{}-{}", std::process::id(), &Uuid::new_v4().simple().to_string()[..8]);
    tracing::info!(worker, "running jobs");
    loop {
        match run_next(&app, &worker, app.clock.now()).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(_) if app.store.is_closed() => return,
            Err(error) => tracing::error!(%error, "cannot take the next job"),
        }
        tokio::select! {
            _ = app.jobs_waker.notified() => {}
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
}

/// Runs a claimed job's attempt and records what came of it.
async fn run(app: &App, job: Job) {
    let attempts = job.attempts;
    let outcome = match Task::of(&job) {
        Err(message) => Err(JobFailure::lasting(message.clone(), message)),
        Ok(Task::AnalyseResource { resource_id, sha256 }) => {
            // One at a time per process: each is bounded in memory, and
            // they would only share the same cores.
            let _slot = app.ingest_slots.clone().acquire_owned().await.expect("the semaphore is never closed");
            crate::analysis::run(app, &job, resource_id, &sha256).await
        }
    };
    if outcome.is_err() && app.store.is_closed() {
        // Shutting down: the job stays `running`; its lease runs out and a worker takes it again.
        tracing::info!(job = %job.id, kind = job.kind, "job stopped by the shutdown; it is taken again later");
        return;
    }
    let finished = match outcome {
        Ok(()) => Ok(()),
        Err(failure) if failure.transient && attempts < MAX_JOB_ATTEMPTS => {
            tracing::warn!(error = %failure.message.en, job = %job.id, kind = job.kind, attempts, "job failed; trying again");
            let note = failure.prefixed(
                &format!("attempt {attempts} failed, trying again: "),
                &format!("falló el intento {attempts}; se intentará de nuevo: "),
            );
            let wait = JOB_RETRY_DELAY * 2u32.saturating_pow((attempts - 1).clamp(0, 16) as u32);
            if let Err(error) = app.store.retry_job(job.id, &note, app.clock.now() + wait).await {
                tracing::error!(%error, job = %job.id, "cannot record a failed attempt");
            }
            return;
        }
        Err(failure) if failure.transient => Err(failure.prefixed(
            &format!("stopped after {attempts} attempts: "),
            &format!("se detuvo tras {attempts} intentos: "),
        )),
        Err(failure) => Err(failure.message),
    };
    if let Err(error) = &finished {
        tracing::warn!(error = %error.en, job = %job.id, kind = job.kind, "job failed");
    }
    if let Err(error) = app.store.finish_job(job.id, finished.as_ref().map(|_| ())).await {
        tracing::error!(%error, job = %job.id, "cannot record the end of a job");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_stored_as_its_kind_and_payload_and_read_back() {
        let task = Task::AnalyseResource { resource_id: Uuid::nil(), sha256: "abc".into() };
        let tagged = serde_json::to_value(&task).unwrap();
        assert_eq!(tagged["kind"], task.kind(), "serde's kind is the stored kind");
        assert_eq!(task.payload(), serde_json::json!({"resource_id": Uuid::nil(), "sha256": "abc"}));
        let job = Job {
            id: Uuid::nil(),
            kind: task.kind().into(),
            payload: task.payload(),
            resource_id: Uuid::nil(),
            sha256: "abc".into(),
            status: datalab_store::JobStatus::Queued,
            run_at: time::OffsetDateTime::UNIX_EPOCH,
            attempts: 0,
            worker: String::new(),
            lease_until: None,
            bytes_total: None,
            bytes_read: 0,
            rows_read: 0,
            error: String::new(),
            error_es: String::new(),
            created: time::OffsetDateTime::UNIX_EPOCH,
            updated: time::OffsetDateTime::UNIX_EPOCH,
        };
        assert_eq!(Task::of(&job).unwrap(), task);
        let unknown = Job { kind: "send-mail".into(), ..job.clone() };
        assert!(Task::of(&unknown).unwrap_err().contains("no worker knows"));
        let broken = Job { payload: serde_json::json!({"sha256": 1}), ..job };
        assert!(Task::of(&broken).unwrap_err().contains("cannot read"));
    }
}

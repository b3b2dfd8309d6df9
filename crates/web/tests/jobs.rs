//! Ingestion runs as jobs of the queue: progress is recorded, a failure
//! leaves the last finished analysis served, a job whose worker stopped is
//! taken again once its lease runs out (or stopped, after its attempts),
//! and a queued job is not queued twice.

use crate::common;

use common::TestApp;
use serde_json::json;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_records_its_progress_and_a_failure_keeps_the_last_analysis_served() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let dataset = app.dataset(&token, "incidentes", "org-a", false).await;
    let bytes = include_bytes!("../../datalab/demo/incidentes_viales_ejemplo.csv").to_vec();
    let size = bytes.len();
    let created = app.upload(&token, dataset["id"].as_str().unwrap(), bytes, "incidentes.csv").await;
    let id = created["id"].as_str().unwrap().to_string();
    let shown = app.until(&id, |resource| resource["datalab_analysis"]["job"]["status"] == "done").await;
    let job = &shown["datalab_analysis"]["job"];
    assert_eq!(job["rows_read"], 300);
    assert_eq!(job["bytes_read"], size);
    assert_eq!(job["bytes_total"], size);
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["current_file"], true);

    // The stored file disappears: the next analysis fails, the last one stays served.
    for blob in app.stored_blobs() {
        std::fs::remove_file(blob).unwrap();
    }
    let resource = app.store().resource(Uuid::parse_str(&id).unwrap()).await.unwrap();
    datalab_app::analysis::reingest(app.app(), &resource).await.unwrap();
    let shown = app.until(&id, |resource| resource["datalab_analysis"]["job"]["status"] == "failed").await;
    assert_eq!(shown["datalab_analysis"]["status"], "done", "{shown}");
    assert_eq!(shown["datastore_active"], true);
    assert!(shown["datalab_analysis"]["job"]["error"].as_str().unwrap().len() > 3);
    let (status, found) = app.ckan("datastore_search", None, json!({"resource_id": id, "limit": 1})).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["result"]["total"], 300);
    let page = app.page(&format!("/dataset/incidentes/resource/{id}")).await;
    assert!(page.contains("El último análisis de este archivo falló"), "the failure is explained");
    assert!(page.contains("300 filas"), "the previous analysis is shown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_stopped_is_taken_again_and_one_interrupted_too_often_is_stopped() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let dataset = app.dataset(&token, "datos", "org-a", false).await;
    let created = app.upload(&token, dataset["id"].as_str().unwrap(), b"a,b\n1,2\n3,4\n".to_vec(), "datos.csv").await;
    let id = Uuid::parse_str(created["id"].as_str().unwrap()).unwrap();
    app.until(&id.to_string(), |resource| resource["datalab_analysis"]["job"]["status"] == "done").await;
    let sha = created["hash"].as_str().unwrap().trim_start_matches("sha256:").to_string();
    let store = app.store();
    let task = datalab_app::jobs::Task::AnalyseResource { resource_id: id, sha256: sha.clone() };
    let exhausted = datalab_core::Bilingual { en: "stopped: interrupted".into(), es: "detenido: interrumpido".into() };
    // A worker that claims a job and dies: its lease was for a minute, an hour ago.
    let hour_ago = TestApp::TODAY - time::Duration::hours(1);
    let died = |worker: &'static str, at: time::OffsetDateTime| datalab_store::Claim {
        worker,
        now: at,
        due_by: TestApp::TODAY,
        lease_until: at + time::Duration::minutes(1),
        max_attempts: datalab_app::jobs::MAX_JOB_ATTEMPTS,
        exhausted: &exhausted,
    };
    let job = datalab_app::jobs::enqueue(app.app(), &task, None).await.unwrap().unwrap();
    let again = datalab_app::jobs::enqueue(app.app(), &task, None).await.unwrap().unwrap();
    assert_eq!(again.id, job.id, "a queued job is not queued twice");
    let claimed = store.claim_job(&died("dead-worker", hour_ago)).await.unwrap().unwrap();
    assert_eq!((claimed.id, claimed.attempts), (job.id, 1));
    let while_running = datalab_app::jobs::enqueue(app.app(), &task, None).await.unwrap().unwrap();
    assert_ne!(while_running.id, job.id, "a running job does not absorb a new request (a schema may have changed)");
    assert_eq!(app.run_jobs().await, 2, "the lapsed job is taken again, then the new one runs");
    let retried = store.job(job.id).await.unwrap().unwrap();
    assert_eq!(retried.status, datalab_store::JobStatus::Done);
    assert_eq!(retried.attempts, 2);
    assert_eq!(retried.rows_read, 2);

    // One whose workers died as many times as it may be tried: stopped, with its error shown.
    let stuck = datalab_app::jobs::enqueue(app.app(), &task, None).await.unwrap().unwrap();
    for attempt in 0..datalab_app::jobs::MAX_JOB_ATTEMPTS {
        let at = hour_ago + time::Duration::minutes(2 * attempt);
        assert_eq!(store.claim_job(&died("dead-worker", at)).await.unwrap().unwrap().id, stuck.id);
    }
    assert_eq!(app.run_jobs().await, 0, "nothing is left to run");
    let stopped = store.job(stuck.id).await.unwrap().unwrap();
    assert_eq!(stopped.status, datalab_store::JobStatus::Failed);
    assert!(stopped.error.contains("stopped after 3 attempts"), "{}", stopped.error);
    assert!(stopped.error_es.contains("se detuvo tras 3 intentos"), "{}", stopped.error_es);
    let shown = app.analysed(&id.to_string(), None).await;
    assert_eq!(shown["datalab_analysis"]["job"]["status"], "failed", "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_lease_keeps_a_job_from_a_second_worker() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let dataset = app.dataset(&token, "datos", "org-a", false).await;
    let created = app.upload(&token, dataset["id"].as_str().unwrap(), b"a,b\n1,2\n".to_vec(), "datos.csv").await;
    let exhausted = datalab_core::Bilingual::default();
    let claim = |worker| datalab_store::Claim {
        worker,
        now: TestApp::TODAY,
        due_by: TestApp::TODAY,
        lease_until: TestApp::TODAY + time::Duration::minutes(1),
        max_attempts: datalab_app::jobs::MAX_JOB_ATTEMPTS,
        exhausted: &exhausted,
    };
    let first = app.store().claim_job(&claim("first")).await.unwrap().expect("the upload's job is due");
    assert_eq!(first.worker, "first");
    assert!(app.store().claim_job(&claim("second")).await.unwrap().is_none(), "the job is the first worker's");
    // The first worker finishes it (as `run_jobs` would have).
    app.store().finish_job(first.id, Ok(())).await.unwrap();
    let shown = app.ckan_get("resource_show", None, &[("id", created["id"].as_str().unwrap())]).await.1;
    assert_eq!(shown["result"]["datalab_analysis"]["job"]["status"], "done", "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_failure_is_tried_again_and_a_lasting_one_stops_with_its_error() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let dataset = app.dataset(&token, "datos", "org-a", false).await;
    let created = app.upload(&token, dataset["id"].as_str().unwrap(), b"a,b\n1,2\n3,4\n".to_vec(), "datos.csv").await;
    let id = created["id"].as_str().unwrap().to_string();
    app.until(&id, |resource| resource["datalab_analysis"]["job"]["status"] == "done").await;
    let resource = app.store().resource(Uuid::parse_str(&id).unwrap()).await.unwrap();

    // The stored file is out of reach for a moment (a storage hiccup): the
    // job notes the failure, waits, and the next attempt succeeds.
    let blobs = app.stored_blobs();
    for blob in &blobs {
        std::fs::rename(blob, blob.with_extension("away")).unwrap();
    }
    datalab_app::analysis::reingest(app.app(), &resource).await.unwrap();
    let waiting = app
        .until(&id, |resource| {
            resource["datalab_analysis"]["job"]["error"].as_str().is_some_and(|error| error.contains("trying again"))
        })
        .await;
    let job = &waiting["datalab_analysis"]["job"];
    assert_eq!(job["status"], "queued", "{job}");
    assert!(job["error"].as_str().unwrap().starts_with("attempt 1 failed"), "{job}");
    assert_eq!(waiting["datalab_analysis"]["status"], "done", "the last analysis stays in place meanwhile");
    let page = app.page(&format!("/dataset/datos/resource/{id}")).await;
    assert!(page.contains("se intentará de nuevo"), "the page says the job will try again");
    for blob in &blobs {
        std::fs::rename(blob.with_extension("away"), blob).unwrap();
    }
    let shown = app.until(&id, |resource| resource["datalab_analysis"]["job"]["status"] == "done").await;
    let job = &shown["datalab_analysis"]["job"];
    assert_eq!(job["attempts"], 2, "{job}");
    assert!(job["error"].is_null(), "the note of the failed attempt is gone: {job}");
    assert_eq!(job["rows_read"], 2);

    // A file that stays unreadable: every attempt fails, then the job stops
    // with the number of attempts and the reason.
    for blob in &blobs {
        std::fs::remove_file(blob).unwrap();
    }
    datalab_app::analysis::reingest(app.app(), &resource).await.unwrap();
    let shown = app.until(&id, |resource| resource["datalab_analysis"]["job"]["status"] == "failed").await;
    let job = &shown["datalab_analysis"]["job"];
    assert_eq!(job["attempts"], datalab_app::jobs::MAX_JOB_ATTEMPTS, "{job}");
    assert!(job["error"].as_str().unwrap().starts_with("stopped after 3 attempts: "), "{job}");
    assert_eq!(shown["datastore_active"], true, "the last good analysis is still served");

    // A file that is not a table fails at once: trying again would not help.
    let bad = app.upload(&token, dataset["id"].as_str().unwrap(), Vec::new(), "vacio.csv").await;
    let bad_id = bad["id"].as_str().unwrap().to_string();
    let shown = app.until(&bad_id, |resource| resource["datalab_analysis"]["job"]["status"] == "failed").await;
    assert_eq!(shown["datalab_analysis"]["job"]["attempts"], 1, "{shown}");
}

//! Ingestion runs as jobs: progress is recorded, a failure leaves the last
//! finished analysis served, and a restart resumes or stops what a stop
//! interrupted.

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
    datalab_app::analysis::reingest(app.app(), &resource).unwrap();
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
async fn a_restart_retries_interrupted_jobs_and_stops_those_that_keep_failing() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let dataset = app.dataset(&token, "datos", "org-a", false).await;
    let created = app.upload(&token, dataset["id"].as_str().unwrap(), b"a,b\n1,2\n3,4\n".to_vec(), "datos.csv").await;
    let id = Uuid::parse_str(created["id"].as_str().unwrap()).unwrap();
    app.until(&id.to_string(), |resource| resource["datalab_analysis"]["job"]["status"] == "done").await;
    let sha = created["hash"].as_str().unwrap().trim_start_matches("sha256:").to_string();
    let store = &app.store();

    // A job left running by a crash, on its first attempt: retried.
    let job = store.queue_job(id, &sha, None).await.unwrap().unwrap();
    store.start_job(job.id).await.unwrap();
    // One left running after its last allowed attempt: stopped, with its error shown.
    let stuck = store.queue_job(id, &sha, None).await.unwrap().unwrap();
    for _ in 0..datalab_app::analysis::MAX_JOB_ATTEMPTS {
        store.start_job(stuck.id).await.unwrap();
    }
    let started = datalab_app::analysis::resume_analyses(app.app()).await.unwrap();
    assert_eq!(started, 1);
    let stopped = store.job(stuck.id).await.unwrap().unwrap();
    assert_eq!(stopped.status, datalab_store::JobStatus::Failed);
    assert!(stopped.error.contains("stopped after 3 attempts"), "{}", stopped.error);
    for _ in 0..400 {
        if store.job(job.id).await.unwrap().unwrap().status == datalab_store::JobStatus::Done {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let retried = store.job(job.id).await.unwrap().unwrap();
    assert_eq!(retried.status, datalab_store::JobStatus::Done);
    assert_eq!(retried.attempts, 2);
    assert_eq!(retried.rows_read, 2);
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
    datalab_app::analysis::reingest(app.app(), &resource).unwrap();
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
    datalab_app::analysis::reingest(app.app(), &resource).unwrap();
    let shown = app.until(&id, |resource| resource["datalab_analysis"]["job"]["status"] == "failed").await;
    let job = &shown["datalab_analysis"]["job"];
    assert_eq!(job["attempts"], datalab_app::analysis::MAX_JOB_ATTEMPTS, "{job}");
    assert!(job["error"].as_str().unwrap().starts_with("stopped after 3 attempts: "), "{job}");
    assert_eq!(shown["datastore_active"], true, "the last good analysis is still served");

    // A file that is not a table fails at once: trying again would not help.
    let bad = app.upload(&token, dataset["id"].as_str().unwrap(), Vec::new(), "vacio.csv").await;
    let bad_id = bad["id"].as_str().unwrap().to_string();
    let shown = app.until(&bad_id, |resource| resource["datalab_analysis"]["job"]["status"] == "failed").await;
    assert_eq!(shown["datalab_analysis"]["job"]["attempts"], 1, "{shown}");
}

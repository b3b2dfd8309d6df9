//! What follows the event log: a write recorded by another process (here,
//! straight through the store) reaches search and the tracker's catalog
//! copy when the log is followed, with no call made for it.

use crate::common;

use common::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_and_the_tracker_copy_follow_what_others_write() {
    let app = TestApp::start().await;
    let mut organization = app.organization("tesoreria").await;
    let mut dataset = datalab_app::catalog::new_dataset(organization.id, None);
    dataset.name = "presupuesto-de-egresos".into();
    dataset.title = "Presupuesto de egresos".into();
    app.store().create_dataset(None, &dataset).await.unwrap();
    let found = |body: &serde_json::Value| body["result"]["count"].as_u64().unwrap();
    let (_, before) = app.ckan_get("package_search", None, &[("q", "egresos")]).await;
    assert_eq!(found(&before), 0, "nothing indexed it yet: {before}");
    assert!(datalab_app::events::follow(app.app()).await.unwrap() >= 1);
    let (_, after) = app.ckan_get("package_search", None, &[("q", "egresos")]).await;
    assert_eq!(found(&after), 1, "{after}");
    assert_eq!(datalab_app::events::follow(app.app()).await.unwrap(), 0, "each event is handled once");

    // An organization's new title reaches its datasets' entries.
    organization.title = "Tesorería General del Estado".into();
    app.store().update_organization(None, &organization).await.unwrap();
    datalab_app::events::follow(app.app()).await.unwrap();
    let (_, renamed) = app.ckan_get("package_search", None, &[("q", "egresos")]).await;
    assert_eq!(renamed["result"]["results"][0]["organization"]["title"], "Tesorería General del Estado", "{renamed}");

    // A commitment written by another process gets its catalog copy.
    let (commitment, _) = common::commitment(&app).await;
    let copy = datalab_app::accountability::dataset_name(&commitment.code);
    assert!(app.store().dataset(&copy).await.is_err(), "no copy before the log is followed");
    datalab_app::events::follow(app.app()).await.unwrap();
    let copied = app.store().dataset(&copy).await.unwrap();
    assert_eq!(copied.resources.len(), 2, "CSV and JSON");
    let (_, search) = app.ckan_get("package_search", None, &[("q", "seguimiento")]).await;
    assert_eq!(found(&search), 1, "the copy is indexed too: {search}");
    app.run_jobs().await;
}

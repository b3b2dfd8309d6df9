//! Migrations keep history: a database written before the event log and
//! the job queue is opened by today's store, and its activity, milestone
//! timeline and ingestion jobs read back as they were.

use std::str::FromStr;

use datalab_store::{ActivityScope, Store};
use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

/// Applies the migrations before `first_new` to a new database at `path`.
async fn database_before(path: &std::path::Path, first_new: i64) -> sqlx::SqliteConnection {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let older = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let version: Option<i64> = name.split('_').next().and_then(|version| version.parse().ok());
        if version.is_some_and(|version| version < first_new) && name.ends_with(".sql") {
            std::fs::copy(&path, older.path().join(&name)).unwrap();
        }
    }
    let mut connection = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .unwrap()
        .create_if_missing(true)
        .foreign_keys(false)
        .connect()
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(older.path()).await.unwrap().run(&mut connection).await.unwrap();
    connection
}

#[tokio::test]
async fn history_and_jobs_written_before_the_event_log_are_kept() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("datalab.sqlite");
    let mut old = database_before(&path, 20261205000011).await;
    for statement in [
        "INSERT INTO activities (id, timestamp, user_id, activity_type, object_id, object_name, organization_id, \
         dataset_id, changes) VALUES (7, '2026-01-02T03:04:05.000000Z', NULL, 'new package', \
         '11111111-1111-1111-1111-111111111111', 'presupuesto', NULL, '11111111-1111-1111-1111-111111111111', '[]')",
        "INSERT INTO activities (id, timestamp, user_id, activity_type, object_id, object_name, organization_id, \
         dataset_id, changes) VALUES (9, '2026-01-03T03:04:05.000000Z', NULL, 'changed package', \
         '11111111-1111-1111-1111-111111111111', 'presupuesto', NULL, '11111111-1111-1111-1111-111111111111', \
         '[{\"field\":\"title\",\"before\":\"a\",\"after\":\"b\"}]')",
        "INSERT INTO milestone_events (milestone_id, at, user_id, field, before_value, after_value, note) VALUES \
         ('22222222-2222-2222-2222-222222222222', '2026-02-01T00:00:00.000000Z', NULL, 'status', \
         '\"not-started\"', '\"in-progress\"', 'arrancó')",
        "INSERT INTO organizations (id, name, title, kind, created) VALUES ('55555555-5555-5555-5555-555555555555', \
         'tesoreria', 'Tesorería', 'government', '2026-01-01T00:00:00.000000Z')",
        "INSERT INTO datasets (id, name, title, owner_org, license_id, state, metadata_created, metadata_modified) \
         VALUES ('11111111-1111-1111-1111-111111111111', 'presupuesto', 'Presupuesto', \
         '55555555-5555-5555-5555-555555555555', 'libre-uso-mx', 'active', '2026-01-01T00:00:00.000000Z', \
         '2026-01-01T00:00:00.000000Z')",
        "INSERT INTO resources (id, dataset_id, position, created, last_modified) VALUES \
         ('44444444-4444-4444-4444-444444444444', '11111111-1111-1111-1111-111111111111', 0, \
         '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
        "INSERT INTO ingest_jobs (id, resource_id, sha256, status, attempts, bytes_total, bytes_read, rows_read, \
         error, error_es, created, updated) VALUES ('33333333-3333-3333-3333-333333333333', \
         '44444444-4444-4444-4444-444444444444', 'abc', 'failed', 3, 10, 10, 2, 'broken', 'roto', \
         '2026-03-01T00:00:00.000000Z', '2026-03-01T00:00:01.000000Z')",
    ] {
        sqlx::query(statement).execute(&mut old).await.unwrap();
    }
    drop(old);

    let store = Store::open(&path).await.unwrap();
    let activities = store.activities(ActivityScope::All, 10, 0).await.unwrap();
    let kept: Vec<(i64, &str)> =
        activities.iter().map(|activity| (activity.id, activity.activity_type.as_str())).collect();
    assert_eq!(kept, [(9, "changed package"), (7, "new package")], "activities keep their ids and order");
    assert_eq!(activities[0].changes[0].field, "title");

    let job = store.job(uuid::Uuid::parse_str("33333333-3333-3333-3333-333333333333").unwrap()).await.unwrap().unwrap();
    assert_eq!((job.kind.as_str(), job.attempts, job.rows_read), (datalab_store::ANALYSE_RESOURCE, 3, 2));
    assert_eq!(job.payload["sha256"], "abc");
    assert_eq!((job.error.as_str(), job.error_es.as_str()), ("broken", "roto"));

    // The timeline reads the log through its view; the followers start after what was there.
    let events = store.events_after(0, 10).await.unwrap();
    let streams: Vec<(&str, &str)> = events.iter().map(|event| (event.stream.as_str(), event.kind.as_str())).collect();
    assert_eq!(streams, [("catalog", "new package"), ("catalog", "changed package"), ("tracker", "status")]);
    assert!(events[2].id > 9, "the milestone events come after the activities");
    let last = events[2].id;
    assert_eq!(store.event_cursor("search").await.unwrap(), last);
    assert_eq!(store.event_cursor("tracker-copy").await.unwrap(), last);
    store.advance_event_cursor("search", last - 1).await.unwrap();
    assert_eq!(store.event_cursor("search").await.unwrap(), last, "a cursor never moves back");
    store.close().await;
}

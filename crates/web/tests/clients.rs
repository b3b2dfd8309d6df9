//! Real clients against a real server: the official CKAN client `ckanapi`,
//! and headless Debian Chromium driven by Playwright. Both come from
//! `scripts/test.sh` (a Python virtualenv in `.venv`, Debian's chromium);
//! a missing tool fails the test with instructions, it never skips.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use common::TestApp;
use datalab_core::Capacity;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn python() -> PathBuf {
    let python = std::env::var_os("DATALAB_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run scripts/test.sh, which creates the Python virtualenv with ckanapi and Playwright",
        python.display()
    );
    python
}

fn chromium() -> PathBuf {
    let chromium = std::env::var_os("DATALAB_TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        chromium.exists(),
        "{} is missing: run scripts/test.sh, which installs Debian's chromium",
        chromium.display()
    );
    chromium
}

/// Runs a script off the async runtime (the server runs on it) and checks it passed.
async fn run_script(mut command: Command) {
    let output = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "script failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    println!("{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_ckanapi_client_works_unchanged() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    let mut command = Command::new(python());
    command.arg(workspace_root().join("tests/python/ckanapi_client.py")).arg(&app.base).arg(&token);
    run_script(command).await;
    // What the test published is analysed, as a worker would.
    app.run_jobs().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signs_in_publishes_uploads_and_finds_by_search() {
    let app = TestApp::start().await;
    let organization = app.organization("sec-movilidad").await;
    let (user, _) = app.user("editora", false).await;
    app.member(&organization, &user, Capacity::Editor).await;
    let upload = app.directory.path().join("tramos.csv");
    let content = "colonia,metros\nCentro,1200\nObispado,800\n";
    std::fs::write(&upload, content).unwrap();
    let mut command = Command::new(python());
    command
        .arg(workspace_root().join("tests/python/browser_flow.py"))
        .arg(&app.base)
        .arg("editora")
        .arg(common::PASSWORD)
        .arg(&upload)
        .arg(chromium());
    run_script(command).await;
    let dataset = app.store().dataset("ciclovias-de-monterrey").await.unwrap();
    assert_eq!(dataset.resources.len(), 1);
    assert_eq!(dataset.resources[0].size, Some(content.len() as i64));
    // What the test published is analysed, as a worker would.
    app.run_jobs().await;
}

//! The binary as a user runs it: admin commands, demo content, serving with
//! zero configuration, graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

fn datalab(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_datalab"));
    command.env_remove("DATALAB_CONFIG").arg("--data-dir").arg(data_dir);
    command
}

fn run_with_stdin(mut command: Command, stdin: &str) -> (bool, String, String) {
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

/// Starts `datalab serve` on a free port and returns the child and base URL.
fn serve(data_dir: &std::path::Path, extra: &[&str]) -> (std::process::Child, String) {
    let mut child = datalab(data_dir)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base =
        line.trim().strip_prefix("datalab: ").expect("serve prints its address").trim_end_matches('/').to_string();
    (child, base)
}

fn terminate(child: &mut std::process::Child) {
    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "graceful shutdown exits cleanly, got {exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_demo_and_serving() {
    let directory = tempfile::tempdir().unwrap();
    let data = directory.path().join("data");

    let mut create = datalab(&data);
    create.args(["admin", "create-user", "ana", "--email", "ana@example.org", "--sysadmin"]);
    let (ok, stdout, stderr) = run_with_stdin(create, "una-clave-segura\n");
    assert!(ok, "{stderr}");
    assert!(stdout.contains("user ana created (sysadmin)"));

    let mut short = datalab(&data);
    short.args(["admin", "create-user", "bob", "--email", "bob@example.org"]);
    let (ok, _, stderr) = run_with_stdin(short, "corta\n");
    assert!(!ok);
    assert!(stderr.contains("password"), "a clear error: {stderr}");

    let token_output = datalab(&data).args(["admin", "create-token", "ana"]).output().unwrap();
    assert!(token_output.status.success());
    let token = String::from_utf8(token_output.stdout).unwrap().lines().last().unwrap().to_string();
    assert!(token.starts_with("dl_"), "the token is the last line: {token}");

    // demo content loads idempotently
    for _ in 0..2 {
        let output = datalab(&data).arg("demo").output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let reindex = datalab(&data).args(["admin", "reindex"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&reindex.stdout).trim(), "search index rebuilt: 7 datasets");

    let (mut child, base) = serve(&data, &["--demo"]);
    let client = reqwest::Client::new();
    let list: serde_json::Value =
        client.get(format!("{base}/api/3/action/package_list")).send().await.unwrap().json().await.unwrap();
    let names = list["result"].as_array().unwrap();
    assert_eq!(names.len(), 7, "six demo datasets and the commitment tracker's copy: {list}");
    assert!(names.contains(&serde_json::json!("seguimiento-mxnle0001")));
    assert!(names.contains(&serde_json::json!("municipios-de-nuevo-leon")));
    let organizations: serde_json::Value =
        client.get(format!("{base}/api/3/action/organization_list")).send().await.unwrap().json().await.unwrap();
    assert_eq!(organizations["result"].as_array().unwrap().len(), 6);
    let me: serde_json::Value = client
        .get(format!("{base}/api/3/action/user_show"))
        .header("Authorization", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["result"]["name"], "ana");
    let shown: serde_json::Value = client
        .get(format!("{base}/api/3/action/package_show?id=municipios-de-nuevo-leon"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csv = client
        .get(shown["result"]["resources"][0]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 52, "header and the 51 municipalities");
    assert!(csv.contains("19039,19,039,Monterrey"));
    let search: serde_json::Value = client
        .get(format!("{base}/api/3/action/package_search?q=accidentes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(search["result"]["results"][0]["name"], "incidentes-viales-ejemplo");
    let commitment: serde_json::Value =
        client.get(format!("{base}/api/v1/commitments/MXNLE0001")).send().await.unwrap().json().await.unwrap();
    let milestones = commitment["milestones"].as_array().unwrap();
    assert_eq!(milestones.len(), 24, "the demo commitment has its 24 milestones");
    assert_eq!(milestones[1]["data_problems"], serde_json::json!(["end-before-start"]), "milestone 2 as published");
    assert!(commitment["title_es"].as_str().unwrap().starts_with("Participación"));
    terminate(&mut child);

    // The index is derived data: deleting it is harmless, it is rebuilt at start.
    std::fs::remove_dir_all(data.join("search")).unwrap();
    let (mut child, base) = serve(&data, &[]);
    let search: serde_json::Value = client
        .get(format!("{base}/api/3/action/package_search?q=municipios"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(search["result"]["results"][0]["name"], "municipios-de-nuevo-leon", "title matches rank first");
    terminate(&mut child);
}

#[test]
fn configuration_errors_are_clear() {
    let directory = tempfile::tempdir().unwrap();
    let config = directory.path().join("datalab.toml");
    std::fs::write(&config, "bind = \"not an address\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_datalab")).arg("--config").arg(&config).arg("demo").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("datalab.toml") && stderr.contains("bind"), "{stderr}");
}

#[test]
fn import_publishes_a_file_and_prints_its_analysis() {
    let directory = tempfile::tempdir().unwrap();
    let data = directory.path().join("data");
    assert!(datalab(&data).arg("demo").output().unwrap().status.success());
    let file = directory.path().join("incidentes.csv");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/incidentes_viales_ejemplo.csv"), &file).unwrap();

    let missing_org = datalab(&data).args(["import"]).arg(&file).args(["--dataset", "nuevo"]).output().unwrap();
    assert!(!missing_org.status.success());
    assert!(String::from_utf8_lossy(&missing_org.stderr).contains("--org"), "a clear error");

    let output = datalab(&data)
        .args(["import"])
        .arg(&file)
        .args([
            "--dataset",
            "incidentes-importados",
            "--org",
            "secretaria-de-economia",
            "--title",
            "Incidentes importados",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["dataset"], "incidentes-importados");
    assert_eq!(summary["rows"], 300);
    assert_eq!(summary["encoding"], "windows-1252");
    assert_eq!(summary["format"], "CSV");
    assert_eq!(summary["schema"]["fields"][1]["type"], "date");
    assert_eq!(summary["validation"]["valid"], true);

    // Importing the same file name again replaces that resource; the dataset keeps one.
    let again =
        datalab(&data).args(["import"]).arg(&file).args(["--dataset", "incidentes-importados"]).output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("incidentes-importados: 300 filas, codificación windows-1252")
    );

    // A publisher's Table Schema on the resource applies to the next import
    // of its file, as it does to the server's jobs.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = datalab_store::Store::open(&data.join("datalab.sqlite")).await.unwrap();
        let mut dataset = store.dataset("incidentes-importados").await.unwrap();
        dataset.resources[0].schema = Some(serde_json::json!({"fields": [{"name": "folio", "type": "string"}]}));
        store.update_dataset(None, &dataset).await.unwrap();
        store.close().await;
    });
    let output = datalab(&data)
        .args(["import"])
        .arg(&file)
        .args(["--dataset", "incidentes-importados", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["schema"]["fields"][0]["name"], "folio");
    assert_eq!(summary["schema"]["fields"][0]["type"], "string", "the publisher's type, not the inferred integer");
    assert_eq!(summary["schema"]["fields"][7]["type"], "integer", "fields it does not name are still inferred");
}

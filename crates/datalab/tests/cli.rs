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

/// A GET answered with JSON.
async fn get_json(client: &reqwest::Client, url: impl reqwest::IntoUrl) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// `user_show` with an API token: who the token signs in.
async fn signed_in_user(client: &reqwest::Client, base: &str, token: &str) -> serde_json::Value {
    let request = client.get(format!("{base}/api/3/action/user_show")).header("Authorization", token);
    request.send().await.unwrap().json().await.unwrap()
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
    let list: serde_json::Value = get_json(&client, format!("{base}/api/3/action/package_list")).await;
    let names = list["result"].as_array().unwrap();
    assert_eq!(names.len(), 7, "six demo datasets and the commitment tracker's copy: {list}");
    assert!(names.contains(&serde_json::json!("seguimiento-mxnle0001")));
    assert!(names.contains(&serde_json::json!("municipios-de-nuevo-leon")));
    let organizations: serde_json::Value = get_json(&client, format!("{base}/api/3/action/organization_list")).await;
    assert_eq!(organizations["result"].as_array().unwrap().len(), 6);
    let me: serde_json::Value = signed_in_user(&client, &base, &token).await;
    assert_eq!(me["result"]["name"], "ana");
    let shown: serde_json::Value =
        get_json(&client, format!("{base}/api/3/action/package_show?id=municipios-de-nuevo-leon")).await;
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
    let search: serde_json::Value = get_json(&client, format!("{base}/api/3/action/package_search?q=accidentes")).await;
    assert_eq!(search["result"]["results"][0]["name"], "incidentes-viales-ejemplo");
    let commitment: serde_json::Value = get_json(&client, format!("{base}/api/v1/commitments/MXNLE0001")).await;
    let milestones = commitment["milestones"].as_array().unwrap();
    assert_eq!(milestones.len(), 24, "the demo commitment has its 24 milestones");
    assert_eq!(milestones[1]["data_problems"], serde_json::json!(["end-before-start"]), "milestone 2 as published");
    assert!(commitment["title_es"].as_str().unwrap().starts_with("Participación"));
    terminate(&mut child);

    // The index is derived data: deleting it is harmless, it is rebuilt at start.
    std::fs::remove_dir_all(data.join("search")).unwrap();
    let (mut child, base) = serve(&data, &[]);
    let search: serde_json::Value = get_json(&client, format!("{base}/api/3/action/package_search?q=municipios")).await;
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

/// README's "Using it" commands, read from README.md and run as written (the
/// address and placeholders filled in) while `serve --demo` runs. Then the
/// demo's every uploaded resource is analysed without a failure, and the
/// server's log has no warning or error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_steps_work_in_order_while_serving() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let block = readme.split("## Using it").nth(1).unwrap().split("```sh").nth(1).unwrap();
    let block = block.split("```").next().unwrap();
    let steps: Vec<&str> =
        block.lines().map(|line| line.split(" #").next().unwrap().trim()).filter(|line| !line.is_empty()).collect();
    assert!(steps[0].contains("serve --demo"), "README's first step serves the demo: {steps:?}");

    let directory = tempfile::tempdir().unwrap();
    let data = directory.path().join("data");
    let file = directory.path().join("incidentes-readme.csv");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/incidentes_viales_ejemplo.csv"), &file).unwrap();
    let log_path = directory.path().join("serve.log");
    let client = reqwest::Client::new();
    let mut server: Option<(std::process::Child, String)> = None;
    let mut token = String::new();
    for step in &steps {
        let (stdin, command) = match step.strip_prefix("echo '") {
            Some(rest) => {
                let (password, command) = rest.split_once("' | ").expect("echo 'PASSWORD' | COMMAND");
                (Some(format!("{password}\n")), command)
            }
            None => (None, *step),
        };
        let arguments = command.strip_prefix("cargo run -p datalab -- ").expect("each step runs the binary");
        let arguments: Vec<String> = arguments
            .split_whitespace()
            .map(|word| match word {
                "0.0.0.0:8080" => "127.0.0.1:0".to_string(),
                "FILE.csv" => file.display().to_string(),
                "NAME" => "incidentes-readme".to_string(),
                "ORG" => "secretaria-de-economia".to_string(),
                other => other.to_string(),
            })
            .collect();
        if arguments[0] == "serve" {
            let log = std::fs::File::create(&log_path).unwrap();
            let mut child = datalab(&data)
                .args(&arguments)
                .env("DATALAB_LOG", "info")
                .stdout(Stdio::piped())
                .stderr(Stdio::from(log))
                .spawn()
                .unwrap();
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
            let base = line.trim().strip_prefix("datalab: ").expect("serve prints its address");
            server = Some((child, base.trim_end_matches('/').to_string()));
            continue;
        }
        let mut command = datalab(&data);
        command.args(&arguments);
        let (ok, stdout, stderr) = run_with_stdin(command, stdin.as_deref().unwrap_or(""));
        assert!(ok, "README step `{step}` fails while serving: {stderr}");
        if arguments[..2] == ["admin", "create-token"] {
            token = stdout.lines().last().unwrap().to_string();
        }
    }
    let (mut child, base) = server.expect("README serves");

    // The token the README made works against the running server.
    assert!(token.starts_with("dl_"), "create-token printed a token: {token}");
    let me: serde_json::Value = signed_in_user(&client, &base, &token).await;
    assert_eq!(me["result"]["name"], "ana", "{me}");
    assert_eq!(me["result"]["sysadmin"], true);
    // What the commands wrote is what the server shows, its search included
    // (the index is shared; the server follows other processes' commits).
    let shown: serde_json::Value =
        get_json(&client, format!("{base}/api/3/action/package_show?id=incidentes-readme")).await;
    let resource_id = shown["result"]["resources"][0]["id"].as_str().unwrap();
    let resource: serde_json::Value =
        get_json(&client, format!("{base}/api/3/action/resource_show?id={resource_id}")).await;
    assert_eq!(resource["result"]["datalab_analysis"]["rows"], 300, "{resource}");
    let mut found = false;
    for _ in 0..100 {
        let search: serde_json::Value = get_json(&client, format!("{base}/api/3/action/package_search?q=readme")).await;
        if search["result"]["count"] == 1 {
            found = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(found, "the server's search finds what `import` published beside it");

    // Every uploaded resource of the demo is analysed, none fails.
    let list: serde_json::Value = get_json(&client, format!("{base}/api/3/action/package_list")).await;
    let mut checked = 0;
    for name in list["result"].as_array().unwrap() {
        let shown: serde_json::Value =
            get_json(&client, format!("{base}/api/3/action/package_show?id={}", name.as_str().unwrap())).await;
        for resource in shown["result"]["resources"].as_array().unwrap() {
            if resource["url_type"] != "upload" {
                continue;
            }
            let id = resource["id"].as_str().unwrap();
            let mut analysis = serde_json::Value::Null;
            for _ in 0..600 {
                let shown: serde_json::Value =
                    get_json(&client, format!("{base}/api/3/action/resource_show?id={id}")).await;
                analysis = shown["result"]["datalab_analysis"].clone();
                if analysis["status"] == "done" || analysis["status"] == "failed" {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            assert_eq!(analysis["status"], "done", "{name} {}: {analysis}", resource["name"]);
            checked += 1;
        }
    }
    assert!(checked >= 9, "every demo upload was analysed ({checked})");
    terminate(&mut child);
    let log = std::fs::read_to_string(&log_path).unwrap();
    let troubles: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(" WARN ") || line.contains(" ERROR ") || line.contains("panicked"))
        .collect();
    assert!(troubles.is_empty(), "the demo's log has no warning or error:\n{}", troubles.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_runs_the_jobs_a_server_without_one_queued() {
    let directory = tempfile::tempdir().unwrap();
    let data = directory.path().join("data");
    let (mut server, base) = serve(&data, &["--demo", "--no-worker"]);
    let client = reqwest::Client::new();
    let dataset = get_json(&client, format!("{base}/api/3/action/package_show?id=municipios-de-nuevo-leon")).await;
    let resource_id = dataset["result"]["resources"][0]["id"].as_str().unwrap().to_string();
    let shown = get_json(&client, format!("{base}/api/3/action/resource_show?id={resource_id}")).await;
    assert_eq!(shown["result"]["datalab_analysis"]["job"]["status"], "queued", "no worker in serve: {shown}");

    let output = datalab(&data).args(["worker", "--once"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8_lossy(&output.stdout);
    let ran: usize = printed.trim().strip_prefix("jobs run: ").expect("the count is printed").parse().unwrap();
    assert!(ran >= 8, "every demo table was analysed by the worker: {printed}");
    let shown = get_json(&client, format!("{base}/api/3/action/resource_show?id={resource_id}")).await;
    assert_eq!(
        shown["result"]["datalab_analysis"]["status"], "done",
        "the server serves the worker's analysis: {shown}"
    );
    assert_eq!(shown["result"]["datastore_active"], true);
    let again = datalab(&data).args(["worker", "--once"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), "jobs run: 0", "nothing is run twice");
    terminate(&mut server);
}

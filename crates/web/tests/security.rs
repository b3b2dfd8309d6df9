//! Authorization, CSRF, hostile text and login limits, over HTTP (redirects and the
//! other hostile requests are in `abuse.rs`).

use crate::common;

use common::TestApp;
use datalab_core::Capacity;
use serde_json::json;

/// Private datasets of organization A against every role, in show, search,
/// list and download. `y` where the reader sees the dataset.
#[tokio::test]
async fn private_dataset_matrix_show_search_list_download() {
    let app = TestApp::start().await;
    let (_, root) = app.user("root", true).await;
    let org_a = app.organization("org-a").await;
    let org_b = app.organization("org-b").await;
    let (member_a, member_a_token) = app.user("member-a", false).await;
    app.member(&org_a, &member_a, Capacity::Member).await;
    let (editor_b, editor_b_token) = app.user("editor-b", false).await;
    app.member(&org_b, &editor_b, Capacity::Editor).await;
    let (_, stranger_token) = app.user("stranger", false).await;

    let dataset = app.dataset(&root, "secreto-a", "org-a", true).await;
    let uploaded = app.upload(&root, dataset["id"].as_str().unwrap(), b"a,b\n1,2\n".to_vec(), "secreto.csv").await;
    let download_url = uploaded["url"].as_str().unwrap().to_string();

    let readers: Vec<(&str, Option<&str>)> = vec![
        ("anonymous", None),
        ("stranger", Some(&stranger_token)),
        ("editor-of-b", Some(&editor_b_token)),
        ("member-of-a", Some(&member_a_token)),
        ("sysadmin", Some(&root)),
    ];
    let mut matrix = String::new();
    for (role, token) in readers {
        let (show_status, _) = app.ckan_get("package_show", token, &[("id", "secreto-a")]).await;
        let (_, search) = app.ckan_get("package_search", token, &[("include_private", "true")]).await;
        let (_, list) = app.ckan_get("package_list", token, &[]).await;
        let mut download = app.client.get(&download_url);
        if let Some(token) = token {
            download = download.header("Authorization", token);
        }
        let download_status = download.send().await.unwrap().status().as_u16();
        let mark = |visible: bool| if visible { "y" } else { "-" };
        matrix.push_str(&format!(
            "{role:<12} show:{} search:{} list:{} download:{}\n",
            mark(show_status == 200),
            mark(search["result"]["count"] == 1),
            mark(list["result"].as_array().is_some_and(|names| !names.is_empty())),
            mark(download_status == 200),
        ));
        if show_status != 200 {
            assert_eq!(show_status, 403, "{role}: hidden datasets answer Authorization Error in the API");
        }
        if download_status != 200 {
            assert_eq!(download_status, 404, "{role}: hidden files are not found");
        }
    }
    // package_list lists public datasets only, as CKAN's does.
    assert_eq!(
        matrix,
        "\
anonymous    show:- search:- list:- download:-
stranger     show:- search:- list:- download:-
editor-of-b  show:- search:- list:- download:-
member-of-a  show:y search:y list:- download:y
sysadmin     show:y search:y list:- download:y
"
    );
    // Without include_private even members get public results only, as in CKAN.
    let (_, search) = app.ckan_get("package_search", Some(&member_a_token), &[]).await;
    assert_eq!(search["result"]["count"], 0);
    // What the test published is analysed, as a worker would.
    app.run_jobs().await;
}

/// Each write on organization A's objects and B's, by every role.
#[tokio::test]
async fn write_matrix_over_the_api() {
    let app = TestApp::start().await;
    let (_, root) = app.user("root", true).await;
    let org_a = app.organization("org-a").await;
    app.organization("org-b").await;
    let mut actors: Vec<(&str, Option<String>)> = vec![("anonymous", None)];
    for (name, capacity) in [("member", Capacity::Member), ("editor", Capacity::Editor), ("admin", Capacity::Admin)] {
        let (user, token) = app.user(name, false).await;
        app.member(&org_a, &user, capacity).await;
        actors.push((name, Some(token)));
    }
    actors.push(("sysadmin", Some(root.clone())));
    let (target, _) = app.user("target", false).await;
    let mut matrix = String::new();
    for (index, (role, token)) in actors.iter().enumerate() {
        let token = token.as_deref();
        let mut row = format!("{role:<10}");
        for org in ["org-a", "org-b"] {
            let name = format!("d-{index}-{org}");
            app.dataset(&root, &name, org, false).await;
            let (create, _) =
                app.ckan("package_create", token, json!({"name": format!("n-{index}-{org}"), "owner_org": org})).await;
            let (update, _) = app.ckan("package_patch", token, json!({"id": name, "title": "Nuevo"})).await;
            let (members, _) = app
                .ckan(
                    "organization_member_create",
                    token,
                    json!({"id": org, "username": target.name, "role": "member"}),
                )
                .await;
            let (delete, _) = app.ckan("package_delete", token, json!({"id": name})).await;
            let mark = |status: u16| if status == 200 { "y" } else { "-" };
            row.push_str(&format!(" {org}:{}{}{}{}", mark(create), mark(update), mark(members), mark(delete)));
        }
        matrix.push_str(row.trim_end());
        matrix.push('\n');
    }
    // create, update, manage members, delete
    assert_eq!(
        matrix,
        "\
anonymous  org-a:---- org-b:----
member     org-a:---- org-b:----
editor     org-a:yy-y org-b:----
admin      org-a:yyyy org-b:----
sysadmin   org-a:yyyy org-b:yyyy
"
    );
}

#[tokio::test]
async fn forms_without_a_valid_csrf_token_are_refused() {
    let app = TestApp::start().await;
    app.user("ana", false).await;
    let client = TestApp::new_client();
    let response = client
        .post(app.url("/user/login"))
        .form(&[("login", "ana"), ("password", common::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let page = response.text().await.unwrap();
    assert!(page.contains("El formulario caducó"), "translated error page");
    let response = client
        .post(app.url("/user/login"))
        .form(&[("csrf_token", "0".repeat(64).as_str()), ("login", "ana"), ("password", common::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    let (signed_in, _) = app.signed_in_client("ana").await;
    let response = signed_in.post(app.url("/user/ana/tokens")).form(&[("token_name", "forjado")]).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        app.state
            .app
            .store
            .api_tokens(app.store().user("ana").await.unwrap().id)
            .await
            .unwrap()
            .iter()
            .all(|token| token.name != "forjado")
    );
}

#[tokio::test]
async fn login_is_rate_limited_per_account_and_address() {
    let app = TestApp::start().await;
    app.user("ana", false).await;
    let client = TestApp::new_client();
    let csrf = app.csrf_token(&client).await;
    for _ in 0..3 {
        let response = client
            .post(app.url("/user/login"))
            .form(&[("csrf_token", csrf.as_str()), ("login", "ana"), ("password", "mal")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let response = client
        .post(app.url("/user/login"))
        .form(&[("csrf_token", csrf.as_str()), ("login", "ana"), ("password", common::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429, "even the right password waits once the limit is reached");
    assert!(response.text().await.unwrap().contains("Demasiados intentos"));
}

#[tokio::test]
async fn hostile_text_is_inert_in_pages() {
    let app = TestApp::start().await;
    let (_, root) = app.user("root", true).await;
    app.organization("org-a").await;
    let (status, body) = app
        .ckan(
            "package_create",
            Some(&root),
            json!({
                "name": "xss", "owner_org": "org-a",
                "title": "<script>alert('title')</script>",
                "notes": "**ok** <script>alert('notes')</script> <img src=x onerror=alert(1)> [link](javascript:alert(2))",
                "tags": ["<b>tag</b>"],
                "extras": [{"key": "</script><script>alert(3)</script>", "value": "\"><svg onload=alert(4)>"}],
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let page = app.page("/dataset/xss").await;
    assert!(page.contains("<strong>ok</strong>"), "Markdown is rendered");
    // The text may survive as inert, escaped text (in JSON-LD too); no live markup may.
    for forbidden in ["<script>alert", "<img src=x onerror", "href=\"javascript:", "<svg onload", "<b>tag</b>"] {
        assert!(!page.contains(forbidden), "{forbidden} survived in the page");
    }
    assert!(
        page.contains("&lt;script&gt;alert(&#x27;title&#x27;)&lt;&#x2f;script&gt;") || page.contains("&lt;script&gt;")
    );
    let search = app.page("/dataset?q=%3Cscript%3E").await;
    assert!(!search.contains("<script>alert"));
}

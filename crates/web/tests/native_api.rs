//! The native API and its OpenAPI document.

use crate::common;

use common::TestApp;
use serde_json::json;

#[tokio::test]
async fn openapi_document_snapshot() {
    let app = TestApp::start().await;
    let document: serde_json::Value =
        app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    insta::assert_json_snapshot!("openapi", document, {".info.version" => "[version]"});
}

#[tokio::test]
async fn datasets_create_read_patch_search_delete() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let client = &app.client;
    let created = client
        .post(app.url("/api/v1/datasets"))
        .header("Authorization", format!("Bearer {token}"))
        .json(&json!({"name": "calidad-del-aire", "title": "Calidad del aire", "organization": "org-a", "tags": ["aire"], "spatial": ["19039"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let body: serde_json::Value = created.json().await.unwrap();
    assert_eq!(body["organization"], "org-a");
    assert_eq!(body["license_id"], "libre-uso-mx", "the Mexican open licence is the default");

    let anonymous = client
        .post(app.url("/api/v1/datasets"))
        .json(&json!({"name": "x", "organization": "org-a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 403);
    let error: serde_json::Value = anonymous.json().await.unwrap();
    assert_eq!(error["error"]["code"], "unauthenticated");

    let invalid = client
        .post(app.url("/api/v1/datasets"))
        .header("Authorization", &token)
        .json(&json!({"name": "calidad-del-aire", "organization": "org-a", "temporal_start": "ayer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 409);
    let error: serde_json::Value = invalid.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid");
    assert_eq!(error["error"]["fields"]["temporal_start"], json!(["date-invalid"]));

    let unknown = client
        .post(app.url("/api/v1/datasets"))
        .header("Authorization", &token)
        .json(&json!({"nmae": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400, "unknown fields are refused");

    let patched = client
        .patch(app.url("/api/v1/datasets/calidad-del-aire"))
        .header("Authorization", &token)
        .json(&json!({"notes": "PM2.5"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let shown: serde_json::Value =
        client.get(app.url("/api/v1/datasets/calidad-del-aire")).send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["notes"], "PM2.5");
    assert_eq!(shown["title"], "Calidad del aire");

    let page: serde_json::Value =
        client.get(app.url("/api/v1/datasets?q=aire&organization=org-a")).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["count"], 1);
    assert_eq!(page["facets"]["tags"][0]["value"], "aire");
    let activity: serde_json::Value =
        client.get(app.url("/api/v1/datasets/calidad-del-aire/activity")).send().await.unwrap().json().await.unwrap();
    assert_eq!(activity[0]["changes"][0]["field"], "notes");

    let organizations: serde_json::Value =
        client.get(app.url("/api/v1/organizations")).send().await.unwrap().json().await.unwrap();
    assert_eq!(organizations[0]["name"], "org-a");
    let licenses: serde_json::Value =
        client.get(app.url("/api/v1/licenses")).send().await.unwrap().json().await.unwrap();
    assert_eq!(licenses[0]["id"], "libre-uso-mx");

    let deleted = client
        .delete(app.url("/api/v1/datasets/calidad-del-aire"))
        .header("Authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = client.get(app.url("/api/v1/datasets/calidad-del-aire")).send().await.unwrap();
    assert_eq!(gone.status(), 403);
    let missing = client.get(app.url("/api/v1/datasets/nunca")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn resources_by_link_and_upload_and_users() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    let (_, ana_token) = app.user("ana", false).await;
    app.organization("org-a").await;
    app.dataset(&token, "aire", "org-a", false).await;
    let client = &app.client;

    let link = client
        .post(app.url("/api/v1/datasets/aire/resources"))
        .header("Authorization", &token)
        .json(&json!({"name": "Estaciones", "url": "https://example.org/estaciones.geojson"}))
        .send()
        .await
        .unwrap();
    assert_eq!(link.status(), 201);
    let link: serde_json::Value = link.json().await.unwrap();
    assert_eq!(link["format"], "GEOJSON");
    assert_eq!(link["uploaded"], false);

    let form = reqwest::multipart::Form::new()
        .text("name", "Mediciones")
        .part("upload", reqwest::multipart::Part::bytes(b"hora,pm25\n01:00,12\n".to_vec()).file_name("mediciones.csv"));
    let uploaded = client
        .post(app.url("/api/v1/datasets/aire/resources"))
        .header("Authorization", &token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    let uploaded: serde_json::Value = uploaded.json().await.unwrap();
    assert_eq!(uploaded["format"], "CSV");
    assert_eq!(uploaded["size"], b"hora,pm25\n01:00,12\n".len());
    let bytes = client.get(uploaded["url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(&bytes[..], b"hora,pm25\n01:00,12\n");

    let refused = client
        .post(app.url("/api/v1/datasets/aire/resources"))
        .header("Authorization", &ana_token)
        .json(&json!({"url": "https://example.org/x.csv"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let invalid = client
        .post(app.url("/api/v1/datasets/aire/resources"))
        .header("Authorization", &token)
        .json(&json!({"url": "javascript:alert(1)", "colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 409);
    let error: serde_json::Value = invalid.json().await.unwrap();
    assert_eq!(error["error"]["fields"]["colour"], json!(["unknown-field"]));

    let id = uploaded["id"].as_str().unwrap();
    let shown: serde_json::Value =
        client.get(app.url(&format!("/api/v1/resources/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["name"], "Mediciones");
    let deleted = client
        .delete(app.url(&format!("/api/v1/resources/{id}")))
        .header("Authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert!(app.stored_blobs().is_empty());
    assert_eq!(client.get(app.url(&format!("/api/v1/resources/{id}"))).send().await.unwrap().status(), 404);

    let public: serde_json::Value =
        client.get(app.url("/api/v1/users/ana")).send().await.unwrap().json().await.unwrap();
    assert!(public.get("email").is_none());
    let own: serde_json::Value = client
        .get(app.url("/api/v1/users/ana"))
        .header("Authorization", &ana_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(own["email"], "ana@example.org");
}

/// Routes and the OpenAPI document come from one declaration; this checks
/// the other way round too: every operation the document lists reaches its
/// handler (an answer of the API, even an error, never the site's page for
/// an unknown address or a 405).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_in_the_openapi_document_is_routed() {
    let app = TestApp::start().await;
    let document: serde_json::Value =
        app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 18, "{}", paths.len());
    let mut checked = 0;
    for (path, item) in paths {
        let concrete = path
            .replace("{format}", "csv")
            .replace("{number}", "1")
            .replace("{id}", "x")
            .replace("{code}", "x")
            .replace("{name}", "x");
        assert!(!concrete.contains('{'), "a parameter this test does not fill: {path}");
        for method in item.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app.client.request(method.clone(), app.url(&concrete)).send().await.unwrap();
            let status = response.status();
            let content_type = response.headers().get("content-type").map(|value| value.to_str().unwrap().to_string());
            assert_ne!(status, 405, "{method} {path} is not routed");
            assert!(
                !content_type.unwrap_or_default().starts_with("text/html"),
                "{method} {path} reached no handler ({status})"
            );
            checked += 1;
        }
    }
    assert!(checked >= 24, "{checked} operations");
}

/// An unknown or revoked token is wrong credentials (401, with the
/// challenge RFC 6750 gives), never an anonymous caller; no token is one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_token_is_a_401_and_no_token_is_anonymous() {
    let app = TestApp::start().await;
    let refused =
        app.client.get(app.url("/api/v1/datasets")).header("Authorization", "dl_not-a-token").send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer error=\"invalid_token\"");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated", "{body}");
    let anonymous = app.client.get(app.url("/api/v1/datasets")).send().await.unwrap();
    assert_eq!(anonymous.status(), 200);
    // The CKAN API answers as CKAN does: 403, an Authorization Error.
    let (status, body) = app.ckan_get("package_list", Some("dl_not-a-token"), &[]).await;
    assert_eq!((status, body["error"]["__type"].as_str()), (403, Some("Authorization Error")), "{body}");
}

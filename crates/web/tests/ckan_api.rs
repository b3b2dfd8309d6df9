//! The CKAN Action API over HTTP: envelopes, status codes, validation, and
//! the life of a dataset from creation to deletion.

use crate::common;

use common::TestApp;
use datalab_core::Capacity;
use serde_json::json;

#[tokio::test]
async fn envelope_unknown_actions_and_methods() {
    let app = TestApp::start().await;
    let (status, body) = app.ckan_get("status_show", None, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], true);
    assert!(body["help"].as_str().unwrap().ends_with("/api/3/action/help_show?name=status_show"));
    assert_eq!(body["result"]["locale_default"], "es_MX");

    let (status, body) = app.ckan_get("no_such_action", None, &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["success"], false);
    assert!(body["error"]["message"].as_str().unwrap().contains("Action name not known: no_such_action"));

    let (status, body) = app.ckan_get("package_create", None, &[("name", "x")]).await;
    assert_eq!(status, 400, "writes need POST: {body}");

    // The path ckanapi uses works too.
    let response = app.client.get(app.url("/api/action/license_list")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let licenses: serde_json::Value = response.json().await.unwrap();
    let ids: Vec<&str> =
        licenses["result"].as_array().unwrap().iter().map(|license| license["id"].as_str().unwrap()).collect();
    for expected in ["libre-uso-mx", "cc-by-4.0", "cc-by-sa-4.0", "cc-zero-1.0", "odc-odbl-1.0", "other"] {
        assert!(ids.contains(&expected), "{expected} missing from {ids:?}");
    }
}

#[tokio::test]
async fn malformed_and_invalid_input_is_a_clear_error_and_writes_nothing() {
    let app = TestApp::start().await;
    let (_, token) = app.user("admin", true).await;
    app.organization("cultura").await;

    let response = app
        .client
        .post(app.url("/api/3/action/package_create"))
        .header("Authorization", &token)
        .header("Content-Type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("JSON Error"), "{body}");

    let (status, body) = app
        .ckan(
            "package_create",
            Some(&token),
            json!({"name": "Mal Nombre", "owner_org": "cultura", "colour": "red", "author_email": "nope"}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["__type"], "Validation Error");
    assert!(body["error"]["name"][0].as_str().unwrap().contains("lowercase alphanumeric"), "{body}");
    assert!(body["error"]["colour"].is_array(), "unknown fields are named: {body}");
    assert!(body["error"]["author_email"].is_array(), "{body}");

    let (status, body) = app.ckan("package_create", Some(&token), json!({"title": "Sin nombre"})).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["name"][0], "Missing value");
    assert_eq!(body["error"]["owner_org"][0], "Missing value");

    let (status, body) =
        app.ckan("package_create", Some(&token), json!({"name": "ok-name", "owner_org": "no-existe"})).await;
    assert_eq!(status, 409);
    assert!(body["error"]["owner_org"].is_array());

    app.dataset(&token, "unico", "cultura", false).await;
    let (status, body) =
        app.ckan("package_create", Some(&token), json!({"name": "unico", "owner_org": "cultura"})).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["name"][0], "That URL is already in use.");

    let (status, body) = app
        .ckan(
            "package_create",
            Some(&token),
            json!({"name": "fechas", "owner_org": "cultura", "temporal_start": "2024", "temporal_end": "2023-13"}),
        )
        .await;
    assert_eq!(status, 409);
    assert!(body["error"]["temporal_end"].is_array(), "{body}");

    let (_, list) = app.ckan_get("package_list", None, &[]).await;
    assert_eq!(list["result"], json!(["unico"]), "only the valid dataset was written");
}

#[tokio::test]
async fn dataset_lifecycle_with_update_patch_delete_and_activity() {
    let app = TestApp::start().await;
    let (_, token) = app.user("admin", true).await;
    app.organization("economia").await;
    let (status, body) = app
        .ckan(
            "package_create",
            Some(&token),
            json!({
                "name": "empleo-2024", "title": "Empleo formal 2024", "owner_org": "economia",
                "notes": "Trabajadores **asegurados**", "tags": [{"name": "empleo"}, {"name": "IMSS"}],
                "extras": [{"key": "fuente", "value": "IMSS"}], "license_id": "cc-by-4.0",
                "spatial": ["19039", "19026"], "update_frequency": "monthly", "temporal_start": "2024-01",
                "resources": [{"name": "Liga", "url": "https://example.org/empleo.csv"}]
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let created = &body["result"];
    assert_eq!(created["organization"]["name"], "economia");
    assert_eq!(created["tags"].as_array().unwrap().len(), 2);
    assert_eq!(created["resources"][0]["format"], "CSV", "format guessed from the URL");
    assert_eq!(created["license_title"], "Creative Commons Attribution 4.0");
    assert_eq!(created["isopen"], true);
    let id = created["id"].as_str().unwrap().to_string();

    let (_, by_id) = app.ckan_get("package_show", None, &[("id", &id)]).await;
    let (_, by_name) = app.ckan_get("package_show", None, &[("id", "empleo-2024")]).await;
    assert_eq!(by_id["result"], by_name["result"]);

    // patch changes one field and keeps the rest
    let (status, patched) =
        app.ckan("package_patch", Some(&token), json!({"id": "empleo-2024", "title": "Empleo formal"})).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["result"]["title"], "Empleo formal");
    assert_eq!(patched["result"]["notes"], "Trabajadores **asegurados**");

    // update with a dict read from package_show works unchanged (read-only keys ignored)
    let mut full = patched["result"].clone();
    full["version"] = json!("2.0");
    let (status, updated) = app.ckan("package_update", Some(&token), full).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["result"]["version"], "2.0");
    assert_eq!(updated["result"]["resources"].as_array().unwrap().len(), 1);

    // update without a field clears it
    let (_, cleared) =
        app.ckan("package_update", Some(&token), json!({"id": id, "title": "Empleo", "owner_org": "economia"})).await;
    assert_eq!(cleared["result"]["notes"], "");
    assert_eq!(cleared["result"]["name"], "empleo-2024");

    let (status, activity) = app.ckan_get("package_activity_list", None, &[("id", "empleo-2024")]).await;
    assert_eq!(status, 200);
    let types: Vec<&str> =
        activity["result"].as_array().unwrap().iter().map(|item| item["activity_type"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["changed package", "changed package", "changed package", "new package"]);
    let changed_fields: Vec<&str> = activity["result"][2]["data"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| change["field"].as_str().unwrap())
        .collect();
    assert_eq!(changed_fields, vec!["title"], "the patch's diff names exactly the changed field");

    let (status, _) = app.ckan("package_delete", Some(&token), json!({"id": "empleo-2024"})).await;
    assert_eq!(status, 200);
    let (_, list) = app.ckan_get("package_list", None, &[]).await;
    assert_eq!(list["result"], json!([]));
    let (status, body) = app.ckan_get("package_show", None, &[("id", "empleo-2024")]).await;
    assert_eq!(status, 403, "a deleted dataset is for sysadmins only: {body}");
    let (status, shown) = app.ckan_get("package_show", Some(&token), &[("id", "empleo-2024")]).await;
    assert_eq!(status, 200);
    assert_eq!(shown["result"]["state"], "deleted");

    let (status, body) = app.ckan_get("package_show", None, &[("id", "nunca-existio")]).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["__type"], "Not Found Error");
}

#[tokio::test]
async fn uploads_stream_hash_download_with_range_and_etag() {
    let app = TestApp::start().await;
    let (_, token) = app.user("admin", true).await;
    app.organization("cultura").await;
    let dataset = app.dataset(&token, "eventos", "cultura", false).await;
    let bytes: Vec<u8> = "fecha,evento\n2024-01-01,Concierto en el Parque Fundidora\n".repeat(500).into_bytes();
    let form = reqwest::multipart::Form::new()
        .text("package_id", dataset["id"].as_str().unwrap().to_string())
        .text("name", "Eventos 2024")
        .part("upload", reqwest::multipart::Part::bytes(bytes.clone()).file_name("../../eventos 2024.csv"));
    let response = app
        .client
        .post(app.url("/api/3/action/resource_create"))
        .header("Authorization", &token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let resource = &body["result"];
    assert_eq!(resource["format"], "CSV");
    assert_eq!(resource["size"], bytes.len());
    assert_eq!(resource["url_type"], "upload");
    let url = resource["url"].as_str().unwrap();
    assert!(url.ends_with("/download/eventos%202024%2Ecsv"), "file name kept, path dropped: {url}");
    use sha2::Digest;
    assert_eq!(resource["hash"], format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes))));

    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(response.headers()["content-length"], bytes.len().to_string().as_str());
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(response.bytes().await.unwrap().to_vec(), bytes);

    let partial = app.client.get(url).header("Range", "bytes=5-9").send().await.unwrap();
    assert_eq!(partial.status(), 206);
    assert_eq!(partial.headers()["content-range"], format!("bytes 5-9/{}", bytes.len()).as_str());
    assert_eq!(partial.bytes().await.unwrap().to_vec(), bytes[5..10].to_vec());
    let unsatisfiable =
        app.client.get(url).header("Range", format!("bytes={}-", bytes.len() + 10)).send().await.unwrap();
    assert_eq!(unsatisfiable.status(), 416);
    let cached = app.client.get(url).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(cached.status(), 304);

    // resource_patch keeps the upload; resource_delete removes it and its file
    let resource_id = resource["id"].as_str().unwrap();
    let (status, patched) =
        app.ckan("resource_patch", Some(&token), json!({"id": resource_id, "description": "Agenda"})).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["result"]["url_type"], "upload");
    assert_eq!(app.stored_blobs().len(), 1);
    let (status, _) = app.ckan("resource_delete", Some(&token), json!({"id": resource_id})).await;
    assert_eq!(status, 200);
    assert!(app.stored_blobs().is_empty(), "the orphan file is removed: {:?}", app.stored_blobs());
    let (status, _) = app.ckan_get("resource_show", None, &[("id", resource_id)]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn oversized_upload_gets_413_and_stores_nothing() {
    let app = TestApp::with_upload_limit(1000).await;
    let (_, token) = app.user("admin", true).await;
    app.organization("cultura").await;
    let dataset = app.dataset(&token, "grande", "cultura", false).await;
    let form = reqwest::multipart::Form::new()
        .text("package_id", dataset["id"].as_str().unwrap().to_string())
        .part("upload", reqwest::multipart::Part::bytes(vec![b'x'; 5000]).file_name("grande.csv"));
    let response = app
        .client
        .post(app.url("/api/3/action/resource_create"))
        .header("Authorization", &token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"]["upload"][0].as_str().unwrap().contains("1000 bytes"), "{body}");
    assert!(app.stored_blobs().is_empty(), "nothing stored: {:?}", app.stored_blobs());
    let (_, shown) = app.ckan_get("package_show", None, &[("id", "grande")]).await;
    assert_eq!(shown["result"]["num_resources"], 0);
}

#[tokio::test]
async fn search_with_q_fq_facets_sort_and_paging() {
    let app = TestApp::start().await;
    let (_, token) = app.user("admin", true).await;
    app.organization("cultura").await;
    app.organization("economia").await;
    for (name, title, organization, tags) in [
        ("poblacion-2020", "Población por municipio 2020", "economia", vec!["censo"]),
        ("accidentes-viales", "Accidente vial por colonia", "economia", vec!["movilidad"]),
        ("museos", "Museos del estado", "cultura", vec!["censo", "patrimonio"]),
    ] {
        let tags: Vec<_> = tags.iter().map(|tag| json!({"name": tag})).collect();
        let (status, body) = app
            .ckan(
                "package_create",
                Some(&token),
                json!({"name": name, "title": title, "owner_org": organization, "tags": tags}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let search = |query: Vec<(&'static str, &'static str)>| {
        let app = &app;
        async move { app.ckan_get("package_search", None, &query).await }
    };
    let (_, body) = search(vec![("q", "poblacion")]).await;
    assert_eq!(body["result"]["count"], 1);
    assert_eq!(body["result"]["results"][0]["name"], "poblacion-2020");
    let (_, body) = search(vec![("q", "accidentes")]).await;
    assert_eq!(body["result"]["results"][0]["name"], "accidentes-viales");
    let (_, body) = search(vec![("fq", "tags:censo"), ("sort", "name asc")]).await;
    let names: Vec<&str> =
        body["result"]["results"].as_array().unwrap().iter().map(|item| item["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["museos", "poblacion-2020"]);
    let (_, body) =
        search(vec![("facet.field", "[\"organization\",\"tags\"]"), ("rows", "1"), ("sort", "name desc")]).await;
    assert_eq!(body["result"]["count"], 3);
    assert_eq!(body["result"]["results"].as_array().unwrap().len(), 1);
    assert_eq!(body["result"]["results"][0]["name"], "poblacion-2020");
    assert_eq!(body["result"]["facets"]["organization"]["economia"], 2);
    assert_eq!(body["result"]["facets"]["tags"]["censo"], 2);
    let items = body["result"]["search_facets"]["organization"]["items"].as_array().unwrap();
    assert!(
        items.iter().any(|item| item["name"] == "cultura"
            && item["display_name"] == "Organización cultura"
            && item["count"] == 1)
    );
    let (_, body) = search(vec![("rows", "1"), ("start", "2"), ("sort", "name asc")]).await;
    assert_eq!(body["result"]["results"][0]["name"], "poblacion-2020");

    let (status, body) = search(vec![("rows", "1001")]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["__type"], "Search Query Error");
    let (status, _) = search(vec![("q", "title:(")]).await;
    assert_eq!(status, 400);
    let (status, _) = search(vec![("fq", "secreto:1")]).await;
    assert_eq!(status, 400);
    let (status, _) = search(vec![("sort", "colour asc")]).await;
    assert_eq!(status, 400);

    // POST with JSON, as ckanapi sends it
    let (status, body) = app.ckan("package_search", None, json!({"q": "museos", "facet.field": ["tags"]})).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["count"], 1);
    assert_eq!(body["result"]["facets"]["tags"]["patrimonio"], 1);
}

#[tokio::test]
async fn organizations_members_groups_tags_and_users() {
    let app = TestApp::start().await;
    let (_, admin_token) = app.user("admin", true).await;
    let (_, ana_token) = app.user("ana", false).await;
    let (status, body) = app
        .ckan(
            "organization_create",
            Some(&admin_token),
            json!({"name": "sec-cultura", "title": "Secretaría de Cultura", "kind": "government"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = app.ckan("organization_create", Some(&ana_token), json!({"name": "mia", "title": "Mía"})).await;
    assert_eq!(status, 403, "only sysadmins create organizations");
    let (status, body) = app.ckan("organization_create", Some(&admin_token), json!({"name": "sec-cultura"})).await;
    assert_eq!(status, 409);
    assert!(body["error"]["name"].is_array());

    // ana cannot publish until she is made editor
    let (status, _) =
        app.ckan("package_create", Some(&ana_token), json!({"name": "de-ana", "owner_org": "sec-cultura"})).await;
    assert_eq!(status, 403);
    let (status, body) = app
        .ckan(
            "organization_member_create",
            Some(&admin_token),
            json!({"id": "sec-cultura", "username": "ana", "role": "editor"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) =
        app.ckan("package_create", Some(&ana_token), json!({"name": "de-ana", "owner_org": "sec-cultura"})).await;
    assert_eq!(status, 200);
    let (status, _) = app
        .ckan(
            "organization_member_create",
            Some(&ana_token),
            json!({"id": "sec-cultura", "username": "admin", "role": "member"}),
        )
        .await;
    assert_eq!(status, 403, "editors do not manage members");
    let (status, body) = app
        .ckan(
            "organization_member_create",
            Some(&admin_token),
            json!({"id": "sec-cultura", "username": "ana", "role": "boss"}),
        )
        .await;
    assert_eq!(status, 409);
    assert!(body["error"]["role"].is_array());

    let (_, list) = app.ckan_get("organization_list", None, &[("all_fields", "true")]).await;
    assert_eq!(list["result"][0]["name"], "sec-cultura");
    assert_eq!(list["result"][0]["package_count"], 1);
    assert_eq!(list["result"][0]["kind"], "government");
    let (_, names) = app.ckan_get("organization_list", None, &[]).await;
    assert_eq!(names["result"], json!(["sec-cultura"]));
    let (_, shown) =
        app.ckan_get("organization_show", None, &[("id", "sec-cultura"), ("include_datasets", "true")]).await;
    assert_eq!(shown["result"]["packages"][0]["name"], "de-ana");

    let (status, _) =
        app.ckan("group_create", Some(&admin_token), json!({"name": "cultura", "title": "Cultura"})).await;
    assert_eq!(status, 200);
    let (status, body) = app
        .ckan(
            "package_patch",
            Some(&ana_token),
            json!({"id": "de-ana", "groups": [{"name": "cultura"}], "tags": ["museos"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, groups) = app.ckan_get("group_list", None, &[("all_fields", "true")]).await;
    assert_eq!(groups["result"][0]["package_count"], 1);
    let (_, group) = app.ckan_get("group_show", None, &[("id", "cultura")]).await;
    assert_eq!(group["result"]["title"], "Cultura");
    let (_, tags) = app.ckan_get("tag_list", None, &[]).await;
    assert_eq!(tags["result"], json!(["museos"]));

    let (_, public_view) = app.ckan_get("user_show", None, &[("id", "ana")]).await;
    assert!(public_view["result"].get("email").is_none(), "e-mails are private");
    let (_, own_view) = app.ckan_get("user_show", Some(&ana_token), &[("id", "ana")]).await;
    assert_eq!(own_view["result"]["email"], "ana@example.org");
    let (status, _) = app.ckan_get("user_show", None, &[("id", "nadie")]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn api_tokens_are_created_listed_revoked_and_invalid_ones_refused() {
    let app = TestApp::start().await;
    let (_, ana_token) = app.user("ana", false).await;
    let (_, _bob_token) = app.user("bob", false).await;
    let (status, body) = app.ckan("api_token_create", Some(&ana_token), json!({"user": "ana", "name": "script"})).await;
    assert_eq!(status, 200);
    let new_token = body["result"]["token"].as_str().unwrap().to_string();
    let (status, me) = app.ckan_get("user_show", Some(&new_token), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(me["result"]["name"], "ana");
    let (status, _) = app.ckan("api_token_create", Some(&ana_token), json!({"user": "bob", "name": "robado"})).await;
    assert_eq!(status, 403, "nobody makes tokens for someone else");
    let (_, listed) = app.ckan_get("api_token_list", Some(&ana_token), &[("user", "ana")]).await;
    assert_eq!(listed["result"].as_array().unwrap().len(), 2);
    assert!(listed["result"].to_string().find(&new_token).is_none(), "secrets are never listed");
    let (status, _) = app.ckan("api_token_revoke", Some(&ana_token), json!({"token": new_token})).await;
    assert_eq!(status, 200);
    let (status, body) = app.ckan_get("user_show", Some(&new_token), &[]).await;
    assert_eq!(status, 403, "a revoked token is refused, not treated as anonymous: {body}");
    assert_eq!(body["error"]["__type"], "Authorization Error");
    let (status, _) = app.ckan_get("status_show", Some("dl_not-a-token"), &[]).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn member_roles_follow_ckan_meaning() {
    let app = TestApp::start().await;
    let (_, admin_token) = app.user("root", true).await;
    let organization = app.organization("org-a").await;
    let mut tokens = Vec::new();
    for (name, capacity) in common::capacities() {
        let (user, token) = app.user(name, false).await;
        app.member(&organization, &user, capacity).await;
        tokens.push((capacity, token));
    }
    app.dataset(&admin_token, "base", "org-a", false).await;
    for (capacity, token) in &tokens {
        let (status, _) =
            app.ckan("package_patch", Some(token), json!({"id": "base", "version": format!("{capacity:?}")})).await;
        let expected = if *capacity >= Capacity::Editor { 200 } else { 403 };
        assert_eq!(status, expected, "{capacity:?} patching a dataset");
    }
}

//! The HTML pages over HTTP: Spanish by default, English on request, the
//! publishing flow without JavaScript, error pages, and the dataset page's
//! machine-readable parts.

use crate::common;

use common::TestApp;
use datalab_core::Capacity;
use serde_json::json;

#[tokio::test]
async fn spanish_by_default_english_on_request_and_remembered() {
    let app = TestApp::start().await;
    let client = TestApp::new_client();
    let home = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    assert!(html.contains("<html lang=\"es-MX\">"));
    assert!(html.contains("Datos abiertos para resolver problemas públicos"));
    assert!(html.contains("<main id=\"content\""), "landmarks");
    assert!(html.contains("Saltar al contenido"), "skip link");

    let english = client.get(app.url("/?lang=en")).send().await.unwrap().text().await.unwrap();
    assert!(english.contains("<html lang=\"en\">"));
    assert!(english.contains("Open data to solve public problems"));
    let remembered = client.get(app.url("/dataset")).send().await.unwrap().text().await.unwrap();
    assert!(remembered.contains("Datasets"), "the choice is kept in a cookie");

    let missing = client.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("We could not find this page"));
    let missing_es = TestApp::new_client().get(app.url("/dataset/no-existe")).send().await.unwrap();
    assert_eq!(missing_es.status(), 404);
    assert!(missing_es.text().await.unwrap().contains("No encontramos esta página"));
}

#[tokio::test]
async fn publish_flow_without_javascript() {
    let app = TestApp::start().await;
    let organization = app.organization("sec-economia").await;
    let (ana, _) = app.user("ana", false).await;
    app.member(&organization, &ana, Capacity::Editor).await;
    let (client, csrf) = app.signed_in_client("ana").await;

    let form = client.get(app.url("/dataset/new")).send().await.unwrap().text().await.unwrap();
    assert!(form.contains("Organización sec-economia"), "the editor's organization is offered");

    let organization_id = organization.id.to_string();
    let bad = client
        .post(app.url("/dataset/new"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("title", ""),
            ("owner_org", organization_id.as_str()),
            ("contact_email", "no-es-correo"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let bad_page = bad.text().await.unwrap();
    assert!(bad_page.contains("Este campo es obligatorio."), "translated field error");
    assert!(bad_page.contains("El correo electrónico no es válido."));
    assert!(bad_page.contains("value=\"no-es-correo\""), "input is kept");

    let created = client
        .post(app.url("/dataset/new"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("title", "Inversión extranjera directa"),
            ("owner_org", organization_id.as_str()),
            ("notes", "Flujos trimestrales de **inversión**"),
            ("tag_string", "inversión, economía"),
            ("license_id", "libre-uso-mx"),
            ("spatial", "19039"),
            ("spatial", "19026"),
            ("update_frequency", "quarterly"),
            ("temporal_start", "2020"),
            ("private", "false"),
            ("language", "es"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 303);
    assert_eq!(created.headers()["location"], "/dataset/inversion-extranjera-directa/resource/new");

    let upload =
        reqwest::multipart::Form::new().text("csrf_token", csrf.clone()).text("name", "IED por trimestre").part(
            "upload",
            reqwest::multipart::Part::bytes(b"trimestre,monto\n2024T1,1200\n".to_vec()).file_name("ied.csv"),
        );
    let uploaded = client
        .post(app.url("/dataset/inversion-extranjera-directa/resource/new"))
        .multipart(upload)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 303);

    let page = client.get(app.url("/dataset/inversion-extranjera-directa")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("IED por trimestre"));
    assert!(page.contains("Monterrey, Guadalupe"), "spatial coverage by name");
    assert!(page.contains("Trimestral"));
    assert!(page.contains("<strong>inversión</strong>"));
    assert!(page.contains("package_show?id=inversion-extranjera-directa"), "API examples");
    let json_ld_start = page.find("<script type=\"application/ld+json\">").expect("JSON-LD in the head") + 35;
    let json_ld_end = json_ld_start + page[json_ld_start..].find("</script>").unwrap();
    let json_ld: serde_json::Value = serde_json::from_str(&page[json_ld_start..json_ld_end]).unwrap();
    assert_eq!(json_ld["@type"], "Dataset");
    assert_eq!(json_ld["name"], "Inversión extranjera directa");
    assert_eq!(json_ld["distribution"][0]["encodingFormat"], "CSV");
    assert_eq!(json_ld["license"], "https://datos.gob.mx/libreusomx");

    let results = client.get(app.url("/dataset?q=inversion")).send().await.unwrap().text().await.unwrap();
    assert!(results.contains("/dataset/inversion-extranjera-directa"), "found by search without accents");
    let faceted =
        client.get(app.url("/dataset?res_format=CSV&tags=econom%C3%ADa")).send().await.unwrap().text().await.unwrap();
    assert!(faceted.contains("1 conjunto de datos encontrado"));

    // edit, then delete
    let edited = client
        .post(app.url("/dataset/inversion-extranjera-directa/edit"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("title", "Inversión extranjera"),
            ("name", "inversion-extranjera-directa"),
            ("owner_org", organization_id.as_str()),
            ("license_id", "cc-by-4.0"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 303);
    let page = client.get(app.url("/dataset/inversion-extranjera-directa")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Inversión extranjera</h1>") || page.contains("Inversión extranjera"));
    assert!(page.contains("actualizó el conjunto de datos"), "activity is shown");
    let deleted = client
        .post(app.url("/dataset/inversion-extranjera-directa/delete"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 303);
    assert_eq!(
        TestApp::new_client().get(app.url("/dataset/inversion-extranjera-directa")).send().await.unwrap().status(),
        404
    );
    // What the test published is analysed, as a worker would.
    app.run_jobs().await;
}

#[tokio::test]
async fn private_datasets_are_not_found_for_outsiders_in_pages() {
    let app = TestApp::start().await;
    let (_, root) = app.user("root", true).await;
    let organization = app.organization("org-a").await;
    let (member, _) = app.user("miembro", false).await;
    app.member(&organization, &member, Capacity::Member).await;
    let (status, _) = app
        .ckan(
            "package_create",
            Some(&root),
            json!({"name": "privado", "title": "Informe reservado", "owner_org": "org-a", "private": true}),
        )
        .await;
    assert_eq!(status, 200);
    let outsider = TestApp::new_client();
    assert_eq!(outsider.get(app.url("/dataset/privado")).send().await.unwrap().status(), 404);
    let listing = app.page_for(&outsider, "/organization/org-a").await;
    assert!(listing.contains("Organización org-a"), "the organization's page is shown");
    assert!(!listing.contains("Informe reservado"));
    let (member_client, _) = app.signed_in_client("miembro").await;
    let page = member_client.get(app.url("/dataset/privado")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Privado"));
    let listing = member_client.get(app.url("/organization/org-a")).send().await.unwrap().text().await.unwrap();
    assert!(listing.contains("Informe reservado"), "members see their organization's private datasets");
}

#[tokio::test]
async fn registration_tokens_and_member_admin_pages() {
    let app = TestApp::start().await;
    let client = TestApp::new_client();
    let csrf = app.csrf_token(&client).await;
    let registered = client
        .post(app.url("/user/register"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "lucia"),
            ("fullname", "Lucía Garza"),
            ("email", "lucia@example.org"),
            ("password", "una-clave-larga"),
            ("password_confirmation", "una-clave-larga"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 303);
    let duplicate = TestApp::new_client();
    let duplicate_csrf = app.csrf_token(&duplicate).await;
    let again = duplicate
        .post(app.url("/user/register"))
        .form(&[
            ("csrf_token", duplicate_csrf.as_str()),
            ("name", "lucia"),
            ("email", "otra@example.org"),
            ("password", "x"),
            ("password_confirmation", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 422);
    assert!(again.text().await.unwrap().contains("al menos 8 caracteres"));

    let profile = client.get(app.url("/user/lucia")).send().await.unwrap().text().await.unwrap();
    assert!(profile.contains("Tokens de la API"));
    // Signed in, forms carry the session's token, not the one from before.
    let before = csrf;
    let csrf = app.csrf_token(&client).await;
    assert_ne!(csrf, before);
    let created = client
        .post(app.url("/user/lucia/tokens"))
        .form(&[("csrf_token", csrf.as_str()), ("token_name", "mi script")])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let page = created.text().await.unwrap();
    let marker = "<code class=\"token\" id=\"new-token\">";
    let start = page.find(marker).unwrap() + marker.len();
    let secret = &page[start..start + page[start..].find('<').unwrap()];
    let (status, me) = app.ckan_get("user_show", Some(secret), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(me["result"]["name"], "lucia");
    let others = TestApp::new_client().get(app.url("/user/lucia")).send().await.unwrap().text().await.unwrap();
    assert!(
        !others.contains("Tokens de la API") && !others.contains("lucia@example.org"),
        "tokens and e-mail are private"
    );

    // an organization admin manages members through the admin page
    let organization = app.organization("vecinos").await;
    app.member(&organization, &app.store().user("lucia").await.unwrap(), Capacity::Admin).await;
    app.user("pedro", false).await;
    let added = client
        .post(app.url("/organization/vecinos/members"))
        .form(&[("csrf_token", csrf.as_str()), ("username", "pedro"), ("role", "editor")])
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 303);
    let members = client.get(app.url("/organization/vecinos/members")).send().await.unwrap().text().await.unwrap();
    assert!(members.contains("pedro") && members.contains("Editor"));
    let unknown = client
        .post(app.url("/organization/vecinos/members"))
        .form(&[("csrf_token", csrf.as_str()), ("username", "nadie"), ("role", "editor")])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 422);
    let removed = client
        .post(app.url("/organization/vecinos/members/pedro/delete"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 303);
    let (pedro_client, _) = app.signed_in_client("pedro").await;
    assert_eq!(pedro_client.get(app.url("/organization/vecinos/members")).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn organization_admins_edit_their_organization_and_see_its_activity() {
    let app = TestApp::start().await;
    let organization = app.organization("vecinos").await;
    let (lucia, _) = app.user("lucia", false).await;
    app.member(&organization, &lucia, Capacity::Admin).await;
    let (pedro, _) = app.user("pedro", false).await;
    app.member(&organization, &pedro, Capacity::Editor).await;
    let (_, root) = app.user("root", true).await;
    app.dataset(&root, "privado-vecinos", "vecinos", true).await;

    let (client, csrf) = app.signed_in_client("lucia").await;
    let edited = client
        .post(app.url("/organization/vecinos/edit"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("title", "Vecinos Unidos"),
            ("name", "vecinos-unidos"),
            ("kind", "civil-society"),
            ("description", "Asociación vecinal"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 303);
    assert_eq!(edited.headers()["location"], "/organization/vecinos-unidos");
    let page = client.get(app.url("/organization/vecinos-unidos")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Vecinos Unidos") && page.contains("Sociedad civil"));
    assert!(page.contains("actualizó la organización"), "organization activity is shown");
    assert!(page.contains("privado-vecinos"), "admins see their private datasets' activity");
    let outsider = app.page_for(&TestApp::new_client(), "/organization/vecinos-unidos").await;
    assert!(outsider.contains("actualizó la organización"), "the public activity is shown");
    assert!(!outsider.contains("privado-vecinos"), "private activity stays private");

    let (_, search) = app
        .ckan_get("package_search", Some(&root), &[("fq", "organization:vecinos-unidos"), ("include_private", "true")])
        .await;
    assert_eq!(search["result"]["count"], 1, "datasets are re-indexed under the new name");

    let (pedro_client, _) = app.signed_in_client("pedro").await;
    assert_eq!(pedro_client.get(app.url("/organization/vecinos-unidos/edit")).send().await.unwrap().status(), 403);
    let profile = client.get(app.url("/user/lucia")).send().await.unwrap().text().await.unwrap();
    assert!(profile.contains("actualizó la organización"), "the user page lists the user's changes");
}

/// A dataset's Markdown description is plain text in every list, cut on a
/// word: the home page, search, its organization and its theme.
#[tokio::test]
async fn list_summaries_are_plain_text_cut_on_a_word() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("sec-economia").await;
    let (status, body) = app.ckan("group_create", Some(&token), json!({"name": "economia", "title": "Economía"})).await;
    assert_eq!(status, 200, "{body}");
    let notes = format!(
        "Estado de los hitos del compromiso **MXNLE0001: Participación**.\n\n> **Datos de ejemplo.** No son cifras \
         oficiales; <b>véase</b> [la fuente](https://example.org). {}",
        "palabra ".repeat(60)
    );
    let (status, body) = app
        .ckan(
            "package_create",
            Some(&token),
            json!({"name": "hitos", "title": "Hitos", "owner_org": "sec-economia", "notes": notes, "groups": [{"name": "economia"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for path in ["/", "/dataset", "/dataset?q=hitos", "/organization/sec-economia", "/group/economia"] {
        let page = app.page(path).await;
        let start = page.find("Estado de los hitos").unwrap_or_else(|| panic!("{path} lists the dataset"));
        let summary = &page[start..start + page[start..].find("</p>").unwrap()];
        assert!(
            summary.starts_with(
                "Estado de los hitos del compromiso MXNLE0001: Participación. Datos de ejemplo. No son cifras \
                 oficiales; véase la fuente. palabra"
            ),
            "{path}: {summary}"
        );
        assert!(!summary.contains('*') && !summary.contains("&gt;") && !summary.contains("&lt;"), "{path}: {summary}");
        assert!(summary.ends_with("palabra…"), "cut after a whole word: {summary}");
    }
}

/// Every page template is rendered by some test: with strict undefined
/// values, a key a template reads that its view lacks fails the page, and
/// these are the pages no other test opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_and_the_new_organization_form_render() {
    let app = TestApp::start().await;
    app.user("root", true).await;
    let (commitment, _) = common::commitment(&app).await;
    let commitments = app.page("/commitment").await;
    assert!(commitments.contains(&commitment.code), "the commitments are listed");
    let organizations = app.page("/organization").await;
    assert!(organizations.contains("Organización cultura"), "the organizations are listed");
    let groups = app.page("/group").await;
    assert!(groups.contains("<h1"), "the themes page is shown");
    let (root, _) = app.signed_in_client("root").await;
    let form = app.page_for(&root, "/organization/new").await;
    assert!(form.contains("name=\"csrf_token\"") && form.contains("name=\"title\""), "the form is shown");
    app.run_jobs().await;
}

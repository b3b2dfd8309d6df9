//! The accountability tracker over HTTP: who may update a milestone, the
//! status rules as translated form errors, the permanent timeline, and the
//! dashboard's numbers against the data.

use crate::common;

use common::TestApp;
use common::commitment;
use datalab_core::Capacity;
use datalab_core::accountability::MilestoneStatus;
use uuid::Uuid;

#[tokio::test]
async fn who_may_update_a_milestone() {
    let app = TestApp::start().await;
    let (commitment, _) = commitment(&app).await;
    let culture = app.store().organization("cultura").await.unwrap();
    let economy = app.organization("economia").await;
    let (member, _) = app.user("miembro", false).await;
    app.member(&culture, &member, Capacity::Member).await;
    let (outsider, _) = app.user("ajeno", false).await;
    app.member(&economy, &outsider, Capacity::Admin).await;
    app.user("root", true).await;

    let anonymous = TestApp::new_client();
    let csrf = app.csrf_token(&anonymous).await;
    let form = |csrf: &str, progress: &str| {
        vec![
            ("csrf_token".to_string(), csrf.to_string()),
            ("status".to_string(), "in-progress".to_string()),
            ("progress".to_string(), progress.to_string()),
            ("start".to_string(), "2029-01".to_string()),
            ("end".to_string(), "2030-06".to_string()),
        ]
    };
    let url = app.url("/commitment/MXNLE0001/milestone/3");
    assert_eq!(anonymous.post(&url).form(&form(&csrf, "10")).send().await.unwrap().status(), 403);
    let mut matrix = Vec::new();
    for login in ["ajeno", "miembro", "root"] {
        let (client, csrf) = app.signed_in_client(login).await;
        let page = client.get(&url).send().await.unwrap().text().await.unwrap();
        let status = client.post(&url).form(&form(&csrf, "10")).send().await.unwrap().status().as_u16();
        matrix.push((login, page.contains("Actualizar el hito"), status));
    }
    assert_eq!(matrix, vec![("ajeno", false, 403), ("miembro", true, 303), ("root", true, 303)]);
    let milestone = app.store().milestone(commitment.id, 3).await.unwrap();
    assert_eq!(milestone.status, MilestoneStatus::InProgress);
    // What the test published is analysed, as a worker would.
    app.run_jobs().await;
}

#[tokio::test]
async fn status_rules_are_translated_form_errors_and_write_nothing() {
    let app = TestApp::start().await;
    let (commitment, milestones) = commitment(&app).await;
    let culture = app.store().organization("cultura").await.unwrap();
    let (member, _) = app.user("miembro", false).await;
    app.member(&culture, &member, Capacity::Editor).await;
    let (client, csrf) = app.signed_in_client("miembro").await;
    let url = app.url("/commitment/MXNLE0001/milestone/1");
    let post = |fields: Vec<(&'static str, &'static str)>| {
        let mut pairs = vec![("csrf_token", csrf.clone())];
        pairs.extend(fields.into_iter().map(|(key, value)| (key, value.to_string())));
        client.post(&url).form(&pairs).send()
    };
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("status", "stuck"), ("progress", "10"), ("start", "2023-01"), ("end", "2023-02")],
            "Un hito detenido necesita la razón del bloqueo.",
        ),
        (
            vec![("status", "finished"), ("progress", "100"), ("start", "2023-01"), ("end", "2023-02")],
            "Un hito terminado necesita al menos una evidencia.",
        ),
        (
            vec![("status", "in-progress"), ("progress", "150"), ("start", "2023-01"), ("end", "2023-02")],
            "fuera del rango permitido",
        ),
        (
            vec![("status", "in-progress"), ("progress", "10"), ("start", "enero"), ("end", "2023-02")],
            "La fecha no es válida",
        ),
        (
            vec![("status", "blocked"), ("progress", "10"), ("start", "2023-01"), ("end", "2023-02")],
            "Ese valor no es válido.",
        ),
        (
            vec![
                ("status", "in-progress"),
                ("progress", "10"),
                ("start", "2023-01"),
                ("end", "2023-02"),
                ("evidence_url", "javascript:alert(1)"),
            ],
            "dirección web completa",
        ),
    ];
    for (fields, message) in cases {
        let response = post(fields.clone()).await.unwrap();
        assert_eq!(response.status(), 422, "{fields:?}");
        let page = response.text().await.unwrap();
        assert!(page.contains(message), "{fields:?} should say {message}");
    }
    let events = app.store().milestone_events(milestones[0].id).await.unwrap();
    assert_eq!(events.len(), 1, "only the creation entry: nothing was written");

    // Stuck with a reason and an owner, then finished with evidence: each change is in the timeline.
    let response = post(vec![
        ("status", "stuck"),
        ("progress", "40"),
        ("start", "2023-01"),
        ("end", "2023-02"),
        ("blocker_reason", "Falta el convenio"),
        ("blocker_owner", "Secretaría de Administración"),
        ("note", "Acordado en la mesa del 3 de marzo"),
    ])
    .await
    .unwrap();
    assert_eq!(response.status(), 303);
    let response = post(vec![
        ("status", "finished"),
        ("progress", "100"),
        ("start", "2023-01"),
        ("end", "2023-04"),
        ("evidence_url", "https://example.org/minuta.pdf"),
        ("evidence_note", "Minuta firmada"),
    ])
    .await
    .unwrap();
    assert_eq!(response.status(), 303);
    let page = client.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Terminado"));
    assert!(page.contains("minuta.pdf") && page.contains("Minuta firmada"), "the evidence is listed");
    assert!(page.contains("Sin iniciar → Detenido") && page.contains("Detenido → Terminado"));
    assert!(page.contains("«Acordado en la mesa del 3 de marzo»"));
    assert!(page.contains("2023-02 → 2023-04"), "date changes are in the timeline");
    let history: serde_json::Value = app
        .client
        .get(app.url("/api/v1/commitments/MXNLE0001/milestones/1/history"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fields: Vec<&str> = history.as_array().unwrap().iter().map(|event| event["field"].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        vec![
            "created",
            "status",
            "progress",
            "blocker_reason",
            "blocker_owner",
            "status",
            "progress",
            "end",
            "blocker_reason",
            "blocker_owner",
            "evidence"
        ]
    );
    let _ = commitment;
    // What the test published is analysed, as a worker would.
    app.run_jobs().await;
}

#[tokio::test]
async fn dashboard_numbers_equal_the_data_and_problems_are_shown() {
    let app = TestApp::start().await;
    let (commitment, milestones) = commitment(&app).await;
    let mut in_progress = milestones[2].clone();
    in_progress.status = MilestoneStatus::InProgress;
    in_progress.progress = 50;
    app.store().update_milestone(None, &milestones[2], &in_progress, "").await.unwrap();

    let page = app.page("/commitment/MXNLE0001").await;
    assert!(
        page.contains("<strong>2</strong> Sin iniciar")
            && page.contains("<strong>1</strong> En proceso")
            && page.contains("<strong>0</strong> Terminado")
    );
    let overdue_section =
        &page[page.find("Hitos vencidos").unwrap()..page.find("Problemas en los datos publicados").unwrap()];
    assert!(overdue_section.contains("1. Hito 1") && overdue_section.contains("2. Hito 2"), "past ends, not finished");
    assert!(!overdue_section.contains("3. Hito 3"), "an end in 2030 is not overdue");
    assert!(page.contains("la fecha de término es anterior a la de inicio en la fuente (2023-02 → 2023-01)"));
    assert!(page.contains("<svg role=\"img\""), "the timeline chart");
    assert!(page.contains("class=\"today\""), "with today's line");
    assert!(page.contains("Secretaría de Cultura"));
    let english = app.page("/commitment/MXNLE0001?lang=en").await;
    assert!(english.contains("Participation with open data") && english.contains("Overdue milestones"));

    let api: serde_json::Value =
        app.client.get(app.url("/api/v1/commitments/MXNLE0001")).send().await.unwrap().json().await.unwrap();
    let statuses: Vec<&str> =
        api["milestones"].as_array().unwrap().iter().map(|milestone| milestone["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["not-started", "not-started", "in-progress"]);
    assert_eq!(api["milestones"][1]["data_problems"], serde_json::json!(["end-before-start"]));
    assert_eq!(api["milestones"][0]["overdue"], true);
    assert_eq!(api["milestones"][2]["irm_completion"], "No evidence available");
    assert_eq!(app.client.get(app.url("/commitment/NOPE")).send().await.unwrap().status(), 404);
    assert_eq!(app.client.get(app.url("/commitment/MXNLE0001/milestone/99")).send().await.unwrap().status(), 404);
    let _ = commitment;
}

#[tokio::test]
async fn open_by_default_csv_catalog_copy_and_feed_follow_each_change() {
    let app = TestApp::start().await;
    let (commitment, _) = commitment(&app).await;
    datalab_app::accountability::sync_catalog_copy(app.app(), &commitment).await.unwrap();
    let culture = app.store().organization("cultura").await.unwrap();
    let (member, _) = app.user("miembro", false).await;
    app.member(&culture, &member, Capacity::Member).await;
    let (client, csrf) = app.signed_in_client("miembro").await;

    let csv_before = app.client.get(app.url("/commitment/MXNLE0001/milestones.csv")).send().await.unwrap();
    assert_eq!(csv_before.headers()["content-type"], "text/csv; charset=utf-8");
    let csv_before = csv_before.text().await.unwrap();
    assert_eq!(csv_before.lines().count(), 4, "a header and three milestones");
    assert!(csv_before.starts_with("commitment,number,title_es,title_en,start,end,status,progress"));
    assert!(csv_before.contains(
        "MXNLE0001,2,Hito 2,Milestone 2,2023-02,2023-01,not-started,0,,,cultura,0,true,end-before-start,Not started"
    ));

    let response = client
        .post(app.url("/commitment/MXNLE0001/milestone/3"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("status", "in-progress"),
            ("progress", "60"),
            ("start", "2029-01"),
            ("end", "2030-06"),
            ("evidence_url", "https://example.org/avance.pdf"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);

    // The catalog copy follows: its CSV and JSON resources hold the new status.
    let (_, shown) = app.ckan_get("package_show", None, &[("id", "seguimiento-mxnle0001")]).await;
    let resources = shown["result"]["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 2);
    assert_eq!(shown["result"]["organization"]["name"], "cultura");
    let csv_url =
        resources.iter().find(|resource| resource["format"] == "CSV").unwrap()["url"].as_str().unwrap().to_string();
    let published = app.client.get(&csv_url).send().await.unwrap().text().await.unwrap();
    assert!(
        published
            .contains("MXNLE0001,3,Hito 3,Milestone 3,2029-01,2030-06,in-progress,60,,,cultura,1,false,,Substantial"),
        "{published}"
    );
    assert_eq!(published, app.page("/commitment/MXNLE0001/milestones.csv").await);
    let json_url =
        resources.iter().find(|resource| resource["format"] == "JSON").unwrap()["url"].as_str().unwrap().to_string();
    let published_json: serde_json::Value = app.client.get(&json_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(published_json["milestones"][2]["status"], "in-progress");
    let (_, activity) = app.ckan_get("package_activity_list", None, &[("id", "seguimiento-mxnle0001")]).await;
    assert_eq!(activity["result"].as_array().unwrap().len(), 2, "created, then changed once");

    let feed = app.client.get(app.url("/commitment/MXNLE0001/feed.atom")).send().await.unwrap();
    assert_eq!(feed.headers()["content-type"], "application/atom+xml; charset=utf-8");
    let feed = feed.text().await.unwrap();
    assert!(feed.starts_with("<?xml") && feed.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">"));
    assert!(feed.contains("<title>Hito 3: Sin iniciar → En proceso</title>"), "{feed}");
    assert!(feed.contains("<title>Hito 3: agregó una evidencia</title>"));
    assert!(feed.contains("<name>miembro</name>"));
    let page = app.page("/commitment/MXNLE0001").await;
    assert!(page.contains("/dataset/seguimiento-mxnle0001"), "the page links its catalog copy");
    // What the test published is analysed, as a worker would.
    app.run_jobs().await;
}

async fn import(client: &reqwest::Client, app: &TestApp, csrf: &str, csv: &str, action: &str) -> (u16, String) {
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", csrf.to_string())
        .text("action", action.to_string())
        .part("file", reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("hitos.csv"));
    let response = client.post(app.url("/commitment/MXNLE0001/import")).multipart(form).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn bulk_update_from_csv_round_trips_previews_and_is_all_or_nothing() {
    let app = TestApp::start().await;
    let (commitment, milestones) = commitment(&app).await;
    let culture = app.store().organization("cultura").await.unwrap();
    let (member, _) = app.user("miembro", false).await;
    app.member(&culture, &member, Capacity::Member).await;
    let (client, csrf) = app.signed_in_client("miembro").await;
    let events = |app: &TestApp| {
        let ids: Vec<Uuid> = milestones.iter().map(|milestone| milestone.id).collect();
        let store = app.store().clone();
        async move {
            let mut total = 0;
            for id in ids {
                total += store.milestone_events(id).await.unwrap().len();
            }
            total
        }
    };

    // Export, import unchanged: nothing to do.
    let exported = app.page("/commitment/MXNLE0001/milestones.csv").await;
    let (status, page) = import(&client, &app, &csrf, &exported, "preview").await;
    assert_eq!(status, 200);
    assert!(page.contains("El archivo no cambia nada."), "export then import changes nothing");
    let (_, _) = import(&client, &app, &csrf, &exported, "apply").await;
    assert_eq!(events(&app).await, 3, "only the three creation entries");

    // Edit two rows: a preview lists the changes and writes nothing.
    let edited = exported
        .replace(
            "MXNLE0001,1,Hito 1,Milestone 1,2023-01,2023-02,not-started,0,",
            "MXNLE0001,1,Hito 1,Milestone 1,2023-01,2023-02,in-progress,30,",
        )
        .replace(
            "MXNLE0001,3,Hito 3,Milestone 3,2029-01,2030-06,not-started,0,",
            "MXNLE0001,3,Hito 3,Milestone 3,2029-01,2030-12,not-started,0,",
        );
    let (status, page) = import(&client, &app, &csrf, &edited, "preview").await;
    assert_eq!(status, 200);
    assert!(page.contains("Cambios que se aplicarán"));
    assert!(
        page.contains("<td>Sin iniciar</td><td>En proceso</td>") && page.contains("<td>2030-06</td><td>2030-12</td>")
    );
    assert_eq!(events(&app).await, 3, "a preview writes nothing");

    // One bad row among good ones: nothing is applied, each problem named by line.
    let broken = format!("{edited}MXNLE0001,99,x,x,2023-01,2023-02,finished,100,,,,0,false,,Complete\n").replace(
        "MXNLE0001,2,Hito 2,Milestone 2,2023-02,2023-01,not-started,0,",
        "MXNLE0001,2,Hito 2,Milestone 2,2023-02,2023-01,stuck,0,",
    );
    let (status, page) = import(&client, &app, &csrf, &broken, "apply").await;
    assert_eq!(status, 422);
    assert!(page.contains("No se aplicó nada"));
    assert!(page.contains("Fila 3, blocker_reason: Un hito detenido necesita la razón del bloqueo."), "{page}");
    assert!(page.contains("Fila 5, number: ese hito no existe en este compromiso"));
    assert_eq!(events(&app).await, 3, "all or nothing");
    let (status, page) = import(&client, &app, &csrf, "commitment,number,estado\nMXNLE0001,1,x\n", "apply").await;
    assert_eq!(status, 422);
    assert!(page.contains("Fila 1, estado: columna desconocida"));

    // The edited file applies: one transaction, history entries, catalog copy refreshed.
    let (status, page) = import(&client, &app, &csrf, &edited, "apply").await;
    assert_eq!(status, 200);
    assert!(page.contains("Se actualizaron 2 hitos; 3 registros nuevos en su historial."), "{page}");
    assert_eq!(app.store().milestone(commitment.id, 1).await.unwrap().status, MilestoneStatus::InProgress);
    assert_eq!(app.store().milestone(commitment.id, 3).await.unwrap().end, "2030-12");
    let reexported = app.page("/commitment/MXNLE0001/milestones.csv").await;
    let (_, page) = import(&client, &app, &csrf, &reexported, "preview").await;
    assert!(page.contains("El archivo no cambia nada."), "a new export round-trips too");

    // Someone of another organization: every row is refused, by line.
    let economy = app.organization("economia").await;
    let (outsider, _) = app.user("ajeno", false).await;
    app.member(&economy, &outsider, Capacity::Admin).await;
    let (other, other_csrf) = app.signed_in_client("ajeno").await;
    let (status, page) =
        import(&other, &app, &other_csrf, &edited.replace("in-progress,30", "finished,100"), "apply").await;
    assert_eq!(status, 422);
    assert!(page.contains("Fila 2, number: no perteneces a una organización responsable de este hito"));
    // What the test published is analysed, as a worker would.
    app.run_jobs().await;
}

#[tokio::test]
async fn bulk_update_through_the_api_with_a_token() {
    let app = TestApp::start().await;
    let (commitment, _) = commitment(&app).await;
    let culture = app.store().organization("cultura").await.unwrap();
    let (member, token) = app.user("miembro", false).await;
    app.member(&culture, &member, Capacity::Member).await;
    let csv = "commitment,number,status,progress,note\nMXNLE0001,3,in-progress,10,Arranque\n";
    let url = app.url("/api/v1/commitments/MXNLE0001/milestones.csv");
    let dry: serde_json::Value = app
        .client
        .post(format!("{url}?dry_run=true"))
        .header("Authorization", &token)
        .body(csv)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dry["applied"], false);
    assert_eq!(dry["changes"].as_array().unwrap().len(), 2);
    assert_eq!(app.store().milestone(commitment.id, 3).await.unwrap().status, MilestoneStatus::NotStarted);
    let applied = app.client.post(&url).header("Authorization", &token).body(csv).send().await.unwrap();
    assert_eq!(applied.status(), 200);
    assert_eq!(app.store().milestone(commitment.id, 3).await.unwrap().progress, 10);
    let refused = app
        .client
        .post(&url)
        .header("Authorization", &token)
        .body("commitment,number,progress\nMXNLE0001,3,-5\n")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "field-error-out-of-range");
    assert_eq!(body["errors"][0]["line"], 2);
    let anonymous = app.client.post(&url).body(csv).send().await.unwrap();
    assert_eq!(anonymous.status(), 403);
    // What the test published is analysed, as a worker would.
    app.run_jobs().await;
}

#[tokio::test]
async fn monitors_comment_and_flag_evidence_in_public() {
    let app = TestApp::start().await;
    let (commitment, milestones) = commitment(&app).await;
    let mut with_evidence = milestones[0].clone();
    with_evidence.status = MilestoneStatus::Finished;
    with_evidence.progress = 100;
    with_evidence.evidence.push(datalab_core::accountability::Evidence {
        id: Uuid::new_v4(),
        target: datalab_core::accountability::EvidenceTarget::Url { url: "https://example.org/foto.jpg".into() },
        note: "Foto de la reunión".into(),
        added_by: None,
        added_at: datalab_store::now(),
    });
    app.store().update_milestone(None, &milestones[0], &with_evidence, "").await.unwrap();
    let evidence_id = with_evidence.evidence[0].id;
    app.user("root", true).await;
    app.user("vigia", false).await;
    app.user("curioso", false).await;

    let (root, root_csrf) = app.signed_in_client("root").await;
    let added = root
        .post(app.url("/commitment/MXNLE0001/monitors"))
        .form(&[("csrf_token", root_csrf.as_str()), ("username", "vigia")])
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 303);
    let (curious, curious_csrf) = app.signed_in_client("curioso").await;
    let refused = curious
        .post(app.url("/commitment/MXNLE0001/monitors"))
        .form(&[("csrf_token", curious_csrf.as_str()), ("username", "curioso")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "only sysadmins name monitors");

    let (monitor, csrf) = app.signed_in_client("vigia").await;
    let page = monitor.get(app.url("/commitment/MXNLE0001/milestone/1")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Comentario de monitoreo") && page.contains("Señalar como insuficiente"));
    assert!(!page.contains("Actualizar el hito"), "a monitor does not update milestones");
    let commented = monitor
        .post(app.url("/commitment/MXNLE0001/milestone/1/comment"))
        .form(&[("csrf_token", csrf.as_str()), ("comment", "La minuta no tiene firmas")])
        .send()
        .await
        .unwrap();
    assert_eq!(commented.status(), 303);
    let flagged = monitor
        .post(app.url(&format!("/commitment/MXNLE0001/milestone/1/evidence/{evidence_id}/flag")))
        .form(&[("csrf_token", csrf.as_str()), ("reason", "Una foto no prueba que se hizo el diagnóstico")])
        .send()
        .await
        .unwrap();
    assert_eq!(flagged.status(), 303);
    let empty = monitor
        .post(app.url("/commitment/MXNLE0001/milestone/1/comment"))
        .form(&[("csrf_token", csrf.as_str()), ("comment", " ")])
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 422);

    let not_monitor = curious
        .post(app.url("/commitment/MXNLE0001/milestone/1/comment"))
        .form(&[("csrf_token", curious_csrf.as_str()), ("comment", "spam")])
        .send()
        .await
        .unwrap();
    assert_eq!(not_monitor.status(), 403);

    let public = TestApp::new_client()
        .get(app.url("/commitment/MXNLE0001/milestone/1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        public.contains("Señalada como insuficiente:")
            && public.contains("«Una foto no prueba que se hizo el diagnóstico»"),
        "flags are public"
    );
    assert!(public.contains("vigia: comentó — «La minuta no tiene firmas»"));
    assert!(public.contains("señaló una evidencia como insuficiente"));
    let commitment_page =
        TestApp::new_client().get(app.url("/commitment/MXNLE0001")).send().await.unwrap().text().await.unwrap();
    assert!(commitment_page.contains("/user/vigia"), "monitors are listed");
    let _ = commitment;
    // The tracker's catalog copy, written as the log was followed, is analysed.
    app.run_jobs().await;
}

#[tokio::test]
async fn documents_as_evidence_and_the_printable_report() {
    let app = TestApp::start().await;
    let (commitment, _) = commitment(&app).await;
    let culture = app.store().organization("cultura").await.unwrap();
    let (member, _) = app.user("miembro", false).await;
    app.member(&culture, &member, Capacity::Member).await;
    let (client, csrf) = app.signed_in_client("miembro").await;
    let document = b"%PDF-1.4 minuta de la mesa de trabajo".to_vec();
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", csrf.clone())
        .text("note", "Minuta firmada")
        .part("document", reqwest::multipart::Part::bytes(document.clone()).file_name("../minuta.pdf"));
    let uploaded =
        client.post(app.url("/commitment/MXNLE0001/milestone/1/document")).multipart(form).send().await.unwrap();
    assert_eq!(uploaded.status(), 303);
    let milestone = app.store().milestone(commitment.id, 1).await.unwrap();
    assert_eq!(milestone.evidence.len(), 1);
    use sha2::Digest;
    match &milestone.evidence[0].target {
        datalab_core::accountability::EvidenceTarget::Document { filename, sha256, .. } => {
            assert_eq!(filename, "minuta.pdf");
            assert_eq!(*sha256, hex::encode(sha2::Sha256::digest(&document)));
        }
        other => panic!("expected a document, got {other:?}"),
    }
    let url = app.url(&format!("/commitment/MXNLE0001/milestone/1/evidence/{}/download", milestone.evidence[0].id));
    let downloaded = TestApp::new_client().get(&url).send().await.unwrap();
    assert_eq!(downloaded.status(), 200);
    assert_eq!(downloaded.headers()["content-type"], "application/pdf");
    assert_eq!(downloaded.bytes().await.unwrap().to_vec(), document);
    let page = client.get(app.url("/commitment/MXNLE0001/milestone/1")).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("minuta.pdf") && page.contains("&#x2f;evidence&#x2f;"),
        "the document is linked from the milestone"
    );

    // Without the CSRF token first, nothing is stored.
    let forged = reqwest::multipart::Form::new()
        .part("document", reqwest::multipart::Part::bytes(b"otro".to_vec()).file_name("otro.pdf"))
        .text("csrf_token", csrf.clone());
    let refused =
        client.post(app.url("/commitment/MXNLE0001/milestone/1/document")).multipart(forged).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(app.stored_blobs().len(), 1 + 2, "the document, plus nothing but the catalog copy's two files");

    let report = app.page("/commitment/MXNLE0001/report").await;
    assert!(report.contains("Informe para imprimir: MXNLE0001"));
    assert!(report.contains("No evidence available") || report.contains("Not started"));
    assert!(report.contains("minuta.pdf"));
    assert!(report.contains("@media print") || report.contains("/static/style.css"));
    // What the test published is analysed, as a worker would.
    app.run_jobs().await;
}

#[tokio::test]
async fn tasks_under_a_milestone_drive_its_progress() {
    let app = TestApp::start().await;
    let (commitment, _) = commitment(&app).await;
    let culture = app.store().organization("cultura").await.unwrap();
    let (member, _) = app.user("miembro", false).await;
    app.member(&culture, &member, Capacity::Member).await;
    let (client, csrf) = app.signed_in_client("miembro").await;
    for (title, weight) in [("Convocar a las dependencias", "3"), ("Firmar el convenio", "1")] {
        let added = client
            .post(app.url("/commitment/MXNLE0001/milestone/3/tasks"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("title_es", title),
                ("start", "2029-01"),
                ("end", "2029-06"),
                ("weight", weight),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(added.status(), 303);
    }
    let bad = client
        .post(app.url("/commitment/MXNLE0001/milestone/3/tasks"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("title_es", "Sin peso"),
            ("start", "2029-01"),
            ("end", "2029-06"),
            ("weight", "cero"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let page = client.get(app.url("/commitment/MXNLE0001/milestone/3")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Convocar a las dependencias") && page.contains("Firmar el convenio"));
    assert!(page.contains("El avance de este hito se calcula de sus tareas"));
    let updated = client
        .post(app.url("/commitment/MXNLE0001/milestone/4"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("status", "finished"),
            ("progress", "100"),
            ("start", "2029-01"),
            ("end", "2029-06"),
            ("evidence_url", "https://example.org/convocatoria.pdf"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 303);
    assert_eq!(app.store().milestone(commitment.id, 3).await.unwrap().progress, 75, "3 × 100 + 1 × 0 over 4");
    let task_page =
        client.get(app.url("/commitment/MXNLE0001/milestone/4")).send().await.unwrap().text().await.unwrap();
    assert!(task_page.contains("Tarea del hito") && task_page.contains("3. Hito 3"));
    let parent_page =
        client.get(app.url("/commitment/MXNLE0001/milestone/3")).send().await.unwrap().text().await.unwrap();
    assert!(parent_page.contains("calculado de sus tareas"), "the derived change is in the parent's timeline");
    let dashboard = app.page("/commitment/MXNLE0001").await;
    assert!(dashboard.contains("<strong>0</strong> Terminado"), "tasks are not counted as milestones");
    let api: serde_json::Value =
        app.client.get(app.url("/api/v1/commitments/MXNLE0001")).send().await.unwrap().json().await.unwrap();
    assert_eq!(api["milestones"][3]["parent"], 3);
    // What the test published is analysed, as a worker would.
    app.run_jobs().await;
}

#[tokio::test]
async fn anyone_signed_in_follows_a_commitment_and_sees_its_changes() {
    let app = TestApp::start().await;
    let (commitment, milestones) = commitment(&app).await;
    app.user("lectora", false).await;
    let (client, csrf) = app.signed_in_client("lectora").await;
    let anonymous =
        TestApp::new_client().get(app.url("/commitment/MXNLE0001")).send().await.unwrap().text().await.unwrap();
    assert!(
        anonymous.contains("Inicia sesión para seguir este compromiso") && anonymous.contains("0 personas lo siguen")
    );
    let followed = client
        .post(app.url("/commitment/MXNLE0001/follow"))
        .form(&[("csrf_token", csrf.as_str()), ("follow", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(followed.status(), 303);
    let mut started = milestones[2].clone();
    started.status = MilestoneStatus::InProgress;
    app.store().update_milestone(None, &milestones[2], &started, "").await.unwrap();
    let page = client.get(app.url("/commitment/MXNLE0001")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("1 persona lo sigue") && page.contains("Dejar de seguir"));
    let profile = client.get(app.url("/user/lectora")).send().await.unwrap().text().await.unwrap();
    assert!(profile.contains("Compromisos que sigues") && profile.contains("Hito 3: estado → En proceso"), "{profile}");
    let stopped = client
        .post(app.url("/commitment/MXNLE0001/follow"))
        .form(&[("csrf_token", csrf.as_str()), ("follow", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status(), 303);
    assert!(
        !client
            .get(app.url("/user/lectora"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("Compromisos que sigues")
    );
    let _ = commitment;
}

#[tokio::test]
async fn sysadmins_create_commitments_and_add_milestones_by_csv() {
    let app = TestApp::start().await;
    app.organization("cultura").await;
    let (_, root) = app.user("root", true).await;
    let (_, ana) = app.user("ana", false).await;
    let document = serde_json::json!({
        "action_plan": {"code": "nl-2025", "title": {"es": "Plan 2025", "en": "Plan 2025"}, "start": "2025", "end": "2027"},
        "commitment": {
            "code": "MXNLE0002", "title": {"es": "Datos de movilidad", "en": "Mobility data"},
            "problem": {"es": "", "en": ""}, "status_quo": {"es": "", "en": ""}, "action": {"es": "", "en": ""},
            "contribution": {"es": "", "en": ""}, "policy_area": {"es": "", "en": ""}, "sector": {"es": "", "en": ""},
            "ogp_values": [], "start": "2025-01", "end": "2026-12",
            "institutions": [{"organization": "cultura", "name": {"es": "Cultura", "en": "Culture"}, "role": "lead"}]
        },
        "milestones": [{"number": 1, "title": {"es": "Diagnóstico", "en": "Diagnosis"}, "description": {"es": "", "en": ""}, "start": "2025-01", "end": "2025-03", "organizations": ["cultura"]}]
    });
    let url = app.url("/api/v1/commitments");
    let refused = app.client.post(&url).header("Authorization", &ana).json(&document).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let created = app.client.post(&url).header("Authorization", &root).json(&document).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let again = app.client.post(&url).header("Authorization", &root).json(&document).send().await.unwrap();
    assert_eq!(again.status(), 409);
    let error: serde_json::Value = again.json().await.unwrap();
    assert_eq!(error["error"]["fields"]["code"], serde_json::json!(["name-taken"]));
    let mut unknown = document.clone();
    unknown["commitment"]["code"] = serde_json::json!("MXNLE0003");
    unknown["milestones"][0]["organizations"] = serde_json::json!(["no-existe"]);
    let bad = app.client.post(&url).header("Authorization", &root).json(&unknown).send().await.unwrap();
    assert_eq!(bad.status(), 409);
    assert!(app.store().commitment("MXNLE0003").await.is_err(), "nothing written");
    let (_, shown) = app.ckan_get("package_show", None, &[("id", "seguimiento-mxnle0002")]).await;
    assert_eq!(shown["result"]["num_resources"], 2, "published in the catalog at once");

    // Adding milestones by CSV is for sysadmins; others name existing ones.
    let csv = "commitment,number,title_es,title_en,start,end,status,progress,responsible_organizations\nMXNLE0002,2,Piloto,Pilot,2025-04,2025-09,in-progress,10,cultura\n";
    let imports = format!("{url}/MXNLE0002/milestones.csv");
    let by_ana = app.client.post(&imports).header("Authorization", &ana).body(csv).send().await.unwrap();
    assert_eq!(by_ana.status(), 409);
    let body: serde_json::Value = by_ana.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "import-unknown-milestone");
    let no_title = app
        .client
        .post(&imports)
        .header("Authorization", &root)
        .body("commitment,number,status\nMXNLE0002,3,not-started\n")
        .send()
        .await
        .unwrap();
    assert_eq!(no_title.status(), 409);
    let by_root = app.client.post(&imports).header("Authorization", &root).body(csv).send().await.unwrap();
    assert_eq!(by_root.status(), 200);
    let commitment = app.store().commitment("MXNLE0002").await.unwrap();
    let added = app.store().milestone(commitment.id, 2).await.unwrap();
    assert_eq!((added.title.es.as_str(), added.status, added.progress), ("Piloto", MilestoneStatus::InProgress, 10));
    assert_eq!(added.organizations.len(), 1);
    let history = app.store().milestone_events(added.id).await.unwrap();
    assert_eq!(history[0].field, "created");
    // What the test published is analysed, as a worker would.
    app.run_jobs().await;
}

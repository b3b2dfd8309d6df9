//! The data inventory: editors list what their organization holds or should
//! hold; everyone sees it, its coverage and a CSV.

use crate::common;

use common::TestApp;
use datalab_core::Capacity;

#[tokio::test]
async fn editors_keep_the_inventory_and_everyone_sees_the_gaps() {
    let app = TestApp::start().await;
    let organization = app.organization("movilidad").await;
    let (_, root) = app.user("root", true).await;
    let (editor, _) = app.user("editora", false).await;
    app.member(&organization, &editor, Capacity::Editor).await;
    let (member, _) = app.user("miembro", false).await;
    app.member(&organization, &member, Capacity::Member).await;
    app.dataset(&root, "aforos-viales", "movilidad", false).await;

    let (client, csrf) = app.signed_in_client("editora").await;
    let url = app.url("/organization/movilidad/inventory");
    let save = |fields: Vec<(&'static str, &'static str)>| {
        let mut pairs = vec![("csrf_token", csrf.clone())];
        pairs.extend(fields.into_iter().map(|(key, value)| (key, value.to_string())));
        client.post(&url).form(&pairs).send()
    };
    for fields in [
        vec![("title", "Aforos vehiculares"), ("status", "published"), ("dataset", "aforos-viales")],
        vec![("title", "Rutas de transporte público"), ("status", "planned"), ("expected", "2025-06")],
        vec![("title", "Multas de tránsito"), ("status", "not-available"), ("reason", "Contienen datos personales")],
    ] {
        assert_eq!(save(fields).await.unwrap().status(), 303);
    }
    let refused = save(vec![("title", "Sin razón"), ("status", "not-available")]).await.unwrap();
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("Di por qué no está disponible."));
    let wrong = save(vec![("title", "Mal enlazado"), ("status", "published"), ("dataset", "no-existe")]).await.unwrap();
    assert_eq!(wrong.status(), 422);

    let (member_client, member_csrf) = app.signed_in_client("miembro").await;
    let forbidden = member_client
        .post(&url)
        .form(&[("csrf_token", member_csrf.as_str()), ("title", "X"), ("status", "planned")])
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403, "members read, editors write");

    let page = TestApp::new_client().get(app.url("/inventory")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("1 de 3 publicados (33 %)"));
    assert!(page.contains("Multas de tránsito") && page.contains("No disponible: Contienen datos personales"));
    assert!(page.contains("/dataset/aforos-viales"), "published entries link their dataset");
    let planned =
        TestApp::new_client().get(app.url("/inventory?status=planned")).send().await.unwrap().text().await.unwrap();
    assert!(planned.contains("Rutas de transporte público") && !planned.contains("Multas de tránsito"));
    let csv = TestApp::new_client()
        .get(app.url("/inventory.csv?organization=movilidad"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("organization,title,description,expected,status,reason,dataset"));
    assert!(csv.contains("movilidad,Aforos vehiculares,,,published,,aforos-viales"));
    assert!(csv.contains("movilidad,Multas de tránsito,,,not-available,Contienen datos personales,"));
    let organization_page =
        TestApp::new_client().get(app.url("/organization/movilidad")).send().await.unwrap().text().await.unwrap();
    assert!(organization_page.contains("agregó al inventario"), "inventory changes are in the organization's activity");
}

/// A dataset of "cultura" with every metadata field the quality score asks
/// for (score 100 before any analysis); returns its dict.
async fn complete_dataset(app: &TestApp, token: &str) -> serde_json::Value {
    let (status, body) = app
        .ckan(
            "package_create",
            Some(token),
            serde_json::json!({
                "name": "completo", "title": "Completo", "owner_org": "cultura", "tags": ["museos"],
                "notes": "Museos del estado con su municipio, horarios y costo de entrada, actualizados cada mes.",
                "temporal_start": "2024", "spatial": ["19"], "update_frequency": "monthly", "contact_email": "datos@example.org",
                "resources": [{"name": "museos", "url": "https://example.org/museos.csv"}]
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["result"].clone()
}

#[tokio::test]
async fn the_quality_dashboard_ranks_datasets_and_shows_inventory_coverage() {
    let app = TestApp::start().await;
    app.organization("cultura").await;
    app.organization("economia").await;
    let (_, root) = app.user("root", true).await;
    complete_dataset(&app, &root).await;
    app.dataset(&root, "pobre", "economia", false).await;
    let page = app.page("/quality").await;
    let weakest = &page[page.find("Conjuntos de datos con menor calidad").unwrap()..];
    assert!(weakest.find("Conjunto pobre").unwrap() < weakest.find("Completo").unwrap(), "the weakest first");
    assert!(weakest.contains("publicar al menos un recurso"), "what to fix first");
    let only_culture = app.page("/quality?organization=cultura").await;
    assert!(
        only_culture.contains("Tablero de calidad: Organización cultura") && !only_culture.contains("Conjunto pobre")
    );
    assert!(only_culture.contains("<strong>100</strong> calidad promedio"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_filters_and_sorts_by_quality_and_analyses_update_it() {
    let app = TestApp::start().await;
    app.organization("cultura").await;
    let (_, root) = app.user("root", true).await;
    let created = complete_dataset(&app, &root).await;
    app.dataset(&root, "pobre", "cultura", false).await;

    // CKAN: sort and filter query.
    let (_, best_first) =
        app.ckan("package_search", None, serde_json::json!({"sort": "quality desc", "facet.field": ["quality"]})).await;
    let names: Vec<&str> =
        best_first["result"]["results"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["completo", "pobre"]);
    assert_eq!(best_first["result"]["search_facets"]["quality"]["items"].as_array().unwrap().len(), 2);
    let (_, worst_first) = app.ckan("package_search", None, serde_json::json!({"sort": "quality asc"})).await;
    assert_eq!(worst_first["result"]["results"][0]["name"], "pobre");
    let (_, high) = app.ckan("package_search", None, serde_json::json!({"fq": "quality:high"})).await;
    assert_eq!(high["result"]["count"], 1);
    assert_eq!(high["result"]["results"][0]["name"], "completo");

    // The native API: the score in results, the band as a filter, the report.
    let client = TestApp::new_client();
    let get = |path: String| {
        let client = client.clone();
        let url = app.url(&path);
        async move { client.get(url).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let listed = get("/api/v1/datasets?sort=-quality".into()).await;
    assert_eq!(listed["results"][0]["name"], "completo");
    assert_eq!(listed["results"][0]["quality_score"], 100);
    assert!(listed["results"][1]["quality_score"].as_u64().unwrap() < 50);
    assert_eq!(get("/api/v1/datasets?quality=low".into()).await["count"], 1);
    let report = get("/api/v1/datasets/pobre/quality".into()).await;
    assert_eq!(report["band"], "low");
    let metadata = report["criteria"].as_array().unwrap().iter().find(|c| c["code"] == "metadata").unwrap();
    assert!(metadata["findings"].as_array().unwrap().iter().any(|finding| finding == "no-update-frequency"));

    // The search page: a sort option, a facet with readable bands, a badge per result.
    let page = app.page("/dataset?sort=quality").await;
    assert!(page.contains(r#"<option value="quality" selected>Mejor calidad</option>"#));
    assert!(page.contains("Alta (80 o más) (1)") && page.contains("Baja (menos de 50) (1)"), "{page}");
    assert!(page.find("Calidad: 100").unwrap() < page.find("Conjunto pobre").unwrap());
    assert!(page.contains("badge-quality-high"));

    // An analysis that finds repeated rows and missing values lowers the indexed score.
    let id = created["id"].as_str().unwrap();
    let upload = app.upload(&root, id, b"a,b\n1,\n1,\n2,x\n".to_vec(), "museos.csv").await;
    app.analysed(upload["id"].as_str().unwrap(), None).await;
    let mut score = 100;
    for _ in 0..100 {
        score = get("/api/v1/datasets?q=Completo".into()).await["results"][0]["quality_score"].as_u64().unwrap();
        if score < 100 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let report = get("/api/v1/datasets/completo/quality".into()).await;
    assert_eq!(score, report["score"].as_u64().unwrap(), "the index has the report's score");
    assert!(score < 100);
}

//! The data inventory: editors list what their organization holds or should
//! hold; everyone sees it, its coverage and a CSV.

mod common;

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

#[tokio::test]
async fn the_quality_dashboard_ranks_datasets_and_shows_inventory_coverage() {
    let app = TestApp::start().await;
    app.organization("cultura").await;
    app.organization("economia").await;
    let (_, root) = app.user("root", true).await;
    let (status, _) = app
        .ckan(
            "package_create",
            Some(&root),
            serde_json::json!({
                "name": "completo", "title": "Completo", "owner_org": "cultura", "tags": ["museos"],
                "notes": "Museos del estado con su municipio, horarios y costo de entrada, actualizados cada mes.",
                "temporal_start": "2024", "spatial": ["19"], "update_frequency": "monthly", "contact_email": "datos@example.org",
                "resources": [{"name": "museos", "url": "https://example.org/museos.csv"}]
            }),
        )
        .await;
    assert_eq!(status, 200);
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

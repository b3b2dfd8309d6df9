//! Uploaded tables are analysed in the background: schema, profile and
//! validation reach resource_show and the resource page.

mod common;

use common::TestApp;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_windows_1252_csv_gets_a_schema_and_a_report() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let dataset = app.dataset(&token, "incidentes", "org-a", false).await;
    let bytes = include_bytes!("../../datalab/demo/incidentes_viales_ejemplo.csv").to_vec();
    let created = app.upload(&token, dataset["id"].as_str().unwrap(), bytes, "incidentes.csv").await;
    let resource_id = created["id"].as_str().unwrap().to_string();
    let resource = app.analysed(&resource_id, None).await;
    assert_eq!(resource["datalab_analysis"]["status"], "done");
    assert_eq!(resource["datalab_analysis"]["encoding"], "windows-1252");
    assert_eq!(resource["datalab_analysis"]["rows"], 300);
    let fields = resource["schema"]["fields"].as_array().unwrap();
    assert_eq!(fields[1], json!({"name": "fecha", "type": "date", "format": "%d/%m/%Y"}));
    let page = app.page(&format!("/dataset/incidentes/resource/{resource_id}")).await;
    assert!(
        page.contains("Estructura y calidad de los datos") && page.contains("300 filas; codificación windows-1252")
    );
    assert!(
        page.contains("<td>fecha</td><td>date (%d&#x2f;%m&#x2f;%Y)</td>") || page.contains("<td>fecha</td><td>date"),
        "the schema is shown"
    );
    let valid = resource["datalab_analysis"]["valid"] == true;
    assert!(
        if valid { page.contains("Sin errores de validación.") } else { page.contains("errores de validación") },
        "the report is summarised"
    );

    // A binary file named .csv: a clear failure, nothing else breaks.
    let created =
        app.upload(&token, dataset["id"].as_str().unwrap(), b"PK\x03\x04\x00\x00binary".to_vec(), "falso.csv").await;
    let resource = app.analysed(created["id"].as_str().unwrap(), None).await;
    assert_eq!(resource["datalab_analysis"]["status"], "failed");
    assert!(resource["datalab_analysis"]["error"].as_str().unwrap().contains("does not look like text"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dataset_page_explains_its_quality_score() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let dataset = app.dataset(&token, "calidad", "org-a", false).await;
    let page = app.page("/dataset/calidad").await;
    assert!(
        page.contains("Calidad: ")
            && page.contains("publicar al menos un recurso")
            && page.contains("declarar la frecuencia de actualización")
    );
    let created =
        app.upload(&token, dataset["id"].as_str().unwrap(), b"a,b\n1,\n1,\n2,x\n".to_vec(), "datos.csv").await;
    app.analysed(created["id"].as_str().unwrap(), None).await;
    let page = app.page("/dataset/calidad").await;
    for expected in [
        "Filas únicas",
        "quitar las filas repetidas",
        "Completitud (valores faltantes)",
        "completar los valores faltantes",
    ] {
        assert!(page.contains(expected), "{expected}");
    }
    assert!(!page.contains("publicar al menos un recurso"));
}

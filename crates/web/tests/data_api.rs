//! The data API over a real server: CKAN DataStore actions, the native rows
//! API with exports, guarded SQL, and the rows table of the resource page.

use crate::common;

use common::TestApp;
use serde_json::{Value, json};

struct Setup {
    app: TestApp,
    token: String,
    resource_id: String,
}

async fn setup() -> Setup {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let dataset = app.dataset(&token, "incidentes", "org-a", false).await;
    let bytes = include_bytes!("../../datalab/demo/incidentes_viales_ejemplo.csv").to_vec();
    let created = app.upload(&token, dataset["id"].as_str().unwrap(), bytes, "incidentes.csv").await;
    let resource_id = created["id"].as_str().unwrap().to_string();
    let resource = app.analysed(&resource_id, None).await;
    assert_eq!(resource["datastore_active"], true, "{resource}");
    Setup { app, token, resource_id }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ckan_datastore_actions_answer_as_ckan_does() {
    let Setup { app, token, resource_id } = setup().await;
    let id = resource_id.as_str();

    let (status, body) = app.ckan("datastore_search", None, json!({"resource_id": id, "limit": 2})).await;
    assert_eq!(status, 200, "{body}");
    let result = &body["result"];
    assert_eq!(result["total"], 300);
    assert_eq!(result["total_was_estimated"], false);
    assert_eq!(result["records"].as_array().unwrap().len(), 2);
    assert_eq!(result["fields"][0], json!({"id": "_id", "type": "int8"}));
    assert!(result["fields"].as_array().unwrap().contains(&json!({"id": "fecha", "type": "date"})));
    assert_eq!(result["records"][0]["_id"], 1);
    assert!(result["_links"]["next"].as_str().unwrap().contains("offset=2"), "{}", result["_links"]);
    // The same search again is answered from the cache, identically; in another format too.
    let (_, again) = app.ckan("datastore_search", None, json!({"resource_id": id, "limit": 2})).await;
    assert_eq!(again, body);
    let (_, lists) =
        app.ckan("datastore_search", None, json!({"resource_id": id, "limit": 2, "records_format": "lists"})).await;
    assert_eq!(lists["result"]["records"][0][0], 1);
    assert_eq!(lists["result"]["records_format"], "lists");

    // Filters (JSON in a GET, as ckanapi sends them), sort, fields, lists.
    let filters = json!({"municipio": ["Monterrey", "Apodaca"]}).to_string();
    let (status, body) = app
        .ckan_get(
            "datastore_search",
            None,
            &[
                ("resource_id", id),
                ("filters", &filters),
                ("sort", "monto_danios desc"),
                ("fields", "municipio,monto_danios"),
                ("records_format", "lists"),
                ("limit", "5"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let records = body["result"]["records"].as_array().unwrap();
    assert_eq!(records.len(), 5);
    assert!(records.iter().all(|row| row[0] == "Monterrey" || row[0] == "Apodaca"));
    let amounts: Vec<f64> = records.iter().map(|row| row[1].as_f64().unwrap()).collect();
    assert!(amounts.windows(2).all(|pair| pair[0] >= pair[1]), "{amounts:?}");

    // Full text without accents, CSV records.
    let (_, body) = app
        .ckan(
            "datastore_search",
            None,
            json!({"resource_id": id, "q": "proteccion civil", "records_format": "csv", "fields": ["folio"]}),
        )
        .await;
    let total = body["result"]["total"].as_u64().unwrap();
    assert!(total > 0 && total < 300, "{body}");
    assert_eq!(body["result"]["records"].as_str().unwrap().lines().count() as u64, total.min(100));

    // Bad input: 409 naming the parameter, 404 for an unknown resource.
    let (status, body) = app.ckan("datastore_search", None, json!({"resource_id": id, "filters": {"nope": 1}})).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["__type"], "Validation Error");
    assert!(body["error"]["filters"][0].as_str().unwrap().contains("nope"), "{body}");
    let (status, body) = app.ckan("datastore_search", None, json!({"resource_id": id, "sort": "nope"})).await;
    assert_eq!((status, body["error"]["sort"].is_array()), (409, true), "{body}");
    let (status, _) =
        app.ckan("datastore_search", None, json!({"resource_id": "6a4c4a2e-0000-4000-8000-000000000000"})).await;
    assert_eq!(status, 404);

    let (status, body) = app.ckan("datastore_info", None, json!({"id": id})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["meta"]["count"], 300);
    assert_eq!(body["result"]["fields"][0]["id"], "folio", "no _id in datastore_info");

    let sql = format!("SELECT municipio, count(*) AS n FROM \"{id}\" GROUP BY municipio ORDER BY n DESC, municipio");
    let (status, body) = app.ckan("datastore_search_sql", None, json!({"sql": sql})).await;
    assert_eq!(status, 200, "{body}");
    let counted: u64 = body["result"]["records"].as_array().unwrap().iter().map(|row| row["n"].as_u64().unwrap()).sum();
    assert_eq!(counted, 300);
    for refused in [
        format!("DELETE FROM \"{id}\""),
        format!("DROP TABLE \"{id}\""),
        "COPY (SELECT 1) TO '/tmp/x'".to_string(),
        "SELECT * FROM \"6a4c4a2e-0000-4000-8000-000000000000\"".to_string(),
        "SELECT * FROM pg_catalog.pg_tables".to_string(),
    ] {
        let (status, body) = app.ckan("datastore_search_sql", None, json!({"sql": refused})).await;
        assert_eq!(status, 409, "{refused}: {body}");
        assert!(body["error"]["sql"][0].as_str().is_some(), "{body}");
    }

    // A link resource has no table: a clear error.
    let (_, body) = app
        .ckan(
            "resource_create",
            Some(&token),
            json!({"package_id": "incidentes", "url": "https://example.org/datos.csv", "name": "externo"}),
        )
        .await;
    let link_id = body["result"]["id"].as_str().unwrap();
    let (status, body) = app.ckan("datastore_search", None, json!({"resource_id": link_id})).await;
    assert_eq!(status, 409);
    assert!(body["error"]["resource_id"][0].as_str().unwrap().contains("not a table"), "{body}");
    let (_, body) = app.ckan_get("package_show", None, &[("id", "incidentes")]).await;
    let active: Vec<&Value> =
        body["result"]["resources"].as_array().unwrap().iter().map(|r| &r["datastore_active"]).collect();
    assert_eq!(active, [&json!(true), &json!(false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_tables_stay_private() {
    let app = TestApp::start().await;
    let (_, root) = app.user("root", true).await;
    app.organization("org-a").await;
    let dataset = app.dataset(&root, "privado", "org-a", true).await;
    let created = app.upload(&root, dataset["id"].as_str().unwrap(), b"a,b\n1,2\n3,4\n".to_vec(), "t.csv").await;
    let id = created["id"].as_str().unwrap().to_string();
    app.analysed(&id, Some(&root)).await;
    let (status, _) = app.ckan("datastore_search", Some(&root), json!({"resource_id": id})).await;
    assert_eq!(status, 200);
    let (_, stranger) = app.user("stranger", false).await;
    for token in [None, Some(stranger.as_str())] {
        let (status, _) = app.ckan("datastore_search", token, json!({"resource_id": id})).await;
        assert_eq!(status, 403, "as package_show answers for a private dataset");
        let sql = format!("SELECT * FROM \"{id}\"");
        let (status, body) = app.ckan("datastore_search_sql", token, json!({"sql": sql})).await;
        assert_eq!(status, 409, "{body}");
        let mut request = app.client.get(app.url(&format!("/api/v1/resources/{id}/rows.csv")));
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 403);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_rows_api_pages_filters_and_exports() {
    let Setup { app, resource_id, .. } = setup().await;
    let rows_url = app.url(&format!("/api/v1/resources/{resource_id}/rows"));

    let mut url = format!("{rows_url}?vehiculos__gte=2&_sort=monto_danios&_size=40&_facet=municipio");
    let mut seen = 0;
    let mut total = None;
    let mut last = f64::MIN;
    loop {
        let response = app.client.get(&url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.unwrap();
        total.get_or_insert(body["total"].as_u64().unwrap());
        assert!(body["facets"]["municipio"].as_array().unwrap().len() > 1);
        for row in body["rows"].as_array().unwrap() {
            assert!(row["vehiculos"].as_i64().unwrap() >= 2);
            let amount = row["monto_danios"].as_f64().unwrap_or(f64::MAX);
            assert!(amount >= last, "sorted across pages");
            last = amount;
            seen += 1;
        }
        match body["next_url"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(Some(seen), total);

    let response = app.client.get(format!("{rows_url}?nope__gt=1")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 409);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["fields"]["nope"].is_array(), "{body}");
    let response = app.client.get(format!("{rows_url}?vehiculos__gt=muchos")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 409);

    let response = app.client.get(format!("{rows_url}.csv?municipio=Monterrey&_sort=folio")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = response.text().await.unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("folio,fecha,hora,municipio"));
    assert!(lines.clone().count() > 0 && lines.all(|line| line.contains(",Monterrey,")));

    let response = app.client.get(format!("{rows_url}.ndjson")).send().await.unwrap();
    let text = response.text().await.unwrap();
    assert_eq!(text.lines().count(), 300);
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(first.get("folio").is_some() && first.get("_id").is_none());

    let sql = format!("SELECT count(*) AS n FROM \"{resource_id}\" WHERE vehiculos >= 2");
    let response = app.client.get(app.url("/api/v1/sql")).query(&[("sql", sql.as_str())]).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["rows"][0]["n"], json!(total.unwrap()), "{body}");

    // The resource page shows the rows, sortable and filterable without JavaScript.
    let page =
        app.page(&format!("/dataset/incidentes/resource/{resource_id}?_fc=municipio&_fo=exact&_fv=Apodaca")).await;
    assert!(page.contains("id=\"datos\""), "the data section is shown");
    assert!(page.contains("aria-sort=\"none\""));
    assert!(page.contains("<td>Apodaca</td>"));
    assert!(!page.contains("<td>Monterrey</td>"), "the filter applies");
    assert!(page.contains("datastore_search"), "API examples for this resource");
    assert!(page.contains("aria-label=\"Distribución de 300 valores"), "profile histograms, described");

    // A chart with its table, and the map of the rows' coordinates.
    let chart = "chart=bar&x=municipio&agg=sum&y=monto_danios";
    let page = app.page(&format!("/dataset/incidentes/resource/{resource_id}?vehiculos__gte=1&{chart}")).await;
    assert!(page.contains("<svg") && page.contains("aria-labelledby=\"chart-title chart-desc\""), "a chart is drawn");
    assert!(page.contains("Σ monto_danios"), "its measure is named");
    assert!(page.contains("id=\"mapa\""), "latitud and longitud give a map");
    let page = app.page(&format!("/dataset/incidentes/resource/{resource_id}?chart=histogram&x=municipio")).await;
    assert!(page.contains("role=\"alert\""), "a histogram of text is a clear error, not a crash");
}

//! Uploaded tables are analysed in the background: schema, profile and
//! validation reach resource_show and the resource page.

use crate::common;

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
    let binary = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00binary".to_vec();
    let created = app.upload(&token, dataset["id"].as_str().unwrap(), binary, "falso.csv").await;
    let resource = app.analysed(created["id"].as_str().unwrap(), None).await;
    assert_eq!(resource["datalab_analysis"]["status"], "failed");
    assert!(resource["datalab_analysis"]["error"].as_str().unwrap().contains("not a text table"));
    // 4 KiB of noise named .csv: refused in the reader's language, on the
    // page and in the job's state.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8 | 1
        })
        .collect();
    let created = app.upload(&token, dataset["id"].as_str().unwrap(), noise, "ruido.csv").await;
    let noise_id = created["id"].as_str().unwrap().to_string();
    let resource = app
        .until(&noise_id, |resource| {
            resource["datalab_analysis"]["job"]["status"] == "failed"
                && resource["datalab_analysis"]["status"] == "failed"
        })
        .await;
    assert_eq!(resource["datalab_analysis"]["status"], "failed", "{resource}");
    assert!(resource["datalab_analysis"]["error_es"].as_str().unwrap().starts_with("esto no es una tabla de texto"));
    let job = &resource["datalab_analysis"]["job"];
    assert!(job["error_es"].as_str().unwrap().starts_with("esto no es una tabla de texto"), "{job}");
    let page = app.page(&format!("/dataset/incidentes/resource/{noise_id}")).await;
    assert!(page.contains("No se pudo analizar el archivo: esto no es una tabla de texto"), "{page}");
    let page = app.page(&format!("/dataset/incidentes/resource/{noise_id}?lang=en")).await;
    assert!(page.contains("this is not a text table"), "the English page gives the English reason");
    // A broken zip named .csv is read as the container it claims to be, and says why it fails.
    let created =
        app.upload(&token, dataset["id"].as_str().unwrap(), b"PK\x03\x04\x00\x00binary".to_vec(), "zip.csv").await;
    let resource = app.analysed(created["id"].as_str().unwrap(), None).await;
    assert_eq!(resource["datalab_analysis"]["status"], "failed");
    assert!(resource["datalab_analysis"]["error"].as_str().unwrap().contains("compressed container"), "{resource}");
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

/// A workbook with two sheets: both become tables, each queryable and shown.
fn workbook() -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Incidentes").unwrap();
    sheet.write_string(0, 0, "municipio").unwrap();
    sheet.write_string(0, 1, "monto").unwrap();
    for (row, (municipio, monto)) in [("Monterrey", 100.5), ("Apodaca", 20.0), ("Monterrey", 30.0)].iter().enumerate() {
        sheet.write_string(row as u32 + 1, 0, *municipio).unwrap();
        sheet.write_number(row as u32 + 1, 1, *monto).unwrap();
    }
    let second = workbook.add_worksheet();
    second.set_name("Municipios").unwrap();
    second.write_string(0, 0, "municipio").unwrap();
    second.write_string(0, 1, "clave").unwrap();
    second.write_string(1, 0, "Monterrey").unwrap();
    second.write_number(1, 1, 39.0).unwrap();
    second.write_string(2, 0, "Apodaca").unwrap();
    second.write_number(2, 1, 6.0).unwrap();
    workbook.save_to_buffer().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sheet_of_an_uploaded_workbook_is_a_queryable_table() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let dataset = app.dataset(&token, "libro", "org-a", false).await;
    let created = app.upload(&token, dataset["id"].as_str().unwrap(), workbook(), "incidentes.xlsx").await;
    let id = created["id"].as_str().unwrap().to_string();
    let resource = app.analysed(&id, None).await;
    assert_eq!(resource["datalab_analysis"]["status"], "done", "{resource}");
    assert_eq!(resource["datalab_analysis"]["format"], "xlsx");
    let tables: Vec<&str> = resource["datalab_analysis"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|table| table["name"].as_str().unwrap())
        .collect();
    assert_eq!(tables, ["Incidentes", "Municipios"]);
    // CKAN clients see the first sheet.
    assert_eq!(resource["schema"]["fields"][1], json!({"name": "monto", "type": "number"}));
    assert_eq!(resource["datastore_active"], true);
    let (status, found) =
        app.ckan("datastore_search", None, json!({"resource_id": id, "filters": {"municipio": "Monterrey"}})).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["result"]["total"], 2);
    // The other sheets are `<id>/<sheet>`, as in SQL, for datastore_search and datastore_info.
    let sheet = format!("{id}/Municipios");
    let (status, found) = app
        .ckan(
            "datastore_search",
            None,
            json!({"resource_id": sheet, "sort": "clave", "total_estimation_threshold": 1000}),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["result"]["resource_id"], sheet);
    assert_eq!(found["result"]["records"][0]["municipio"], "Apodaca");
    assert_eq!(
        (found["result"]["total"].clone(), found["result"]["total_was_estimated"].clone()),
        (json!(2), json!(false))
    );
    let (_, info) = app.ckan("datastore_info", None, json!({"id": sheet})).await;
    assert_eq!(info["result"]["meta"]["count"], 2, "{info}");
    assert!(info["result"]["fields"].as_array().unwrap().iter().any(|field| field["id"] == "clave"));
    let (status, _) = app.ckan("datastore_search", None, json!({"resource_id": format!("{id}/Hoja9")})).await;
    assert_eq!(status, 409, "an unknown sheet is named in a validation error");
    let (status, body) =
        app.ckan("datastore_search", None, json!({"resource_id": id, "total_estimation_threshold": -1})).await;
    assert_eq!(status, 409, "{body}");

    // The native API picks a sheet with `_table`; an unknown one is a 409 naming it.
    let client = TestApp::new_client();
    let rows: serde_json::Value = client
        .get(app.url(&format!("/api/v1/resources/{id}/rows?_table=Municipios&_sort=clave")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rows["rows"][0]["municipio"], "Apodaca", "{rows}");
    assert_eq!(rows["total"], 2);
    let unknown = client.get(app.url(&format!("/api/v1/resources/{id}/rows?_table=Hoja9"))).send().await.unwrap();
    assert_eq!(unknown.status(), 409);
    assert!(unknown.text().await.unwrap().contains("Hoja9"));
    // SQL names the other sheets `<id>/<sheet>` and joins them.
    let sql = format!(
        "SELECT m.clave, sum(i.monto) AS total FROM \"{id}\" i JOIN \"{id}/Municipios\" m ON i.municipio = m.municipio \
         GROUP BY m.clave ORDER BY m.clave"
    );
    let (status, joined) = app.ckan("datastore_search_sql", None, json!({"sql": sql})).await;
    assert_eq!(status, 200, "{joined}");
    assert_eq!(joined["result"]["records"], json!([{"clave": 6, "total": 20.0}, {"clave": 39, "total": 130.5}]));

    // The page lists the tables and shows the one asked for.
    let page = app.page(&format!("/dataset/libro/resource/{id}")).await;
    assert!(page.contains("Tablas de este archivo") && page.contains("?_table=Municipios"), "the tables are listed");
    let page = app.page(&format!("/dataset/libro/resource/{id}?_table=Municipios")).await;
    assert!(page.contains("<td>clave</td>"), "the sheet's schema is shown");
    assert!(page.contains("2 filas, leídas de XLSX"));
    let missing = client.get(app.url(&format!("/dataset/libro/resource/{id}?_table=Hoja9"))).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_schema_is_applied_and_its_constraints_checked() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let dataset = app.dataset(&token, "escuelas", "org-a", false).await;
    let csv = "clave,nombre,alumnos\n001,Benito Juárez,320\n002,Niños Héroes,-4\n002,Hidalgo,N/D\n";
    let created = app.upload(&token, dataset["id"].as_str().unwrap(), csv.as_bytes().to_vec(), "escuelas.csv").await;
    let id = created["id"].as_str().unwrap().to_string();
    let shown = app.analysed(&id, None).await;
    assert_eq!(shown["schema"]["fields"][0]["type"], "integer", "inferred");

    // Sending back what resource_show gave fixes nothing and analyses nothing again.
    let (status, body) = app.ckan("resource_update", Some(&token), shown.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["result"]["schema"]["fields"][0].get("title").is_none());

    // A schema that cannot apply is refused, saying why.
    let bad = json!({"fields": [{"name": "alumnos", "type": "entero"}]});
    let (status, body) = app.ckan("resource_patch", Some(&token), json!({"id": id, "schema": bad})).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["schema"].to_string().contains("entero"), "{body}");

    // A good one (as JSON text, as form posts send it): the file is analysed again with it.
    let schema = json!({
        "fields": [
            {"name": "clave", "type": "string", "title": "Clave de la escuela", "constraints": {"unique": true}},
            {"name": "alumnos", "type": "integer", "constraints": {"minimum": 0, "required": true}}
        ],
        "missingValues": ["", "N/D"]
    });
    let (status, body) =
        app.ckan("resource_patch", Some(&token), json!({"id": id, "schema": schema.to_string()})).await;
    assert_eq!(status, 200, "{body}");
    let shown = app
        .until(&id, |resource| {
            resource["datalab_analysis"]["status"] == "done"
                && resource["schema"]["fields"][0]["title"] == "Clave de la escuela"
        })
        .await;
    assert_eq!(shown["schema"]["fields"][0]["type"], "string");
    assert_eq!(shown["datalab_analysis"]["valid"], false);
    // The zeros of "001" are kept.
    let (_, found) = app.ckan("datastore_search", None, json!({"resource_id": id, "sort": "clave"})).await;
    assert_eq!(found["result"]["records"][0]["clave"], "001", "{found}");
    let page = app.page(&format!("/dataset/escuelas/resource/{id}")).await;
    for expected in ["unique-error", "constraint-error", "«-4» es menor que 0", "se requiere un valor"] {
        assert!(page.contains(expected), "{expected}");
    }

    // The form: it shows what was given, and saving it replaces the schema.
    let (client, csrf) = app.signed_in_client("root").await;
    let form = client.get(app.url(&format!("/dataset/escuelas/resource/{id}/schema"))).send().await.unwrap();
    let status = form.status();
    let form = form.text().await.unwrap();
    assert_eq!(status, 200, "{form}");
    assert!(form.contains("value=\"Clave de la escuela\""), "the form is filled in");
    assert!(form.contains(">N&#x2f;D</textarea>"), "the missing values are filled in");
    let response = client
        .post(app.url(&format!("/dataset/escuelas/resource/{id}/schema")))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("f0.name", "clave"),
            ("f0.type", "string"),
            ("f0.pattern", "[0-9]{3}"),
            ("f1.name", "nombre"),
            ("f1.enum", "Benito Juárez\nHidalgo"),
            ("f2.name", "alumnos"),
            ("f2.type", "integer"),
            ("missing_values", "N/D"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let shown = app
        .until(&id, |resource| {
            resource["datalab_analysis"]["status"] == "done"
                && resource["schema"]["fields"][1]["constraints"]["enum"] == json!(["Benito Juárez", "Hidalgo"])
        })
        .await;
    assert_eq!(shown["schema"]["fields"][0]["constraints"]["pattern"], "[0-9]{3}");
    let page = app.page(&format!("/dataset/escuelas/resource/{id}")).await;
    assert!(page.contains("no es uno de los valores permitidos"), "the enum is checked");
    // A bad pattern is shown on the form, with the input kept.
    let response = client
        .post(app.url(&format!("/dataset/escuelas/resource/{id}/schema")))
        .form(&[("csrf_token", csrf.as_str()), ("f0.name", "clave"), ("f0.pattern", "[0-9")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
    let page = response.text().await.unwrap();
    assert!(page.contains("El esquema no se puede aplicar") && page.contains("value=\"[0-9\""), "{page}");
    // Strangers cannot see the form; a forged post is refused.
    let stranger = TestApp::new_client();
    let response = stranger.get(app.url(&format!("/dataset/escuelas/resource/{id}/schema"))).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let response = client
        .post(app.url(&format!("/dataset/escuelas/resource/{id}/reingest")))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let response = client
        .post(app.url(&format!("/dataset/escuelas/resource/{id}/reingest")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    // What the test published is analysed, as a worker would.
    app.run_jobs().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_geojson_upload_is_a_table_with_its_shapes_on_a_map() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let dataset = app.dataset(&token, "parques", "org-a", false).await;
    let geojson = r#"{"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"nombre": "Parque Fundidora", "area_ha": 142}, "geometry": {"type": "Polygon", "coordinates": [[[-100.29, 25.67], [-100.28, 25.67], [-100.28, 25.68], [-100.29, 25.67]]]}},
        {"type": "Feature", "properties": {"nombre": "<b>Macroplaza</b>", "area_ha": 40}, "geometry": {"type": "Point", "coordinates": [-100.309, 25.669]}},
        {"type": "Feature", "properties": {"nombre": "Río Santa Catarina", "area_ha": null}, "geometry": {"type": "LineString", "coordinates": [[-100.35, 25.66], [-100.25, 25.67]]}}
    ]}"#;
    let created =
        app.upload(&token, dataset["id"].as_str().unwrap(), geojson.as_bytes().to_vec(), "parques.geojson").await;
    let id = created["id"].as_str().unwrap().to_string();
    let resource = app.analysed(&id, None).await;
    assert_eq!(resource["datalab_analysis"]["format"], "geojson", "{resource}");
    assert_eq!(resource["schema"]["fields"][2], json!({"name": "geometry", "type": "geojson"}));
    let (status, found) =
        app.ckan("datastore_search", None, json!({"resource_id": id, "filters": {"nombre": "Parque Fundidora"}})).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["result"]["records"][0]["area_ha"], 142);
    let page = app.page(&format!("/dataset/parques/resource/{id}")).await;
    assert!(page.contains("Mapa de 3 geometrías"), "the shapes are drawn");
    assert!(page.contains("fill-rule=\"evenodd\"") && page.contains("<circle"), "polygon and point");
    assert!(!page.contains("<b>Macroplaza"), "labels are escaped");
    assert!(page.contains("Cada fila tiene una geometría, en la columna «geometry»"));
    assert!(page.contains("Abarcan longitudes de -100.35 a -100.25"), "{}", page);
}

/// A zipped Shapefile in UTM zone 14N (metres), as state agencies export
/// them: its points are converted to longitude and latitude for the map,
/// and the page says from which system.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projected_shapefile_is_mapped_in_longitude_and_latitude() {
    use shapefile::Point;
    use shapefile::dbase::{self, FieldValue, TableWriterBuilder};
    use std::io::Write;

    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("sitios.shp");
    let table = TableWriterBuilder::new().add_character_field("nombre".try_into().unwrap(), 40);
    {
        let mut writer = shapefile::Writer::from_path(&path, table).unwrap();
        // The Macroplaza and the Zócalo in UTM 14N (pyproj 3).
        for (name, x, y) in
            [("Macroplaza", 368558.58066403685, 2839945.168374839), ("Zócalo", 486017.33091978834, 2148700.219840337)]
        {
            let mut record = dbase::Record::default();
            record.insert("nombre".into(), FieldValue::Character(Some(name.to_string())));
            writer.write_shape_and_record(&Point::new(x, y), &record).unwrap();
        }
    }
    let prj = r#"PROJCS["WGS_1984_UTM_Zone_14N",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",-99.0],PARAMETER["Scale_Factor",0.9996],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]"#;
    let mut bytes = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut bytes);
        for extension in ["shp", "shx", "dbf"] {
            zip.start_file(format!("sitios.{extension}"), zip::write::SimpleFileOptions::default()).unwrap();
            zip.write_all(&std::fs::read(path.with_extension(extension)).unwrap()).unwrap();
        }
        zip.start_file("sitios.prj", zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(prj.as_bytes()).unwrap();
        zip.finish().unwrap();
    }

    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let dataset = app.dataset(&token, "sitios", "org-a", false).await;
    let created = app.upload(&token, dataset["id"].as_str().unwrap(), bytes.into_inner(), "sitios.zip").await;
    let id = created["id"].as_str().unwrap().to_string();
    let resource = app.analysed(&id, None).await;
    assert_eq!(resource["datalab_analysis"]["format"], "shapefile", "{resource}");
    let page = app.page(&format!("/dataset/sitios/resource/{id}")).await;
    assert!(
        page.contains(
            "Las coordenadas se convirtieron del sistema «WGS_1984_UTM_Zone_14N» a longitud y latitud (WGS 84)."
        ),
        "{page}"
    );
    assert!(page.contains("Abarcan longitudes de -100.3097 a -99.1332 y latitudes de 19.4326 a 25.6714"), "{page}");
    assert!(page.contains("Mapa de 2 geometrías"), "the points are drawn");
}

/// Each sheet of a workbook is a table with its own schema, edited on its
/// own page of the form; saving one sheet keeps the others'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sheet_of_a_workbook_has_its_own_schema_form() {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let first = workbook.add_worksheet();
    first.set_name("Escuelas").unwrap();
    first.write_string(0, 0, "clave").unwrap();
    first.write_string(0, 1, "alumnos").unwrap();
    first.write_number(1, 0, 101.0).unwrap();
    first.write_number(1, 1, 300.0).unwrap();
    let second = workbook.add_worksheet();
    second.set_name("Municipios").unwrap();
    second.write_string(0, 0, "clave").unwrap();
    second.write_string(0, 1, "nombre").unwrap();
    second.write_number(1, 0, 39.0).unwrap();
    second.write_string(1, 1, "Monterrey").unwrap();
    // Sheet names may end in a space, as spreadsheet programs allow.
    let third = workbook.add_worksheet();
    third.set_name("Notas ").unwrap();
    third.write_string(0, 0, "nota").unwrap();
    third.write_number(1, 0, 7.0).unwrap();
    let bytes = workbook.save_to_buffer().unwrap();

    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let dataset = app.dataset(&token, "libro", "org-a", false).await;
    let created = app.upload(&token, dataset["id"].as_str().unwrap(), bytes, "libro.xlsx").await;
    let id = created["id"].as_str().unwrap().to_string();
    let resource = app.analysed(&id, None).await;
    assert_eq!(resource["datalab_analysis"]["tables"][1]["schema"]["fields"][0]["type"], "integer", "{resource}");

    let (client, csrf) = app.signed_in_client("root").await;
    let page = |path: String| {
        let client = client.clone();
        let url = app.url(&path);
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let form = page(format!("/dataset/libro/resource/{id}/schema")).await;
    assert!(form.contains("Hojas del libro") && form.contains("Hoja «Escuelas»"), "{form}");
    assert!(form.contains(&format!("/dataset/libro/resource/{id}/schema?table=Municipios")), "{form}");
    let form = page(format!("/dataset/libro/resource/{id}/schema?table=Municipios")).await;
    assert!(form.contains("Hoja «Municipios»") && form.contains(r#"name="table" value="Municipios""#), "{form}");
    assert!(form.contains("<code>nombre</code>"), "the sheet's own fields");

    let save = |pairs: Vec<(&'static str, &'static str)>| {
        let client = client.clone();
        let url = app.url(&format!("/dataset/libro/resource/{id}/schema"));
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", csrf.as_str())];
        form.extend(pairs);
        let form: Vec<(String, String)> = form.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        async move { client.post(url).form(&form).send().await.unwrap().status().as_u16() }
    };
    // The resource once analysed again with sheet `table`'s first field of type `kind`.
    let analysed_with = |table: usize, kind: &'static str| {
        app.until(&id, move |resource| {
            resource["datalab_analysis"]["status"] == "done"
                && resource["datalab_analysis"]["tables"][table]["schema"]["fields"][0]["type"] == kind
        })
    };
    let status = save(vec![
        ("table", "Municipios"),
        ("f0.name", "clave"),
        ("f0.type", "string"),
        ("f1.name", "nombre"),
        ("f1.title", "Nombre oficial"),
    ])
    .await;
    assert_eq!(status, 303);
    let shown = analysed_with(1, "string").await;
    assert_eq!(
        shown["datalab_analysis"]["tables"][0]["schema"]["fields"][0]["type"], "integer",
        "the first sheet is still inferred"
    );
    let form = page(format!("/dataset/libro/resource/{id}/schema?table=Municipios")).await;
    assert!(form.contains(r#"value="Nombre oficial""#), "the sheet's schema fills its form");

    // The first sheet's schema is saved beside the second's.
    let status = save(vec![("table", "Escuelas"), ("f0.name", "clave"), ("f0.type", "string")]).await;
    assert_eq!(status, 303);
    let shown = analysed_with(0, "string").await;
    assert_eq!(
        shown["datalab_analysis"]["tables"][1]["schema"]["fields"][0]["type"], "string",
        "the other sheet's is kept"
    );
    assert_eq!(shown["schema"]["fields"][0]["type"], "string", "CKAN clients see the first sheet");

    // A sheet the file does not have (a stale page) changes nothing.
    let status = save(vec![("table", "Hoja vieja"), ("f0.name", "clave"), ("f0.type", "number")]).await;
    assert_eq!(status, 409);
    // A CKAN client sends back the first sheet's schema, changed: the other sheet's stays.
    let first = json!({"fields": [{"name": "clave", "type": "string", "title": "Clave de la escuela"}]});
    let (status, body) = app.ckan("resource_patch", Some(&token), json!({"id": id, "schema": first})).await;
    assert_eq!(status, 200, "{body}");
    let shown = app
        .until(&id, |resource| {
            resource["datalab_analysis"]["status"] == "done"
                && resource["schema"]["fields"][0]["title"] == "Clave de la escuela"
        })
        .await;
    assert_eq!(shown["datalab_analysis"]["tables"][1]["schema"]["fields"][0]["type"], "string");
    let form = page(format!("/dataset/libro/resource/{id}/schema?table=Municipios")).await;
    assert!(form.contains(r#"value="Nombre oficial""#), "the sheet's schema is kept");

    // A sheet whose name ends in a space is found by its whole name.
    let form = page(format!("/dataset/libro/resource/{id}/schema?table=Notas%20")).await;
    assert!(form.contains(r#"name="table" value="Notas ""#), "{form}");
    let status = save(vec![("table", "Notas "), ("f0.name", "nota"), ("f0.type", "string")]).await;
    assert_eq!(status, 303);
    let shown = analysed_with(2, "string").await;
    assert_eq!(shown["datalab_analysis"]["tables"][2]["name"], "Notas ");
}

/// A column whose first 16,384 values are numbers and whose later ones are
/// codes: the job reads the stored file a second time and writes the column
/// as text, leading zeros and all, for the data API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_whose_later_rows_are_text_is_written_as_text() {
    let app = TestApp::start().await;
    let (_, token) = app.user("root", true).await;
    app.organization("org-a").await;
    let dataset = app.dataset(&token, "claves", "org-a", false).await;
    let mut csv = String::from("clave,n\n");
    for row in 0..30_000 {
        let clave = if row < 20_000 { format!("{row:05}") } else { format!("NL-{row}") };
        csv.push_str(&format!("{clave},{row}\n"));
    }
    let created = app.upload(&token, dataset["id"].as_str().unwrap(), csv.into_bytes(), "claves.csv").await;
    let id = created["id"].as_str().unwrap().to_string();
    let resource = app.analysed(&id, None).await;
    assert_eq!(resource["datalab_analysis"]["status"], "done", "{resource}");
    assert_eq!(resource["datalab_analysis"]["rows"], 30_000);
    assert_eq!(resource["schema"]["fields"][0], json!({"name": "clave", "type": "string"}));
    assert_eq!(resource["schema"]["fields"][1], json!({"name": "n", "type": "integer"}));
    for (filter, n) in [("00042", 42), ("NL-29999", 29_999)] {
        let (status, found) =
            app.ckan("datastore_search", None, json!({"resource_id": id, "filters": {"clave": filter}})).await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["result"]["records"][0]["n"], n, "{found}");
    }
}

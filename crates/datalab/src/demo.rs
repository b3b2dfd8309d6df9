//! Demo content: the program's organizations, themes and a handful of small
//! datasets clearly marked as example data. Loading is idempotent: what
//! exists (by name) is left alone.

use bytes::Bytes;
use datalab_app::App;
use datalab_app::accountability::CommitmentDocument;
use datalab_app::catalog;
use datalab_core::{Group, Organization, OrganizationKind, ResourceLocation, State, municipalities};
use uuid::Uuid;

const ORGANIZATIONS: &[(&str, &str, OrganizationKind, &str)] = &[
    (
        "secretaria-de-cultura",
        "Secretaría de Cultura",
        OrganizationKind::Government,
        "Dependencia del Gobierno de Nuevo León responsable de la política cultural del estado.",
    ),
    (
        "secretaria-de-participacion-ciudadana",
        "Secretaría de Participación Ciudadana",
        OrganizationKind::Government,
        "Impulsa la participación de la ciudadanía en las decisiones públicas del estado.",
    ),
    (
        "secretaria-de-administracion",
        "Secretaría de Administración",
        OrganizationKind::Government,
        "Administra los recursos humanos, materiales y tecnológicos del Gobierno de Nuevo León.",
    ),
    (
        "secretaria-de-economia",
        "Secretaría de Economía",
        OrganizationKind::Government,
        "Promueve el desarrollo económico, la inversión y el empleo en Nuevo León.",
    ),
    (
        "hagamoslo-bien",
        "Hagámoslo Bien",
        OrganizationKind::CivilSociety,
        "Organización de la sociedad civil de Nuevo León.",
    ),
    (
        "asociacion-de-vecinos-monterrey",
        "Asociación de Vecinos Monterrey A.C.",
        OrganizationKind::CivilSociety,
        "Asociación vecinal de Monterrey.",
    ),
];

const GROUPS: &[(&str, &str, &str)] = &[
    ("gobierno-abierto", "Gobierno abierto", "Transparencia, rendición de cuentas y participación."),
    ("movilidad-y-seguridad-vial", "Movilidad y seguridad vial", "Transporte, tránsito e incidentes viales."),
    ("cultura", "Cultura", "Eventos, espacios y patrimonio cultural."),
    ("economia", "Economía", "Empleo, empresas e inversión."),
    ("territorio", "Territorio", "Municipios, límites y geografía del estado."),
    ("participacion-ciudadana", "Participación ciudadana", "Consultas, necesidades comunitarias y colaboración."),
];

struct DemoDataset {
    name: &'static str,
    title: &'static str,
    notes: &'static str,
    organization: &'static str,
    groups: &'static [&'static str],
    tags: &'static [&'static str],
    frequency: &'static str,
    temporal: (&'static str, &'static str),
    spatial: &'static [&'static str],
    resource_name: &'static str,
    filename: &'static str,
}

const EXAMPLE_NOTICE: &str = "\n\n> **Datos de ejemplo.** Este conjunto de datos es de demostración: sus valores son ficticios o sintéticos y no deben usarse para tomar decisiones.";

const DATASETS: &[DemoDataset] = &[
    DemoDataset {
        name: "municipios-de-nuevo-leon",
        title: "Municipios de Nuevo León",
        notes: "Los 51 municipios de Nuevo León con su clave INEGI (entidad 19). Útil para unir otros conjuntos de datos por municipio.",
        organization: "secretaria-de-administracion",
        groups: &["territorio"],
        tags: &["municipios", "inegi", "catálogo"],
        frequency: "irregular",
        temporal: ("2024", ""),
        spatial: &["19"],
        resource_name: "Catálogo de municipios (CSV)",
        filename: "municipios_nuevo_leon.csv",
    },
    DemoDataset {
        name: "incidentes-viales-ejemplo",
        title: "Incidentes viales (ejemplo)",
        notes: "Registro sintético de accidentes de tránsito en los municipios de Nuevo León, con fecha, hora, ubicación, tipo de accidente, personas lesionadas y monto de daños. Publicado como lo hacen muchas dependencias: CSV en Windows-1252 con fechas dd/mm/aaaa.",
        organization: "secretaria-de-participacion-ciudadana",
        groups: &["movilidad-y-seguridad-vial"],
        tags: &["accidentes", "tránsito", "seguridad vial"],
        frequency: "monthly",
        temporal: ("2015", "2024"),
        spatial: &["19039", "19026", "19006", "19046", "19021", "19048", "19019"],
        resource_name: "Incidentes viales 2015–2024 (CSV, ejemplo)",
        filename: "incidentes_viales_ejemplo.csv",
    },
    DemoDataset {
        name: "eventos-culturales-ejemplo",
        title: "Eventos culturales (ejemplo)",
        notes: "Agenda de eventos culturales organizados o apoyados por la Secretaría de Cultura: disciplina, sede, municipio, fecha y asistencia.",
        organization: "secretaria-de-cultura",
        groups: &["cultura"],
        tags: &["cultura", "eventos", "asistencia"],
        frequency: "monthly",
        temporal: ("2024-01", "2024-06"),
        spatial: &["19039", "19019", "19033"],
        resource_name: "Eventos culturales 2024 (CSV, ejemplo)",
        filename: "eventos_culturales_ejemplo.csv",
    },
    DemoDataset {
        name: "necesidades-comunitarias-ejemplo",
        title: "Necesidades comunitarias reportadas (ejemplo)",
        notes: "Necesidades que vecinas y vecinos reportaron en mesas de participación: colonia, tema, descripción y número de apoyos.",
        organization: "asociacion-de-vecinos-monterrey",
        groups: &["participacion-ciudadana", "gobierno-abierto"],
        tags: &["participación", "colonias", "necesidades"],
        frequency: "quarterly",
        temporal: ("2023", "2024"),
        spatial: &["19039"],
        resource_name: "Necesidades por colonia (CSV, ejemplo)",
        filename: "necesidades_comunitarias_ejemplo.csv",
    },
    DemoDataset {
        name: "unidades-economicas-ejemplo",
        title: "Unidades económicas por municipio (ejemplo)",
        notes: "Número de unidades económicas y personal ocupado por municipio y sector.",
        organization: "secretaria-de-economia",
        groups: &["economia"],
        tags: &["empleo", "empresas", "economía"],
        frequency: "annual",
        temporal: ("2023", "2023"),
        spatial: &["19039", "19026", "19006", "19046"],
        resource_name: "Unidades económicas 2023 (CSV, ejemplo)",
        filename: "unidades_economicas_ejemplo.csv",
    },
    DemoDataset {
        name: "espacios-publicos-ejemplo",
        title: "Parques y espacios públicos (ejemplo)",
        notes: "Parques, plazas y un tramo de río del área metropolitana de Monterrey como GeoJSON: nombre, tipo, superficie y la geometría de cada espacio, que la página del recurso dibuja en un mapa.",
        organization: "secretaria-de-participacion-ciudadana",
        groups: &["territorio", "participacion-ciudadana"],
        tags: &["espacio público", "parques", "mapa"],
        frequency: "annual",
        temporal: ("2024", "2024"),
        spatial: &["19039", "19046"],
        resource_name: "Espacios públicos (GeoJSON, ejemplo)",
        filename: "espacios_publicos_ejemplo.geojson",
    },
];

fn file_contents(filename: &str) -> Vec<u8> {
    match filename {
        "municipios_nuevo_leon.csv" => {
            let mut text = String::from("clave_inegi,clave_entidad,clave_municipio,municipio\n");
            for (code, name) in municipalities::MUNICIPALITIES {
                text.push_str(&format!("{code},19,{},{name}\n", &code[2..]));
            }
            text.into_bytes()
        }
        "incidentes_viales_ejemplo.csv" => include_bytes!("../demo/incidentes_viales_ejemplo.csv").to_vec(),
        "eventos_culturales_ejemplo.csv" => "fecha,evento,disciplina,sede,municipio,asistentes\n\
            2024-01-20,Concierto de la Orquesta Sinfónica,Música,Teatro de la Ciudad,Monterrey,1450\n\
            2024-02-03,Muestra de cine mexicano,Cine,Cineteca Nuevo León,Monterrey,620\n\
            2024-02-17,Taller de grabado,Artes visuales,Casa de la Cultura,Linares,85\n\
            2024-03-09,Festival de danza folclórica,Danza,Explanada Municipal,San Pedro Garza García,2300\n\
            2024-04-13,Lectura en voz alta,Literatura,Biblioteca Central,Monterrey,140\n\
            2024-05-25,Noche de museos,Patrimonio,Museo de Historia Mexicana,Monterrey,3100\n\
            2024-06-08,Teatro comunitario,Teatro,Centro Comunitario Independencia,Monterrey,210\n"
            .as_bytes()
            .to_vec(),
        "necesidades_comunitarias_ejemplo.csv" => "folio,colonia,tema,descripcion,apoyos,fecha_registro\n\
            N-001,Independencia,Alumbrado,Calles sin alumbrado público en la zona alta,87,2023-09-14\n\
            N-002,Obispado,Movilidad,Cruce peligroso frente a la escuela primaria,64,2023-10-02\n\
            N-003,Centro,Espacio público,Plaza sin mantenimiento ni bancas,41,2023-11-20\n\
            N-004,Independencia,Agua,Baja presión de agua por las tardes,112,2024-01-08\n\
            N-005,Mitras Centro,Seguridad,Falta de patrullaje nocturno,58,2024-02-15\n\
            N-006,Tierra Propia,Datos,Solicitan datos de incidentes viales por colonia,23,2024-03-01\n"
            .as_bytes()
            .to_vec(),
        "unidades_economicas_ejemplo.csv" => "municipio,sector,unidades_economicas,personal_ocupado\n\
            Monterrey,Comercio,48210,260400\n\
            Monterrey,Servicios,52330,410900\n\
            Monterrey,Industria manufacturera,6120,198300\n\
            Guadalupe,Comercio,21870,84200\n\
            Guadalupe,Servicios,15640,61300\n\
            Apodaca,Industria manufacturera,1930,142800\n\
            San Nicolás de los Garza,Servicios,14420,90100\n"
            .as_bytes()
            .to_vec(),
        "espacios_publicos_ejemplo.geojson" => r#"{"type": "FeatureCollection", "features": [
{"type": "Feature", "properties": {"nombre": "Parque Fundidora", "tipo": "Parque", "municipio": "Monterrey", "superficie_ha": 142}, "geometry": {"type": "Polygon", "coordinates": [[[-100.2905, 25.6745], [-100.2790, 25.6760], [-100.2770, 25.6815], [-100.2850, 25.6840], [-100.2920, 25.6800], [-100.2905, 25.6745]]]}},
{"type": "Feature", "properties": {"nombre": "Macroplaza", "tipo": "Plaza", "municipio": "Monterrey", "superficie_ha": 40}, "geometry": {"type": "Polygon", "coordinates": [[[-100.3110, 25.6640], [-100.3085, 25.6640], [-100.3080, 25.6720], [-100.3105, 25.6722], [-100.3110, 25.6640]]]}},
{"type": "Feature", "properties": {"nombre": "Parque Niños Héroes", "tipo": "Parque", "municipio": "Monterrey", "superficie_ha": 23}, "geometry": {"type": "Polygon", "coordinates": [[[-100.3010, 25.7165], [-100.2960, 25.7170], [-100.2958, 25.7215], [-100.3008, 25.7212], [-100.3010, 25.7165]]]}},
{"type": "Feature", "properties": {"nombre": "Río Santa Catarina (tramo)", "tipo": "Río", "municipio": "Monterrey", "superficie_ha": null}, "geometry": {"type": "LineString", "coordinates": [[-100.3650, 25.6690], [-100.3400, 25.6670], [-100.3150, 25.6640], [-100.2900, 25.6650], [-100.2650, 25.6700]]}},
{"type": "Feature", "properties": {"nombre": "Plaza de San Pedro", "tipo": "Plaza", "municipio": "San Pedro Garza García", "superficie_ha": 1}, "geometry": {"type": "Point", "coordinates": [-100.4020, 25.6575]}},
{"type": "Feature", "properties": {"nombre": "Parque Rufino Tamayo", "tipo": "Parque", "municipio": "San Pedro Garza García", "superficie_ha": 6}, "geometry": {"type": "Polygon", "coordinates": [[[-100.3650, 25.6560], [-100.3610, 25.6562], [-100.3608, 25.6590], [-100.3648, 25.6588], [-100.3650, 25.6560]]]}}
]}"#
        .as_bytes()
        .to_vec(),
        other => unreachable!("no demo file {other}"),
    }
}

/// Loads Nuevo León's 2022–2024 commitment MXNLE0001 and its 24 milestones,
/// all "Not started": the source publishes no status per milestone.
async fn load_commitment(state: &App) -> anyhow::Result<()> {
    let document: CommitmentDocument = serde_json::from_str(include_str!("../demo/mxnle0001.json"))?;
    if state.store.commitment(&document.commitment.code).await.is_ok() {
        return Ok(());
    }
    datalab_app::accountability::create_commitment(state, None, document)
        .await
        .map_err(|error| anyhow::anyhow!("demo commitment: {error}"))?;
    Ok(())
}

/// Loads everything that is not there yet.
pub async fn load(state: &App) -> anyhow::Result<()> {
    let system = datalab_app::system_actor();
    for (name, title, kind, description) in ORGANIZATIONS {
        if state.store.organization(name).await.is_ok() {
            continue;
        }
        let organization = Organization {
            id: Uuid::new_v4(),
            name: name.to_string(),
            title: title.to_string(),
            description: description.to_string(),
            image_url: String::new(),
            kind: *kind,
            state: State::Active,
            created: datalab_store::now(),
        };
        datalab_app::organizations::create_organization(state, &system, None, &organization)
            .await
            .map_err(|error| anyhow::anyhow!("{}", error.detailed()))?;
    }
    for (name, title, description) in GROUPS {
        if state.store.group(name).await.is_ok() {
            continue;
        }
        let group = Group {
            id: Uuid::new_v4(),
            name: name.to_string(),
            title: title.to_string(),
            description: description.to_string(),
            image_url: String::new(),
            state: State::Active,
            created: datalab_store::now(),
        };
        datalab_app::organizations::create_group(state, &system, None, &group)
            .await
            .map_err(|error| anyhow::anyhow!("{}", error.detailed()))?;
    }
    let mut created = 0;
    for demo in DATASETS {
        if state.store.dataset(demo.name).await.is_ok() {
            continue;
        }
        let organization = state.store.organization(demo.organization).await?;
        let mut dataset = catalog::new_dataset(organization.id, None);
        dataset.name = demo.name.to_string();
        dataset.title = demo.title.to_string();
        dataset.notes = format!("{}{}", demo.notes, if demo.name.ends_with("-ejemplo") { EXAMPLE_NOTICE } else { "" });
        dataset.groups = demo.groups.iter().map(|group| group.to_string()).collect();
        dataset.tags = demo.tags.iter().map(|tag| tag.to_string()).collect();
        if demo.name.ends_with("-ejemplo") {
            dataset.tags.push("datos de ejemplo".into());
        }
        dataset.dcat.update_frequency = demo.frequency.to_string();
        dataset.dcat.temporal_start = demo.temporal.0.to_string();
        dataset.dcat.temporal_end = demo.temporal.1.to_string();
        dataset.dcat.spatial = demo.spatial.iter().map(|code| code.to_string()).collect();
        dataset.dcat.contact_name = "Laboratorio de Datos de Nuevo León".into();
        dataset.dcat.contact_email = "datos@example.org".into();
        let bytes = file_contents(demo.filename);
        let blob =
            state.files.put_stream(futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(bytes))])).await?;
        let mut resource = catalog::new_resource(
            dataset.id,
            ResourceLocation::Upload { storage_key: blob.key.clone(), filename: demo.filename.to_string() },
        );
        resource.name = demo.resource_name.to_string();
        resource.format = "CSV".into();
        resource.mimetype = "text/csv".into();
        resource.size = Some(blob.size as i64);
        resource.sha256 = blob.sha256;
        dataset.resources.push(resource);
        catalog::create_dataset(state, &system, None, dataset)
            .await
            .map_err(|error| anyhow::anyhow!("demo dataset {}: {error}", demo.name))?;
        created += 1;
    }
    load_commitment(state).await?;
    tracing::info!(created, "demo content loaded");
    Ok(())
}

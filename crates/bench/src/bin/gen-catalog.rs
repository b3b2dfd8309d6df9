//! Generates a synthetic catalog of N datasets directly in a datalab data
//! directory (database and search index), plus the same catalog as JSON
//! lines for the peer (Datasette) to load. Deterministic for a given seed.
//!
//! usage: gen-catalog --data-dir DIR --datasets 100000 --jsonl catalog.jsonl

use std::io::Write;
use std::sync::Arc;

use clap::Parser;
use datalab_core::{Group, Organization, OrganizationKind, ResourceLocation, State};
use datalab_store::Store;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

#[derive(Parser)]
struct Arguments {
    #[arg(long)]
    data_dir: std::path::PathBuf,
    #[arg(long, default_value_t = 100_000)]
    datasets: usize,
    #[arg(long)]
    jsonl: std::path::PathBuf,
    #[arg(long, default_value_t = 2026)]
    seed: u64,
}

const WORDS: &[&str] = &[
    "población",
    "accidentes",
    "presupuesto",
    "educación",
    "salud",
    "movilidad",
    "agua",
    "seguridad",
    "empleo",
    "inversión",
    "cultura",
    "museos",
    "escuelas",
    "hospitales",
    "transporte",
    "ciclovías",
    "parques",
    "residuos",
    "energía",
    "vivienda",
    "pobreza",
    "migración",
    "turismo",
    "comercio",
    "industria",
    "contratos",
    "licitaciones",
    "nómina",
    "becas",
    "programas",
    "colonias",
    "municipios",
    "calles",
    "semáforos",
    "delitos",
    "denuncias",
    "incendios",
    "lluvias",
    "temperatura",
    "aire",
    "ruido",
    "árboles",
    "bibliotecas",
    "teatros",
    "festivales",
    "deportes",
    "gimnasios",
    "mercados",
    "precios",
    "salarios",
];
const FORMATS: &[&str] = &["CSV", "XLSX", "JSON", "PDF", "GeoJSON", "ZIP"];
const LICENSES: &[&str] = &["libre-uso-mx", "cc-by-4.0", "cc-by-sa-4.0", "cc-zero-1.0", "odc-odbl-1.0"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arguments = Arguments::parse();
    std::fs::create_dir_all(&arguments.data_dir)?;
    let store = Store::open(&arguments.data_dir.join("datalab.sqlite")).await?;
    let mut random = StdRng::seed_from_u64(arguments.seed);
    let mut organizations = Vec::new();
    for index in 0..50 {
        let organization = Organization {
            id: Uuid::from_u128(random.r#gen()),
            name: format!("dependencia-{index:02}"),
            title: format!("Dependencia {index:02} de {}", WORDS[index % WORDS.len()]),
            description: String::new(),
            image_url: String::new(),
            kind: if index % 5 == 0 { OrganizationKind::CivilSociety } else { OrganizationKind::Government },
            state: State::Active,
            created: datalab_store::now(),
        };
        store.create_organization(None, &organization).await?;
        organizations.push(organization);
    }
    let mut groups = Vec::new();
    for word in WORDS.iter().take(12) {
        let name = datalab_core::slugify(word);
        let group = Group {
            id: Uuid::from_u128(random.r#gen()),
            name: name.clone(),
            title: word.to_string(),
            description: String::new(),
            image_url: String::new(),
            state: State::Active,
            created: datalab_store::now(),
        };
        store.create_group(None, &group).await?;
        groups.push(name);
    }
    let mut jsonl = std::io::BufWriter::new(std::fs::File::create(&arguments.jsonl)?);
    let started = std::time::Instant::now();
    for index in 0..arguments.datasets {
        let organization = &organizations[random.gen_range(0..organizations.len())];
        let mut dataset = datalab_app::catalog::new_dataset(organization.id, None);
        dataset.id = Uuid::from_u128(random.r#gen());
        let words: Vec<&str> = WORDS.choose_multiple(&mut random, 3).copied().collect();
        dataset.title = format!("{} y {} de {} {}", capitalize(words[0]), words[1], words[2], 2000 + index % 25);
        dataset.name = format!("{}-{index}", datalab_core::slugify(&dataset.title));
        dataset.notes = format!(
            "Registro de {} por municipio. Incluye {} y {} con periodicidad mensual. Datos número {index}.",
            words[0],
            WORDS[random.gen_range(0..WORDS.len())],
            WORDS[random.gen_range(0..WORDS.len())]
        );
        dataset.license_id = LICENSES[random.gen_range(0..LICENSES.len())].into();
        let tag_count = random.gen_range(1..5);
        dataset.tags = WORDS.choose_multiple(&mut random, tag_count).map(|word| word.to_string()).collect();
        dataset.groups = vec![groups[random.gen_range(0..groups.len())].clone()];
        dataset.private = random.gen_bool(0.05);
        for position in 0..random.gen_range(1..4) {
            let format = FORMATS[random.gen_range(0..FORMATS.len())];
            let mut resource = datalab_app::catalog::new_resource(
                dataset.id,
                ResourceLocation::Link {
                    url: format!("https://datos.example.org/{}/{position}.{}", dataset.name, format.to_lowercase()),
                },
            );
            resource.id = Uuid::from_u128(random.r#gen());
            resource.name = format!("{} {position}", capitalize(words[0]));
            resource.format = format.into();
            dataset.resources.push(resource);
        }
        store.create_dataset(None, &dataset).await?;
        let line = serde_json::json!({
            "id": dataset.id.to_string(), "name": dataset.name, "title": dataset.title, "notes": dataset.notes,
            "organization": organization.name, "license_id": dataset.license_id, "private": dataset.private,
            "tags": dataset.tags.join(" "), "groups": dataset.groups.join(" "),
            "res_format": dataset.resources.iter().map(|resource| resource.format.clone()).collect::<Vec<_>>().join(" "),
        });
        writeln!(jsonl, "{line}")?;
        if (index + 1) % 10_000 == 0 {
            eprintln!("{} datasets in {:.0?}", index + 1, started.elapsed());
        }
    }
    jsonl.flush()?;
    let (search, _) = datalab_search::SearchIndex::open(&arguments.data_dir.join("search"))?;
    // The folders `datalab serve --data-dir` uses, so that it serves what was generated.
    let files = datalab_files::FileStore::local(&arguments.data_dir.join("files"), u64::MAX)?;
    let query = datalab_query::QueryEngine::new(&arguments.data_dir.join("tables"), Default::default())?;
    let app = datalab_app::App::new(store.clone(), files, Arc::new(search), Arc::new(query), Default::default());
    let count = datalab_app::index::reindex_all(&app).await.map_err(|error| anyhow::anyhow!("{}", error.detailed()))?;
    eprintln!("indexed {count} datasets; total {:.0?}", started.elapsed());
    store.close().await;
    Ok(())
}

fn capitalize(word: &str) -> String {
    let mut characters = word.chars();
    characters.next().map(|first| first.to_uppercase().chain(characters).collect()).unwrap_or_default()
}

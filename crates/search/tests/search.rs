//! Search behaviour as a reader sees it: Spanish text, facets, filters,
//! sorting, paging and privacy.

use datalab_core::{Dataset, DcatFields, Organization, OrganizationKind, Resource, ResourceLocation, State};
use datalab_search::{FacetName, IndexedDataset, SearchIndex, SearchRequest, Sort, Visibility};
use time::macros::datetime;
use uuid::Uuid;

fn organization(name: &str) -> Organization {
    Organization {
        id: Uuid::new_v4(),
        name: name.into(),
        title: format!("Title of {name}"),
        description: String::new(),
        image_url: String::new(),
        kind: OrganizationKind::Government,
        state: State::Active,
        created: datetime!(2024-01-01 0:00 UTC),
    }
}

fn dataset(name: &str, title: &str, organization: &Organization, day: u8) -> Dataset {
    Dataset {
        id: Uuid::new_v4(),
        name: name.into(),
        title: title.into(),
        notes: String::new(),
        owner_org: organization.id,
        license_id: "cc-by-4.0".into(),
        author: String::new(),
        author_email: String::new(),
        maintainer: String::new(),
        maintainer_email: String::new(),
        url: String::new(),
        version: String::new(),
        state: State::Active,
        private: false,
        tags: Vec::new(),
        groups: Vec::new(),
        extras: Vec::new(),
        dcat: DcatFields::default(),
        creator_user_id: None,
        metadata_created: datetime!(2024-01-01 0:00 UTC),
        metadata_modified: datetime!(2024-01-01 0:00 UTC) + time::Duration::days(day as i64),
        resources: Vec::new(),
    }
}

/// The quality scores the fixture's datasets are indexed with.
fn quality_of(name: &str) -> u32 {
    match name {
        "poblacion" => 85,
        "accidentes" => 62,
        "anio" => 30,
        _ => 50,
    }
}

struct Fixture {
    index: SearchIndex,
    culture: Organization,
    economy: Organization,
    names: std::collections::HashMap<Uuid, String>,
}

impl Fixture {
    fn new(datasets: Vec<(Dataset, &Organization)>) -> Fixture {
        let index = SearchIndex::in_memory().unwrap();
        let items: Vec<IndexedDataset<'_>> = datasets
            .iter()
            .map(|(dataset, organization)| IndexedDataset { dataset, organization, quality: quality_of(&dataset.name) })
            .collect();
        index.rebuild(&items).unwrap();
        let names = datasets.iter().map(|(dataset, _)| (dataset.id, dataset.name.clone())).collect();
        Fixture { index, culture: organization("cultura"), economy: organization("economia"), names }
    }

    fn names(&self, request: &SearchRequest, visibility: &Visibility) -> Vec<String> {
        let results = self.index.search(request, visibility).unwrap();
        results.ids.iter().map(|id| self.names[id].clone()).collect()
    }

    fn find(&self, query: &str) -> Vec<String> {
        self.names(&SearchRequest { query: query.into(), rows: 10, ..SearchRequest::default() }, &Visibility::Public)
    }
}

fn catalog() -> Fixture {
    let culture = organization("cultura");
    let economy = organization("economia");
    let mut population = dataset("poblacion", "Población por municipio", &culture, 1);
    population.tags = vec!["censo".into(), "Población".into()];
    population.resources.push(Resource {
        id: Uuid::new_v4(),
        dataset_id: population.id,
        position: 0,
        name: "Tabulados del censo".into(),
        description: String::new(),
        format: "csv".into(),
        location: ResourceLocation::Link { url: "https://example.org/a.csv".into() },
        size: None,
        mimetype: String::new(),
        sha256: String::new(),
        created: datetime!(2024-01-01 0:00 UTC),
        last_modified: datetime!(2024-01-01 0:00 UTC),
        schema: None,
    });
    let mut accidents = dataset("accidentes", "Accidente vial registrado", &economy, 3);
    accidents.notes = "Registro de cada accidente de tránsito".into();
    accidents.groups = vec!["movilidad".into()];
    let mut year = dataset("anio", "Datos del año fiscal", &economy, 2);
    year.license_id = "libre-uso-mx".into();
    let mut secret = dataset("secreto", "Población confidencial", &culture, 4);
    secret.private = true;
    let mut draft = dataset("borrador", "Población en borrador", &culture, 5);
    draft.state = State::Draft;
    let mut deleted = dataset("borrado", "Población eliminada", &culture, 6);
    deleted.state = State::Deleted;
    let mut fixture = Fixture::new(vec![
        (population, &culture),
        (accidents, &economy),
        (year, &economy),
        (secret, &culture),
        (draft, &culture),
        (deleted, &culture),
    ]);
    fixture.culture = culture;
    fixture.economy = economy;
    fixture
}

#[test]
fn spanish_queries_fold_accents_and_stem_but_keep_enye() {
    let fixture = catalog();
    assert_eq!(fixture.find("poblacion"), vec!["poblacion"]);
    assert_eq!(fixture.find("POBLACIÓN"), vec!["poblacion"]);
    assert_eq!(fixture.find("accidentes"), vec!["accidentes"]);
    assert_eq!(fixture.find("transito"), vec!["accidentes"]);
    assert_eq!(fixture.find("año"), vec!["anio"]);
    assert!(fixture.find("ano").is_empty(), "'ano' must not match 'año'");
}

#[test]
fn searches_cover_tags_organization_and_resources() {
    let fixture = catalog();
    assert_eq!(fixture.find("censo"), vec!["poblacion"]);
    assert_eq!(fixture.find("tabulados"), vec!["poblacion"]);
    let mut economy = fixture.find("economia");
    economy.sort();
    assert_eq!(economy, vec!["accidentes", "anio"]);
}

#[test]
fn private_draft_and_deleted_datasets_never_leak() {
    let fixture = catalog();
    let request = SearchRequest { query: "población".into(), rows: 10, ..SearchRequest::default() };
    assert_eq!(fixture.names(&request, &Visibility::Public), vec!["poblacion"]);
    assert_eq!(fixture.names(&request, &Visibility::PublicAnd(vec![fixture.economy.id])), vec!["poblacion"]);
    let mut member_view = fixture.names(&request, &Visibility::PublicAnd(vec![fixture.culture.id]));
    member_view.sort();
    assert_eq!(member_view, vec!["poblacion", "secreto"]);
    let mut sysadmin_view = fixture.names(&request, &Visibility::AllActive);
    sysadmin_view.sort();
    assert_eq!(sysadmin_view, vec!["poblacion", "secreto"], "drafts and deleted datasets stay out of search");
    let counts = fixture.index.search(&request, &Visibility::Public).unwrap();
    assert_eq!(counts.count, 1, "counts must not reveal private datasets either");
}

#[test]
fn facets_filters_sorting_and_paging() {
    let fixture = catalog();
    let request =
        SearchRequest { rows: 10, facets: FacetName::ALL.to_vec(), facet_limit: 10, ..SearchRequest::default() };
    let results = fixture.index.search(&request, &Visibility::Public).unwrap();
    assert_eq!(results.count, 3);
    let facet = |name: FacetName| results.facets.iter().find(|(facet, _)| *facet == name).unwrap().1.clone();
    assert_eq!(facet(FacetName::Organization), vec![("economia".to_string(), 2), ("cultura".to_string(), 1)]);
    assert_eq!(facet(FacetName::ResFormat), vec![("CSV".to_string(), 1)]);
    assert_eq!(facet(FacetName::LicenseId), vec![("cc-by-4.0".to_string(), 2), ("libre-uso-mx".to_string(), 1)]);
    assert_eq!(facet(FacetName::Groups), vec![("movilidad".to_string(), 1)]);

    let filtered =
        SearchRequest { filters: vec![(FacetName::ResFormat, "csv".into())], rows: 10, ..SearchRequest::default() };
    assert_eq!(fixture.names(&filtered, &Visibility::Public), vec!["poblacion"]);
    let by_org = SearchRequest {
        filters: vec![(FacetName::Organization, "economia".into())],
        rows: 10,
        sort: Sort::NameAscending,
        ..SearchRequest::default()
    };
    assert_eq!(fixture.names(&by_org, &Visibility::Public), vec!["accidentes", "anio"]);

    let by_name = |sort| SearchRequest { rows: 10, sort, ..SearchRequest::default() };
    assert_eq!(
        fixture.names(&by_name(Sort::NameAscending), &Visibility::Public),
        vec!["accidentes", "anio", "poblacion"]
    );
    assert_eq!(
        fixture.names(&by_name(Sort::NameDescending), &Visibility::Public),
        vec!["poblacion", "anio", "accidentes"]
    );
    assert_eq!(
        fixture.names(&by_name(Sort::ModifiedDescending), &Visibility::Public),
        vec!["accidentes", "anio", "poblacion"]
    );
    let second_page = SearchRequest { rows: 2, start: 2, sort: Sort::NameAscending, ..SearchRequest::default() };
    assert_eq!(fixture.names(&second_page, &Visibility::Public), vec!["poblacion"]);
}

#[test]
fn quality_is_a_facet_a_filter_and_a_sort() {
    let fixture = catalog();
    let request = SearchRequest { rows: 10, facets: vec![FacetName::Quality], facet_limit: 10, ..Default::default() };
    let results = fixture.index.search(&request, &Visibility::Public).unwrap();
    assert_eq!(
        results.facets[0].1,
        vec![("high".to_string(), 1), ("low".to_string(), 1), ("medium".to_string(), 1)],
        "one public dataset in each band"
    );
    let scores: std::collections::HashMap<String, u32> =
        results.ids.iter().zip(&results.quality).map(|(id, score)| (fixture.names[id].clone(), *score)).collect();
    assert_eq!(scores["poblacion"], 85);
    assert_eq!(scores["anio"], 30);

    let only = |band: &str| SearchRequest {
        filters: vec![(FacetName::Quality, band.into())],
        rows: 10,
        ..SearchRequest::default()
    };
    assert_eq!(fixture.names(&only("medium"), &Visibility::Public), vec!["accidentes"]);
    assert_eq!(fixture.names(&only("high"), &Visibility::Public), vec!["poblacion"]);

    let sorted = |sort| SearchRequest { rows: 10, sort, ..SearchRequest::default() };
    assert_eq!(
        fixture.names(&sorted(Sort::QualityDescending), &Visibility::Public),
        vec!["poblacion", "accidentes", "anio"]
    );
    assert_eq!(
        fixture.names(&sorted(Sort::QualityAscending), &Visibility::Public),
        vec!["anio", "accidentes", "poblacion"]
    );
    assert_eq!(Sort::parse_ckan("quality desc"), Some(Sort::QualityDescending));
    assert_eq!(Sort::parse_ckan("quality"), Some(Sort::QualityDescending));
    assert_eq!(Sort::parse_ckan("quality asc"), Some(Sort::QualityAscending));
    assert_eq!(datalab_search::quality_band(80), "high");
    assert_eq!(datalab_search::quality_band(79), "medium");
    assert_eq!(datalab_search::quality_band(49), "low");
}

#[test]
fn bad_query_syntax_is_a_query_error() {
    let fixture = catalog();
    let request = SearchRequest { query: "title:(".into(), rows: 10, ..SearchRequest::default() };
    assert!(matches!(
        fixture.index.search(&request, &Visibility::Public),
        Err(datalab_search::SearchError::BadQuery(_))
    ));
}

#[test]
fn reindexing_replaces_and_remove_deletes() {
    let culture = organization("cultura");
    let mut first = dataset("uno", "Presupuesto estatal", &culture, 1);
    let index = SearchIndex::in_memory().unwrap();
    index.index(&[IndexedDataset { dataset: &first, organization: &culture, quality: 0 }]).unwrap();
    first.title = "Inversión estatal".into();
    index.index(&[IndexedDataset { dataset: &first, organization: &culture, quality: 0 }]).unwrap();
    let find = |query: &str| {
        index
            .search(&SearchRequest { query: query.into(), rows: 5, ..Default::default() }, &Visibility::Public)
            .unwrap()
            .count
    };
    assert_eq!(find("presupuesto"), 0);
    assert_eq!(find("inversion"), 1);
    assert_eq!(index.document_count(), 1);
    index.remove(first.id).unwrap();
    assert_eq!(find("inversion"), 0);
}

/// `datalab serve` and an `admin` or `import` command share one index
/// directory: neither holds the writer between writes, and each sees the
/// other's commits (cached results included) without being told.
#[test]
fn two_processes_share_one_index_directory() {
    let directory = tempfile::tempdir().unwrap();
    let (server, created) = SearchIndex::open(directory.path()).unwrap();
    assert!(created);
    let (command, created) = SearchIndex::open(directory.path()).unwrap();
    assert!(!created, "the second opener finds the first one's index");
    let culture = organization("cultura");
    let find = |index: &SearchIndex, query: &str| {
        index
            .search(&SearchRequest { query: query.into(), rows: 5, ..Default::default() }, &Visibility::Public)
            .unwrap()
            .count
    };
    let first = dataset("uno", "Presupuesto estatal", &culture, 1);
    server.index(&[IndexedDataset { dataset: &first, organization: &culture, quality: 0 }]).unwrap();
    assert_eq!(find(&server, "presupuesto"), 1);
    assert_eq!(find(&server, "museos"), 0, "cached from here on");
    // The command writes while the server is open, and the server sees it.
    let second = dataset("dos", "Museos del estado", &culture, 2);
    command.index(&[IndexedDataset { dataset: &second, organization: &culture, quality: 0 }]).unwrap();
    let seen = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        find(&server, "museos") == 1
    });
    assert!(seen, "the server follows the command's commit, past its cached answer");
    // And the other way round, with a rebuild.
    server.rebuild(&[IndexedDataset { dataset: &second, organization: &culture, quality: 0 }]).unwrap();
    let seen = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        find(&command, "presupuesto") == 0
    });
    assert!(seen);
    assert_eq!(find(&command, "museos"), 1);
}

/// Name order must hold across index segments (each commit makes one) and pages.
#[test]
fn name_order_spans_segments_and_pages() {
    let culture = organization("cultura");
    let index = SearchIndex::in_memory().unwrap();
    let titles = ["Mercados", "Árboles urbanos", "Bibliotecas", "Zoológico", "Cines", "Parques", "Escuelas", "Ñandúes"];
    let mut title_of = std::collections::HashMap::new();
    for (position, title) in titles.iter().enumerate() {
        let dataset = dataset(&format!("d{position}"), title, &culture, position as u8);
        title_of.insert(dataset.id, *title);
        index.index(&[IndexedDataset { dataset: &dataset, organization: &culture, quality: 0 }]).unwrap();
    }
    let page = |start: usize, sort: Sort| -> Vec<&str> {
        let request = SearchRequest { rows: 3, start, sort, ..SearchRequest::default() };
        let results = index.search(&request, &Visibility::Public).unwrap();
        assert_eq!(results.count, titles.len());
        results.ids.iter().map(|id| title_of[id]).collect()
    };
    // Accents fold for sorting ("Árboles" with the a's); ñ sorts after n, as in Spanish.
    assert_eq!(page(0, Sort::NameAscending), vec!["Árboles urbanos", "Bibliotecas", "Cines"]);
    assert_eq!(page(3, Sort::NameAscending), vec!["Escuelas", "Mercados", "Ñandúes"]);
    assert_eq!(page(6, Sort::NameAscending), vec!["Parques", "Zoológico"]);
    assert_eq!(page(0, Sort::NameDescending), vec!["Zoológico", "Parques", "Ñandúes"]);
}

#[test]
fn cached_results_never_outlive_a_commit() {
    let culture = organization("cultura");
    let index = SearchIndex::in_memory().unwrap();
    let mut first = dataset("uno", "Presupuesto estatal", &culture, 1);
    index.index(&[IndexedDataset { dataset: &first, organization: &culture, quality: 0 }]).unwrap();
    let request = SearchRequest { query: "presupuesto".into(), rows: 5, ..Default::default() };
    assert_eq!(index.search(&request, &Visibility::Public).unwrap().count, 1);
    assert_eq!(index.search(&request, &Visibility::Public).unwrap().count, 1, "served from the cache");
    first.private = true;
    index.index(&[IndexedDataset { dataset: &first, organization: &culture, quality: 0 }]).unwrap();
    assert_eq!(index.search(&request, &Visibility::Public).unwrap().count, 0, "a commit empties the cache");
    let uncached = SearchIndex::in_memory().unwrap().with_cache_entries(0);
    assert_eq!(uncached.search(&request, &Visibility::Public).unwrap().count, 0);
}

#[test]
fn facet_counts_follow_updates_across_segments() {
    let culture = organization("cultura");
    let index = SearchIndex::in_memory().unwrap().with_cache_entries(0);
    let mut first = dataset("uno", "Uno", &culture, 1);
    first.tags = vec!["agua".into(), "aire".into()];
    let mut second = dataset("dos", "Dos", &culture, 2);
    second.tags = vec!["agua".into()];
    index.index(&[IndexedDataset { dataset: &first, organization: &culture, quality: 0 }]).unwrap();
    index.index(&[IndexedDataset { dataset: &second, organization: &culture, quality: 0 }]).unwrap();
    let tags = |index: &SearchIndex| {
        let request =
            SearchRequest { rows: 1, facets: vec![FacetName::Tags], facet_limit: 10, ..SearchRequest::default() };
        index.search(&request, &Visibility::Public).unwrap().facets.remove(0).1
    };
    assert_eq!(tags(&index), vec![("agua".to_string(), 2), ("aire".to_string(), 1)]);
    first.tags = vec!["suelo".into()];
    index.index(&[IndexedDataset { dataset: &first, organization: &culture, quality: 0 }]).unwrap();
    assert_eq!(tags(&index), vec![("agua".to_string(), 1), ("suelo".to_string(), 1)]);
    index.remove(second.id).unwrap();
    assert_eq!(tags(&index), vec![("suelo".to_string(), 1)]);
}

//! Full-text search of datalab's catalog with tantivy.
//!
//! The index is derived data: the database is the source of truth, every
//! write re-indexes the dataset it changed, and [`SearchIndex::rebuild`]
//! recreates everything (`datalab admin reindex`). Private and draft datasets
//! are indexed too, with who may see them, and every query carries a
//! visibility filter, so a search can never leak them.
//!
//! Several processes share one index directory (`datalab serve` and an
//! `admin` or `import` command run beside it): tantivy's writer lock is taken
//! only for the length of one write, and readers follow commits made by any
//! process.

pub mod analysis;
mod collectors;

use std::path::Path;
use std::sync::Mutex;

use datalab_core::{Dataset, Organization};
use tantivy::collector::{Count, MultiCollector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{AllQuery, BooleanQuery, ConstScoreQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The user's query has a syntax error; the message says where.
    #[error("invalid search query: {0}")]
    BadQuery(String),
    #[error("search index error: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index directory error: {0}")]
    Directory(String),
}

/// The fields search results can be counted and filtered by, with CKAN's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FacetName {
    Organization,
    Groups,
    Tags,
    ResFormat,
    LicenseId,
    /// The quality band of the dataset's score: "high", "medium" or "low".
    Quality,
}

impl FacetName {
    pub const ALL: [FacetName; 6] = [
        FacetName::Organization,
        FacetName::Groups,
        FacetName::Tags,
        FacetName::ResFormat,
        FacetName::LicenseId,
        FacetName::Quality,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FacetName::Organization => "organization",
            FacetName::Groups => "groups",
            FacetName::Tags => "tags",
            FacetName::ResFormat => "res_format",
            FacetName::LicenseId => "license_id",
            FacetName::Quality => "quality",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|name| name.as_str() == text)
    }

    fn field_name(self) -> &'static str {
        match self {
            FacetName::Organization => "facet_organization",
            FacetName::Groups => "facet_groups",
            FacetName::Tags => "facet_tags",
            FacetName::ResFormat => "facet_res_format",
            FacetName::LicenseId => "facet_license_id",
            FacetName::Quality => "facet_quality",
        }
    }
}

/// The band a quality score (0 to 100) falls in, as the `quality` facet
/// counts and filters it: "high" from 80, "medium" from 50, else "low".
pub fn quality_band(score: u32) -> &'static str {
    match score {
        80.. => "high",
        50..80 => "medium",
        _ => "low",
    }
}

/// Who is searching, as far as private datasets go.
#[derive(Debug, Clone, PartialEq)]
pub enum Visibility {
    /// Active public datasets only.
    Public,
    /// Active public datasets and the private ones of these organizations.
    PublicAnd(Vec<Uuid>),
    /// Every active dataset (sysadmins).
    AllActive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Relevance,
    NameAscending,
    NameDescending,
    ModifiedDescending,
    ModifiedAscending,
    CreatedDescending,
    /// Best quality score first.
    QualityDescending,
    QualityAscending,
}

impl Sort {
    /// Parses CKAN's `sort` parameter ("score desc, metadata_modified desc",
    /// "name asc", "title_string asc"…); only the first key decides.
    pub fn parse_ckan(text: &str) -> Option<Sort> {
        let first = text.split(',').next().unwrap_or("").trim();
        let mut words = first.split_whitespace();
        let field = words.next().unwrap_or("score");
        let descending = match words.next() {
            None => matches!(field, "score" | "metadata_modified" | "metadata_created" | "quality"),
            Some(order) if order.eq_ignore_ascii_case("desc") => true,
            Some(order) if order.eq_ignore_ascii_case("asc") => false,
            Some(_) => return None,
        };
        if words.next().is_some() {
            return None;
        }
        Some(match (field, descending) {
            ("score" | "rank" | "relevance", _) => Sort::Relevance,
            ("name" | "title_string" | "title", false) => Sort::NameAscending,
            ("name" | "title_string" | "title", true) => Sort::NameDescending,
            ("metadata_modified", true) => Sort::ModifiedDescending,
            ("metadata_modified", false) => Sort::ModifiedAscending,
            ("metadata_created", _) => Sort::CreatedDescending,
            ("quality", true) => Sort::QualityDescending,
            ("quality", false) => Sort::QualityAscending,
            _ => return None,
        })
    }
}

/// Most results one search returns (the APIs cap `rows` lower).
pub const MAX_ROWS: usize = 10_000;
/// Most facet fields one search counts.
pub const MAX_FACETS: usize = 16;
/// Most exact filters one search applies.
pub const MAX_FILTERS: usize = 64;
/// Most words (terms and operators) in the query text.
pub const MAX_QUERY_WORDS: usize = 64;
/// Deepest nesting of parentheses in the query text: the query grammar
/// recurses once per level.
pub const MAX_QUERY_DEPTH: usize = 8;
/// Longest query text, in bytes.
pub const MAX_QUERY_BYTES: usize = 2048;

/// Refuses query text whose size or nesting would make parsing or
/// matching costly, before the grammar sees it.
fn check_query_shape(text: &str) -> Result<(), SearchError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(SearchError::BadQuery(format!("the query is longer than {MAX_QUERY_BYTES} bytes")));
    }
    if text.split_whitespace().count() > MAX_QUERY_WORDS {
        return Err(SearchError::BadQuery(format!("the query has more than {MAX_QUERY_WORDS} words")));
    }
    let (mut depth, mut deepest) = (0usize, 0usize);
    for character in text.chars() {
        match character {
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    // `NOT`/`-` prefixes also recurse, one level each; they are words, so
    // the word bound above bounds them.
    if deepest > MAX_QUERY_DEPTH {
        return Err(SearchError::BadQuery(format!("the query nests parentheses deeper than {MAX_QUERY_DEPTH} levels")));
    }
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// Query text in the query language (words, "phrases", field:value, AND/OR/-).
    pub query: String,
    /// Exact filters on facet fields, all of which must match.
    pub filters: Vec<(FacetName, String)>,
    pub sort: Sort,
    pub start: usize,
    pub rows: usize,
    pub facets: Vec<FacetName>,
    /// How many values to return per facet, most frequent first.
    pub facet_limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    pub count: usize,
    pub ids: Vec<Uuid>,
    /// The quality score (0 to 100) of each dataset in `ids`, as indexed.
    pub quality: Vec<u32>,
    /// Per requested facet: (value, count), most frequent first, then by value.
    pub facets: Vec<(FacetName, Vec<(String, u64)>)>,
}

impl SearchResults {
    /// The indexed quality score of a dataset among the results.
    pub fn quality_of(&self, id: Uuid) -> Option<u32> {
        self.ids.iter().position(|found| *found == id).map(|position| self.quality[position])
    }
}

/// What gets indexed of a dataset: the dataset plus the names of what it refers to.
pub struct IndexedDataset<'a> {
    pub dataset: &'a Dataset,
    pub organization: &'a Organization,
    /// The dataset's quality score, 0 to 100 (`datalab_core::quality::score`).
    pub quality: u32,
}

struct Fields {
    id: Field,
    name: Field,
    title: Field,
    notes: Field,
    tags: Field,
    groups: Field,
    organization: Field,
    resources: Field,
    state: Field,
    /// "public", "org:<uuid>" for private datasets, or "none" (drafts, deleted).
    visibility: Field,
    sort_title: Field,
    created: Field,
    modified: Field,
    quality: Field,
}

pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    /// One write at a time within this process; the directory's writer lock
    /// serialises writes between processes.
    writing: Mutex<()>,
    /// The index's directory (none in memory): each write opens it afresh,
    /// so the writer starts from the files other processes left.
    directory: Option<std::path::PathBuf>,
    /// The generation of the newest searcher seen (see `follow`).
    seen_generation: std::sync::atomic::AtomicU64,
    fields: Fields,
    cache: ResultCache,
    ordinal_tables: collectors::OrdinalTables,
}

/// Results of recent searches, valid while the searcher they were computed
/// with is current (until a commit, by this process or another). A portal asks
/// the same few searches over and over (the home page, an unfiltered
/// listing, a theme); answering those from memory keeps match-everything
/// queries with five facets off the CPU.
struct ResultCache {
    capacity: usize,
    /// Each entry with the generation of the searcher that computed it;
    /// entries of other generations are never served.
    entries: Mutex<std::collections::HashMap<String, (u64, SearchResults)>>,
}

impl ResultCache {
    fn key(request: &SearchRequest, visibility: &Visibility) -> String {
        format!("{request:?}|{visibility:?}")
    }

    fn get(&self, key: &str, generation: u64) -> Option<SearchResults> {
        if self.capacity == 0 {
            return None;
        }
        let entries = self.entries.lock().expect("cache lock");
        entries
            .get(key)
            .filter(|(entry_generation, _)| *entry_generation == generation)
            .map(|(_, results)| results.clone())
    }

    /// Stores results computed by the searcher of `generation`.
    fn put(&self, key: String, generation: u64, results: &SearchResults) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, (generation, results.clone()));
    }

    fn clear(&self) {
        self.entries.lock().expect("cache lock").clear();
    }
}

/// How long a write waits for another process's write to finish.
const WRITER_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// How many distinct searches are kept between commits, by default.
pub const DEFAULT_CACHE_ENTRIES: usize = 1024;

/// Bumped whenever the schema or the analysis changes: a new version starts
/// from an empty directory and the caller rebuilds it from the database.
pub const INDEX_VERSION: &str = "v3";

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(analysis::SPANISH)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        name: builder.add_text_field("name", STRING),
        title: builder.add_text_field("title", text.clone()),
        notes: builder.add_text_field("notes", text.clone()),
        tags: builder.add_text_field("tags", text.clone()),
        groups: builder.add_text_field("groups", text.clone()),
        organization: builder.add_text_field("organization", text.clone()),
        resources: builder.add_text_field("res_name", text),
        state: builder.add_text_field("state", STRING),
        visibility: builder.add_text_field("visibility", STRING),
        sort_title: builder.add_text_field("sort_title", STRING | FAST),
        created: builder.add_i64_field("metadata_created", INDEXED | FAST),
        modified: builder.add_i64_field("metadata_modified", INDEXED | FAST),
        quality: builder.add_u64_field("quality", FAST | STORED),
    };
    // Facets are exact strings: fast fields for counting, indexed for filtering.
    for facet in FacetName::ALL {
        builder.add_text_field(facet.field_name(), STRING | FAST);
    }
    (builder.build(), fields)
}

/// The index's files under `path`.
fn directory_at(path: &Path) -> Result<MmapDirectory, SearchError> {
    MmapDirectory::open(path).map_err(|error| SearchError::Directory(error.to_string()))
}

/// `index` with the Spanish analysis its text fields name.
fn with_analysis(index: Index) -> Index {
    index.tokenizers().register(analysis::SPANISH, analysis::spanish_analyzer());
    index
}

impl SearchIndex {
    /// Opens the index under `directory` (creating it if needed). Returns
    /// whether it was just created, in which case the caller must rebuild it.
    pub fn open(directory: &Path) -> Result<(SearchIndex, bool), SearchError> {
        let path = directory.join(INDEX_VERSION);
        std::fs::create_dir_all(&path)
            .map_err(|error| SearchError::Directory(format!("{}: {error}", path.display())))?;
        let (schema, fields) = schema();
        let mmap = directory_at(&path)?;
        let created = !Index::exists(&mmap).map_err(|error| SearchError::Directory(error.to_string()))?;
        let index = Index::open_or_create(mmap, schema)?;
        let mut search = Self::with_index(index, fields)?;
        search.directory = Some(path);
        Ok((search, created))
    }

    /// An index in memory, for tests.
    pub fn in_memory() -> Result<SearchIndex, SearchError> {
        let (schema, fields) = schema();
        Self::with_index(Index::create_in_ram(schema), fields)
    }

    fn with_index(index: Index, fields: Fields) -> Result<SearchIndex, SearchError> {
        let index = with_analysis(index);
        // Commits of other processes are seen within a second (tantivy
        // watches meta.json); this process's own are seen at once (`after_commit`).
        let reader = index.reader_builder().reload_policy(ReloadPolicy::OnCommitWithDelay).try_into()?;
        let cache = ResultCache { capacity: DEFAULT_CACHE_ENTRIES, entries: Mutex::new(Default::default()) };
        Ok(SearchIndex {
            index,
            reader,
            writing: Mutex::new(()),
            directory: None,
            seen_generation: Default::default(),
            fields,
            cache,
            ordinal_tables: Default::default(),
        })
    }

    /// Runs one write with the index's writer, then commits it and waits for
    /// its merges, releasing the directory's lock. The lock is held by another
    /// process only for the length of its own write, so a busy lock is waited for.
    fn write(
        &self,
        change: impl FnOnce(&mut IndexWriter<TantivyDocument>) -> tantivy::Result<()>,
    ) -> Result<(), SearchError> {
        let _writing = self.writing.lock().expect("index write lock");
        // The list of files the index manages is read when it is opened:
        // another process may have written since this one opened it.
        let index = match &self.directory {
            Some(path) => with_analysis(Index::open(directory_at(path)?)?),
            None => self.index.clone(),
        };
        let started = std::time::Instant::now();
        let mut writer = loop {
            // A catalog's documents are small and few: tantivy's smallest
            // budget (15 MB) holds thousands before a flush.
            match index.writer_with_num_threads(1, 16 * 1024 * 1024) {
                Ok(writer) => break writer,
                Err(tantivy::TantivyError::LockFailure(tantivy::directory::error::LockError::LockBusy, _))
                    if started.elapsed() < WRITER_LOCK_WAIT =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(error) => return Err(error.into()),
            }
        };
        change(&mut writer)?;
        writer.commit()?;
        writer.wait_merging_threads()?;
        self.after_commit()
    }

    /// Sets how many distinct searches are kept between commits (0: none).
    pub fn with_cache_entries(mut self, entries: usize) -> SearchIndex {
        self.cache.capacity = entries;
        self
    }

    fn document(&self, item: &IndexedDataset<'_>) -> TantivyDocument {
        let fields = &self.fields;
        let dataset = item.dataset;
        let mut document = TantivyDocument::default();
        document.add_text(fields.id, dataset.id.to_string());
        document.add_text(fields.name, &dataset.name);
        document.add_text(fields.title, &dataset.title);
        document.add_text(fields.notes, &dataset.notes);
        for tag in &dataset.tags {
            document.add_text(fields.tags, tag);
        }
        for group in &dataset.groups {
            document.add_text(fields.groups, group);
        }
        document.add_text(fields.organization, format!("{} {}", item.organization.name, item.organization.title));
        for resource in &dataset.resources {
            document
                .add_text(fields.resources, format!("{} {} {}", resource.name, resource.description, resource.format));
        }
        document.add_text(fields.state, dataset.state.as_str());
        let visibility = match (dataset.state, dataset.private) {
            (datalab_core::State::Active, false) => "public".to_string(),
            (datalab_core::State::Active, true) => format!("org:{}", dataset.owner_org),
            _ => "none".to_string(),
        };
        document.add_text(fields.visibility, visibility);
        // Spanish collation for the name sort: accents ignored, ñ after every n ("n~" sorts before "o").
        document.add_text(fields.sort_title, analysis::fold(&dataset.title).replace('ñ', "n~"));
        document.add_i64(fields.created, dataset.metadata_created.unix_timestamp_nanos() as i64 / 1000);
        document.add_i64(fields.modified, dataset.metadata_modified.unix_timestamp_nanos() as i64 / 1000);
        let schema = self.index.schema();
        let facet = |name: FacetName| schema.get_field(name.field_name()).expect("facet fields are in the schema");
        document.add_text(facet(FacetName::Organization), &item.organization.name);
        for group in &dataset.groups {
            document.add_text(facet(FacetName::Groups), group);
        }
        for tag in &dataset.tags {
            document.add_text(facet(FacetName::Tags), tag);
        }
        let mut formats: Vec<String> = dataset
            .resources
            .iter()
            .map(|resource| resource.format.to_uppercase())
            .filter(|format| !format.is_empty())
            .collect();
        formats.sort();
        formats.dedup();
        for format in &formats {
            document.add_text(facet(FacetName::ResFormat), format);
        }
        document.add_text(facet(FacetName::LicenseId), &dataset.license_id);
        document.add_u64(fields.quality, u64::from(item.quality.min(100)));
        document.add_text(facet(FacetName::Quality), quality_band(item.quality));
        document
    }

    /// Adds or replaces datasets and makes the change visible to searches.
    pub fn index(&self, items: &[IndexedDataset<'_>]) -> Result<(), SearchError> {
        let documents: Vec<(Term, TantivyDocument)> = items
            .iter()
            .map(|item| (Term::from_field_text(self.fields.id, &item.dataset.id.to_string()), self.document(item)))
            .collect();
        self.write(|writer| {
            for (id, document) in documents {
                writer.delete_term(id);
                writer.add_document(document)?;
            }
            Ok(())
        })
    }

    pub fn remove(&self, dataset_id: Uuid) -> Result<(), SearchError> {
        let id = Term::from_field_text(self.fields.id, &dataset_id.to_string());
        self.write(|writer| {
            writer.delete_term(id);
            Ok(())
        })
    }

    /// Empties the index and indexes `items`, in one commit: searches see the
    /// old index until the new one is complete.
    pub fn rebuild(&self, items: &[IndexedDataset<'_>]) -> Result<(), SearchError> {
        let documents: Vec<TantivyDocument> = items.iter().map(|item| self.document(item)).collect();
        self.write(|writer| {
            writer.delete_all_documents()?;
            for document in documents {
                writer.add_document(document)?;
            }
            Ok(())
        })
    }

    /// Makes a commit visible: new searcher, empty result cache, no tables
    /// of merged-away segments.
    fn after_commit(&self) -> Result<(), SearchError> {
        self.reader.reload()?;
        self.follow(&self.reader.searcher());
        Ok(())
    }

    /// When `searcher` is newer than the last one seen (a commit here or in
    /// another process), drops what belonged to the old one: cached results,
    /// tables of merged-away segments.
    fn follow(&self, searcher: &tantivy::Searcher) {
        let generation = searcher.generation().generation_id();
        // Generations only grow; a request still holding an older searcher changes nothing.
        let seen = self.seen_generation.fetch_max(generation, std::sync::atomic::Ordering::SeqCst);
        if generation > seen {
            self.cache.clear();
            let live: Vec<tantivy::index::SegmentId> =
                searcher.segment_readers().iter().map(|segment| segment.segment_id()).collect();
            self.ordinal_tables.retain_segments(&live);
        }
    }

    pub fn document_count(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    fn visibility_query(&self, visibility: &Visibility) -> Box<dyn Query> {
        let term = |field: Field, value: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))
        };
        match visibility {
            Visibility::Public => term(self.fields.visibility, "public"),
            Visibility::AllActive => term(self.fields.state, "active"),
            Visibility::PublicAnd(organizations) => {
                let mut options = vec![(Occur::Should, term(self.fields.visibility, "public"))];
                for organization in organizations {
                    options.push((Occur::Should, term(self.fields.visibility, &format!("org:{organization}"))));
                }
                Box::new(BooleanQuery::new(options))
            }
        }
    }

    pub fn search(&self, request: &SearchRequest, visibility: &Visibility) -> Result<SearchResults, SearchError> {
        if request.facets.len() > MAX_FACETS || request.filters.len() > MAX_FILTERS {
            return Err(SearchError::BadQuery(format!(
                "at most {MAX_FACETS} facet fields and {MAX_FILTERS} filters are allowed in one search"
            )));
        }
        let searcher = self.reader.searcher();
        self.follow(&searcher);
        let generation = searcher.generation().generation_id();
        let key = ResultCache::key(request, visibility);
        if let Some(results) = self.cache.get(&key, generation) {
            return Ok(results);
        }
        let results = self.search_uncached(&searcher, request, visibility)?;
        self.cache.put(key, generation, &results);
        Ok(results)
    }

    fn search_uncached(
        &self,
        searcher: &tantivy::Searcher,
        request: &SearchRequest,
        visibility: &Visibility,
    ) -> Result<SearchResults, SearchError> {
        let fields = &self.fields;
        let schema = self.index.schema();
        // Filters match or not; only the user's words decide relevance.
        let filter = |query: Box<dyn Query>| -> (Occur, Box<dyn Query>) {
            (Occur::Must, Box::new(ConstScoreQuery::new(query, 0.0)))
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![filter(self.visibility_query(visibility))];
        let query_text = request.query.trim();
        if !query_text.is_empty() && query_text != "*:*" {
            check_query_shape(query_text)?;
            let mut parser = QueryParser::for_index(
                &self.index,
                vec![fields.title, fields.notes, fields.tags, fields.groups, fields.organization, fields.resources],
            );
            parser.set_conjunction_by_default();
            parser.set_field_boost(fields.title, 4.0);
            parser.set_field_boost(fields.tags, 2.0);
            let user_query =
                parser.parse_query(query_text).map_err(|error| SearchError::BadQuery(error.to_string()))?;
            clauses.push((Occur::Must, user_query));
        }
        for (facet, value) in &request.filters {
            let field = schema.get_field(facet.field_name()).expect("facet fields are in the schema");
            let value = if *facet == FacetName::ResFormat { value.to_uppercase() } else { value.clone() };
            let term = Term::from_field_text(field, &value);
            clauses.push(filter(Box::new(TermQuery::new(term, IndexRecordOption::Basic))));
        }
        let query: Box<dyn Query> =
            if clauses.is_empty() { Box::new(AllQuery) } else { Box::new(BooleanQuery::new(clauses)) };

        let limit = request.rows.clamp(1, MAX_ROWS);
        // Tantivy's collectors allocate a heap of `start + limit` entries per
        // segment: a start past the index's documents can match nothing, so
        // it is cut to their number, which bounds the heap by the index.
        let start = request.start.min(searcher.num_docs() as usize);
        let mut collectors = MultiCollector::new();
        let count_handle = collectors.add_collector(Count);
        let facet_handle = (!request.facets.is_empty()).then(|| {
            collectors.add_collector(collectors::FacetCounts {
                fields: request.facets.iter().map(|facet| facet.field_name()).collect(),
                tables: self.ordinal_tables.clone(),
            })
        });
        let top = TopDocs::with_limit(limit).and_offset(start);
        // Without query words every score is equal: relevance means newest first, as in CKAN.
        let sort = match request.sort {
            Sort::Relevance if query_text.is_empty() || query_text == "*:*" => Sort::ModifiedDescending,
            other => other,
        };
        let (addresses, mut fruits): (Vec<DocAddress>, _) = match sort {
            Sort::Relevance => {
                let handle = collectors.add_collector(top);
                let mut fruits = searcher.search(&query, &collectors)?;
                (handle.extract(&mut fruits).into_iter().map(|(_, address)| address).collect(), fruits)
            }
            Sort::ModifiedDescending | Sort::ModifiedAscending | Sort::CreatedDescending => {
                let (field, order) = match sort {
                    Sort::ModifiedDescending => ("metadata_modified", Order::Desc),
                    Sort::ModifiedAscending => ("metadata_modified", Order::Asc),
                    _ => ("metadata_created", Order::Desc),
                };
                let handle = collectors.add_collector(top.order_by_fast_field::<i64>(field, order));
                let mut fruits = searcher.search(&query, &collectors)?;
                (handle.extract(&mut fruits).into_iter().map(|(_, address)| address).collect(), fruits)
            }
            Sort::QualityDescending | Sort::QualityAscending => {
                let order = if sort == Sort::QualityDescending { Order::Desc } else { Order::Asc };
                let handle = collectors.add_collector(top.order_by_fast_field::<u64>("quality", order));
                let mut fruits = searcher.search(&query, &collectors)?;
                (handle.extract(&mut fruits).into_iter().map(|(_, address)| address).collect(), fruits)
            }
            Sort::NameAscending | Sort::NameDescending => {
                let handle = collectors.add_collector(collectors::OrderByText {
                    field: "sort_title",
                    descending: sort == Sort::NameDescending,
                    offset: start,
                    limit,
                });
                let mut fruits = searcher.search(&query, &collectors)?;
                (handle.extract(&mut fruits), fruits)
            }
        };
        let count = count_handle.extract(&mut fruits);
        let mut facets = Vec::new();
        if let Some(handle) = facet_handle {
            for (facet, counts) in request.facets.iter().zip(handle.extract(&mut fruits)) {
                let mut values: Vec<(String, u64)> = counts.into_iter().collect();
                values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                values.truncate(request.facet_limit);
                facets.push((*facet, values));
            }
        }
        let mut ids = Vec::with_capacity(addresses.len());
        let mut quality = Vec::with_capacity(addresses.len());
        for address in addresses {
            let document: TantivyDocument = searcher.doc(address)?;
            if let Some(id) = document.get_first(fields.id).and_then(|value| value.as_str())
                && let Ok(id) = Uuid::parse_str(id)
            {
                ids.push(id);
                quality.push(document.get_first(fields.quality).and_then(|value| value.as_u64()).unwrap_or(0) as u32);
            }
        }
        Ok(SearchResults { count, ids, quality, facets })
    }
}

//! The search index is derived data: each dataset is indexed again after
//! every write to it (with its organization and its quality score as of
//! today), and the whole index can be rebuilt from the database.

use datalab_core::{Dataset, Organization};
use datalab_search::IndexedDataset;
use uuid::Uuid;

use crate::{App, Error};

/// What the analysis of one table says, for its dataset's quality score.
fn table_facts(analysis: &serde_json::Value) -> datalab_core::quality::TableFacts {
    let profile = analysis["profile"].as_array().map(Vec::as_slice).unwrap_or_default();
    let number = |value: &serde_json::Value| value.as_u64().unwrap_or(0);
    datalab_core::quality::TableFacts {
        rows: number(&analysis["rows"]),
        cells: profile.iter().map(|column| number(&column["count"]) + number(&column["nulls"])).sum(),
        missing_cells: profile.iter().map(|column| number(&column["nulls"])).sum(),
        errors: number(&analysis["report"]["stats"]["errors"]),
        duplicate_rows: number(&analysis["report"]["tasks"][0]["errorCounts"]["duplicate-row"]),
    }
}

/// The quality report of a dataset as of today, from its metadata and the
/// analyses of its tables.
pub async fn quality_report(app: &App, dataset: &Dataset) -> Result<datalab_core::quality::QualityReport, Error> {
    let mut facts = Vec::new();
    for resource in &dataset.resources {
        if let Some(analysis) = app.store.analysis(resource.id).await? {
            facts.extend(analysis.tables().into_iter().map(table_facts));
        }
    }
    Ok(datalab_core::quality::score(dataset, &facts, app.clock.today()))
}

/// Indexes one dataset with its organization and its quality score as of
/// now. The outer error is the store's; the inner one the index's.
async fn index_dataset(app: &App, dataset: Dataset) -> Result<Result<(), datalab_search::SearchError>, Error> {
    let organization = app.store.organization(&dataset.owner_org.to_string()).await?;
    let quality = quality_report(app, &dataset).await?.score;
    let search = app.search.clone();
    tokio::task::spawn_blocking(move || {
        search.index(&[IndexedDataset { dataset: &dataset, organization: &organization, quality }])
    })
    .await
    .map_err(Error::internal)
}

/// Indexes a dataset again, with its quality score as of now.
pub async fn reindex_dataset(app: &App, dataset: &Dataset) -> Result<(), Error> {
    // The change is committed: failing the request now would tell the
    // client it was not (and a retry would collide with it). The index is
    // derived data; the daily re-index (or `datalab admin reindex`) mends it.
    if let Err(error) = index_dataset(app, dataset.clone()).await? {
        tracing::error!(%error, dataset_id = %dataset.id, "cannot re-index a dataset after saving it; search shows it as it was");
    }
    Ok(())
}

/// Rebuilds the whole search index from the database; returns how many
/// datasets were indexed.
pub async fn reindex_all(app: &App) -> Result<usize, Error> {
    let (store, search) = (&app.store, &app.search);
    let datasets = store.all_datasets().await?;
    let organizations: Vec<Organization> = {
        let mut all = Vec::new();
        for id in datasets.iter().map(|dataset| dataset.owner_org).collect::<std::collections::BTreeSet<_>>() {
            all.push(store.organization(&id.to_string()).await?);
        }
        all
    };
    let mut quality = Vec::with_capacity(datasets.len());
    for dataset in &datasets {
        quality.push(quality_report(app, dataset).await?.score);
    }
    let before: std::collections::HashMap<Uuid, time::OffsetDateTime> =
        datasets.iter().map(|dataset| (dataset.id, dataset.metadata_modified)).collect();
    let rebuilding = search.clone();
    let count = datasets.len();
    tokio::task::spawn_blocking(move || {
        let items: Vec<IndexedDataset<'_>> = datasets
            .iter()
            .zip(quality)
            .filter_map(|(dataset, quality)| {
                organizations
                    .iter()
                    .find(|organization| organization.id == dataset.owner_org)
                    .map(|organization| IndexedDataset { dataset, organization, quality })
            })
            .collect();
        rebuilding.rebuild(&items)
    })
    .await
    .map_err(Error::internal)??;
    // A write while the snapshot was indexed (by this process or another
    // sharing the folder) was undone by the rebuild: what changed since the
    // snapshot is indexed again, what went is removed.
    let after = store.all_datasets().await?;
    let now: std::collections::HashSet<Uuid> = after.iter().map(|dataset| dataset.id).collect();
    for dataset in after.into_iter().filter(|dataset| before.get(&dataset.id) != Some(&dataset.metadata_modified)) {
        index_dataset(app, dataset).await??;
    }
    for id in before.into_keys().filter(|id| !now.contains(id)) {
        let search = search.clone();
        tokio::task::spawn_blocking(move || search.remove(id)).await.map_err(Error::internal)??;
    }
    Ok(count)
}

/// Indexes every dataset again once a day, so the quality scores in search
/// follow freshness (a dataset becomes outdated without anyone touching it).
pub fn spawn_daily_reindex(app: App) {
    tokio::spawn(async move {
        let day = std::time::Duration::from_secs(24 * 60 * 60);
        loop {
            tokio::time::sleep(day).await;
            match reindex_all(&app).await {
                Ok(count) => tracing::info!(count, "search index refreshed"),
                Err(error) => tracing::warn!(%error, "cannot refresh the search index"),
            }
        }
    });
}

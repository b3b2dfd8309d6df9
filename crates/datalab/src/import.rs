//! `datalab import FILE --dataset NAME`: publishes a local file as a
//! resource (creating the dataset if needed) and analyses it in the
//! foreground, with progress bars for the upload and the analysis.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use bytes::Bytes;
use datalab_app::App;
use datalab_app::catalog;
use datalab_core::ResourceLocation;
use indicatif::{ProgressBar, ProgressStyle};

pub struct ImportRequest<'a> {
    pub file: &'a Path,
    pub dataset: &'a str,
    pub organization: Option<&'a str>,
    pub title: Option<&'a str>,
    pub encoding: Option<String>,
    pub json: bool,
}

fn bar(length: u64, message: &'static str, hidden: bool) -> ProgressBar {
    let bar = if hidden { ProgressBar::hidden() } else { ProgressBar::new(length) };
    bar.set_style(
        ProgressStyle::with_template("{msg:12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(message);
    bar
}

/// A reader that moves a progress bar.
struct Progress<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.bar.inc(read as u64);
        Ok(read)
    }
}

pub async fn run(state: &App, request: ImportRequest<'_>) -> anyhow::Result<serde_json::Value> {
    let system = datalab_app::system_actor();
    let filename = request.file.file_name().and_then(|name| name.to_str()).context("the file has no name")?.to_string();
    let size =
        std::fs::metadata(request.file).with_context(|| format!("cannot read {}", request.file.display()))?.len();

    let existing = match state.store.dataset(request.dataset).await {
        Ok(dataset) => Some(dataset),
        Err(datalab_store::StoreError::NotFound) => None,
        Err(error) => return Err(error.into()),
    };
    let mut dataset = match &existing {
        Some(dataset) => dataset.clone(),
        None => {
            let organization =
                request.organization.context("the dataset does not exist yet: say its organization with --org")?;
            let organization = state
                .store
                .organization(organization)
                .await
                .map_err(|_| anyhow::anyhow!("no organization named {organization:?}"))?;
            let mut dataset = catalog::new_dataset(organization.id, None);
            dataset.name = request.dataset.to_string();
            dataset.title = request.title.unwrap_or(request.dataset).to_string();
            dataset
        }
    };
    let position = dataset.resources.iter().position(
        |resource| matches!(&resource.location, ResourceLocation::Upload { filename: known, .. } if *known == filename),
    );
    let mut resource = match position {
        Some(index) => dataset.resources[index].clone(),
        None => catalog::new_resource(dataset.id, ResourceLocation::Link { url: String::new() }),
    };
    // The format the upload will have, to know before it is stored whether
    // the file is a table to analyse.
    let mut probe = resource.clone();
    probe.format.clear();
    catalog::attach_upload(
        &mut probe,
        &(datalab_files::StoredBlob { key: String::new(), size, sha256: String::new() }, filename.clone()),
    );
    let tabular = catalog::is_tabular(&probe);

    // The upload (streamed into storage with its hash) and the analysis
    // (read from the local file) run at the same time, each with its bar.
    let bars = indicatif::MultiProgress::new();
    let upload_bar = bars.add(bar(size, "subiendo", request.json));
    let file = tokio::fs::File::open(request.file).await?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
    let bar_clone = upload_bar.clone();
    let counted = futures_util::StreamExt::map(stream, move |chunk: std::io::Result<Bytes>| {
        if let Ok(chunk) = &chunk {
            bar_clone.inc(chunk.len() as u64);
        }
        chunk
    });
    let upload = async {
        let blob = state.files.put_stream(counted).await.map_err(|error| anyhow::anyhow!("{error}"));
        upload_bar.finish();
        blob
    };
    let analysis_bar = bars.add(bar(size, "analizando", request.json));
    let analysis = async {
        if !tabular {
            return None;
        }
        let options = datalab_ingest::AnalyzeOptions {
            name: filename.clone(),
            encoding: request.encoding.clone(),
            format: Some(probe.format.clone()),
            // The publisher's Table Schema, as the server's jobs apply it.
            schema: resource.schema.clone(),
            ..Default::default()
        };
        // The file from its start, each time the analysis reads it (twice
        // when its first rows suggest other types than the rest).
        let path = request.file.to_path_buf();
        let bar = analysis_bar.clone();
        let open = move || -> std::io::Result<_> {
            bar.reset();
            let file = std::fs::File::open(&path)?;
            // Read in large pieces by the analysis (its decoder, or the spool
            // of a workbook or archive): no buffer here.
            Ok(Progress { inner: file, bar: bar.clone() })
        };
        let pending = datalab_app::analysis::analyse_file(state, open, options).await;
        analysis_bar.finish();
        Some(pending)
    };
    let (blob, pending) = tokio::join!(upload, analysis);
    let blob = blob?;

    resource.format.clear();
    catalog::attach_upload(&mut resource, &(blob.clone(), filename.clone()));
    let resource_id = resource.id;
    match position {
        Some(index) => dataset.resources[index] = resource,
        None => dataset.resources.push(resource),
    }
    let saved = match existing {
        Some(before) => catalog::update_dataset(state, &system, None, &before, dataset).await,
        None => catalog::create_dataset(state, &system, None, dataset).await,
    }
    .map_err(|error| anyhow::anyhow!("{}", error.detailed()))?;
    let resource =
        saved.resources.iter().find(|resource| resource.id == resource_id).context("the resource was saved")?.clone();

    let mut summary = serde_json::json!({
        "dataset": saved.name,
        "resource_id": resource.id,
        "format": resource.format,
        "bytes": blob.size,
        "sha256": blob.sha256,
    });
    if let Some(pending) = pending {
        let outcome = datalab_app::analysis::record_analysis(state, resource.id, &resource.sha256, pending).await;
        // The terminal speaks Spanish first, as the pages do.
        let file = outcome.map_err(|error| anyhow::anyhow!("{}", error.get("es")))?;
        let describe = |table: &datalab_ingest::Analysis| {
            serde_json::json!({
                "name": table.name,
                "rows": table.rows,
                "schema": table.schema,
                "validation": {
                    "valid": table.report["valid"],
                    "errors": table.report["stats"]["errors"],
                    "error_counts": table.report["tasks"][0]["errorCounts"],
                },
            })
        };
        // The default (first) table at the top; every table, with its name, in `tables`.
        if let Some(first) = file.tables.first() {
            summary["rows"] = serde_json::json!(first.rows);
            summary["encoding"] = serde_json::json!(first.encoding);
            if let Some(mixed) = &first.mixed_encoding {
                summary["mixed_encoding"] = serde_json::json!(mixed);
            }
            summary["schema"] = first.schema.clone();
            summary["validation"] = describe(first)["validation"].clone();
        }
        summary["reader"] = serde_json::json!(file.format);
        summary["tables"] = file.tables.iter().map(describe).collect();
    }
    Ok(summary)
}

//! The tracker as open data: the milestones as CSV (with the OGP IRM
//! completion scale) and a commitment as JSON ([`CommitmentReport`]), and a
//! copy of both published in the catalog, kept in step with every change.

use bytes::Bytes;
use datalab_core::ResourceLocation;
use datalab_core::accountability::Commitment;

use super::report::{CommitmentReport, report};
use crate::{App, Error, catalog};

/// The columns of the milestones CSV, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "commitment",
    "number",
    "title_es",
    "title_en",
    "start",
    "end",
    "status",
    "progress",
    "blocker_reason",
    "blocker_owner",
    "responsible_organizations",
    "evidence_count",
    "overdue",
    "data_problems",
    "irm_completion",
    "parent",
];

pub fn milestones_csv(commitment: &CommitmentReport) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_COLUMNS).expect("writing to memory");
    for milestone in &commitment.milestones {
        writer
            .write_record(
                [
                    commitment.code.as_str(),
                    &milestone.number.to_string(),
                    &milestone.title_es,
                    &milestone.title_en,
                    &milestone.start,
                    &milestone.end,
                    &milestone.status,
                    &milestone.progress.to_string(),
                    &milestone.blocker_reason,
                    &milestone.blocker_owner,
                    &milestone.organizations.join(";"),
                    &milestone.evidence_count.to_string(),
                    if milestone.overdue { "true" } else { "false" },
                    &milestone.data_problems.join(";"),
                    &milestone.irm_completion,
                    &milestone.parent.map(|number| number.to_string()).unwrap_or_default(),
                ]
                .map(|cell| datalab_core::cells::neutralise(cell).into_owned()),
            )
            .expect("writing to memory");
    }
    String::from_utf8(writer.into_inner().expect("flushing memory")).expect("csv of utf-8 is utf-8")
}

/// The catalog dataset that publishes a commitment's tracker.
pub fn dataset_name(code: &str) -> String {
    format!("seguimiento-{}", code.to_lowercase())
}

/// Publishes (or refreshes) the tracker's CSV and JSON as a dataset of the
/// commitment's lead organization (or its first institution with one). The
/// dataset changes only when the files do, so its activity shows real
/// changes. A commitment with no organization among its institutions has
/// no catalog copy. A follower of the event log (`events`) calls it; it
/// does not catch up with the log itself.
pub async fn sync_catalog_copy(app: &App, commitment: &Commitment) -> Result<(), Error> {
    let owner = commitment
        .institutions
        .iter()
        .filter(|institution| institution.role == datalab_core::accountability::InstitutionRole::Lead)
        .chain(commitment.institutions.iter())
        .find_map(|institution| institution.organization_id);
    let Some(owner) = owner else { return Ok(()) };
    let data = report(app, commitment).await?;
    let files = [
        ("hitos.csv", "CSV", "text/csv", milestones_csv(&data).into_bytes(), "Hitos y su estado (CSV)"),
        (
            "compromiso.json",
            "JSON",
            "application/json",
            serde_json::to_vec_pretty(&data).expect("serializes"),
            "Compromiso, hitos y su estado (JSON)",
        ),
    ];
    let system = crate::system_actor();
    let name = dataset_name(&commitment.code);
    let existing = match app.store.dataset(&name).await {
        Ok(dataset) => Some(dataset),
        Err(datalab_store::StoreError::NotFound) => None,
        Err(error) => return Err(error.into()),
    };
    let mut dataset = existing.clone().unwrap_or_else(|| {
        let mut dataset = catalog::new_dataset(owner, None);
        dataset.name = name.clone();
        dataset.title = format!("Seguimiento del compromiso {}", commitment.code);
        dataset.notes = format!(
            "Estado de los hitos del compromiso de gobierno abierto **{}: {}**, con fechas, avance, bloqueos, evidencias y la \
             escala de cumplimiento del Mecanismo de Revisión Independiente (MRI) de la OGP. Se actualiza en cada cambio; el \
             historial completo de cada hito está en [su página](/commitment/{}).",
            commitment.code,
            commitment.title.get("es"),
            commitment.code
        );
        dataset.tags = vec!["gobierno abierto".into(), "rendición de cuentas".into(), commitment.code.to_lowercase()];
        dataset.dcat.update_frequency = "continuous".into();
        dataset.dcat.temporal_start = commitment.start.clone();
        dataset.dcat.temporal_end = commitment.end.clone();
        dataset.dcat.spatial = vec![datalab_core::municipalities::STATE_CODE.into()];
        dataset
    });
    let mut changed = existing.is_none();
    for (filename, format, mimetype, bytes, title) in files {
        let blob =
            app.files.put_stream(futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(bytes))])).await?;
        let position = dataset
            .resources
            .iter()
            .position(|resource| matches!(&resource.location, ResourceLocation::Upload { filename: known, .. } if known == filename));
        match position {
            Some(index) if dataset.resources[index].sha256 == blob.sha256 => {}
            found => {
                let mut resource = match found {
                    Some(index) => dataset.resources[index].clone(),
                    None => catalog::new_resource(dataset.id, ResourceLocation::Link { url: String::new() }),
                };
                resource.name = title.into();
                resource.format = format.into();
                catalog::attach_upload(&mut resource, &(blob, filename.to_string()));
                resource.mimetype = mimetype.into();
                match found {
                    Some(index) => dataset.resources[index] = resource,
                    None => dataset.resources.push(resource),
                }
                changed = true;
            }
        }
    }
    if !changed {
        return Ok(());
    }
    match existing {
        Some(before) => catalog::save_dataset(app, &system, None, &before, dataset).await?,
        None => catalog::save_new_dataset(app, &system, None, dataset).await?,
    };
    Ok(())
}

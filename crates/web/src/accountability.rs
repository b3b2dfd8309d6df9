//! The tracker as open data: the milestones as CSV (with the OGP IRM
//! completion scale), the same as JSON, a copy of both published in the
//! catalog and kept in sync on every change, and an Atom feed of status
//! changes.

use bytes::Bytes;
use datalab_core::accountability::{Commitment, MilestoneEvent};
use datalab_core::{Actor, ResourceLocation};
use uuid::Uuid;

use crate::AppState;
use crate::api::CommitmentOut;
use crate::catalog;
use crate::error::AppError;

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

pub fn milestones_csv(commitment: &CommitmentOut) -> String {
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
/// no catalog copy.
pub async fn sync_catalog_copy(state: &AppState, commitment: &Commitment) -> Result<(), AppError> {
    let owner = commitment
        .institutions
        .iter()
        .filter(|institution| institution.role == datalab_core::accountability::InstitutionRole::Lead)
        .chain(commitment.institutions.iter())
        .find_map(|institution| institution.organization_id);
    let Some(owner) = owner else { return Ok(()) };
    let data = crate::api::commitment_out(state, commitment).await.map_err(|error| error.into_app_error())?;
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
    let system = Actor { user_id: None, sysadmin: true, memberships: Default::default() };
    let name = dataset_name(&commitment.code);
    let existing = match state.store.dataset(&name).await {
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
            state.files.put_stream(futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(bytes))])).await?;
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
        Some(before) => catalog::update_dataset(state, &system, None, &before, dataset).await?,
        None => catalog::create_dataset(state, &system, None, dataset).await?,
    };
    Ok(())
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// An Atom feed of a commitment's status changes and new evidence, newest first.
pub fn atom_feed(
    base_url: &str,
    commitment: &Commitment,
    events: &[(i64, MilestoneEvent)],
    lang: crate::i18n::Lang,
) -> String {
    let code = lang.code();
    let link = format!("{base_url}/commitment/{}", commitment.code);
    let updated = events.first().map(|(_, event)| event.at).unwrap_or_else(datalab_store::now);
    let rfc3339 =
        |moment: time::OffsetDateTime| moment.format(&time::format_description::well_known::Rfc3339).expect("formats");
    let mut feed =
        String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    feed.push_str(&format!(
        "  <title>{}</title>\n  <id>{}</id>\n  <link href=\"{}\"/>\n  <link rel=\"self\" href=\"{}/feed.atom\"/>\n  <updated>{}</updated>\n",
        xml_escape(&format!("{}: {}", commitment.code, commitment.title.get(code))),
        xml_escape(&link),
        xml_escape(&link),
        xml_escape(&link),
        rfc3339(updated)
    ));
    let status_label = |value: &serde_json::Value| {
        value.as_str().map(|status| lang.t(&format!("status-{status}"))).unwrap_or_default()
    };
    for (number, event) in events {
        let title = match event.field.as_str() {
            "status" => format!(
                "{} {number}: {} → {}",
                lang.t("milestone"),
                status_label(&event.before),
                status_label(&event.after)
            ),
            _ => format!("{} {number}: {}", lang.t("milestone"), lang.t("milestone-field-evidence")),
        };
        let entry_link = format!("{link}/milestone/{number}");
        feed.push_str(&format!(
            "  <entry>\n    <title>{}</title>\n    <id>{}#event-{}</id>\n    <link href=\"{}\"/>\n    <updated>{}</updated>\n    <author><name>{}</name></author>\n    <summary>{}</summary>\n  </entry>\n",
            xml_escape(&title),
            xml_escape(&entry_link),
            event.id,
            xml_escape(&entry_link),
            rfc3339(event.at),
            xml_escape(event.user_name.as_deref().unwrap_or("datalab")),
            xml_escape(&event.note),
        ));
    }
    feed.push_str("</feed>\n");
    feed
}

/// A CSV column the import reads besides the export's own columns.
pub const IMPORT_EXTRA_COLUMNS: &[&str] = &["note", "evidence_url", "evidence_note"];

/// A milestone a bulk update adds: numbered as the row says, titled by its
/// `title_es`/`title_en` columns, with the organizations named (by catalog
/// name) in `responsible_organizations`.
fn new_milestone(
    commitment: &Commitment,
    number: i64,
    value: &dyn Fn(&str) -> Option<String>,
    organizations: &[datalab_core::Organization],
) -> Result<datalab_core::accountability::Milestone, &'static str> {
    let title = datalab_core::accountability::Bilingual {
        es: value("title_es").unwrap_or_default(),
        en: value("title_en").unwrap_or_default(),
    };
    if title.es.is_empty() && title.en.is_empty() {
        return Err("title_es");
    }
    let mut responsible = Vec::new();
    for name in
        value("responsible_organizations").unwrap_or_default().split(';').map(str::trim).filter(|name| !name.is_empty())
    {
        match organizations.iter().find(|organization| organization.name == name) {
            Some(organization) => responsible.push(organization.id),
            None => return Err("responsible_organizations"),
        }
    }
    Ok(datalab_core::accountability::Milestone {
        id: Uuid::new_v4(),
        commitment_id: commitment.id,
        number,
        parent_id: None,
        weight: 1.0,
        title,
        description: Default::default(),
        start: String::new(),
        end: String::new(),
        status: datalab_core::accountability::MilestoneStatus::NotStarted,
        progress: 0,
        blocker_reason: String::new(),
        blocker_owner: String::new(),
        organizations: responsible,
        evidence: Vec::new(),
    })
}

/// Why a row of a bulk update cannot be applied.
#[derive(Debug, Clone, PartialEq)]
pub enum RowProblem {
    Field(datalab_core::FieldError),
    UnknownMilestone,
    Forbidden,
    UnknownColumn,
    Duplicate,
    Malformed(String),
}

impl RowProblem {
    pub fn code(&self) -> String {
        match self {
            RowProblem::Field(error) => format!("field-error-{}", error.code()),
            RowProblem::UnknownMilestone => "import-unknown-milestone".into(),
            RowProblem::Forbidden => "import-forbidden".into(),
            RowProblem::UnknownColumn => "import-unknown-column".into(),
            RowProblem::Duplicate => "import-duplicate-row".into(),
            RowProblem::Malformed(_) => "import-malformed".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    /// The line of the file (the header is line 1).
    pub line: usize,
    pub field: String,
    pub problem: RowProblem,
}

/// One milestone a bulk update will change, with its changes listed.
#[derive(Debug, Clone)]
pub struct PlannedUpdate {
    pub line: usize,
    pub before: datalab_core::accountability::Milestone,
    pub after: datalab_core::accountability::Milestone,
    pub note: String,
    /// (field, before, after) as text.
    pub changes: Vec<(String, String, String)>,
    /// A milestone the file adds (sysadmins only): `after` is inserted.
    pub is_new: bool,
}

/// Reads a bulk update (the milestones CSV, edited) and plans it: every row
/// is checked (the milestone exists, the actor may update it, the values
/// parse and obey the status rules) and every problem reported. Rows that
/// change nothing are skipped, so importing an export changes nothing.
pub async fn plan_import(
    state: &AppState,
    actor: &Actor,
    user: Option<Uuid>,
    commitment: &Commitment,
    bytes: &[u8],
) -> Result<Vec<PlannedUpdate>, Vec<RowError>> {
    use datalab_core::FieldError;
    use datalab_core::accountability::{Evidence, EvidenceTarget, MilestoneStatus};
    let text = match std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)) {
        Ok(text) => text,
        Err(_) => {
            return Err(vec![RowError {
                line: 1,
                field: String::new(),
                problem: RowProblem::Malformed("the file is not UTF-8 text".into()),
            }]);
        }
    };
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(headers) => headers.iter().map(str::to_string).collect(),
        Err(error) => {
            return Err(vec![RowError {
                line: 1,
                field: String::new(),
                problem: RowProblem::Malformed(error.to_string()),
            }]);
        }
    };
    let mut errors = Vec::new();
    for header in &headers {
        if !CSV_COLUMNS.contains(&header.as_str()) && !IMPORT_EXTRA_COLUMNS.contains(&header.as_str()) {
            errors.push(RowError { line: 1, field: header.clone(), problem: RowProblem::UnknownColumn });
        }
    }
    for required in ["commitment", "number"] {
        if !headers.iter().any(|header| header == required) {
            errors.push(RowError { line: 1, field: required.into(), problem: RowProblem::Field(FieldError::Missing) });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let milestones = match state.store.milestones(commitment.id).await {
        Ok(milestones) => milestones,
        Err(error) => {
            return Err(vec![RowError {
                line: 1,
                field: String::new(),
                problem: RowProblem::Malformed(error.to_string()),
            }]);
        }
    };
    let organizations = match state.store.organizations().await {
        Ok(organizations) => organizations,
        Err(error) => {
            return Err(vec![RowError {
                line: 1,
                field: String::new(),
                problem: RowProblem::Malformed(error.to_string()),
            }]);
        }
    };
    let mut planned: Vec<PlannedUpdate> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                errors.push(RowError { line, field: String::new(), problem: RowProblem::Malformed(error.to_string()) });
                continue;
            }
        };
        let value = |column: &str| {
            headers
                .iter()
                .position(|header| header == column)
                .and_then(|position| record.get(position))
                .map(|cell| datalab_core::cells::restore(cell).to_string())
        };
        let mut fail = |field: &str, problem: RowProblem| errors.push(RowError { line, field: field.into(), problem });
        if value("commitment").as_deref() != Some(commitment.code.as_str()) {
            fail("commitment", RowProblem::UnknownMilestone);
            continue;
        }
        let number = value("number").and_then(|number| number.parse::<i64>().ok());
        let created;
        let (milestone, is_new) =
            match (number, number.and_then(|number| milestones.iter().find(|milestone| milestone.number == number))) {
                (_, Some(milestone)) => (milestone, false),
                // Adding milestones is for those who manage commitments; others name existing ones.
                (Some(number), None) if number > 0 && actor.can(datalab_core::Action::ManageCommitments) => {
                    match new_milestone(commitment, number, &value, &organizations) {
                        Ok(milestone) => {
                            created = milestone;
                            (&created, true)
                        }
                        Err(field) => {
                            let problem = if field == "title_es" {
                                RowProblem::Field(FieldError::Missing)
                            } else {
                                RowProblem::Field(FieldError::OrganizationUnknown)
                            };
                            fail(field, problem);
                            continue;
                        }
                    }
                }
                _ => {
                    fail("number", RowProblem::UnknownMilestone);
                    continue;
                }
            };
        if !seen.insert(milestone.number) {
            fail("number", RowProblem::Duplicate);
            continue;
        }
        if !crate::pages::accountability::can_update(actor, commitment, milestone) {
            fail("number", RowProblem::Forbidden);
            continue;
        }
        let mut after = milestone.clone();
        let mut row_ok = true;
        if let Some(status) = value("status") {
            match MilestoneStatus::parse(&status) {
                Some(status) => after.status = status,
                None => {
                    fail("status", RowProblem::Field(FieldError::UnknownValue));
                    row_ok = false;
                }
            }
        }
        if let Some(progress) = value("progress") {
            match progress.parse::<i64>() {
                Ok(progress) => after.progress = progress,
                Err(_) => {
                    fail("progress", RowProblem::Field(FieldError::OutOfRange));
                    row_ok = false;
                }
            }
        }
        for (column, target) in [
            ("start", &mut after.start),
            ("end", &mut after.end),
            ("blocker_reason", &mut after.blocker_reason),
            ("blocker_owner", &mut after.blocker_owner),
        ] {
            if let Some(text) = value(column) {
                *target = text;
            }
        }
        if let Some(url) = value("evidence_url").filter(|url| !url.is_empty()) {
            after.evidence.push(Evidence {
                id: Uuid::new_v4(),
                target: EvidenceTarget::Url { url },
                note: value("evidence_note").unwrap_or_default(),
                added_by: user,
                added_at: datalab_store::now(),
            });
        }
        if row_ok {
            for (field, field_errors) in after.validate().0 {
                for error in field_errors {
                    fail(&field, RowProblem::Field(error));
                }
            }
        }
        let note = value("note").unwrap_or_default();
        let mut changes = Vec::new();
        let mut compare = |field: &str, old: String, new: String| {
            if old != new {
                changes.push((field.to_string(), old, new));
            }
        };
        compare("status", milestone.status.as_str().into(), after.status.as_str().into());
        compare("progress", milestone.progress.to_string(), after.progress.to_string());
        compare("start", milestone.start.clone(), after.start.clone());
        compare("end", milestone.end.clone(), after.end.clone());
        compare("blocker_reason", milestone.blocker_reason.clone(), after.blocker_reason.clone());
        compare("blocker_owner", milestone.blocker_owner.clone(), after.blocker_owner.clone());
        if after.evidence.len() > milestone.evidence.len() {
            changes.push(("evidence".into(), String::new(), value("evidence_url").unwrap_or_default()));
        }
        if !note.is_empty() && changes.is_empty() {
            changes.push(("comment".into(), String::new(), note.clone()));
        }
        if is_new {
            changes.insert(0, ("created".into(), String::new(), after.title.get("es").to_string()));
        }
        if !changes.is_empty() {
            planned.push(PlannedUpdate { line, before: milestone.clone(), after, note, changes, is_new });
        }
    }
    if errors.is_empty() { Ok(planned) } else { Err(errors) }
}

/// Applies a planned bulk update in one transaction and refreshes the catalog copy.
pub async fn apply_import(
    state: &AppState,
    user: Option<Uuid>,
    commitment: &Commitment,
    planned: &[PlannedUpdate],
) -> Result<usize, AppError> {
    let inserts: Vec<_> = planned.iter().filter(|update| update.is_new).map(|update| update.after.clone()).collect();
    let updates: Vec<_> = planned
        .iter()
        .filter(|update| !update.is_new)
        .map(|update| (update.before.clone(), update.after.clone(), update.note.clone()))
        .collect();
    let entries = state.store.apply_milestone_changes(user, &inserts, &updates).await?;
    sync_catalog_copy(state, commitment).await?;
    Ok(entries)
}

/// A commitment with its milestones as JSON: what `POST /api/v1/commitments`
/// takes and what the demo loads (`crates/datalab/demo/mxnle0001.json`).
/// Institutions and responsible organizations are catalog organization names.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct CommitmentDocument {
    #[schema(value_type = Object)]
    pub action_plan: datalab_core::accountability::ActionPlan,
    pub commitment: CommitmentEntry,
    pub milestones: Vec<MilestoneEntry>,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct Text {
    pub es: String,
    pub en: String,
}

impl From<Text> for datalab_core::accountability::Bilingual {
    fn from(text: Text) -> Self {
        datalab_core::accountability::Bilingual { es: text.es, en: text.en }
    }
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct CommitmentEntry {
    pub code: String,
    pub title: Text,
    pub problem: Text,
    pub status_quo: Text,
    pub action: Text,
    pub contribution: Text,
    pub policy_area: Text,
    pub sector: Text,
    pub ogp_values: Vec<Text>,
    pub start: String,
    pub end: String,
    pub institutions: Vec<InstitutionEntry>,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct InstitutionEntry {
    /// A catalog organization name, or null for an institution that is not one.
    pub organization: Option<String>,
    pub name: Text,
    /// lead, supporting or civil-society
    pub role: String,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct MilestoneEntry {
    pub number: i64,
    pub title: Text,
    pub description: Text,
    pub start: String,
    pub end: String,
    /// Catalog organization names.
    pub organizations: Vec<String>,
}

/// Creates a commitment and its milestones (all Not started), checks every
/// reference first, and publishes its catalog copy.
pub async fn create_commitment(
    state: &AppState,
    by_user: Option<Uuid>,
    document: CommitmentDocument,
) -> Result<Commitment, AppError> {
    use datalab_core::accountability::{Institution, InstitutionRole, Milestone, MilestoneStatus};
    use datalab_core::{FieldError, FieldErrors};
    let mut errors = FieldErrors::new();
    let organization = |name: &str| {
        let name = name.to_string();
        async move { state.store.organization(&name).await.ok().map(|organization| organization.id) }
    };
    let entry = document.commitment;
    if entry.code.trim().is_empty()
        || entry.code.len() > 40
        || !entry.code.chars().all(|character| character.is_ascii_alphanumeric() || character == '-')
    {
        errors.add("code", FieldError::SlugInvalid);
    }
    let mut institutions = Vec::new();
    for institution in entry.institutions {
        let organization_id = match &institution.organization {
            Some(name) => match organization(name).await {
                Some(id) => Some(id),
                None => {
                    errors.add("institutions", FieldError::OrganizationUnknown);
                    None
                }
            },
            None => None,
        };
        match InstitutionRole::parse(&institution.role) {
            Some(role) => institutions.push(Institution { organization_id, name: institution.name.into(), role }),
            None => errors.add("institutions", FieldError::UnknownValue),
        }
    }
    let commitment = Commitment {
        id: Uuid::new_v4(),
        code: entry.code,
        action_plan: document.action_plan,
        title: entry.title.into(),
        problem: entry.problem.into(),
        status_quo: entry.status_quo.into(),
        action: entry.action.into(),
        contribution: entry.contribution.into(),
        policy_area: entry.policy_area.into(),
        sector: entry.sector.into(),
        ogp_values: entry.ogp_values.into_iter().map(Into::into).collect(),
        start: entry.start,
        end: entry.end,
        institutions,
    };
    let mut milestones = Vec::new();
    let mut numbers = std::collections::HashSet::new();
    for milestone in document.milestones {
        if !numbers.insert(milestone.number) {
            errors.add("milestones", FieldError::NameTaken);
        }
        let mut responsible = Vec::new();
        for name in &milestone.organizations {
            match organization(name).await {
                Some(id) => responsible.push(id),
                None => errors.add("milestones", FieldError::OrganizationUnknown),
            }
        }
        milestones.push(Milestone {
            id: Uuid::new_v4(),
            commitment_id: commitment.id,
            number: milestone.number,
            parent_id: None,
            weight: 1.0,
            title: milestone.title.into(),
            description: milestone.description.into(),
            start: milestone.start,
            end: milestone.end,
            status: MilestoneStatus::NotStarted,
            progress: 0,
            blocker_reason: String::new(),
            blocker_owner: String::new(),
            organizations: responsible,
            evidence: Vec::new(),
        });
    }
    errors.into_result()?;
    state.store.create_commitment(by_user, &commitment, &milestones).await.map_err(|error| match error {
        datalab_store::StoreError::Validation(mut fields) => {
            if let Some(taken) = fields.0.remove("name") {
                fields.0.insert("code".into(), taken);
            }
            AppError::Validation(fields)
        }
        other => other.into(),
    })?;
    sync_catalog_copy(state, &commitment).await?;
    Ok(commitment)
}

//! Bulk updates of a commitment's milestones from CSV (the export, edited):
//! every row checked and every problem reported before anything is
//! written, then applied in one transaction.

use datalab_core::Actor;
use datalab_core::accountability::Commitment;
use uuid::Uuid;

use super::can_update;
use super::export::CSV_COLUMNS;
use crate::{App, Error};

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
    app: &App,
    actor: &Actor,
    user: Option<Uuid>,
    commitment: &Commitment,
    bytes: &[u8],
) -> Result<Vec<PlannedUpdate>, Vec<RowError>> {
    use datalab_core::FieldError;
    use datalab_core::accountability::{EDITABLE_FIELDS, Evidence, EvidenceTarget};
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
    let milestones = match app.store.milestones(commitment.id).await {
        Ok(milestones) => milestones,
        Err(error) => {
            return Err(vec![RowError {
                line: 1,
                field: String::new(),
                problem: RowProblem::Malformed(error.to_string()),
            }]);
        }
    };
    let organizations = match app.store.organizations().await {
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
        if !can_update(actor, commitment, milestone) {
            fail("number", RowProblem::Forbidden);
            continue;
        }
        let mut after = milestone.clone();
        let mut row_ok = true;
        for field in EDITABLE_FIELDS {
            if let Some(text) = value(field)
                && let Err(error) = after.set_field(field, &text)
            {
                fail(field, RowProblem::Field(error));
                row_ok = false;
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
        for (field, _, _) in milestone.changes(&after) {
            let text =
                |milestone: &datalab_core::accountability::Milestone| milestone.field_text(field).unwrap_or_default();
            changes.push((field.to_string(), text(milestone), text(&after)));
        }
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

/// Applies a planned bulk update in one transaction; the catalog copy
/// follows from the event log.
pub async fn apply_import(app: &App, user: Option<Uuid>, planned: &[PlannedUpdate]) -> Result<usize, Error> {
    let inserts: Vec<_> = planned.iter().filter(|update| update.is_new).map(|update| update.after.clone()).collect();
    let updates: Vec<_> = planned
        .iter()
        .filter(|update| !update.is_new)
        .map(|update| (update.before.clone(), update.after.clone(), update.note.clone()))
        .collect();
    let entries = app.store.apply_milestone_changes(user, &inserts, &updates).await?;
    crate::events::catch_up(app).await;
    Ok(entries)
}

//! A milestone's own changes: its form's update (fields, a note, new
//! evidence) and a task added under it. Each asks who may update the
//! milestone, applies the status rules, and writes the change with its
//! timeline entries in one transaction; the catalog copy and search follow
//! from the event log.

use datalab_core::accountability::{
    Bilingual, Commitment, EDITABLE_FIELDS, Evidence, EvidenceTarget, Milestone, MilestoneStatus,
};
use datalab_core::{Actor, FieldError, FieldErrors, User};
use uuid::Uuid;

use super::update_actions;
use crate::{App, Error};

/// Evidence added with an update: a link, or a dataset of the catalog
/// (by id or name), which the one who adds it must be able to read.
pub enum NewEvidence {
    Url(String),
    Dataset(String),
}

/// An update of a milestone as its form sends it.
pub struct MilestoneUpdate {
    /// Each editable field's text ([`EDITABLE_FIELDS`]); a field not given
    /// keeps its value.
    pub fields: Vec<(String, String)>,
    pub note: String,
    pub evidence: Option<(NewEvidence, String)>,
}

impl MilestoneUpdate {
    /// The text of `field`, if the update gives it.
    fn field(&self, field: &str) -> Option<&str> {
        self.fields.iter().find(|(name, _)| name == field).map(|(_, text)| text.as_str())
    }
}

/// Updates `before` (a milestone of `commitment`). Refused with every
/// problem at once (unreadable values, the status rules, evidence the
/// actor cannot read) and nothing written; a milestone with tasks keeps
/// its progress, which is derived from them. A milestone that is not
/// stuck has no blocker. Returns the milestone as saved.
pub async fn update_milestone(
    app: &App,
    actor: &Actor,
    user: Option<&User>,
    commitment: &Commitment,
    before: &Milestone,
    update: &MilestoneUpdate,
) -> Result<Milestone, Error> {
    actor.authorize_any(&update_actions(commitment, before))?;
    let mut after = before.clone();
    let mut errors = FieldErrors::new();
    for field in EDITABLE_FIELDS {
        if let Some(text) = update.field(field)
            && let Err(error) = after.set_field(field, text)
        {
            errors.add(field, error);
        }
    }
    if after.status != MilestoneStatus::Stuck {
        after.blocker_reason.clear();
        after.blocker_owner.clear();
    }
    if let Some((evidence, note)) = &update.evidence {
        let target = match evidence {
            NewEvidence::Url(url) => Some(EvidenceTarget::Url { url: url.clone() }),
            NewEvidence::Dataset(name) => match crate::catalog::readable_dataset(app, actor, name).await {
                Ok(dataset) => Some(EvidenceTarget::Dataset { dataset_id: dataset.id }),
                Err(_) => {
                    errors.add("evidence_dataset", FieldError::UnknownValue);
                    None
                }
            },
        };
        if let Some(target) = target {
            after.evidence.push(Evidence {
                id: Uuid::new_v4(),
                target,
                note: note.clone(),
                added_by: user.map(|user| user.id),
                added_at: datalab_store::now(),
            });
        }
    }
    let has_tasks = app.store.milestones(commitment.id).await?.iter().any(|task| task.parent_id == Some(before.id));
    if has_tasks {
        after.progress = before.progress;
        errors.0.remove("progress");
    }
    errors.merge(after.validate());
    errors.into_result()?;
    app.store.update_milestone(user.map(|user| user.id), before, &after, &update.note).await?;
    crate::events::catch_up(app).await;
    Ok(after)
}

/// A task to add under a milestone, as its form sends it.
pub struct NewTask {
    pub title: Bilingual,
    pub start: String,
    pub end: String,
    /// Its weight in the parent's progress, as text.
    pub weight: String,
}

/// Adds a task under `parent` (same organizations, not started); the
/// parent's progress is derived again in the same transaction.
pub async fn add_task(
    app: &App,
    actor: &Actor,
    user: Option<&User>,
    commitment: &Commitment,
    parent: &Milestone,
    task: NewTask,
) -> Result<(), Error> {
    actor.authorize_any(&update_actions(commitment, parent))?;
    let task = Milestone {
        id: Uuid::new_v4(),
        commitment_id: commitment.id,
        number: 0,
        parent_id: Some(parent.id),
        weight: task.weight.parse::<f64>().unwrap_or(f64::NAN),
        title: task.title,
        description: Default::default(),
        start: task.start,
        end: task.end,
        status: MilestoneStatus::NotStarted,
        progress: 0,
        blocker_reason: String::new(),
        blocker_owner: String::new(),
        organizations: parent.organizations.clone(),
        evidence: Vec::new(),
    };
    app.store.create_task(user.map(|user| user.id), parent, &task).await?;
    crate::events::catch_up(app).await;
    Ok(())
}

/// Adds an uploaded document (already stored; with its file name as the
/// client gave it) as evidence of `before`, with a note; the document is
/// public, as the tracker is.
pub async fn attach_document(
    app: &App,
    actor: &Actor,
    user: Option<&User>,
    commitment: &Commitment,
    before: &Milestone,
    upload: &(datalab_files::StoredBlob, String),
    note: &str,
) -> Result<(), Error> {
    let (blob, filename) = upload;
    actor.authorize_any(&update_actions(commitment, before))?;
    let mut after = before.clone();
    after.evidence.push(Evidence {
        id: Uuid::new_v4(),
        target: EvidenceTarget::Document {
            storage_key: blob.key.clone(),
            filename: crate::catalog::safe_filename(filename),
            sha256: blob.sha256.clone(),
        },
        note: note.to_string(),
        added_by: user.map(|user| user.id),
        added_at: datalab_store::now(),
    });
    app.store.update_milestone(user.map(|user| user.id), before, &after, note).await?;
    crate::events::catch_up(app).await;
    Ok(())
}

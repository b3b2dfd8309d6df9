//! The accountability tracker's use cases: who may update a milestone,
//! what the tracker publishes as open data and its copy in the catalog,
//! a milestone's form update and its tasks, bulk updates from CSV, and
//! commitments created from a JSON document.
//! The status rules themselves are `datalab_core::accountability`'s; the
//! writes (one transaction with their timeline entries) the store's.

mod document;
mod export;
mod import;
mod milestones;
mod monitoring;
mod report;

use datalab_core::accountability::{Commitment, Milestone};
use datalab_core::{Action, Actor};

pub use document::{CommitmentDocument, CommitmentEntry, InstitutionEntry, MilestoneEntry, Text, create_commitment};
pub use export::{CSV_COLUMNS, dataset_name, milestones_csv, sync_catalog_copy};
pub use import::{IMPORT_EXTRA_COLUMNS, PlannedUpdate, RowError, RowProblem, apply_import, plan_import};
pub use milestones::{MilestoneUpdate, NewEvidence, NewTask, add_task, attach_document, update_milestone};
pub use monitoring::{add_monitor, comment_milestone, flag_evidence, follow_commitment, is_monitor};
pub use report::{CommitmentReport, MilestoneReport, report, reports};

/// Who may update a milestone: members of its responsible organizations, or
/// of the commitment's institutions when the milestone names none.
pub fn update_actions(commitment: &Commitment, milestone: &Milestone) -> Vec<Action> {
    let organizations =
        if milestone.organizations.is_empty() { commitment.organizations() } else { milestone.organizations.clone() };
    organizations.into_iter().map(|organization| Action::UpdateMilestone { organization }).collect()
}

pub fn can_update(actor: &Actor, commitment: &Commitment, milestone: &Milestone) -> bool {
    actor.authorize_any(&update_actions(commitment, milestone)).is_ok()
}

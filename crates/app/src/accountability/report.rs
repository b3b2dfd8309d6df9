//! A commitment with its milestones as the tracker publishes it: the JSON
//! of `/api/v1/commitments` and of the catalog copy, and the rows of the
//! milestones CSV. Organizations are named by their catalog names; whether
//! a milestone is overdue is judged on the application's clock.

use datalab_core::accountability::Commitment;
use serde::Serialize;
use uuid::Uuid;

use crate::{App, Error};

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MilestoneOut))]
pub struct MilestoneReport {
    pub number: i64,
    /// For a task: the number of its milestone.
    pub parent: Option<i64>,
    pub title_es: String,
    pub title_en: String,
    /// YYYY-MM or YYYY-MM-DD, as published.
    pub start: String,
    pub end: String,
    /// not-started, in-progress, stuck, finished or incomplete.
    pub status: String,
    pub progress: i64,
    pub blocker_reason: String,
    pub blocker_owner: String,
    /// Names of the responsible organizations.
    pub organizations: Vec<String>,
    pub overdue: bool,
    /// Problems in the data as published, e.g. end-before-start.
    pub data_problems: Vec<String>,
    /// The OGP IRM completion scale.
    pub irm_completion: String,
    pub evidence_count: usize,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CommitmentOut))]
pub struct CommitmentReport {
    pub code: String,
    pub title_es: String,
    pub title_en: String,
    pub action_plan: String,
    pub start: String,
    pub end: String,
    pub institutions: Vec<String>,
    pub milestones: Vec<MilestoneReport>,
}

/// The report of one commitment as of today.
pub async fn report(app: &App, commitment: &Commitment) -> Result<CommitmentReport, Error> {
    let organizations = app.store.organizations().await?;
    let name_of = |id: &Uuid| {
        organizations.iter().find(|organization| organization.id == *id).map(|organization| organization.name.clone())
    };
    let today = app.clock.today();
    let milestones = app.store.milestones(commitment.id).await?;
    Ok(CommitmentReport {
        code: commitment.code.clone(),
        title_es: commitment.title.es.clone(),
        title_en: commitment.title.en.clone(),
        action_plan: commitment.action_plan.code.clone(),
        start: commitment.start.clone(),
        end: commitment.end.clone(),
        institutions: commitment
            .institutions
            .iter()
            .map(|institution| institution.name.get("es").to_string())
            .collect(),
        milestones: milestones
            .iter()
            .map(|milestone| MilestoneReport {
                number: milestone.number,
                parent: milestone
                    .parent_id
                    .and_then(|id| milestones.iter().find(|candidate| candidate.id == id))
                    .map(|parent| parent.number),
                title_es: milestone.title.es.clone(),
                title_en: milestone.title.en.clone(),
                start: milestone.start.clone(),
                end: milestone.end.clone(),
                status: milestone.status.as_str().into(),
                progress: milestone.progress,
                blocker_reason: milestone.blocker_reason.clone(),
                blocker_owner: milestone.blocker_owner.clone(),
                organizations: milestone.organizations.iter().filter_map(name_of).collect(),
                overdue: milestone.is_overdue(today),
                data_problems: milestone.data_problems().iter().map(|_| "end-before-start".to_string()).collect(),
                irm_completion: milestone.irm_completion().english().into(),
                evidence_count: milestone.evidence.len(),
            })
            .collect(),
    })
}

/// Every commitment's report, in the store's order.
pub async fn reports(app: &App) -> Result<Vec<CommitmentReport>, Error> {
    let mut out = Vec::new();
    for commitment in app.store.commitments().await? {
        out.push(report(app, &commitment).await?);
    }
    Ok(out)
}

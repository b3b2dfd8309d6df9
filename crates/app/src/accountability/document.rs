//! A commitment and its milestones from a JSON document (the native API's
//! `POST /api/v1/commitments`, the demo's `mxnle0001.json`).

use datalab_core::accountability::Commitment;
use uuid::Uuid;

use crate::{App, Error};

/// A commitment with its milestones as JSON: what `POST /api/v1/commitments`
/// takes and what the demo loads (`crates/datalab/demo/mxnle0001.json`).
/// Institutions and responsible organizations are catalog organization names.
#[derive(serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommitmentDocument {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub action_plan: datalab_core::accountability::ActionPlan,
    pub commitment: CommitmentEntry,
    pub milestones: Vec<MilestoneEntry>,
}

#[derive(serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Text {
    pub es: String,
    pub en: String,
}

impl From<Text> for datalab_core::accountability::Bilingual {
    fn from(text: Text) -> Self {
        datalab_core::accountability::Bilingual { es: text.es, en: text.en }
    }
}

#[derive(serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

#[derive(serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstitutionEntry {
    /// A catalog organization name, or null for an institution that is not one.
    pub organization: Option<String>,
    pub name: Text,
    /// lead, supporting or civil-society
    pub role: String,
}

#[derive(serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
/// reference first; the catalog copy follows from the event log.
pub async fn create_commitment(
    app: &App,
    by_user: Option<Uuid>,
    document: CommitmentDocument,
) -> Result<Commitment, Error> {
    use datalab_core::accountability::{Institution, InstitutionRole, Milestone, MilestoneStatus};
    use datalab_core::{FieldError, FieldErrors};
    let mut errors = FieldErrors::new();
    let organization = |name: &str| {
        let name = name.to_string();
        async move { app.store.organization(&name).await.ok().map(|organization| organization.id) }
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
    app.store.create_commitment(by_user, &commitment, &milestones).await.map_err(|error| match error {
        datalab_store::StoreError::Validation(mut fields) => {
            if let Some(taken) = fields.0.remove("name") {
                fields.0.insert("code".into(), taken);
            }
            Error::Validation(fields)
        }
        other => other.into(),
    })?;
    crate::events::catch_up(app).await;
    Ok(commitment)
}

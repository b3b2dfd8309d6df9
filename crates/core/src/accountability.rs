//! Accountability: action plans, commitments and their milestones, with the
//! rules that keep a public tracker honest.
//!
//! * A milestone's status is one of Not started, In progress, Stuck,
//!   Finished, Incomplete. *Stuck* needs a blocker reason and an owner;
//!   *Finished* needs at least one piece of evidence; progress is 0–100.
//! * Dates are months (`YYYY-MM`) or days (`YYYY-MM-DD`) as the source gives
//!   them. An end before the start is not rejected (sources publish such
//!   things) but reported as a data problem, so it is shown, not hidden.
//! * A parent milestone's progress is the weighted mean of its tasks'.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::validation::{FieldError, FieldErrors};

/// A text in Spanish and English (either may be empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Bilingual {
    pub es: String,
    pub en: String,
}

impl Bilingual {
    /// The text in `language` ("es" or "en"), falling back to the other one.
    pub fn get(&self, language: &str) -> &str {
        let (first, second) = if language == "en" { (&self.en, &self.es) } else { (&self.es, &self.en) };
        if first.is_empty() { second } else { first }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MilestoneStatus {
    NotStarted,
    InProgress,
    Stuck,
    Finished,
    Incomplete,
}

impl MilestoneStatus {
    pub const ALL: [MilestoneStatus; 5] = [
        MilestoneStatus::NotStarted,
        MilestoneStatus::InProgress,
        MilestoneStatus::Stuck,
        MilestoneStatus::Finished,
        MilestoneStatus::Incomplete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MilestoneStatus::NotStarted => "not-started",
            MilestoneStatus::InProgress => "in-progress",
            MilestoneStatus::Stuck => "stuck",
            MilestoneStatus::Finished => "finished",
            MilestoneStatus::Incomplete => "incomplete",
        }
    }

    /// Accepts the codes and the English names ("In progress").
    pub fn parse(text: &str) -> Option<Self> {
        let normalized = text.trim().to_lowercase().replace([' ', '_'], "-");
        Self::ALL.into_iter().find(|status| status.as_str() == normalized)
    }
}

/// The completion scale of OGP's Independent Reporting Mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IrmCompletion {
    NoEvidenceAvailable,
    NotStarted,
    Limited,
    Substantial,
    Complete,
}

impl IrmCompletion {
    pub fn english(self) -> &'static str {
        match self {
            IrmCompletion::NoEvidenceAvailable => "No evidence available",
            IrmCompletion::NotStarted => "Not started",
            IrmCompletion::Limited => "Limited",
            IrmCompletion::Substantial => "Substantial",
            IrmCompletion::Complete => "Complete",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstitutionRole {
    Lead,
    Supporting,
    CivilSociety,
}

impl InstitutionRole {
    pub fn as_str(self) -> &'static str {
        match self {
            InstitutionRole::Lead => "lead",
            InstitutionRole::Supporting => "supporting",
            InstitutionRole::CivilSociety => "civil-society",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [InstitutionRole::Lead, InstitutionRole::Supporting, InstitutionRole::CivilSociety]
            .into_iter()
            .find(|role| role.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Institution {
    /// The catalog organization, when the institution is one.
    pub organization_id: Option<Uuid>,
    pub name: Bilingual,
    pub role: InstitutionRole,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ActionPlan {
    pub code: String,
    pub title: Bilingual,
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commitment {
    pub id: Uuid,
    pub code: String,
    pub action_plan: ActionPlan,
    pub title: Bilingual,
    pub problem: Bilingual,
    pub status_quo: Bilingual,
    pub action: Bilingual,
    pub contribution: Bilingual,
    pub policy_area: Bilingual,
    pub sector: Bilingual,
    pub ogp_values: Vec<Bilingual>,
    pub start: String,
    pub end: String,
    pub institutions: Vec<Institution>,
}

impl Commitment {
    /// Organizations whose members update milestones that name no
    /// responsible organization of their own.
    pub fn organizations(&self) -> Vec<Uuid> {
        self.institutions.iter().filter_map(|institution| institution.organization_id).collect()
    }
}

/// Where a piece of evidence lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EvidenceTarget {
    Dataset { dataset_id: Uuid },
    Resource { resource_id: Uuid },
    Document { storage_key: String, filename: String, sha256: String },
    Url { url: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub id: Uuid,
    pub target: EvidenceTarget,
    pub note: String,
    pub added_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Milestone {
    pub id: Uuid,
    pub commitment_id: Uuid,
    pub number: i64,
    /// Set for a task of another milestone.
    pub parent_id: Option<Uuid>,
    /// Weight of a task in its parent's progress.
    pub weight: f64,
    pub title: Bilingual,
    pub description: Bilingual,
    pub start: String,
    pub end: String,
    pub status: MilestoneStatus,
    pub progress: i64,
    pub blocker_reason: String,
    pub blocker_owner: String,
    /// Responsible organizations.
    pub organizations: Vec<Uuid>,
    pub evidence: Vec<Evidence>,
}

/// The fields of a milestone that its responsible organizations update, in
/// the order the form, the CSV and the timeline list them. Adding one here,
/// in [`Milestone::field_value`] and [`Milestone::set_field`] is what a new
/// editable field costs (and its column in the store, its label in the
/// translations).
pub const EDITABLE_FIELDS: [&str; 6] = ["status", "progress", "start", "end", "blocker_reason", "blocker_owner"];

impl Milestone {
    /// An editable field's value as the timeline records it (status and
    /// text as strings, progress as a number); `None` for another name.
    pub fn field_value(&self, field: &str) -> Option<serde_json::Value> {
        Some(match field {
            "status" => serde_json::json!(self.status),
            "progress" => serde_json::json!(self.progress),
            "start" => serde_json::json!(self.start),
            "end" => serde_json::json!(self.end),
            "blocker_reason" => serde_json::json!(self.blocker_reason),
            "blocker_owner" => serde_json::json!(self.blocker_owner),
            _ => return None,
        })
    }

    /// An editable field as text, the way forms and the CSV write it.
    pub fn field_text(&self, field: &str) -> Option<String> {
        match self.field_value(field)? {
            serde_json::Value::String(text) => Some(text),
            other => Some(other.to_string()),
        }
    }

    /// Sets an editable field from text (a form's or a CSV cell's); the
    /// error says what is wrong with it. The status rules are checked
    /// afterwards, on the whole milestone ([`Milestone::validate`]).
    pub fn set_field(&mut self, field: &str, text: &str) -> Result<(), crate::FieldError> {
        match field {
            "status" => self.status = MilestoneStatus::parse(text).ok_or(crate::FieldError::UnknownValue)?,
            "progress" => self.progress = text.trim().parse().map_err(|_| crate::FieldError::OutOfRange)?,
            "start" => self.start = text.to_string(),
            "end" => self.end = text.to_string(),
            "blocker_reason" => self.blocker_reason = text.to_string(),
            "blocker_owner" => self.blocker_owner = text.to_string(),
            _ => return Err(crate::FieldError::UnknownField),
        }
        Ok(())
    }

    /// The editable fields that differ from `self` in `after`, in order, with
    /// their values before and after: one timeline entry each.
    pub fn changes(&self, after: &Milestone) -> Vec<(&'static str, serde_json::Value, serde_json::Value)> {
        EDITABLE_FIELDS
            .iter()
            .filter_map(|field| {
                let (before, after) = (self.field_value(field)?, after.field_value(field)?);
                (before != after).then_some((*field, before, after))
            })
            .collect()
    }
}

/// The first day of a `YYYY-MM` or `YYYY-MM-DD` text, or `None` if it does not parse.
pub fn parse_start(text: &str) -> Option<time::Date> {
    crate::validation::validate_partial_date(text).ok()?;
    let mut parts = text.split('-').map(|part| part.parse::<i32>().unwrap_or(1));
    let year = parts.next()?;
    let month = time::Month::try_from(parts.next().unwrap_or(1) as u8).ok()?;
    let day = parts.next().unwrap_or(1) as u8;
    time::Date::from_calendar_date(year, month, day).ok()
}

/// The last day of a `YYYY-MM` or `YYYY-MM-DD` text.
pub fn parse_end(text: &str) -> Option<time::Date> {
    let start = parse_start(text)?;
    match text.split('-').count() {
        1 => time::Date::from_calendar_date(start.year(), time::Month::December, 31).ok(),
        2 => time::Date::from_calendar_date(
            start.year(),
            start.month(),
            time::util::days_in_month(start.month(), start.year()),
        )
        .ok(),
        _ => Some(start),
    }
}

/// Problems in the data as published, shown next to the milestone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataProblem {
    EndBeforeStart,
}

impl Milestone {
    pub fn data_problems(&self) -> Vec<DataProblem> {
        let mut problems = Vec::new();
        if let (Some(start), Some(end)) = (parse_start(&self.start), parse_end(&self.end))
            && end < start
        {
            problems.push(DataProblem::EndBeforeStart);
        }
        problems
    }

    /// Its end has passed and it is not finished.
    pub fn is_overdue(&self, today: time::Date) -> bool {
        self.status != MilestoneStatus::Finished && parse_end(&self.end).is_some_and(|end| end < today)
    }

    pub fn irm_completion(&self) -> IrmCompletion {
        if self.status != MilestoneStatus::NotStarted && self.evidence.is_empty() {
            return IrmCompletion::NoEvidenceAvailable;
        }
        match self.status {
            MilestoneStatus::NotStarted => IrmCompletion::NotStarted,
            MilestoneStatus::Finished => IrmCompletion::Complete,
            MilestoneStatus::InProgress | MilestoneStatus::Stuck | MilestoneStatus::Incomplete => {
                if self.progress >= 50 { IrmCompletion::Substantial } else { IrmCompletion::Limited }
            }
        }
    }

    /// The status rules. Field names are those of the update form and API.
    pub fn validate(&self) -> FieldErrors {
        let mut errors = FieldErrors::new();
        if !(0..=100).contains(&self.progress) {
            errors.add("progress", FieldError::OutOfRange);
        }
        if self.status == MilestoneStatus::Stuck {
            if self.blocker_reason.trim().is_empty() {
                errors.add("blocker_reason", FieldError::StuckNeedsReason);
            }
            if self.blocker_owner.trim().is_empty() {
                errors.add("blocker_owner", FieldError::StuckNeedsOwner);
            }
        }
        if self.status == MilestoneStatus::Finished && self.evidence.is_empty() {
            errors.add("status", FieldError::FinishedNeedsEvidence);
        }
        for (field, value) in [("start", &self.start), ("end", &self.end)] {
            if parse_start(value).is_none() {
                errors.add(field, FieldError::DateInvalid);
            }
        }
        if self.weight <= 0.0 || !self.weight.is_finite() {
            errors.add("weight", FieldError::OutOfRange);
        }
        if let EvidenceCheck::Invalid(field, error) = check_evidence(&self.evidence) {
            errors.add(field, error);
        }
        errors
    }
}

enum EvidenceCheck {
    Valid,
    Invalid(&'static str, FieldError),
}

fn check_evidence(evidence: &[Evidence]) -> EvidenceCheck {
    for item in evidence {
        if let EvidenceTarget::Url { url } = &item.target
            && crate::validation::validate_web_url(url).is_err()
        {
            return EvidenceCheck::Invalid("evidence_url", FieldError::UrlInvalid);
        }
    }
    EvidenceCheck::Valid
}

/// A parent's progress from its tasks: the mean weighted by each task's weight.
pub fn derived_progress(tasks: &[&Milestone]) -> Option<i64> {
    let total: f64 = tasks.iter().map(|task| task.weight).sum();
    if tasks.is_empty() || total <= 0.0 {
        return None;
    }
    let weighted: f64 = tasks.iter().map(|task| task.weight * task.progress as f64).sum();
    Some((weighted / total).round() as i64)
}

/// One entry of a milestone's permanent timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MilestoneEvent {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub user_id: Option<Uuid>,
    pub user_name: Option<String>,
    /// created, status, progress, start, end, blocker_reason, blocker_owner, evidence, comment.
    pub field: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
    pub note: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_editable_field_is_read_set_and_compared() {
        let before = milestone(MilestoneStatus::InProgress);
        let mut after = before.clone();
        for (field, text) in
            EDITABLE_FIELDS.iter().zip(["stuck", "40", "2025-01", "2025-06", "sin presupuesto", "Tesorería"])
        {
            after.set_field(field, text).unwrap();
            assert_eq!(after.field_text(field).as_deref(), Some(text), "{field}");
        }
        let changed: Vec<&str> = before.changes(&after).iter().map(|(field, _, _)| *field).collect();
        assert_eq!(changed, EDITABLE_FIELDS, "each field's change is seen");
        assert_eq!(before.changes(&after)[1].2, serde_json::json!(40), "progress is recorded as a number");
        assert_eq!(after.set_field("status", "paused"), Err(crate::FieldError::UnknownValue));
        assert_eq!(after.set_field("progress", "mucho"), Err(crate::FieldError::OutOfRange));
        assert_eq!(after.set_field("title", "x"), Err(crate::FieldError::UnknownField));
        assert!(before.changes(&before).is_empty());
    }

    fn milestone(status: MilestoneStatus) -> Milestone {
        Milestone {
            id: Uuid::nil(),
            commitment_id: Uuid::nil(),
            number: 1,
            parent_id: None,
            weight: 1.0,
            title: Bilingual::default(),
            description: Bilingual::default(),
            start: "2023-01".into(),
            end: "2023-02".into(),
            status,
            progress: 0,
            blocker_reason: String::new(),
            blocker_owner: String::new(),
            organizations: Vec::new(),
            evidence: Vec::new(),
        }
    }

    fn evidence() -> Evidence {
        Evidence {
            id: Uuid::nil(),
            target: EvidenceTarget::Url { url: "https://example.org/minuta.pdf".into() },
            note: String::new(),
            added_by: None,
            added_at: time::macros::datetime!(2024-01-01 0:00 UTC),
        }
    }

    fn codes(errors: FieldErrors) -> Vec<(String, &'static str)> {
        errors
            .0
            .into_iter()
            .flat_map(|(field, errors)| errors.into_iter().map(move |error| (field.clone(), error.code())))
            .collect()
    }

    #[test]
    fn status_rules() {
        assert!(milestone(MilestoneStatus::InProgress).validate().is_empty());
        assert_eq!(
            codes(milestone(MilestoneStatus::Stuck).validate()),
            vec![("blocker_owner".into(), "stuck-needs-owner"), ("blocker_reason".into(), "stuck-needs-reason")]
        );
        let mut stuck = milestone(MilestoneStatus::Stuck);
        stuck.blocker_reason = "Falta convenio".into();
        stuck.blocker_owner = "Secretaría de Administración".into();
        assert!(stuck.validate().is_empty());
        assert_eq!(
            codes(milestone(MilestoneStatus::Finished).validate()),
            vec![("status".into(), "finished-needs-evidence")]
        );
        let mut finished = milestone(MilestoneStatus::Finished);
        finished.evidence.push(evidence());
        assert!(finished.validate().is_empty());
        let mut out_of_range = milestone(MilestoneStatus::InProgress);
        out_of_range.progress = 101;
        out_of_range.end = "junio".into();
        assert_eq!(
            codes(out_of_range.validate()),
            vec![("end".into(), "date-invalid"), ("progress".into(), "out-of-range")]
        );
        assert_eq!(MilestoneStatus::parse("In progress"), Some(MilestoneStatus::InProgress));
        assert_eq!(MilestoneStatus::parse("blocked"), None);
    }

    #[test]
    fn data_problems_and_overdue() {
        let mut backwards = milestone(MilestoneStatus::NotStarted);
        backwards.start = "2023-02".into();
        backwards.end = "2023-01".into();
        assert_eq!(backwards.data_problems(), vec![DataProblem::EndBeforeStart]);
        assert!(milestone(MilestoneStatus::NotStarted).data_problems().is_empty());
        let today = time::macros::date!(2023 - 03 - 01);
        assert!(milestone(MilestoneStatus::InProgress).is_overdue(today));
        assert!(
            !milestone(MilestoneStatus::InProgress).is_overdue(time::macros::date!(2023 - 02 - 28)),
            "the whole end month counts"
        );
        let mut done = milestone(MilestoneStatus::Finished);
        done.evidence.push(evidence());
        assert!(!done.is_overdue(today));
    }

    #[test]
    fn irm_scale_and_weighted_progress() {
        assert_eq!(milestone(MilestoneStatus::NotStarted).irm_completion(), IrmCompletion::NotStarted);
        assert_eq!(milestone(MilestoneStatus::InProgress).irm_completion(), IrmCompletion::NoEvidenceAvailable);
        let mut advanced = milestone(MilestoneStatus::InProgress);
        advanced.evidence.push(evidence());
        advanced.progress = 60;
        assert_eq!(advanced.irm_completion(), IrmCompletion::Substantial);
        advanced.progress = 20;
        assert_eq!(advanced.irm_completion(), IrmCompletion::Limited);
        let mut a = milestone(MilestoneStatus::InProgress);
        a.progress = 100;
        a.weight = 3.0;
        let mut b = milestone(MilestoneStatus::InProgress);
        b.progress = 0;
        b.weight = 1.0;
        assert_eq!(derived_progress(&[&a, &b]), Some(75));
        assert_eq!(derived_progress(&[]), None);
    }
}
